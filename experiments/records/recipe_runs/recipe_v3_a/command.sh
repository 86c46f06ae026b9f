#!/bin/bash
# AS RUN: only the data build and stage A of this script ran. While A ran, its parent shell was stopped and
# recipe_v3_bc/command.sh took over (waited for A, then ran BC with recipe.fact_ez_slots=8 and E/Z 0.2
# instead of 0.12); the BC command below is the one that did NOT run.
# candidate <= 2 h `make model`: two stages. A 600 steps (v2's A cut by 100); BC = v2's BC levers + stage D's
# lettered text-MC batches (50 % of the batches, curriculum .33/.7, options in other layouts 30 % of the time),
# BBBP drawn twice as often as v2 (0.4), E/Z 0.12, lr decays to half; 900 steps (about 450 molecule batches as v2)
set -e
cd /work/main
R=runs/v3
mkdir -p $R
t0=$(date +%s); echo "start $(date)" > $R/times.txt
.venv/bin/edt data build --out data_out --size small
echo "data $(( $(date +%s) - t0 )) s" >> $R/times.txt
OMP_NUM_THREADS=2 .venv/bin/edt -v train recipe --data data_out --out $R/a --seed 0 --no-progress \
  --encoder minimol,rdkit --set lora.r=8 --set optim.bridge_lr_scale=0.3 --set recipe.slot_weight=1.0 \
  --set recipe.fact_tokens=true --set recipe.eval_every=600 --set recipe.eval_at_start=false --max-steps 600
echo "a $(( $(date +%s) - t0 )) s" >> $R/times.txt
OMP_NUM_THREADS=2 .venv/bin/edt -v train recipe --data data_out --out $R/bc --seed 1 --no-progress \
  --encoder minimol,rdkit --init-from $R/a/final --set lora.r=8 --set optim.bridge_lr_scale=0.3 \
  --set recipe.slot_weight=1.0 --set recipe.fact_tokens=true --set recipe.fact_group_tokens=24 \
  --set recipe.fact_bbb=true --set recipe.fact_formula=true --set recipe.fact_pair=true --set recipe.fact_fit_steps=1500 \
  --set recipe.balance_bbbp=true --set recipe.eval_every=450 --set recipe.eval_at_start=false \
  --set optim.warmup_steps=30 --set optim.min_lr_ratio=0.5 --set recipe.kind_weights.has_group=0.3 \
  --set recipe.kind_weights.groups=0.06 --set recipe.kind_weights.bbbp=0.4 --set recipe.kind_weights.weight=0.05 \
  --set recipe.kind_weights.ez=0.12 --set recipe.kind_weights.struct_mc=0.1 --set recipe.kind_weights.formula=0.04 \
  --set recipe.kind_weights.description=0.04 --set recipe.kind_weights.same_stereoisomer=0.12 \
  --set recipe.kind_weights.struct_mc_text=1.8 --set recipe.mc_text_start=0.33 --set recipe.mc_text_full=0.7 \
  --set recipe.mc_layouts=0.3 --max-steps 900
echo "bc $(( $(date +%s) - t0 )) s" >> $R/times.txt
.venv/bin/python -m edtformer.model.checkpoint $R/bc/final $R/ship --dtype bfloat16
echo "ship $(( $(date +%s) - t0 )) s" >> $R/times.txt
echo "end $(date)" >> $R/times.txt
