#!/bin/bash
cd /work/main
OMP_NUM_THREADS=1 .venv/bin/edt -v train recipe --data data_out --out runs/recipe_U --seed 5 --encoder minimol,rdkit \
  --init-from runs/recipe_P/final --set lora.r=8 --set optim.bridge_lr_scale=0.3 --set recipe.slot_weight=1.0 \
  --set recipe.fact_tokens=true --set recipe.fact_group_tokens=24 --set recipe.fact_bbb=true --set recipe.fact_formula=true --set recipe.fact_pair=true \
  --set recipe.fact_fit_steps=0 --set recipe.balance_bbbp=true --set recipe.eval_every=125 --set recipe.eval_at_start=false \
  --set optim.warmup_steps=30 --set recipe.kind_weights.has_group=0.25 --set recipe.kind_weights.groups=0.05 \
  --set recipe.kind_weights.bbbp=0.2 --set recipe.kind_weights.weight=0.05 --set recipe.kind_weights.ez=0.08 \
  --set recipe.kind_weights.struct_mc=1.0 --set recipe.kind_weights.struct_mc_hint=4.35 --set recipe.kind_weights.formula=0.03 --set recipe.kind_weights.description=0.03 \
  --set recipe.kind_weights.same_stereoisomer=0.12 --max-steps 250 --no-progress
