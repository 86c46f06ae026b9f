#!/bin/bash
# after runs/v4/$1.sh: if all-valid BBBP ROC-AUC >= 0.89, the other valid gates (2 processes), then the
# scaffold test split once (two edt eval processes, merged)
cd /work/main
N=$1; R=runs/v4; M=$R/ship_$N; P=.venv/bin/python
while ! grep -q bbbp-done $R/times.txt 2>/dev/null; do sleep 15; done
auc=$($P -c "import json; print(json.load(open('$R/${N}_bbbp_valid_by_digit.json'))['roc_auc_llm'])")
echo "$N valid BBBP $auc" >> $R/times.txt
$P -c "import sys; sys.exit(0 if $auc >= 0.89 else 1)" || { echo "gate failed $auc" >> $R/times.txt; exit 0; }
( OMP_NUM_THREADS=1 $P benchmarks/ez_by_writer.py --model $M --out $R/${N}_ez_by_writer_valid.json > $R/${N}_ez.log 2>&1
  OMP_NUM_THREADS=1 $P benchmarks/drug_answers.py --model $M --threads 1 --out $R/${N}_drug_answers.json > $R/${N}_drug.log 2>&1
  OMP_NUM_THREADS=1 $P runs/diag/desc_check.py $M > $R/${N}_desc.txt 2>/dev/null ) &
a=$!
OMP_NUM_THREADS=1 $P runs/diag/mc_layout.py $M > $R/${N}_mc_layout_valid.json 2>/dev/null
OMP_NUM_THREADS=1 $P runs/diag/stereo_valid_check.py $M > $R/${N}_stereo_valid_all.txt 2>/dev/null
OMP_NUM_THREADS=1 $P benchmarks/valid_sample.py --model $M --seed 1 --per-kind 64 --threads 1 --out $R/${N}_valid_seed1_64.json > /dev/null 2>&1
wait $a
echo "gates-done $(date)" >> $R/times.txt
OMP_NUM_THREADS=1 .venv/bin/edt eval --model $M --data data_out --split test --batch-size 16 \
  --task struct_text,bbbp,stereo --out $M/test_eval_a.json --no-progress > $R/${N}_eval_a.log 2>&1 & a=$!
OMP_NUM_THREADS=1 .venv/bin/edt eval --model $M --data data_out --split test --batch-size 16 \
  --cloze --task struct_mc --out $M/test_eval_b.json --no-progress > $R/${N}_eval_b.log 2>&1 & b=$!
wait $a && wait $b
$P benchmarks/merge_reports.py $M/test_eval_a.json $M/test_eval_b.json --out $M/test_eval.json
echo "eval-done $(date)" >> $R/times.txt
