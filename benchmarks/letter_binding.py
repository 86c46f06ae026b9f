"""Can the LLM learn to answer a multiple-choice question *by letter* at all? Text only, no bridge.

    python benchmarks/letter_binding.py [--steps 200] [--targets q_proj,v_proj]
    # writes benchmarks/results/letter_binding.json

The shipped model answers struct_mc by cloze (each option's text) at 0.82 and by letter at
chance: it knows the answer, it does not name its letter. This isolates that last step. Each
prompt states the fact in plain words and asks the question with four lettered options taken
from the struct_mc train records (counts, formulas, weights, groups)::

    Facts: rings 1
    What is the rings of this molecule?
    A. 3
    B. 1
    ...
    Answer with the letter.

SmolLM2-135M-Instruct + LoRA (r=8, lr 1e-3, batch 8, bf16 autocast) is trained on the letter;
letter accuracy (arg-max over A-D at the answer position) is scored on 100 held-out prompts every
``--every`` steps, with the share of each predicted letter.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

import torch

from edtformer.bridge.facts import FORMULA_LABEL, WEIGHT_LABEL, WRITTEN_COUNTS
from edtformer.utils.io import atomic_write_json

RESULTS = Path(__file__).resolve().parent / "results"
LETTERS = "ABCD"
#: struct_mc kind -> the words the fact tokens use for it (any other kind: "group")
LABELS = {kind: label for kind, (label, _) in WRITTEN_COUNTS.items()}
LABELS |= {"formula": FORMULA_LABEL, "weight": WEIGHT_LABEL}


class Prompts:
    """Seeded lettered-choice prompts built from the struct_mc train records' option sets."""

    def __init__(self, data: Path) -> None:
        self.pool: dict[str, list[list[str]]] = {}
        for line in (data / "struct_mc" / "train.jsonl").open():
            r = json.loads(line)
            kind = r["meta"]["kind"]
            if kind != "group_absent":  # "NOT present" has no single fact to state
                self.pool.setdefault(kind, []).append(list(r["choices"]))
        self.kinds = sorted(self.pool)

    def sample(self, rng: random.Random) -> tuple[str, str]:
        """``(question, right letter)``."""
        kind = rng.choice(self.kinds)
        options = list(rng.choice(self.pool[kind]))
        rng.shuffle(options)
        i = rng.randrange(len(options))
        label = LABELS.get(kind, "group")
        lines = "\n".join(f"{LETTERS[j]}. {c}" for j, c in enumerate(options))
        q = f"Facts: {label} {options[i]}\nWhat is the {label} of this molecule?\n{lines}"
        return f"{q}\nAnswer with the letter.", LETTERS[i]


def main() -> None:
    from edtformer.llm.loading import load_llm
    from edtformer.llm.trainable import LoraSettings, add_lora

    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", type=Path, default=Path("data_out"))
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--targets", default="q_proj,v_proj")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS / "letter_binding.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    llm, tok = load_llm()
    add_lora(llm, LoraSettings(r=8, target_modules=tuple(args.targets.split(","))))
    prompts = Prompts(args.data)
    letter_ids = [tok(x, add_special_tokens=False)["input_ids"][0] for x in LETTERS]

    def chat(q: str) -> str:
        msgs = [{"role": "user", "content": q}]
        return str(tok.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True))

    def evaluate(n: int = 100) -> dict[str, Any]:
        llm.eval()
        rng = random.Random(10_000 + args.seed)
        right, picked = 0, [0] * 4
        with torch.no_grad():
            for _ in range(n):
                q, a = prompts.sample(rng)
                ids = tok(chat(q), return_tensors="pt")["input_ids"]
                j = int(llm(ids).logits[0, -1, letter_ids].argmax())
                picked[j] += 1
                right += LETTERS[j] == a
        llm.train()
        return {
            "accuracy": right / n,
            "letter_share": {x: c / n for x, c in zip(LETTERS, picked, strict=True)},
        }

    rows = [{"step": 0, "samples": 0, **evaluate()}]
    print(json.dumps(rows[-1]), flush=True)
    opt = torch.optim.AdamW([p for p in llm.parameters() if p.requires_grad], lr=1e-3)
    rng = random.Random(args.seed)
    llm.train()
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        batch = [prompts.sample(rng) for _ in range(8)]
        enc = tok([chat(q) + a + "<|im_end|>" for q, a in batch], return_tensors="pt", padding=True)
        labels = enc["input_ids"].clone()
        labels[enc["attention_mask"] == 0] = -100
        for i, (q, _) in enumerate(batch):  # only the letter and the end token are learnt
            labels[i, : len(tok(chat(q))["input_ids"])] = -100
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = llm(**enc, labels=labels).loss
        loss.backward()
        opt.step()
        opt.zero_grad()
        if step % args.every == 0 or step == args.steps:
            rows.append({"step": step, "samples": 8 * step, "loss": loss.item(), **evaluate()})
            print(json.dumps(rows[-1]), flush=True)
    result = {
        "model": "SmolLM2-135M-Instruct",
        "training": f"LoRA r=8 on {args.targets}, lr 1e-3, batch 8, bf16 autocast",
        "seed": args.seed,
        "data": f"{args.data}/struct_mc/train.jsonl option sets (held-out prompts: another seed)",
        "seconds": round(time.perf_counter() - start, 1),
        "threads": args.threads,
        "curve": rows,
    }
    atomic_write_json(args.out, result)


if __name__ == "__main__":
    main()
