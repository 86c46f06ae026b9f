#!/bin/bash
# candidate <= 2 h `make model`: two stages (A 700 steps; BC = B's + C's levers, 450 steps), one valid
# evaluation per stage, run alone on both cores; stage times logged
set -e
cd /work/main
R=runs/v2
mkdir -p $R
t0=$(date +%s); echo "start $(date)" > $R/times.txt
.venv/bin/edt data build --out data_out --size small
echo "data $(( $(date +%s) - t0 )) s" >> $R/times.txt
OMP_NUM_THREADS=2 .venv/bin/edt -v train recipe --data data_out --out $R/a --seed 0 --no-progress \
  --encoder minimol,rdkit --set lora.r=8 --set optim.bridge_lr_scale=0.3 --set recipe.slot_weight=1.0 \
  --set recipe.fact_tokens=true --set recipe.eval_every=700 --set recipe.eval_at_start=false --max-steps 700
echo "a $(( $(date +%s) - t0 )) s" >> $R/times.txt
OMP_NUM_THREADS=2 .venv/bin/edt -v train recipe --data data_out --out $R/bc --seed 1 --no-progress \
  --encoder minimol,rdkit --init-from $R/a/final --set lora.r=8 --set optim.bridge_lr_scale=0.3 \
  --set recipe.slot_weight=1.0 --set recipe.fact_tokens=true --set recipe.fact_group_tokens=24 \
  --set recipe.fact_bbb=true --set recipe.fact_formula=true --set recipe.fact_pair=true --set recipe.fact_fit_steps=1500 \
  --set recipe.balance_bbbp=true --set recipe.eval_every=450 --set recipe.eval_at_start=false \
  --set optim.warmup_steps=30 --set recipe.kind_weights.has_group=0.3 --set recipe.kind_weights.groups=0.06 \
  --set recipe.kind_weights.bbbp=0.2 --set recipe.kind_weights.weight=0.05 --set recipe.kind_weights.ez=0.08 \
  --set recipe.kind_weights.struct_mc=0.1 --set recipe.kind_weights.formula=0.04 \
  --set recipe.kind_weights.description=0.04 --set recipe.kind_weights.same_stereoisomer=0.12 --max-steps 450
echo "bc $(( $(date +%s) - t0 )) s" >> $R/times.txt
.venv/bin/python -m edtformer.model.checkpoint $R/bc/final $R/ship --dtype bfloat16
echo "ship $(( $(date +%s) - t0 )) s" >> $R/times.txt
echo "end $(date)" >> $R/times.txt
