#!/bin/bash
# v4 stage E candidate (soft): continues runs/v3/bc/final (v3 A + BC) with G3 settings but soft BBBP targets
# (per-question loss, BBBP answers drawn from the frozen read-out's P(BBB+), label-balanced draw)
# for 825 steps, seed 2, 2 threads alone. Valid gate first; test only if it passes.
set -e
cd /work/main
R=runs/v4
t0=$(date +%s)
echo "start_s $(date)" >> $R/times.txt
OMP_NUM_THREADS=2 .venv/bin/edt -v train recipe --data data_out --out $R/s --seed 2 --no-progress \
  --encoder minimol,rdkit --init-from runs/v3/bc/final --set lora.r=8 --set optim.bridge_lr_scale=0.3 \
  --set recipe.slot_weight=1.0 --set recipe.fact_tokens=true --set recipe.fact_group_tokens=24 \
  --set recipe.fact_bbb=true --set recipe.fact_formula=true --set recipe.fact_pair=true --set recipe.fact_fit_steps=0 \
  --set recipe.fact_ez_slots=8 --lr 4e-4 --set recipe.bbbp_targets=soft --set recipe.answer_loss=answer \
  --set recipe.balance_bbbp=true --set recipe.eval_every=300 --set recipe.eval_at_start=false \
  --set optim.warmup_steps=20 --set recipe.kind_weights.has_group=0.15 \
  --set recipe.kind_weights.groups=0.06 --set recipe.kind_weights.bbbp=0.5 --set recipe.kind_weights.weight=0.03 \
  --set recipe.kind_weights.ez=0.1 --set recipe.kind_weights.rs=0.08 --set recipe.kind_weights.struct_mc=0.1 \
  --set recipe.kind_weights.formula=0.03 --set recipe.kind_weights.description=0.15 \
  --set recipe.kind_weights.same_stereoisomer=0.08 \
  --set recipe.kind_weights.struct_mc_text=0.3 --set recipe.mc_text_start=0 --set recipe.mc_text_full=0 \
  --set recipe.mc_layouts=0.3 --max-steps 825
echo "s $(( $(date +%s) - t0 )) s (2 threads, alone)" >> $R/times.txt
.venv/bin/python -m edtformer.model.checkpoint $R/s/final $R/ship_s --dtype bfloat16
echo "end_s $(date)" >> $R/times.txt
OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bbbp_by_digit.py --model $R/ship_s --threads 2 --out $R/s_bbbp_valid_by_digit.json --rows $R/s_bbbp_rows.jsonl > $R/s_bbbp.log 2>&1
echo "bbbp-done $(date)" >> $R/times.txt
