"""Held-out-phrasing evaluation of the fact-sheet model: any wording, any format, declining.

:func:`build_items` asks every sheet fact about valid or test molecules with the **held-out**
templates of :mod:`edtformer.facts.questions` (never trained on) in four forms — a plain
question (with or without a format request), JSON with a given key, four lettered options, and
off-sheet questions no structure answers — with yes/no facts balanced per fact (and per group).
:func:`score_items` answers them with a model and :func:`summarise` gives, per kind and form:

- numbers and text: exact match with the sheet's value (the first number of the answer; formula,
  CIP labels and group sets compared as text / sets);
- yes / no: balanced accuracy;
- JSON: the share that parses with the asked key, and the share whose value is right;
- multiple choice: accuracy of the letter the model answers (options cloze-scored by
  :meth:`~edtformer.model.EDTFormer.ask_many`, as users get it) and the share of the most-chosen
  letter;
- off-sheet: declined vs confidently wrong; on-sheet questions declined.
"""

from __future__ import annotations

import json
import logging
import math
import random
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from edtformer.errors import DataError
from edtformer.facts.questions import fact_kinds, generate
from edtformer.facts.sheet import sheet_of

logger = logging.getLogger(__name__)

#: Yes/no sheet facts (asked balanced: half the molecules have the fact).
BOOL_KINDS = ("macrocycle", "chiral", "lipinski", "veber", "has_group")

#: How an answer that declines reads.
DECLINE_RE = re.compile(
    r"can(?:'|no|\u2019)?t tell|cannot tell|can not tell|cannot be (?:told|determined)|"
    r"not possible to (?:tell|determine)|i don't know",
    re.IGNORECASE,
)
_NUMBER_RE = re.compile(r"-?\d+(?:\.\d+)?")
_YES_RE = re.compile(r"^\W*(yes|no|true|false|affirmative|negative)\b", re.IGNORECASE)


def declines(text: str) -> bool:
    """Whether an answer declines (says it cannot be told)."""
    return bool(DECLINE_RE.search(text))


def _pick(pool: Sequence[str], rng: random.Random) -> str:
    return pool[rng.randrange(len(pool))]


def build_items(
    molecules: Sequence[str],
    per_kind: int = 20,
    seed: int = 0,
    forms: Sequence[str] = ("plain", "json", "mc"),
    n_off_sheet: int = 240,
    split: str = "heldout",
) -> list[dict[str, Any]]:
    """The evaluation questions: ``per_kind`` per (fact kind, form) and ``n_off_sheet`` off-sheet.

    Args:
        molecules: the molecules asked about (valid or test split; never train).
        per_kind: questions per fact kind and form.
        seed: the draw's seed.
        forms: which forms to ask every fact in.
        n_off_sheet: off-sheet questions (spread over the off-sheet kinds by the generator).
        split: template split (``heldout`` for every reported number).

    Returns:
        One dict per question: ``smiles``, ``question`` (no ``<mol>``), ``answer``, ``kind``,
        ``form``, ``answer_type``, ``gold``, ``field``, ``meta``.
    """
    rng = random.Random(seed)
    cache: dict[str, dict[str, Any]] = {}
    mols = sorted(set(molecules))
    by_bool: dict[tuple[str, bool], list[str]] = defaultdict(list)
    by_group: dict[str, list[str]] = defaultdict(list)
    for smi in mols:
        v = sheet_of(smi, cache)
        for k in BOOL_KINDS[:-1]:
            by_bool[(k, bool(v[k]))].append(smi)
        for g in v.get("groups", []):
            by_group[g].append(smi)
    groups = sorted(g for g, m in by_group.items() if len(m) >= 3)
    items: list[dict[str, Any]] = []
    for kind in fact_kinds():
        for form in forms:
            for _ in range(per_kind):
                subject = None
                if kind in BOOL_KINDS[:-1] and form != "mc":
                    want = rng.random() < 0.5
                    smi = _pick(by_bool.get((kind, want)) or mols, rng)
                elif kind == "has_group" and groups:
                    subject = _pick(groups, rng)
                    if rng.random() < 0.5:
                        smi = _pick(by_group[subject], rng)
                    else:
                        smi = _pick(
                            [m for m in mols if subject not in cache[m].get("groups", [])] or mols,
                            rng,
                        )
                elif kind == "largest_fragment":
                    salts = [m for m in mols if cache[m]["fragments"] > 1]
                    smi = _pick(salts or mols, rng)
                else:
                    smi = _pick(mols, rng)
                item = generate(cache[smi], smi, rng, split, kind=kind, subject=subject, form=form)
                items.append(_as_dict(item, smi, form))
    for _ in range(n_off_sheet):
        smi = _pick(mols, rng)
        item = generate(cache[smi], smi, rng, split, kind="off_sheet")
        items.append(_as_dict(item, smi, "off_sheet"))
    return items


def _as_dict(item: Any, smiles: str, form: str) -> dict[str, Any]:
    kind = item.meta.get("fact_kind") or item.meta.get("kind") or item.kind
    if item.kind not in ("mc", "two_facts", "off_sheet"):
        kind = item.kind
    return {
        "smiles": smiles,
        "question": item.question,
        "answer": item.answer,
        "kind": str(kind),
        "form": form,
        "answer_type": item.answer_type,
        "gold": item.gold,
        "field": item.field,
        "meta": item.meta,
    }


def _number_equal(text: str, gold: Any) -> bool:
    m = _NUMBER_RE.search(text.replace(",", "") if isinstance(gold, int) else text)
    if m is None:
        return False
    try:
        return math.isclose(float(m.group()), float(gold), abs_tol=1e-6)
    except (TypeError, ValueError):
        return False


def _norm(text: str) -> str:
    return " ".join(str(text).lower().replace(".", " ").split())


def correct(item: dict[str, Any], text: str) -> bool:
    """Whether a generated answer ``text`` is right for ``item`` (see the module docstring)."""
    kind_type, gold = item["answer_type"], item["gold"]
    if kind_type == "json":
        got = parse_json(text)
        if got is None:
            return False
        ((key, value),) = gold.items()
        if key not in got:
            return False
        return _json_value_equal(got[key], value)
    if kind_type == "int" or kind_type == "float":
        return _number_equal(text, gold)
    if kind_type == "bool":
        m = _YES_RE.match(text)
        return m is not None and (m.group(1).lower() in ("yes", "true", "affirmative")) == bool(
            gold
        )
    if kind_type == "decline":
        return declines(text)
    if item["kind"] == "groups":
        want = {g.strip() for g in str(item["answer"]).split(",")}
        got_set = {g.strip().rstrip(".") for g in text.split(",")}
        return want == got_set
    if item["kind"] == "formula":
        first = text.strip().split()[0].rstrip(".") if text.strip() else ""
        return first == str(item["answer"])
    return _norm(text) == _norm(item["answer"])


def _json_value_equal(got: Any, want: Any) -> bool:
    if isinstance(want, bool):
        return got is want or (isinstance(got, str) and got.lower() == ("yes" if want else "no"))
    if isinstance(want, (int, float)):
        try:
            return math.isclose(float(got), float(want), abs_tol=1e-6)
        except (TypeError, ValueError):
            return False
    if isinstance(want, list):
        return isinstance(got, list) and sorted(map(str, got)) == sorted(map(str, want))
    return _norm(str(got)) == _norm(str(want))


def parse_json(text: str) -> dict[str, Any] | None:
    """The first JSON object in ``text`` (``None`` if none parses)."""
    start = text.find("{")
    while start != -1:
        depth = 0
        for end in range(start, len(text)):
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            if depth == 0:
                try:
                    got = json.loads(text[start : end + 1])
                except json.JSONDecodeError:
                    break
                return got if isinstance(got, dict) else None
        start = text.find("{", start + 1)
    return None


def score_items(
    model: Any,
    items: Sequence[dict[str, Any]],
    batch_size: int = 16,
    max_new_tokens: int = 64,
    progress: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Answer every item with ``model.ask_many`` (an :class:`~edtformer.model.EDTFormer`), as a
    user gets it: questions with lettered options by cloze scoring of the options' texts (the
    letter it names), the rest by greedy generation.

    Returns:
        The items with ``output`` (the answer text, or the chosen letter), ``probs`` (letters)
        and ``correct``.
    """
    # heavy: llm/ imports torch; building and scoring the questions does not need it
    from edtformer.llm.tokens import MOL_TOKEN

    out = [dict(it) for it in items]
    for start in range(0, len(items), batch_size):
        idx = list(range(start, min(start + batch_size, len(items))))
        answers = model.ask_many(
            [items[i]["smiles"] for i in idx],
            [f"{MOL_TOKEN}\n{items[i]['question']}" for i in idx],
            max_new_tokens=max_new_tokens,
            batch_size=batch_size,
        )
        for i, a in zip(idx, answers, strict=True):
            if isinstance(a, Exception):
                out[i].update(output=None, error=str(a), correct=False)
                continue
            if a.options:  # lettered options, cloze-scored: the letter chosen
                best = max(a.options, key=a.options.__getitem__)
                out[i].update(output=best, probs=a.options, correct=best == items[i]["gold"])
            else:
                out[i].update(output=a.answer, correct=correct(items[i], a.answer))
        if progress is not None:
            progress(len(idx))
    return out


def _balanced(rows: Sequence[dict[str, Any]]) -> float | None:
    by: dict[bool, list[bool]] = defaultdict(list)
    for r in rows:
        gold = r["gold"]
        if isinstance(gold, dict):
            gold = next(iter(gold.values()))
        by[bool(gold)].append(bool(r["correct"]))
    rates = [sum(v) / len(v) for v in by.values() if v]
    return sum(rates) / len(rates) if rates else None


def summarise(rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """Per (form, kind) metrics and the headline rates (see the module docstring)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        groups[(r["form"], r["kind"])].append(r)
    per: dict[str, dict[str, Any]] = {}
    for (form, kind), rs in sorted(groups.items()):
        row: dict[str, Any] = {"n": len(rs), "accuracy": sum(r["correct"] for r in rs) / len(rs)}
        if form in ("plain", "json") and kind in BOOL_KINDS:
            row["balanced_accuracy"] = _balanced(rs)
        if form == "json":
            parsed = [parse_json(r.get("output") or "") for r in rs]
            keys = [next(iter(r["gold"])) for r in rs]
            row["parses_with_key"] = sum(
                p is not None and k in p for p, k in zip(parsed, keys, strict=True)
            ) / len(rs)
        if form != "off_sheet" and form != "mc":
            row["declined"] = sum(declines(r.get("output") or "") for r in rs) / len(rs)
        if form == "mc":
            row["letters"] = dict(Counter(r.get("output") for r in rs))
        per[f"{form}/{kind}"] = row
    on_sheet = [r for r in rows if r["form"] in ("plain", "json")]
    off = [r for r in rows if r["form"] == "off_sheet"]
    mc = [r for r in rows if r["form"] == "mc"]
    letters = Counter(r.get("output") for r in mc)
    headline = {
        "on_sheet_declined": (
            sum(declines(r.get("output") or "") for r in on_sheet) / len(on_sheet)
            if on_sheet
            else None
        ),
        "off_sheet_n": len(off),
        "off_sheet_kinds": len({r["meta"].get("off_kind", r["meta"].get("subject")) for r in off}),
        "off_sheet_declined": sum(r["correct"] for r in off) / len(off) if off else None,
        "off_sheet_confidently_wrong": (
            sum(not r["correct"] for r in off) / len(off) if off else None
        ),
        "mc_accuracy": sum(r["correct"] for r in mc) / len(mc) if mc else None,
        "mc_top_letter_share": max(letters.values()) / len(mc) if mc else None,
        "json_parses_with_key": (
            sum(per[k]["parses_with_key"] * per[k]["n"] for k in per if k.startswith("json/"))
            / max(1, sum(per[k]["n"] for k in per if k.startswith("json/")))
        ),
        "json_value_right": (
            sum(per[k]["accuracy"] * per[k]["n"] for k in per if k.startswith("json/"))
            / max(1, sum(per[k]["n"] for k in per if k.startswith("json/")))
        ),
        "plain_accuracy": (
            sum(r["correct"] for r in rows if r["form"] == "plain")
            / max(1, sum(1 for r in rows if r["form"] == "plain"))
        ),
    }
    return {"headline": headline, "per_kind": per}


def split_molecules(data_dir: str | Path, split: str) -> list[str]:
    """The molecules of ``split`` (``valid`` / ``test``) that the struct and stereo tasks of
    ``edt data build`` ask about: the molecules sheet questions are asked about."""
    if split not in ("valid", "test"):
        raise DataError(f"sheet_qa is scored on valid or test molecules, not {split!r}")
    mols: set[str] = set()
    for task in ("struct_text", "stereo"):
        path = Path(data_dir) / task / f"{split}.jsonl"
        if not path.is_file():
            raise DataError(f"{path} not found: run `edt data build --out {data_dir}` first")
        with path.open() as fh:
            for line in fh:
                mols.update(json.loads(line)["smiles"])
    return sorted(mols)


def flat_metrics(summary: dict[str, Any]) -> dict[str, float]:
    """``summary`` as one flat ``{name: value}`` (headline, then ``form/kind/metric``)."""
    out = {k: float(v) for k, v in summary["headline"].items() if isinstance(v, (int, float))}
    for key, row in summary["per_kind"].items():
        for m in ("accuracy", "balanced_accuracy", "parses_with_key", "declined"):
            if row.get(m) is not None:
                out[f"{key}/{m}"] = float(row[m])
    return out
