#!/bin/bash
# stage D: continues the shipped default (run P) with lettered MC questions given as written facts
# (text only, the growing-facts curriculum) interleaved with stage C's molecule questions
set -e
OMP_NUM_THREADS=2 .venv/bin/edt -v train recipe --data data_out --out runs/mc_mix --seed 3 --no-progress \
  --encoder minimol,rdkit --init-from src/edtformer/assets/bridge/default --set lora.r=8 --set optim.bridge_lr_scale=0.3 \
  --set recipe.slot_weight=1.0 --set recipe.fact_tokens=true --set recipe.fact_group_tokens=24 \
  --set recipe.fact_bbb=true --set recipe.fact_formula=true --set recipe.fact_pair=true \
  --set recipe.fact_fit_steps=0 \
  --set recipe.balance_bbbp=true --set recipe.eval_every=350 --set recipe.eval_at_start=false \
  --set optim.warmup_steps=30 --set optim.min_lr_ratio=0.5 --set recipe.kind_weights.has_group=0.25 --set recipe.kind_weights.groups=0.05 \
  --set recipe.kind_weights.bbbp=0.2 --set recipe.kind_weights.weight=0.05 --set recipe.kind_weights.ez=0.08 \
  --set recipe.kind_weights.struct_mc=0.1 --set recipe.kind_weights.formula=0.03 \
  --set recipe.kind_weights.description=0.03 --set recipe.kind_weights.same_stereoisomer=0.12 \
  --set recipe.kind_weights.struct_mc_text=2.0 --set recipe.mc_text_start=0.3 --set recipe.mc_text_full=0.6 \
  --max-steps 700
