#!/bin/bash
# stage D2: continues run MC (runs/mc_batch) with the stereo and group-list questions drawn more often,
# lettered MC as written facts kept at a lower share (whole fact block), lr 5e-4
set -e
OMP_NUM_THREADS=2 .venv/bin/edt -v train recipe --data data_out --out runs/mc_fix --seed 5 --no-progress \
  --encoder minimol,rdkit --init-from runs/mc_batch/final --set lora.r=8 --set optim.bridge_lr_scale=0.3 \
  --set recipe.slot_weight=1.0 --set recipe.fact_tokens=true --set recipe.fact_group_tokens=24 \
  --set recipe.fact_bbb=true --set recipe.fact_formula=true --set recipe.fact_pair=true \
  --set recipe.fact_fit_steps=0 --lr 5e-4 \
  --set recipe.balance_bbbp=true --set recipe.eval_every=200 --set recipe.eval_at_start=false \
  --set optim.warmup_steps=10 --set recipe.kind_weights.has_group=0.2 --set recipe.kind_weights.groups=0.08 \
  --set recipe.kind_weights.bbbp=0.2 --set recipe.kind_weights.weight=0.05 --set recipe.kind_weights.ez=0.2 \
  --set recipe.kind_weights.rs=0.1 --set recipe.kind_weights.n_stereocentres=0.08 \
  --set recipe.kind_weights.struct_mc=0.1 --set recipe.kind_weights.formula=0.03 \
  --set recipe.kind_weights.description=0.03 --set recipe.kind_weights.same_stereoisomer=0.08 \
  --set recipe.kind_weights.struct_mc_text=0.6 --set recipe.mc_text_start=0 --set recipe.mc_text_full=0 \
  --max-steps 200
