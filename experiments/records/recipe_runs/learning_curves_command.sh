.venv/bin/python benchmarks/learning_curves.py \
 "benchmarks/results/recipe_runs/recipe_A:A frozen LLM, MiniMol (shipped before)" \
 "benchmarks/results/recipe_runs/recipe_B_noinstr:B question-blind queries (stopped)" \
 "benchmarks/results/recipe_runs/recipe_C_warm:C + LLM-free warm-up (stopped)" \
 "benchmarks/results/recipe_runs/recipe_D:D + LoRA r=8 + rdkit stream, canonical order (shipped before)" \
 "benchmarks/results/recipe_runs/recipe_F2:F R3 + fact tokens, 900 steps (stage A)" \
 "benchmarks/results/recipe_runs/recipe_Ffrozen:F-frozen F without LoRA (stopped at 2,400)" \
 "benchmarks/results/recipe_runs/recipe_G:G continues F: spelled groups + BBB estimate, 400 steps" \
 "benchmarks/results/recipe_runs/recipe_H:H continues F: G's levers + formula and weight, 300 steps (stage B)" \
 "benchmarks/results/recipe_runs/recipe_I:I continues H: balanced BBBP + weight questions, 300 steps (shipped before)" \
 "benchmarks/results/recipe_runs/recipe_K:K continues H: I's levers + stereo code, 300 steps" \
 "benchmarks/results/recipe_runs/recipe_L:L + LoRA r=8 (stopped)" \
 "benchmarks/results/recipe_runs/recipe_M:M continues I: MC questions half the mix, 150 steps" \
 "benchmarks/results/recipe_runs/recipe_M2:M2 M + LoRA on all 7 linear layers, 150 steps" \
 "benchmarks/results/recipe_runs/recipe_P:P continues H: I's levers + pair facts, 300 steps (stage C)" \
 "benchmarks/results/recipe_runs/recipe_Q:Q S + question-word queries, more group questions (stopped)" \
 "benchmarks/results/recipe_runs/recipe_R:R S + fact heads 4x, group loss 8x (stopped)" \
 "benchmarks/results/recipe_runs/recipe_R2:R2 S at lr 3e-4 (stopped)" \
 "benchmarks/results/recipe_runs/recipe_R3full:R3 S, bridge lr 3e-4 (stopped at 4,800)" \
 "benchmarks/results/recipe_runs/recipe_S:S D + answer-slot loss (stopped)" \
 "benchmarks/results/recipe_runs/recipe_T:T continues P: hinted MC 46 %, MC 15 % of the mix, 200 steps" \
 "benchmarks/results/recipe_runs/recipe_U:U continues P: hinted MC 65 %, MC 15 % (stopped at 155 steps)" \
 "benchmarks/results/recipe_runs/recipe_X:X frozen, + rdkit stream + 48k warm-up (stopped)" \
 "benchmarks/results/recipe_runs/recipe_v2_a:v2-A 700 steps from scratch (timed candidate)" \
 "benchmarks/results/recipe_runs/recipe_v2_bc:v2-BC continues v2-A: B + C levers, 450 steps (timed candidate)" \
 "benchmarks/results/recipe_runs/recipe_MC_mixed:MC-mixed continues P: text MC items mixed in, index-keyed curriculum, 700 steps" \
 "benchmarks/results/recipe_runs/recipe_MC:MC continues P: text MC batches 60 %, growing-facts curriculum, 750 steps (stage D)" \
 "benchmarks/results/recipe_runs/recipe_MC_fix:MC-fix continues MC: stereo questions 2x, text MC 30 %, lr 5e-4, 200 steps" \
 "benchmarks/results/recipe_runs/recipe_v3_a:v3-A 600 steps from scratch (stage A)" \
 "benchmarks/results/recipe_runs/recipe_v3_bc:v3-BC continues v3-A: v2-BC levers + text MC 52 %, 8 E/Z slots, 900 steps (stage BC)" \
 "benchmarks/results/recipe_runs/recipe_v3_e:v3-E continues v3-BC: BBBP, R/S, E/Z more often, text MC 22 %, 300 steps (stage E)" \
 "benchmarks/results/recipe_runs/recipe_v3_g:v3-G continues v3-E: BBBP answers from the read-out, 300 steps (probe)" \
 "benchmarks/results/recipe_runs/recipe_v3_g2:v3-G2 continues v3-E: per-question answer loss, 300 steps (probe)" \
 "benchmarks/results/recipe_runs/recipe_v3_g3:v3-G3 continues v3-E: read-out answers + per-question loss, 300 steps (probe)" \
 "benchmarks/results/recipe_runs/recipe_v3_g4:v3-G4 G3 + decile draw, 300 steps (probe)" \
 "benchmarks/results/recipe_runs/recipe_v3_g5:v3-G5 continues v3-G3: same settings, 300 steps (probe)" \
 "benchmarks/results/recipe_runs/recipe_v4_s:v4-S continues v3-BC: soft BBBP targets + per-question loss, 825 steps (stage E candidate, shipped before)" \
  "benchmarks/results/recipe_runs/recipe_v4_t:v4-T continues v3-BC: v4-S + descriptions 2x, one evaluation, 880 steps (stage E)" \
 "$@"
