#!/bin/bash
# probe (valid only): continues v3-E with BBBP and description questions drawn much more often, lr 3e-4
set -e
cd /work/main
R=runs/v3
t0=$(date +%s)
OMP_NUM_THREADS=2 .venv/bin/edt -v train recipe --data data_out --out $R/f --seed 3 --no-progress \
  --encoder minimol,rdkit --init-from $R/e/final --set lora.r=8 --set optim.bridge_lr_scale=0.3 \
  --set recipe.slot_weight=1.0 --set recipe.fact_tokens=true --set recipe.fact_group_tokens=24 \
  --set recipe.fact_bbb=true --set recipe.fact_formula=true --set recipe.fact_pair=true --set recipe.fact_fit_steps=0 \
  --set recipe.fact_ez_slots=8 --lr 3e-4 \
  --set recipe.balance_bbbp=true --set recipe.eval_every=250 --set recipe.eval_at_start=false \
  --set optim.warmup_steps=20 --set recipe.kind_weights.has_group=0.15 \
  --set recipe.kind_weights.groups=0.06 --set recipe.kind_weights.bbbp=0.6 --set recipe.kind_weights.weight=0.03 \
  --set recipe.kind_weights.ez=0.1 --set recipe.kind_weights.rs=0.08 --set recipe.kind_weights.struct_mc=0.1 \
  --set recipe.kind_weights.formula=0.03 --set recipe.kind_weights.description=0.15 \
  --set recipe.kind_weights.same_stereoisomer=0.08 \
  --set recipe.kind_weights.struct_mc_text=0.3 --set recipe.mc_text_start=0 --set recipe.mc_text_full=0 \
  --set recipe.mc_layouts=0.3 --max-steps 250
echo "f $(( $(date +%s) - t0 )) s" >> $R/times_f.txt
.venv/bin/python -m edtformer.model.checkpoint $R/f/final $R/ship_f --dtype bfloat16
OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bbbp_by_digit.py --model $R/ship_f --threads 1 --out $R/f_bbbp_valid_by_digit.json > /dev/null 2>&1 &
OMP_NUM_THREADS=1 .venv/bin/python runs/diag/desc_check.py $R/ship_f > $R/f_desc.txt 2>/dev/null
wait
echo "f-done $(date)" >> $R/times_f.txt
