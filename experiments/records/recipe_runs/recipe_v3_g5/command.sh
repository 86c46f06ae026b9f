# Run as: runs/v3g5.sh g5 readout
#!/bin/bash
# probe G5 (valid only): continues G3 300 more steps with G3's settings (per-question loss, read-out answers,
# label-balanced draw), seed 5, 2 threads alone.
set -e
cd /work/main
R=runs/v3
NAME=$1; TARGETS=$2
t0=$(date +%s)
OMP_NUM_THREADS=2 .venv/bin/edt -v train recipe --data data_out --out $R/$NAME --seed 5 --no-progress \
  --encoder minimol,rdkit --init-from $R/g3/final --set lora.r=8 --set optim.bridge_lr_scale=0.3 \
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
echo "$NAME $(( $(date +%s) - t0 )) s (2 threads, alone)" >> $R/times_$NAME.txt
.venv/bin/python -m edtformer.model.checkpoint $R/$NAME/final $R/ship_$NAME --dtype bfloat16
OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bbbp_by_digit.py --model $R/ship_$NAME --threads 1 --out $R/${NAME}_bbbp_valid_by_digit.json --rows $R/${NAME}_bbbp_rows.jsonl > $R/${NAME}_bbbp.log 2>&1
OMP_NUM_THREADS=1 .venv/bin/python runs/diag/desc_check.py $R/ship_$NAME > $R/${NAME}_desc.txt 2>/dev/null
echo "$NAME-done $(date)" >> $R/times_$NAME.txt
