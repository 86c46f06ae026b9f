#!/bin/bash
# layouts probe: continues the shipped MC model with recipe.mc_layouts=0.5 (text MC 60 % of batches, whole block), lr 5e-4
# lettered MC as written facts kept at a lower share (whole fact block), lr 5e-4
set -e
OMP_NUM_THREADS=2 .venv/bin/edt -v train recipe --data data_out --out runs/mc_layout --seed 6 --no-progress \
  --encoder minimol,rdkit --init-from src/edtformer/assets/bridge/default --set lora.r=8 --set optim.bridge_lr_scale=0.3 \
  --set recipe.slot_weight=1.0 --set recipe.fact_tokens=true --set recipe.fact_group_tokens=24 \
  --set recipe.fact_bbb=true --set recipe.fact_formula=true --set recipe.fact_pair=true \
  --set recipe.fact_fit_steps=0 --lr 5e-4 \
  --set recipe.balance_bbbp=true --set recipe.eval_every=0 --set recipe.eval_at_start=false \
  --set optim.warmup_steps=10 --set recipe.kind_weights.has_group=0.2 --set recipe.kind_weights.groups=0.08 \
  --set recipe.kind_weights.bbbp=0.2 --set recipe.kind_weights.weight=0.05 --set recipe.kind_weights.ez=0.08 \
  --set recipe.kind_weights.rs=0.06 \
  --set recipe.kind_weights.struct_mc=0.1 --set recipe.kind_weights.formula=0.03 \
  --set recipe.kind_weights.description=0.03 --set recipe.kind_weights.same_stereoisomer=0.08 \
  --set recipe.kind_weights.struct_mc_text=2.0 --set recipe.mc_layouts=0.5 --set recipe.mc_text_start=0 --set recipe.mc_text_full=0 \
  --max-steps 250
