"""Can the LLM learn to read a molecule's functional groups when they are *words*? (no bridge)

The diagnostic behind writing facts as words into the prompt (first the learned fact writer's
fact tokens, removed in 0.2; now the exact RDKit fact sheet, ``recipe.fact_sheet``):
SmolLM2-135M-Instruct gets the RDKit group list of a valid-split molecule as plain text before
the yes/no group question ("Molecule facts: carboxylic acid ester benzene ring. Does this
molecule contain a ester group?"), balanced yes/no per question as in the training stream. Zero-shot, then LoRA r=8
(q_proj, v_proj, lr 1e-3, batch 8) on train-split molecules; accuracy on a fixed seeded set of
valid questions after every ``--every`` steps.

    python experiments/diagnostics/facts_as_text.py --steps 150 --every 50
    # writes experiments/records/facts_as_text.json

If this learns within a few hundred questions while the soft molecule tokens do not, the
bottleneck is the LLM's reading of soft tokens, not the question.
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from pathlib import Path

import torch

from edtformer.utils.io import atomic_write_json

RESULTS = Path(__file__).resolve().parents[1] / "records"


def molecules(data: Path, split: str) -> list[str]:
    """The struct_text molecules of one split."""
    from edtformer.data import load_task

    return sorted({s for r in load_task(data, "struct_text", split) for s in r["smiles"]})


def question(rng: random.Random, pool: list[str]) -> tuple[str, str]:
    """A balanced yes/no group question with the group list as text, and its answer."""
    from edtformer.facts.dataset import FUNCTIONAL_GROUPS
    from edtformer.training.questions import facts_of

    groups = list(FUNCTIONAL_GROUPS)
    while True:
        facts = facts_of(rng.choice(pool))
        present = [g for g in groups if g in facts["functional_groups"]]
        candidates = present if rng.random() < 0.5 else [g for g in groups if g not in present]
        if candidates:
            break
    group = rng.choice(candidates)
    text = (
        f"Molecule facts: {' '.join(present) or 'none'}.\n"
        f"Does this molecule contain a {group} group?"
    )
    return text, "yes" if group in present else "no"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--data", default="data_out")
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--every", type=int, default=50)
    ap.add_argument("--n-valid", type=int, default=100)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(RESULTS / "facts_as_text.json"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    from peft import LoraConfig, get_peft_model

    from edtformer.llm.loading import load_llm

    llm, tok = load_llm("smollm2-135m-instruct")
    llm = get_peft_model(llm, LoraConfig(r=8, lora_alpha=16, target_modules=["q_proj", "v_proj"]))
    train, valid = molecules(Path(args.data), "train"), molecules(Path(args.data), "valid")
    vrng = random.Random(args.seed + 1)
    valid_qs = [question(vrng, valid) for _ in range(args.n_valid)]
    yes = tok("yes", add_special_tokens=False)["input_ids"][0]
    no = tok("no", add_special_tokens=False)["input_ids"][0]

    def prompt_ids(text: str) -> list[int]:
        chat = [{"role": "user", "content": text}]
        rendered = tok.apply_chat_template(chat, add_generation_prompt=True, tokenize=False)
        return list(tok(rendered, add_special_tokens=False)["input_ids"])

    @torch.no_grad()
    def accuracy() -> float:
        llm.eval()
        hits = 0
        for text, answer in valid_qs:
            logits = llm(input_ids=torch.tensor([prompt_ids(text)])).logits[0, -1]
            hits += ("yes" if logits[yes] > logits[no] else "no") == answer
        llm.train()
        return hits / len(valid_qs)

    params = [p for p in llm.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=1e-3)
    rng = random.Random(args.seed)
    curve = [{"step": 0, "questions": 0, "valid_accuracy": accuracy()}]
    print(json.dumps(curve[-1]), flush=True)
    start = time.time()
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    for step in range(1, args.steps + 1):
        seqs = []
        for text, answer in (question(rng, train) for _ in range(8)):
            ids = prompt_ids(text)
            seqs.append((ids + tok(answer, add_special_tokens=False)["input_ids"], len(ids)))
        width = max(len(s) for s, _ in seqs)
        ids = torch.full((len(seqs), width), pad)
        labels = torch.full((len(seqs), width), -100)
        mask = torch.zeros(len(seqs), width, dtype=torch.long)
        for i, (s, n) in enumerate(seqs):
            ids[i, : len(s)] = torch.tensor(s)
            mask[i, : len(s)] = 1
            labels[i, n : len(s)] = torch.tensor(s[n:])
        loss = llm(input_ids=ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if step % args.every == 0 or step == args.steps:
            curve.append({"step": step, "questions": step * 8, "valid_accuracy": accuracy()})
            print(json.dumps(curve[-1]), flush=True)
    atomic_write_json(
        Path(args.out),
        {
            "what": "LoRA r=8 on SmolLM2-135M-Instruct learning the yes/no group question from "
            "the RDKit group list given as text (no bridge); balanced yes/no",
            "data": f"{args.data}: train-split molecules for training, {args.n_valid} seeded "
            "valid-split questions",
            "seed": args.seed,
            "curve": curve,
            "train_seconds": round(time.time() - start, 1),
            "hardware": f"{platform.machine()} CPU, torch {torch.__version__}, "
            f"{args.threads} thread(s)",
        },
    )


if __name__ == "__main__":
    main()
