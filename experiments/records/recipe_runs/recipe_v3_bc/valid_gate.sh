#!/bin/bash
# valid gate for a model before the test split: all valid E/Z (writer vs LLM), all valid BBBP by digit,
# then the MC layouts on 96 valid questions; 2 processes at 1 thread
cd /work/main
M=${1:-runs/v3/ship}
D=$(dirname $M)
OMP_NUM_THREADS=1 .venv/bin/python benchmarks/ez_by_writer.py --model $M --out $D/ez_by_writer_valid.json > /dev/null 2>&1 &
a=$!
OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bbbp_by_digit.py --model $M --threads 1 --out $D/bbbp_valid_by_digit.json > /dev/null 2>&1
wait $a
OMP_NUM_THREADS=1 .venv/bin/python runs/diag/mc_layout.py $M > $D/mc_layout_valid.json 2>/dev/null
echo gate-done
