"""``edt ask SMILES "question"``: answer one question about a molecule with the frozen LLM.

Without ``--model`` the shipped default bridge is used once one exists in the package
(``edtformer/assets/bridge/default``); until then an untrained bridge is built (with a warning)
so that the whole path runs.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import logging
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

logger = logging.getLogger(__name__)
#: When this module was imported (about when ``edt`` started): the start-up the INFO line reports.
STARTED = time.perf_counter()


def _quiet_transformers() -> None:
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.set_verbosity_error()
        hf_logging.disable_progress_bar()
    except ImportError:  # pragma: no cover
        pass


DTYPES = ("float32", "bfloat16", "float16")


def add_device_options(p: Any) -> None:
    """``--device`` and ``--dtype`` (where the model runs and the frozen LLM's precision)."""
    p.add_argument(
        "--device", default="cpu", help="cpu (default), cuda, cuda:N or mps: where the model runs"
    )
    p.add_argument(
        "--dtype", choices=DTYPES, default=None,
        help="the frozen LLM's weights (default: float32 on cpu, bfloat16 on a GPU)",
    )  # fmt: skip


def resolve_device(device: str, dtype: str | None) -> tuple[Any, Any]:
    """``(torch.device, torch.dtype)`` of the flags, checked before any model loads."""
    import torch

    from edtformer.errors import EdtError

    try:
        dev = torch.device(device)
    except RuntimeError:
        raise EdtError(f"--device {device!r}: expected cpu, cuda, cuda:N or mps") from None
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise EdtError(f"--device {device}: no CUDA GPU is visible to torch")
    if dev.type == "mps" and not torch.backends.mps.is_available():
        raise EdtError("--device mps: MPS is not available")
    name = dtype or ("float32" if dev.type == "cpu" else "bfloat16")
    return dev, getattr(torch, name)


#: Said after ``edt ask`` loaded the model in a terminal: where repeated questions are cheaper.
REPEAT_HINT = (
    "each `edt ask` loads the model again; for repeated questions keep it loaded: "
    "`edt ask --input FILE`, `edt chat SMILES`, `edt serve`, or Python "
    "(EDTFormer.from_pretrained once)"
)


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection while the model loads, then the loaded objects frozen.

    Importing torch and transformers and building the model create about 800,000 objects that
    live as long as the process; the collector's passes over them cost 10-20 % of the start-up
    (``benchmarks/startup.py``). Afterwards ``gc.freeze`` moves them out of its sight, so later
    collections stay cheap. Nested uses are fine: only the outermost one re-enables collection.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        if enabled:
            gc.enable()


@contextlib.contextmanager
def loading_status(text: str) -> Iterator[Callable[[str], None]]:
    """A transient rich status line on stderr while something loads (only in a terminal);
    yields a function that replaces its text."""
    from rich.console import Console

    console = Console(stderr=True)
    if not console.is_terminal:
        yield lambda _text: None
        return
    with console.status(text, spinner="dots") as status:
        yield lambda new: status.update(new)


def load_cli_model(
    model_dir: str | None,
    threads: int | None = None,
    device: str = "cpu",
    dtype: str | None = None,
    say: Callable[[str], None] | None = None,
) -> tuple[Any, str]:
    """The model for ``ask``/``chat``/``eval`` and a short name for it (``--model`` folder,
    shipped default, or an untrained bridge on the default encoder and LLM), on ``device`` with
    the frozen LLM in ``dtype``.

    Says what it loads and how long it took: a status line in a terminal (``say``: the caller's
    status line, else its own) and an INFO log line (``-v``) with the import and weight times.
    Garbage collection waits until the model is loaded (:func:`gc_paused`).
    """
    if say is None:
        with loading_status("loading the model") as own:
            return load_cli_model(model_dir, threads, device, dtype, own)
    with gc_paused():
        return _load_cli_model(model_dir, threads, device, dtype, say)


def _load_cli_model(
    model_dir: str | None,
    threads: int | None,
    device: str,
    dtype: str | None,
    say: Callable[[str], None],
) -> tuple[Any, str]:
    name = "default" if model_dir is None else str(model_dir)
    t0 = time.perf_counter()
    say(f"loading the model ({name}): importing torch and transformers")
    import torch
    import transformers.modeling_utils  # noqa: F401  # loading needs it: timed here, not below

    from edtformer.model import EDTFormer, EDTFormerConfig
    from edtformer.model.checkpoint import default_bridge_dir, read_config, resolve_model_path

    t_import = time.perf_counter() - t0
    _quiet_transformers()
    if threads:
        torch.set_num_threads(threads)
    dev, torch_dtype = resolve_device(device, dtype)
    folder = default_bridge_dir() if model_dir is None else model_dir
    if model_dir is None and not (default_bridge_dir() / "config.json").is_file():
        logger.warning(
            "no trained bridge is shipped yet: answering with an UNTRAINED bridge "
            "(the LLM sees random molecule tokens); pass --model DIR for a trained one"
        )
        torch.manual_seed(0)
        return EDTFormer.build(EDTFormerConfig()).to(dev).eval(), "untrained"
    folder = resolve_model_path(folder)  # a hub id is downloaded once
    cfg = read_config(folder)["config"]
    what = f"{name} bridge + {cfg['llm']} + encoders {', '.join(cfg['encoders'])}"
    say(f"loading {what} (imports took {t_import:.1f} s)")
    t1 = time.perf_counter()
    llm = tok = None
    if torch_dtype != torch.float32:
        from edtformer.llm.loading import load_llm

        llm, tok = load_llm(cfg["llm"], dtype=torch_dtype)
    model = EDTFormer.from_pretrained(folder, llm=llm, tokenizer=tok).to(dev).eval()
    t_load = time.perf_counter() - t1
    total = time.perf_counter() - t0
    logger.info(
        "loaded %s on %s in %.1f s (torch + transformers imports %.1f s, weights and encoders "
        "%.1f s); %.1f s since edt started",
        what, dev, total, t_import, t_load, time.perf_counter() - STARTED,
    )  # fmt: skip
    return model, name


def answer_dict(ans: Any, model_name: str) -> dict[str, Any]:
    """The ``--json`` object of one answer."""
    return {
        "smiles": ans.smiles[0] if len(ans.smiles) == 1 else ans.smiles,
        "question": ans.question,
        "answer": ans.answer,
        "n_molecule_tokens": ans.n_molecule_tokens,
        "n_anchor_tokens": ans.n_anchor_tokens,
        "n_dynamic_tokens": ans.n_dynamic_tokens,
        "n_dropped_patches": ans.n_dropped_patches,
        "facts": ans.facts,
        "options": ans.options,
        "model": model_name,
    }


def facts_of(model: Any, smiles: str, question: str) -> list[str] | None:
    """The fact-sheet text the LLM reads for one prompt (``None`` when the model writes no
    sheet), for answers that are scored, not generated."""
    batch = model.prepare([[smiles]], [model.prompts.messages(question, 1)], generation=True)
    return None if batch.sheets is None else list(batch.sheets)


def check_generation_flags(args: argparse.Namespace) -> None:
    """``--max-new-tokens`` and ``--threads`` in range, before any model loads."""
    from edtformer.errors import EdtError
    from edtformer.model import MAX_NEW_TOKENS

    if not 1 <= args.max_new_tokens <= MAX_NEW_TOKENS:
        raise EdtError(
            f"--max-new-tokens must be 1 to {MAX_NEW_TOKENS:,}, got {args.max_new_tokens}"
        )
    if args.threads is not None and args.threads < 1:
        raise EdtError(f"--threads must be at least 1, got {args.threads}")


def _check_and_load(args: argparse.Namespace) -> tuple[Any, str, list[str] | None] | None:
    """Check every argument (bad input fails fast, before any model loads), then load the model:
    ``(model, name, choices)``, or ``None`` for a batch (``--input``), which loads its own."""
    from edtformer.chem import parse_smiles
    from edtformer.cli.ask_batch import check_batch_args, parse_choices
    from edtformer.errors import EdtError
    from edtformer.llm.prompt import PromptBuilder

    check_batch_args(args)  # every batch option combination, before anything is read
    check_generation_flags(args)
    resolve_device(args.device, args.dtype)  # before anything loads
    if args.input:
        return None
    if args.smiles is None or args.question is None:
        raise EdtError("give SMILES and QUESTION, or --input FILE --out FILE")
    parse_smiles(args.smiles)  # bad input fails fast, before any model loads
    PromptBuilder.user_text(args.question, 1)  # so does an over-long question
    choices = parse_choices(args.choices)
    with loading_status("loading the model") as say:
        model, name = load_cli_model(args.model, args.threads, args.device, args.dtype, say)
    return model, name, choices


def run(args: argparse.Namespace) -> int:
    """Parse the molecule, load the model, print the answer (or a JSON object); with
    ``--input``, answer a whole file (:mod:`edtformer.cli.ask_batch`)."""
    from edtformer.errors import EdtError

    t0 = time.perf_counter()
    with gc_paused():  # from the first import of torch to the loaded model
        loaded = _check_and_load(args)
    if loaded is None:
        from edtformer.cli.ask_batch import run_batch

        return run_batch(args, load_cli_model)
    model, name, choices = loaded
    from rich.console import Console

    console = Console(stderr=True)
    if console.is_terminal:  # people see where repeated questions are cheaper; scripts do not
        console.print(f"[dim]model loaded in {time.perf_counter() - t0:.1f} s; {REPEAT_HINT}[/dim]")
    if choices is not None:  # scored options, no generation
        scored = model.score_many([args.smiles], [args.question], choices)[0]
        if isinstance(scored, EdtError):
            raise scored
        best = max(scored, key=scored.__getitem__)
        facts = (
            facts_of(model, args.smiles, args.question) if args.json or args.show_facts else None
        )
        if args.json:
            row = {"smiles": args.smiles, "question": args.question, "answer": best,
                   "probabilities": scored, "facts": facts, "model": name}  # fmt: skip
            print(json.dumps(row, ensure_ascii=False))
        else:
            print(best + "  (" + ", ".join(f"{c} {p:.3f}" for c, p in scored.items()) + ")")
            if args.show_facts:
                print(facts_line(facts))
        sys.stdout.flush()
        return 0
    ans = model.ask(args.smiles, args.question, max_new_tokens=args.max_new_tokens)
    if args.json:
        print(json.dumps(answer_dict(ans, name), ensure_ascii=False))
    else:
        print(ans.answer)
        if args.show_facts:
            print(facts_line(ans.facts))
    sys.stdout.flush()
    return 0


def facts_line(facts: list[str] | None) -> str:
    """The ``--show-facts`` line for people."""
    if facts is None:
        return "facts the LLM read: none (this model writes no facts)"
    return "facts the LLM read: " + " || ".join(facts)


def register(subparsers: Any) -> None:
    """Add ``edt ask``."""
    p = subparsers.add_parser(
        "ask",
        help="answer a question about a molecule",
        description="Answer a free-text question about a molecule given as SMILES, or every row "
        "of a file (--input FILE --out FILE). Each `edt ask` process loads the model again "
        "(seconds); for repeated questions keep it loaded: --input FILE, `edt chat SMILES`, "
        "`edt serve`, or Python (EDTFormer.from_pretrained once, then model.ask).",
    )
    p.add_argument("smiles", nargs="?", help="the molecule, e.g. 'CC(=O)Oc1ccccc1C(=O)O'")
    p.add_argument(
        "question", nargs="?", help="the question, e.g. 'Which functional groups does it have?'"
    )
    b = p.add_argument_group("batch mode (a file of molecules)")
    from edtformer.cli.files import add_file_options

    add_file_options(b)
    b.add_argument(
        "--out", metavar="FILE", help="answers: FILE.csv or FILE.jsonl (input columns kept)"
    )
    b.add_argument(
        "--question", dest="batch_question", metavar="TEXT", help="one question for every row"
    )
    b.add_argument(
        "--question-column", metavar="NAME",
        help="the input column with each row's question (default: question)",
    )  # fmt: skip
    b.add_argument("--batch-size", type=int, default=16, help="prompts per forward (16)")
    b.add_argument(
        "--resume", action="store_true", help="skip rows already in --out (same exit code)"
    )
    p.add_argument(
        "--choices",
        help="score these comma-separated options instead of generating (e.g. yes,no or "
        "A,B,C,D): the most probable and each one's probability (with --input: p_<option> "
        "columns, one forward per batch)",
    )
    p.add_argument(
        "--model", default=None, help="trained model folder (default: the shipped bridge)"
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--show-facts",
        action="store_true",
        help="also print the facts the LLM read (the fact sheet; with --input: a facts "
        "column; --json always includes them)",
    )
    p.add_argument(
        "--max-new-tokens", type=int, default=64, help="answer length limit (default 64)"
    )
    p.add_argument(
        "--threads", type=int, default=None, help="CPU threads for torch (default: torch's)"
    )
    add_device_options(p)
    p.set_defaults(func=run, end_process=True)  # no interpreter teardown after the answer
