#!/bin/bash
# stage G of the v3 candidate: continues v3-E; BBBP answers drawn from the frozen read-out
# (recipe.bbbp_targets=readout), descriptions as v3-F, text MC 0.3, lr 4e-4, 300 steps
set -e
cd /work/main
R=runs/v3
t0=$(date +%s)
OMP_NUM_THREADS=2 .venv/bin/edt -v train recipe --data data_out --out $R/g --seed 4 --no-progress \
  --encoder minimol,rdkit --init-from $R/e/final --set lora.r=8 --set optim.bridge_lr_scale=0.3 \
  --set recipe.slot_weight=1.0 --set recipe.fact_tokens=true --set recipe.fact_group_tokens=24 \
  --set recipe.fact_bbb=true --set recipe.fact_formula=true --set recipe.fact_pair=true --set recipe.fact_fit_steps=0 \
  --set recipe.fact_ez_slots=8 --lr 4e-4 --set recipe.bbbp_targets=readout \
  --set recipe.balance_bbbp=true --set recipe.eval_every=300 --set recipe.eval_at_start=false \
  --set optim.warmup_steps=20 --set recipe.kind_weights.has_group=0.15 \
  --set recipe.kind_weights.groups=0.06 --set recipe.kind_weights.bbbp=0.5 --set recipe.kind_weights.weight=0.03 \
  --set recipe.kind_weights.ez=0.1 --set recipe.kind_weights.rs=0.08 --set recipe.kind_weights.struct_mc=0.1 \
  --set recipe.kind_weights.formula=0.03 --set recipe.kind_weights.description=0.15 \
  --set recipe.kind_weights.same_stereoisomer=0.08 \
  --set recipe.kind_weights.struct_mc_text=0.3 --set recipe.mc_text_start=0 --set recipe.mc_text_full=0 \
  --set recipe.mc_layouts=0.3 --max-steps 300
echo "g $(( $(date +%s) - t0 )) s" >> $R/times_g.txt
.venv/bin/python -m edtformer.model.checkpoint $R/g/final $R/ship_g --dtype bfloat16
OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bbbp_by_digit.py --model $R/ship_g --threads 1 --out $R/g_bbbp_valid_by_digit.json > $R/g_bbbp.log 2>&1 &
OMP_NUM_THREADS=1 .venv/bin/python runs/diag/desc_check.py $R/ship_g > $R/g_desc.txt 2>/dev/null
wait
echo "g-done $(date)" >> $R/times_g.txt
