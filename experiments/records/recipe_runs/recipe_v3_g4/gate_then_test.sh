#!/bin/bash
# after runs/v3g4.sh: if all-valid BBBP ROC-AUC >= 0.885, the other valid gates (2 processes), then the
# scaffold test split once (two edt eval processes, merged)
cd /work/main
R=runs/v3; M=$R/ship_g4; P=.venv/bin/python
while ! grep -q g4-done $R/times_g4.txt 2>/dev/null; do sleep 15; done
auc=$($P -c "import json; print(json.load(open('$R/g4_bbbp_valid_by_digit.json'))['roc_auc_llm'])")
echo "g4 valid BBBP $auc" >> $R/times_g4.txt
$P -c "import sys; sys.exit(0 if $auc >= 0.885 else 1)" || { echo "gate failed $auc" >> $R/times_g4.txt; exit 0; }
( OMP_NUM_THREADS=1 $P benchmarks/ez_by_writer.py --model $M --out $R/g4_ez_by_writer_valid.json > $R/g4_ez.log 2>&1
  OMP_NUM_THREADS=1 $P benchmarks/drug_answers.py --model $M --threads 1 --out $R/g4_drug_answers.json > $R/g4_drug.log 2>&1 ) &
a=$!
OMP_NUM_THREADS=1 $P runs/diag/mc_layout.py $M > $R/g4_mc_layout_valid.json 2>/dev/null
OMP_NUM_THREADS=1 $P runs/diag/stereo_valid_check.py $M > $R/g4_stereo_valid_all.txt 2>/dev/null
wait $a
echo "gates-done $(date)" >> $R/times_g4.txt
OMP_NUM_THREADS=1 .venv/bin/edt eval --model $M --data data_out --split test --batch-size 16 \
  --task struct_text,bbbp,stereo --out $M/test_eval_a.json --no-progress > $R/g4_eval_a.log 2>&1 & a=$!
OMP_NUM_THREADS=1 .venv/bin/edt eval --model $M --data data_out --split test --batch-size 16 \
  --cloze --task struct_mc --out $M/test_eval_b.json --no-progress > $R/g4_eval_b.log 2>&1 & b=$!
wait $a && wait $b
$P benchmarks/merge_reports.py $M/test_eval_a.json $M/test_eval_b.json --out $M/test_eval.json
echo "eval-done $(date)" >> $R/times_g4.txt
