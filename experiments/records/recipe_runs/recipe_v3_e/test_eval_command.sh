#!/bin/bash
set -e
cd /work/main
M=runs/v3e/ship
OMP_NUM_THREADS=1 .venv/bin/edt eval --model $M --data data_out --split test --batch-size 16 \
  --task struct_text,bbbp,stereo --out $M/test_eval_a.json --no-progress > runs/v3e/eval_a.log 2>&1 & a=$!
OMP_NUM_THREADS=1 .venv/bin/edt eval --model $M --data data_out --split test --batch-size 16 \
  --cloze --task struct_mc --out $M/test_eval_b.json --no-progress > runs/v3e/eval_b.log 2>&1 & b=$!
wait $a && wait $b
.venv/bin/python benchmarks/merge_reports.py $M/test_eval_a.json $M/test_eval_b.json --out $M/test_eval.json
echo eval-done $(date)
