#!/bin/bash
# stage G2/G3 of the v3 candidate: continues v3-E as G, with each question's answer loss weighed the same
# (recipe.answer_loss=answer); G2: BBBP labels, G3: BBBP answers from the read-out. One thread each.
set -e
cd /work/main
R=runs/v3
NAME=$1; TARGETS=$2
t0=$(date +%s)
OMP_NUM_THREADS=1 .venv/bin/edt -v train recipe --data data_out --out $R/$NAME --seed 4 --no-progress \
  --encoder minimol,rdkit --init-from $R/e/final --set lora.r=8 --set optim.bridge_lr_scale=0.3 \
  --set recipe.slot_weight=1.0 --set recipe.fact_tokens=true --set recipe.fact_group_tokens=24 \
  --set recipe.fact_bbb=true --set recipe.fact_formula=true --set recipe.fact_pair=true --set recipe.fact_fit_steps=0 \
  --set recipe.fact_ez_slots=8 --lr 4e-4 --set recipe.bbbp_targets=$TARGETS --set recipe.answer_loss=answer \
  --set recipe.balance_bbbp=true --set recipe.eval_every=300 --set recipe.eval_at_start=false \
  --set optim.warmup_steps=20 --set recipe.kind_weights.has_group=0.15 \
  --set recipe.kind_weights.groups=0.06 --set recipe.kind_weights.bbbp=0.5 --set recipe.kind_weights.weight=0.03 \
  --set recipe.kind_weights.ez=0.1 --set recipe.kind_weights.rs=0.08 --set recipe.kind_weights.struct_mc=0.1 \
  --set recipe.kind_weights.formula=0.03 --set recipe.kind_weights.description=0.15 \
  --set recipe.kind_weights.same_stereoisomer=0.08 \
  --set recipe.kind_weights.struct_mc_text=0.3 --set recipe.mc_text_start=0 --set recipe.mc_text_full=0 \
  --set recipe.mc_layouts=0.3 --max-steps 300
echo "$NAME $(( $(date +%s) - t0 )) s (1 thread, beside another run)" >> $R/times_$NAME.txt
.venv/bin/python -m edtformer.model.checkpoint $R/$NAME/final $R/ship_$NAME --dtype bfloat16
OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bbbp_by_digit.py --model $R/ship_$NAME --threads 1 --out $R/${NAME}_bbbp_valid_by_digit.json --rows $R/${NAME}_bbbp_rows.jsonl > $R/${NAME}_bbbp.log 2>&1
OMP_NUM_THREADS=1 .venv/bin/python runs/diag/desc_check.py $R/ship_$NAME > $R/${NAME}_desc.txt 2>/dev/null
echo "$NAME-done $(date)" >> $R/times_$NAME.txt
# run as: runs/v3g2.sh g2 labels
