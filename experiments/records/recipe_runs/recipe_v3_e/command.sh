#!/bin/bash
# stage E of the v3 candidate: continues runs/v3/bc/final (molecule questions again most of the time:
# BBBP, R/S and E/Z drawn more often; text MC 22 % of the batches with the whole fact block; lr 5e-4)
set -e
cd /work/main
R=runs/v3
t0=$(date +%s)
OMP_NUM_THREADS=2 .venv/bin/edt -v train recipe --data data_out --out $R/e --seed 2 --no-progress \
  --encoder minimol,rdkit --init-from $R/bc/final --set lora.r=8 --set optim.bridge_lr_scale=0.3 \
  --set recipe.slot_weight=1.0 --set recipe.fact_tokens=true --set recipe.fact_group_tokens=24 \
  --set recipe.fact_bbb=true --set recipe.fact_formula=true --set recipe.fact_pair=true --set recipe.fact_fit_steps=0 \
  --set recipe.fact_ez_slots=8 --lr 5e-4 \
  --set recipe.balance_bbbp=true --set recipe.eval_every=300 --set recipe.eval_at_start=false \
  --set optim.warmup_steps=20 --set recipe.kind_weights.has_group=0.2 \
  --set recipe.kind_weights.groups=0.06 --set recipe.kind_weights.bbbp=0.4 --set recipe.kind_weights.weight=0.05 \
  --set recipe.kind_weights.ez=0.15 --set recipe.kind_weights.rs=0.12 --set recipe.kind_weights.struct_mc=0.1 \
  --set recipe.kind_weights.formula=0.03 --set recipe.kind_weights.description=0.03 \
  --set recipe.kind_weights.same_stereoisomer=0.1 \
  --set recipe.kind_weights.struct_mc_text=0.45 --set recipe.mc_text_start=0 --set recipe.mc_text_full=0 \
  --set recipe.mc_layouts=0.3 --max-steps 300
echo "e $(( $(date +%s) - t0 )) s" >> $R/times.txt
.venv/bin/python -m edtformer.model.checkpoint $R/e/final $R/ship_e --dtype bfloat16
echo "end_e $(date)" >> $R/times.txt
