#!/bin/bash
# takes over runs/v3.sh after its stage A (pid given): BC as in v3.sh + fact_ez_slots=8 and E/Z 0.2
set -e
cd /work/main
R=runs/v3
APID=$1
t0=$(date -d "Mon Nov 30 07:47:20 UTC 2026" +%s)
while kill -0 $APID 2>/dev/null; do sleep 5; done
test -f $R/a/final/model.safetensors
echo "a $(( $(date +%s) - t0 )) s" >> $R/times.txt
OMP_NUM_THREADS=2 .venv/bin/edt -v train recipe --data data_out --out $R/bc --seed 1 --no-progress \
  --encoder minimol,rdkit --init-from $R/a/final --set lora.r=8 --set optim.bridge_lr_scale=0.3 \
  --set recipe.slot_weight=1.0 --set recipe.fact_tokens=true --set recipe.fact_group_tokens=24 \
  --set recipe.fact_bbb=true --set recipe.fact_formula=true --set recipe.fact_pair=true --set recipe.fact_fit_steps=1500 \
  --set recipe.fact_ez_slots=8 \
  --set recipe.balance_bbbp=true --set recipe.eval_every=450 --set recipe.eval_at_start=false \
  --set optim.warmup_steps=30 --set optim.min_lr_ratio=0.5 --set recipe.kind_weights.has_group=0.3 \
  --set recipe.kind_weights.groups=0.06 --set recipe.kind_weights.bbbp=0.4 --set recipe.kind_weights.weight=0.05 \
  --set recipe.kind_weights.ez=0.2 --set recipe.kind_weights.struct_mc=0.1 --set recipe.kind_weights.formula=0.04 \
  --set recipe.kind_weights.description=0.04 --set recipe.kind_weights.same_stereoisomer=0.12 \
  --set recipe.kind_weights.struct_mc_text=1.8 --set recipe.mc_text_start=0.33 --set recipe.mc_text_full=0.7 \
  --set recipe.mc_layouts=0.3 --max-steps 900
echo "bc $(( $(date +%s) - t0 )) s" >> $R/times.txt
.venv/bin/python -m edtformer.model.checkpoint $R/bc/final $R/ship --dtype bfloat16
echo "ship $(( $(date +%s) - t0 )) s" >> $R/times.txt
echo "end $(date)" >> $R/times.txt
