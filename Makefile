# edtformer — the two set-up commands are `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: install demo test test-slow lint bench ablations model clean

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
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks
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

# The ablation study (about 3.5 h on a 2-core CPU): every variant end to end through the frozen
# LLM (edt bench), then the LLM-free probe of what each connector's tokens carry.
ablations: $(STAMP)
	$(VENV)/bin/edt data build --out data_out --size small
	$(VENV)/bin/edt bench --budget cpu --jobs 2 --data data_out --out benchmarks/results
	$(PY) benchmarks/bridge_probe.py --data data_out --seeds 0,1 --threads 1

# The shipped default bridge from a clean checkout, in three stages (1 h 57 min alone on a 2-core CPU, README;
# about 40 min more for the test evaluation): data, node features, `edt train recipe` (frozen MiniMol + RDKit descriptor
# encoders, frozen SmolLM2-135M-Instruct with LoRA r=8 adapters), the scaffold-test evaluation, the model
# card, then the model folder is copied into the package.
MODEL_RUN ?= runs/default
# the settings all stages share: encoders, LoRA r=8, the bridge's lr at 0.3x, the answer-slot loss, fact tokens
RECIPE_COMMON = --data data_out --no-progress --encoder minimol,rdkit --set lora.r=8 --set optim.bridge_lr_scale=0.3 \
	--set recipe.slot_weight=1.0 --set recipe.fact_tokens=true --set recipe.eval_at_start=false
model: $(STAMP)
	$(VENV)/bin/edt data build --out data_out --size small
	# stage A: bridge + fact tokens + LoRA r=8, from scratch, seed 0, 600 steps, one valid evaluation
	OMP_NUM_THREADS=2 $(VENV)/bin/edt -v train recipe $(RECIPE_COMMON) --out $(MODEL_RUN)/a --seed 0 \
		--set recipe.eval_every=600 --max-steps 600
	# stage BC: continues A (bridge + LoRA), seed 1, 900 steps. The groups spelled in the LLM's sub-word
	# tokens, a blood-brain-barrier estimate, the formula / weight and the pair facts (a second molecule's
	# tokens say whether the bridge reads it as the first one) join the fact tokens (the new writer heads
	# fitted LLM-free first); BBBP questions yes half the time (the train labels are 3:1 yes); group, BBBP,
	# weight, E/Z and same-stereoisomer questions drawn more often; up to 8 E/Z labels written (A: 3);
	# about half of the batches are lettered multiple-choice questions about a molecule given as its written
	# facts (text only, in batches of their own: the asked-for fact alone for the first third, then a growing
	# share of the others, the whole block from 70 %), options in another layout 30 % of the time; the lr
	# decays to half
	OMP_NUM_THREADS=2 $(VENV)/bin/edt -v train recipe $(RECIPE_COMMON) --out $(MODEL_RUN)/bc --seed 1 \
		--init-from $(MODEL_RUN)/a/final --set recipe.fact_group_tokens=24 --set recipe.fact_bbb=true \
		--set recipe.fact_formula=true --set recipe.fact_pair=true --set recipe.fact_fit_steps=1500 --set recipe.fact_ez_slots=8 \
		--set recipe.balance_bbbp=true --set recipe.eval_every=450 --set optim.warmup_steps=30 \
		--set optim.min_lr_ratio=0.5 --set recipe.kind_weights.has_group=0.3 --set recipe.kind_weights.groups=0.06 \
		--set recipe.kind_weights.bbbp=0.4 --set recipe.kind_weights.weight=0.05 --set recipe.kind_weights.ez=0.2 \
		--set recipe.kind_weights.struct_mc=0.1 --set recipe.kind_weights.formula=0.04 \
		--set recipe.kind_weights.description=0.04 --set recipe.kind_weights.same_stereoisomer=0.12 \
		--set recipe.kind_weights.struct_mc_text=1.8 --set recipe.mc_text_start=0.33 --set recipe.mc_text_full=0.7 \
		--set recipe.mc_layouts=0.3 --max-steps 900
	# stage E: continues BC, seed 2, 880 steps at lr 4e-4, one valid evaluation (at the end): molecule
	# questions again most of the time (BBBP, descriptions, R/S and E/Z drawn more often; descriptions 17 % of
	# them), text MC 14 % of the batches with the whole fact block; every question's answer loss weighs the
	# same (recipe.answer_loss=answer: a one-word answer as much as a description); a BBBP answer's first
	# token is scored against the frozen blood-brain-barrier read-out's (P, 1 - P) over yes / no, P the
	# probability whose decile the bridge writes (recipe.bbbp_targets=soft)
	OMP_NUM_THREADS=2 $(VENV)/bin/edt -v train recipe $(RECIPE_COMMON) --out $(MODEL_RUN)/e --seed 2 \
		--init-from $(MODEL_RUN)/bc/final --set recipe.fact_group_tokens=24 --set recipe.fact_bbb=true \
		--set recipe.fact_formula=true --set recipe.fact_pair=true --set recipe.fact_fit_steps=0 \
		--set recipe.fact_ez_slots=8 --lr 4e-4 --set recipe.bbbp_targets=soft --set recipe.answer_loss=answer \
		--set recipe.balance_bbbp=true --set recipe.eval_every=1000 --set optim.warmup_steps=20 \
		--set recipe.kind_weights.has_group=0.15 --set recipe.kind_weights.groups=0.06 --set recipe.kind_weights.bbbp=0.5 \
		--set recipe.kind_weights.weight=0.03 --set recipe.kind_weights.ez=0.1 --set recipe.kind_weights.rs=0.08 \
		--set recipe.kind_weights.struct_mc=0.1 --set recipe.kind_weights.formula=0.03 \
		--set recipe.kind_weights.description=0.3 --set recipe.kind_weights.same_stereoisomer=0.08 \
		--set recipe.kind_weights.struct_mc_text=0.3 --set recipe.mc_text_start=0 --set recipe.mc_text_full=0 \
		--set recipe.mc_layouts=0.3 --max-steps 880
	# the shipped weights are stored in bf16; that folder is what the test split scores
	$(PY) -m edtformer.model.checkpoint $(MODEL_RUN)/e/final $(MODEL_RUN)/ship --dtype bfloat16
	# the scaffold-test evaluation, one process per core
	OMP_NUM_THREADS=1 $(VENV)/bin/edt eval --model $(MODEL_RUN)/ship --data data_out --split test --batch-size 16 \
		--task struct_text,bbbp,stereo --out $(MODEL_RUN)/ship/test_eval_a.json --no-progress & a=$$!; \
	OMP_NUM_THREADS=1 $(VENV)/bin/edt eval --model $(MODEL_RUN)/ship --data data_out --split test --batch-size 16 \
		--cloze --task struct_mc --out $(MODEL_RUN)/ship/test_eval_b.json --no-progress & b=$$!; \
	wait $$a && wait $$b
	$(PY) benchmarks/merge_reports.py $(MODEL_RUN)/ship/test_eval_a.json $(MODEL_RUN)/ship/test_eval_b.json \
		--out $(MODEL_RUN)/ship/test_eval.json
	$(PY) benchmarks/learning_curves.py $(MODEL_RUN)/a:A $(MODEL_RUN)/bc:BC $(MODEL_RUN)/e:E --out $(MODEL_RUN)/learning_curve
	cp $(MODEL_RUN)/ship/config.json $(MODEL_RUN)/ship/model.safetensors $(MODEL_RUN)/ship/training.json \
		$(MODEL_RUN)/ship/test_eval.json src/edtformer/assets/bridge/default/
	$(PY) -m edtformer.model.card src/edtformer/assets/bridge/default --name "edtformer default bridge"

clean:
	rm -rf $(VENV) demo_out .pytest_cache .mypy_cache .ruff_cache
