"""Can the LLM learn to answer a multiple-choice question *by letter* at all? Text only, no bridge.

    python experiments/diagnostics/letter_binding.py [--steps 200] [--targets q_proj,v_proj]
    # writes experiments/records/letter_binding.json

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

``--facts block`` asks the real struct_mc questions instead (all seven kinds, "NOT present"
included) with the molecule's whole RDKit fact block written as the learned fact writer wrote it
("alcohol | rings 0 aromatic rings 0 ... formula C6H14O6 weight 182.17"): the shipped model's
situation without its soft tokens. Held-out prompts: struct_mc valid records. ``--facts grow``
is a curriculum on the same questions: only the asked-for fact for the first ``--single-steps``
steps, then the other facts added one by one (in random order) until the whole block is shown
at ``--grow-until``.

    python experiments/diagnostics/letter_binding.py --facts grow --steps 500 \
        --out experiments/records/letter_binding_grow.json
"""

from __future__ import annotations

import argparse
import json
import random
import time
from pathlib import Path
from typing import Any

import torch

from edtformer.data.facts import COUNT_LABELS, FORMULA_LABEL, WEIGHT_LABEL
from edtformer.training.questions import MC_ASKED, facts_of, written_facts
from edtformer.utils.io import atomic_write_json

RESULTS = Path(__file__).resolve().parents[1] / "records"
LETTERS = "ABCD"
#: struct_mc kind -> the words the fact tokens use for it (any other kind: "group")
LABELS = {**COUNT_LABELS, "formula": FORMULA_LABEL, "weight": WEIGHT_LABEL}


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


class BlockPrompts:
    """struct_mc records with their molecule's fact block (or part of it) in place of ``<mol>``."""

    def __init__(self, data: Path, split: str) -> None:
        from edtformer.data import load_task

        self.records = load_task(data, "struct_mc", split)

    def sample(self, rng: random.Random, shown: float = 1.0) -> tuple[str, str]:
        """``(prompt, right letter)``; ``shown`` in [0, 1]: the share of the other facts shown."""
        from edtformer.data.schema import render_question

        rec = rng.choice(self.records)
        asked = MC_ASKED[rec["meta"]["kind"]]
        written = written_facts(facts_of(rec["smiles"][0]), asked, shown, rng)
        body = render_question(rec).replace("<mol>", f"Facts: {written}")
        return body, rec["answer"]


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
    ap.add_argument("--facts", choices=("single", "block", "grow"), default="single")
    ap.add_argument("--single-steps", type=int, default=150, help="grow: asked-for fact only")
    ap.add_argument("--grow-until", type=int, default=350, help="grow: whole block from here")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--out", type=Path, default=RESULTS / "letter_binding.json")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    llm, tok = load_llm()
    add_lora(llm, LoraSettings(r=8, target_modules=tuple(args.targets.split(","))))
    prompts: Prompts | BlockPrompts = (
        Prompts(args.data) if args.facts == "single" else BlockPrompts(args.data, "train")
    )
    held_out: Prompts | BlockPrompts = (
        prompts if args.facts == "single" else BlockPrompts(args.data, "valid")
    )

    def shown(step: int) -> float:
        """The share of the other facts shown at a training step (1.0 but for ``grow``)."""
        if args.facts != "grow" or step >= args.grow_until:
            return 1.0
        if step < args.single_steps:
            return 0.0
        return (step - args.single_steps) / max(1, args.grow_until - args.single_steps)

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
                q, a = held_out.sample(rng)
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
    opt = torch.optim.AdamW([p for p in llm.parameters() if p.requires_grad], lr=args.lr)
    rng = random.Random(args.seed)
    llm.train()
    start = time.perf_counter()
    for step in range(1, args.steps + 1):
        batch = [
            prompts.sample(rng, shown(step))
            if isinstance(prompts, BlockPrompts)
            else prompts.sample(rng)
            for _ in range(8)
        ]
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
        "training": f"LoRA r=8 on {args.targets}, lr {args.lr:g}, batch 8, bf16 autocast",
        "facts": args.facts,
        "curriculum": (
            {"single_steps": args.single_steps, "grow_until": args.grow_until}
            if args.facts == "grow"
            else None
        ),
        "seed": args.seed,
        "data": (
            f"{args.data}/struct_mc/train.jsonl option sets (held-out prompts: another seed)"
            if args.facts == "single"
            else f"{args.data}/struct_mc train records; held-out: valid records, gold fact blocks"
        ),
        "seconds": round(time.perf_counter() - start, 1),
        "threads": args.threads,
        "curve": rows,
    }
    atomic_write_json(args.out, result)


if __name__ == "__main__":
    main()
