# edtformer — the two set-up commands are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test test-slow lint bench ablation-budget ablations model clean

$(STAMP): pyproject.toml constraints.txt requirements-nodeps.txt
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "error: $(PYTHON) not found (set PYTHON=...)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -c constraints.txt -e '.[all-lean,dev]'
	$(PY) -m pip install -q --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	$(VENV)/bin/edt demo --out demo_out

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks experiments
	$(VENV)/bin/ruff format --check src tests benchmarks experiments
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

test: $(STAMP) lint
	$(VENV)/bin/pytest -q -x tests

test-slow: $(STAMP)
	$(VENV)/bin/pytest -q -m slow tests

bench: $(STAMP)
	$(PY) benchmarks/patching.py
	$(PY) benchmarks/encoders.py
	$(PY) benchmarks/ask.py
	$(PY) benchmarks/training.py

# The ablation study in the learnable setting (recipes/ablation.yaml: LoRA r=8, no fact sheet,
# per-atom streams; issue 31). First the budget: one full-model run (cosine over 3000 steps, about
# 2.5 h alone) whose valid curve is scored every 300 steps with and without its molecule tokens
# (benchmarks/results/ablation_curve_long.md names the budget: step 600, the `learn` budget);
# then every row end to end through the LLM, two runs at a time with one thread each (finished
# runs are reused, from their folders or from the runs the committed ablations.json records,
# so an interrupted table resumes, on a fresh clone too), each row also scored with its molecule
# tokens zeroed; then the rows' valid curves and the LLM-free probe of the same question kinds.
# `make ablation-budget` measures the budget (its result is committed, so `make ablations` does not
# rerun it); `make ablations` runs the table.
ABLATION_SEEDS ?= 0,1,2
ablation-budget: $(STAMP)
	$(VENV)/bin/edt data build --out data_out --size small
	test -f runs/ablation_curve_long/final/config.json || MALLOC_ARENA_MAX=2 OMP_NUM_THREADS=2 \
		$(VENV)/bin/edt train recipe --config ablation --data data_out --out runs/ablation_curve_long \
		--set optim.max_steps=3000 --set recipe.eval_every=300 \
		$$(test -d runs/ablation_curve_long/checkpoints && echo --resume)
	$(PY) benchmarks/ablation_curve.py runs/ablation_curve_long --name ablation_curve_long

ablations: $(STAMP)
	$(VENV)/bin/edt data build --out data_out --size small
	MALLOC_ARENA_MAX=2 $(VENV)/bin/edt bench --budget learn --jobs 2 --data data_out --out benchmarks/results \
		--variants full,anchors_only,mlp,smiles_lora,brics_only --seeds $(ABLATION_SEEDS) \
		--seeds-of mlp=0,1 --seeds-of smiles_lora=0,1 --seeds-of brics_only=0,1
	$(PY) benchmarks/ablation_curve.py --bench benchmarks/results/runs/learn
	$(PY) benchmarks/bridge_probe.py --setting learn --data data_out --seeds 0,1 --threads 1

# The shipped default bridge from a clean checkout, one `edt train recipe` stage (about 1 h 25 min on a
# 2-core CPU, README): data, node features, then the bridge + LoRA r=8 adapters on the frozen SmolLM2-135M-
# Instruct trained on questions whose prompts carry the molecule's exact RDKit fact sheet (the lines the
# question names; whole sheets for a fifth of the batches): every sheet fact in the train phrasings
# (facts/templates/train.json: plain, JSON with a key, four lettered options, two facts at once), off-sheet
# questions answered by declining, and the dataset's structure, stereo and BBBP questions (BBBP answers soft,
# from the frozen blood-brain-barrier read-out whose P(BBB+) the sheet writes). Then the weights are stored
# in bf16, the scaffold test split is scored once (two processes; MODEL_SPLIT=valid scores valid instead),
# the whole call's wall time goes into training.json (`make_model`), the model card is written and the model
# folder is copied into the package.
MODEL_RUN ?= runs/default
# the split the shipped bridge is scored on: test once per issue; `make model MODEL_SPLIT=valid`
# rebuilds and times it without reading test
MODEL_SPLIT ?= test
# questions per task for the 14 rows (a seeded subset: the whole valid split is ~7,000 questions, hours on
# one core)
ROWS_LIMIT ?= 250
# where the rebuilt bridge is copied: the package's shipped folder (MODEL_ASSETS=elsewhere to compare first)
MODEL_ASSETS ?= src/edtformer/assets/bridge/default
model: $(STAMP)
	mkdir -p $(MODEL_RUN) && date +%s > $(MODEL_RUN)/make_started
	$(VENV)/bin/edt data build --out data_out --size small
	# the shipped recipe, src/edtformer/recipes/default.yaml: seed 0, 420 steps x 8 questions, LoRA r=8,
	# the fact sheet in every prompt, the precision chosen by the CPU. MALLOC_ARENA_MAX=2: with glibc's
	# default arenas one run grew to 22 GB RSS and was OOM-killed at step ~270; with two, 9.3 GB flat
	MALLOC_ARENA_MAX=2 OMP_NUM_THREADS=2 $(VENV)/bin/edt -v train recipe --config default --data data_out --no-progress \
		--out $(MODEL_RUN)
	# the shipped weights are stored in bf16; that folder is what the evaluation scores
	$(PY) -m edtformer.model.checkpoint $(MODEL_RUN)/final $(MODEL_RUN)/ship --dtype bfloat16
	# the scaffold-split evaluation, one process per core: held-out phrasings of every sheet fact (8 per
	# kind and form, 240 off-sheet: the README's item set), then the 14 rows of the previous targets
	# (ROWS_LIMIT questions per task)
	OMP_NUM_THREADS=1 $(VENV)/bin/edt eval --model $(MODEL_RUN)/ship --data data_out --split $(MODEL_SPLIT) \
		--batch-size 16 --task sheet_qa --per-kind 8 --off-sheet 240 --out $(MODEL_RUN)/ship/$(MODEL_SPLIT)_eval_a.json \
		--no-progress & a=$$!; \
	OMP_NUM_THREADS=1 $(VENV)/bin/edt eval --model $(MODEL_RUN)/ship --data data_out --split $(MODEL_SPLIT) \
		--batch-size 16 --cloze --task struct_text,stereo,struct_mc,bbbp --limit $(ROWS_LIMIT) \
		--out $(MODEL_RUN)/ship/$(MODEL_SPLIT)_eval_b.json --no-progress & b=$$!; \
	wait $$a && wait $$b
	$(PY) benchmarks/merge_reports.py $(MODEL_RUN)/ship/$(MODEL_SPLIT)_eval_a.json \
		$(MODEL_RUN)/ship/$(MODEL_SPLIT)_eval_b.json --out $(MODEL_RUN)/ship/$(MODEL_SPLIT)_eval.json
	# the whole call's wall time, into training.json (and the model card)
	$(PY) -m edtformer.training.record $(MODEL_RUN)/ship --started $$(cat $(MODEL_RUN)/make_started) \
		--split $(MODEL_SPLIT) --command "make model MODEL_SPLIT=$(MODEL_SPLIT)"
	mkdir -p $(MODEL_ASSETS) && rm -f $(MODEL_ASSETS)/test_eval.json $(MODEL_ASSETS)/valid_eval.json
	cp $(MODEL_RUN)/ship/config.json $(MODEL_RUN)/ship/model.safetensors $(MODEL_RUN)/ship/training.json \
		$(MODEL_RUN)/ship/$(MODEL_SPLIT)_eval.json $(MODEL_ASSETS)/
	$(PY) -m edtformer.model.card $(MODEL_ASSETS) --name "edtformer default bridge"

clean:
	rm -rf $(VENV) demo_out .pytest_cache .mypy_cache .ruff_cache
