"""Does training keep what the bridge's inputs say? Linear probes of the query states.

For each ``RUN_DIR:STEP`` (a recipe run and one of its checkpoints; step 0 = the same bridge
untrained, seeded as the run), the bridge (no LLM) encodes ``--n-mols`` train-split molecules and
a cross-validated logistic regression reads functional-group presence from

- ``anchor0``: the first anchor's query state (the answer slot of the answer-slot loss that
  ``recipe.slot_weight`` weighed before 0.2), and
- ``pooled``: the mean of all query states (what the fact heads of ``recipe.aux_weight`` read
  before 0.2);

plus, as the ceiling, the same regression on the raw input features (mean over atoms of every
encoder stream). Balanced accuracy per group, 3-fold CV.

    python experiments/diagnostics/state_probe.py runs/recipe_D:0 runs/recipe_D:1200
    # -> experiments/records/state_probe.{json,md}
"""

from __future__ import annotations

import argparse
import json
import platform
import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from edtformer.utils.io import atomic_write_json, atomic_write_text

RESULTS = Path(__file__).resolve().parents[1] / "records"
GROUPS = ("benzene ring", "alcohol", "ether", "amide", "ester", "carboxylic acid", "halogen")
QUESTION = "Which functional groups does this molecule contain?"


def load_bridge(run: Path, step: int) -> Any:
    """The run's model with the trainable tensors of checkpoint ``step`` (0: untrained)."""
    from edtformer.training.checkpoint import load_checkpoint
    from edtformer.training.config import TrainConfig
    from edtformer.training.engine import load_trainable_state
    from edtformer.training.recipe import RecipeModule
    from edtformer.training.runner import build_stage2_model

    cfg = TrainConfig.from_dict(json.loads((run / "config.json").read_text()))
    torch.manual_seed(cfg.run.seed)
    model = build_stage2_model(cfg)
    module = RecipeModule(model)
    if step:
        ckpt = load_checkpoint(run / "checkpoints" / f"step-{step:07d}")
        # a run made before 0.2 with fact heads (recipe.aux_weight > 0) also saved those
        kept = {k: v for k, v in ckpt.trainable.items() if not k.startswith("facts.")}
        load_trainable_state(module, kept, f"{run} step {step}")
    return model.eval()


@torch.no_grad()
def features(model: Any, smiles: list[str], batch: int = 32) -> dict[str, np.ndarray]:
    """``anchor0`` / ``pooled`` query states ``[M, W]`` and the raw input mean ``[M, sum D]``."""
    out: dict[str, list[torch.Tensor]] = {"anchor0": [], "pooled": [], "input": []}
    for i in range(0, len(smiles), batch):
        chunk = smiles[i : i + batch]
        convs = [model.prompts.messages(QUESTION, 1)] * len(chunk)
        chat = model.prepare([[s] for s in chunk], convs, generation=True)
        _, br = model.embed(chat)
        mask = br.mask.unsqueeze(-1).float()
        out["anchor0"].append(br.query_states[:, 0])
        out["pooled"].append((br.query_states * mask).sum(1) / mask.sum(1))
        feats, node_mask = chat.molecules.inputs()[:2]
        m = node_mask.unsqueeze(-1).float()
        out["input"].append(torch.cat([(f * m).sum(1) / m.sum(1) for f in feats], dim=1))
    return {k: torch.cat(v).float().numpy() for k, v in out.items()}


def probe(x: np.ndarray, y: np.ndarray) -> float:
    """3-fold cross-validated balanced accuracy of a logistic regression."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    clf = make_pipeline(StandardScaler(), LogisticRegression(max_iter=3000))
    return float(cross_val_score(clf, x, y, cv=3, scoring="balanced_accuracy").mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("runs", nargs="+", help="RUN_DIR:STEP (step 0 = untrained)")
    ap.add_argument("--data", default="data_out")
    ap.add_argument("--n-mols", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default=str(RESULTS / "state_probe"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    from edtformer.data import load_task
    from edtformer.training.questions import facts_of

    train = load_task(Path(args.data), "struct_text", "train")
    mols = sorted({s for r in train for s in r["smiles"]})
    random.Random(args.seed).shuffle(mols)
    mols = mols[: args.n_mols]
    labels = {g: np.array([g in facts_of(s)["functional_groups"] for s in mols]) for g in GROUPS}
    rows: list[dict[str, Any]] = []
    start = time.time()
    for spec in args.runs:
        run, _, step = spec.partition(":")
        model = load_bridge(Path(run), int(step or 0))
        feats = features(model, mols)
        for where, x in feats.items():
            if where == "input" and any(r["where"] == "input" for r in rows):
                continue  # the same inputs for every run
            row = {"run": run if where != "input" else "(inputs)", "step": int(step or 0)}
            row["where"] = where
            row.update({g: round(probe(x, y), 3) for g, y in labels.items() if y.sum() >= 5})
            rows.append(row)
            print(json.dumps(row), flush=True)
    meta = {
        "what": "cross-validated linear probes of functional-group presence from the bridge's "
        "query states (no LLM), before and after training",
        "data": f"{args.data} struct_text train molecules, {len(mols)} (seed {args.seed})",
        "positives": {g: int(y.sum()) for g, y in labels.items()},
        "seconds": round(time.time() - start, 1),
        "hardware": f"{platform.machine()} CPU, torch {torch.__version__}, {args.threads} thread(s)",
    }
    atomic_write_json(Path(args.out + ".json"), {**meta, "rows": rows})
    groups = [g for g in GROUPS if g in rows[0]]
    lines = [
        "| run | step | states | " + " | ".join(groups) + " |",
        "|---|---:|---|" + "---:|" * len(groups),
    ]
    lines += [
        f"| {r['run']} | {r['step']} | {r['where']} | "
        + " | ".join(f"{r[g]:.2f}" for g in groups)
        + " |"
        for r in rows
    ]
    atomic_write_text(Path(args.out + ".md"), "\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
