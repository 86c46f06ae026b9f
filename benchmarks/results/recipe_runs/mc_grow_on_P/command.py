"""Letter binding on run P's LoRA with the growing-facts curriculum (gold fact blocks as text);
scored on 96 real valid struct_mc questions *with the molecule* (the bridge's own fact tokens)."""
import json, random, sys, time, torch
import numpy as np
torch.set_num_threads(1); torch.manual_seed(0)
sys.path.insert(0, "benchmarks")
from letter_binding import BlockPrompts
from pathlib import Path
from edtformer.evaluation.evaluator import load_model
from edtformer.data.schema import render_question
m = load_model("runs/recipe_P/final")
for n, p in m.named_parameters():
    p.requires_grad_("lora_" in n)
params = [p for p in m.parameters() if p.requires_grad]
prompts = BlockPrompts(Path("data_out"), "train")
valid = [json.loads(l) for l in open("data_out/struct_mc/valid.jsonl")]
vrng = random.Random(1); vrng.shuffle(valid); valid = valid[:96]
SINGLE, GROW, STEPS = 150, 350, int(sys.argv[1])
EVAL = {150, 300, 375, 450, STEPS}
def shown(step):
    return 0.0 if step < SINGLE else min(1.0, (step - SINGLE) / (GROW - SINGLE))
def evaluate():
    m.eval()
    res = m.score_many([r["smiles"][0] for r in valid], [render_question(r) for r in valid], ["A","B","C","D"])
    P = np.array([[d[c] for c in "ABCD"] for d in res]); ans = np.array(["ABCD".index(r["answer"]) for r in valid])
    m.train(); pick = P.argmax(1)
    return float((pick == ans).mean()), np.bincount(pick, minlength=4).tolist()
print(json.dumps({"step": 0, "valid_mc": evaluate()}), flush=True)
opt = torch.optim.AdamW(params, lr=1e-3)
rng = random.Random(0); t0 = time.time()
for step in range(1, STEPS + 1):
    batch = [prompts.sample(rng, shown(step)) for _ in range(8)]
    convs = [m.prompts.messages(q, 0, a) for q, a in batch]
    b = m.prepare([[] for _ in batch], convs)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        loss = m(b).loss
    loss.backward(); opt.step(); opt.zero_grad()
    if step == 1: print(batch[0], b.input_ids.shape, flush=True)
    if step in EVAL:
        print(json.dumps({"step": step, "samples": 8 * step, "shown": shown(step), "loss": loss.item(), "sec": round(time.time()-t0), "valid_mc": evaluate()}), flush=True)
m.save_pretrained("runs/mc_grow_P")
