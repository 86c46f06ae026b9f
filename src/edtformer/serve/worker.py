"""The model's one thread, and the batching of requests that arrive together.

Torch calls on one model are not made from several threads at once: every forward (prepare,
generate, score, patch) runs on a single worker thread, so the event loop stays free to accept
requests and stream tokens. Chat requests, streaming or not, wait in one queue for up to
``batch_wait_s`` (a few ms) and are answered together, one ``generate`` per group of requests
with the same generation settings (up to ``max_batch_size`` prompts): while a batch runs, the
next requests gather and go together. A streaming request's row of the batch sends its text as
each token comes; a client that leaves ends its own row only (the others go on), and the
``generate`` stops early once every row is finished or abandoned.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, TypeVar

import torch
from transformers import StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from edtformer.chem import MolRecord
from edtformer.errors import EdtError
from edtformer.llm.constrained import AnswerSpec
from edtformer.llm.formats import join_prefix
from edtformer.llm.layout import for_serving
from edtformer.llm.options import parse_options
from edtformer.llm.prompt import Message
from edtformer.model import ChatBatch, molecule_token_counts

logger = logging.getLogger(__name__)
T = TypeVar("T")


@dataclass
class GenerationJob:
    """One chat completion to generate."""

    molecules: list[MolRecord]
    messages: list[Message]
    max_new_tokens: int
    sampling: dict[str, Any] = field(default_factory=dict)
    """``do_sample`` / ``temperature`` / ``top_p`` for ``generate`` (empty: greedy)."""

    @property
    def key(self) -> tuple[Any, ...]:
        """Jobs with equal keys can share one ``generate`` call."""
        return (self.max_new_tokens, *sorted(self.sampling.items()))


@dataclass
class Completion:
    """One generated answer and its counts (the molecule-token counts are the CLI's and
    :class:`~edtformer.model.outputs.Answer`'s: :func:`~edtformer.model.molecule_token_counts`)."""

    text: str
    finish_reason: str
    """``stop`` (the model ended it) or ``length`` (``max_tokens`` reached)."""
    prompt_tokens: int
    completion_tokens: int
    n_molecule_tokens: int
    """Every token the bridge put in the prompt: anchors + dynamic tokens."""
    n_anchor_tokens: int
    n_dynamic_tokens: int
    """Dynamic (patch) tokens only."""
    facts: list[str] | None = None
    """The fact-sheet text the LLM read after each molecule's tokens (``None``: no sheet)."""


def _lettered_question(job: GenerationJob) -> str | None:
    """The question of a single-turn job (one user message, no system or assistant turn)
    whose text has lettered options, else ``None``."""
    if len(job.messages) != 1 or job.messages[0]["role"] != "user" or not job.molecules:
        return None
    question = job.messages[0]["content"]
    return question if parse_options(question) is not None else None


class Listener:
    """Where one streaming row's text goes: ``send(delta)`` (called on the model thread) and a
    :attr:`cancelled` flag the client side sets when it leaves."""

    def __init__(self, send: Callable[[str], None]) -> None:
        self.send = send
        self.cancelled = False


class TokenSink(BaseStreamer):  # type: ignore[misc]
    """A ``generate`` streamer for a batch: keeps each row's new ids up to its end of sequence,
    sends each listening row's new text as it grows, and ends a row once its listener is
    cancelled (the client went away); :attr:`cancelled` ends every row.

    Args:
        n_rows: rows of the batch.
        eos_ids: ids that end a row.
        decode: token ids -> text.
        on_delta: one callable (row 0's text) or one :class:`Listener` / ``None`` per row.
    """

    def __init__(
        self,
        n_rows: int,
        eos_ids: set[int],
        decode: Callable[[list[int]], str],
        on_delta: Callable[[str], None] | Sequence[Listener | None] | None = None,
        prefixes: Sequence[str | None] | None = None,
    ) -> None:
        self.prefixes: list[str | None] = list(prefixes or [None] * n_rows)
        """Each row's fixed answer start (``EDTFormer.begin_answer``): sent
        first, the generated text after it."""
        self.ids: list[list[int]] = [[] for _ in range(n_rows)]
        self.done = [False] * n_rows
        self.eos_ids = eos_ids
        self.decode = decode
        if on_delta is None or isinstance(on_delta, Sequence):
            rows = list(on_delta or [None] * n_rows)
        else:
            rows = [Listener(on_delta)] + [None] * (n_rows - 1)
        if len(rows) != n_rows:
            raise EdtError(f"TokenSink: {len(rows)} listeners for {n_rows} rows")
        self.listeners: list[Listener | None] = rows
        self.sent = [""] * n_rows
        self.cancelled = False

    def put(self, value: torch.Tensor) -> None:
        if value.dim() != 1:  # the prompt, [B, L]: nothing new
            return
        for b, t in enumerate(value.tolist()):  # [B]: one new token per row
            if self.done[b]:
                continue
            if t in self.eos_ids:
                self.done[b] = True
            else:
                self.ids[b].append(int(t))
                self._emit(b, final=False)

    def end(self) -> None:
        for b in range(len(self.ids)):
            self._emit(b, final=True)

    def _emit(self, b: int, final: bool) -> None:
        """Send row ``b``'s text not sent yet; trailing spaces and half characters wait for more,
        so that the deltas add up to the stripped answer."""
        listener = self.listeners[b]
        if listener is None or listener.cancelled:
            return
        visible = self.text(b, final)
        if not final and visible.endswith("\ufffd"):
            return
        if visible.startswith(self.sent[b]) and len(visible) > len(self.sent[b]):
            listener.send(visible[len(self.sent[b]) :])
            self.sent[b] = visible

    def text(self, b: int, final: bool = True) -> str:
        """Row ``b``'s answer so far: its fixed start joined to the generated text (finished,
        e.g. JSON closed, once ``final``)."""
        generated = self.decode(self.ids[b]).strip()
        prefix = self.prefixes[b]
        if prefix is None:
            return generated
        if final:
            return join_prefix(prefix, generated)
        return f"{prefix} {generated}" if generated else prefix

    def stopper(self) -> StoppingCriteria:
        """A stopping criterion that ends a row once its listener is cancelled (every row once
        :attr:`cancelled` is set)."""
        sink = self

        class _Cancelled(StoppingCriteria):  # type: ignore[misc]
            def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
                rows = [
                    sink.cancelled or (lst is not None and lst.cancelled) for lst in sink.listeners
                ]
                if len(rows) != input_ids.shape[0]:
                    rows = [sink.cancelled] * input_ids.shape[0]
                return torch.tensor(rows, dtype=torch.bool, device=input_ids.device)

        return _Cancelled()


QueueItem = tuple[GenerationJob, "asyncio.Future[Any]", Listener | None]
"""A waiting chat request: the job, its answer's future, its stream listener (None: not streamed)."""


class ModelWorker:
    """Runs everything that touches the model on one thread; batches chat requests.

    Its LLM is prepared for serving once (:func:`~edtformer.llm.layout.for_serving`: LoRA
    merged into the weights, weights laid out for batches): the model is not to be trained
    afterwards.

    Args:
        model: a loaded :class:`~edtformer.model.EDTFormer` in eval mode.
        max_batch_size: most prompts per ``generate``.
        batch_wait_s: how long the first request of a batch waits for others.
    """

    def __init__(self, model: Any, max_batch_size: int = 16, batch_wait_s: float = 0.005) -> None:
        if max_batch_size < 1:
            raise EdtError(f"max_batch_size must be at least 1, got {max_batch_size}")
        self.model = model
        for_serving(model.llm)  # LoRA merged, weights laid out for batches (llm/layout.py)
        self.max_batch_size = max_batch_size
        self.batch_wait_s = batch_wait_s
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edt-model")
        self.queue: asyncio.Queue[QueueItem] | None = None
        self._task: asyncio.Task[None] | None = None
        eos = model.llm.generation_config.eos_token_id
        eos = model.tokenizer.eos_token_id if eos is None else eos
        self.eos_ids = set(eos if isinstance(eos, list) else [eos])
        self.batches_run = 0
        """Number of batched ``generate`` calls for chat requests (for tests and /health)."""

    # -- life cycle ---------------------------------------------------------------------------
    async def start(self) -> None:
        """Start the batching task (on the running event loop)."""
        self.queue = asyncio.Queue()
        self._task = asyncio.create_task(self._batch_loop())

    async def stop(self) -> None:
        """Stop batching and let the thread finish its current work."""
        if self._task is not None:
            self._task.cancel()
        self.executor.shutdown(wait=False, cancel_futures=True)

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)`` on the model thread, without gradients."""

        def call() -> T:
            with torch.no_grad():
                return fn(*args)

        return await asyncio.get_running_loop().run_in_executor(self.executor, call)

    @property
    def pending(self) -> int:
        """Requests waiting for a batch."""
        return 0 if self.queue is None else self.queue.qsize()

    # -- chat ---------------------------------------------------------------------------------
    def prepare(self, jobs: Sequence[GenerationJob]) -> ChatBatch:
        """The jobs' prompts as one batch (model thread); checks prompt + answer length."""
        batch = self.model.prepare(
            [j.molecules for j in jobs], [j.messages for j in jobs], generation=True
        )
        limit = self.model.max_positions
        need = batch.input_ids.shape[1] + max(j.max_new_tokens for j in jobs)
        if limit is not None and need > limit:
            raise EdtError(
                f"prompt ({batch.input_ids.shape[1]:,} tokens) + max_tokens "
                f"({max(j.max_new_tokens for j in jobs):,}) exceed the LLM's {limit:,} positions"
            )
        return batch

    def generate(
        self, jobs: Sequence[GenerationJob], batch: ChatBatch, sink: TokenSink | None = None
    ) -> list[Completion]:
        """Generate the answers of ``jobs`` (same :attr:`GenerationJob.key`) in one call;
        ``batch`` holds their begun prompts (:meth:`begun`) and ``sink`` their answer starts."""
        job = jobs[0]
        sink = sink or TokenSink(len(jobs), self.eos_ids, self.model.prompts.decode)
        names = [self.names(j, start) for j, start in zip(jobs, sink.prefixes, strict=True)]
        extra: dict[str, Any] = {"name_lists": names} if any(names) else {}
        gen = self.model.generate_details(
            batch,
            job.max_new_tokens,
            streamer=sink,
            stopping_criteria=StoppingCriteriaList([sink.stopper()]),
            **job.sampling,
            **extra,
        )
        prompt_tokens = batch.attention_mask.sum(dim=1).tolist()  # [B]
        n_mols = [len(j.molecules) for j in jobs]
        out, lo = [], 0
        for k, (text, cut) in enumerate(zip(gen.texts, gen.truncated, strict=True)):
            if sink.prefixes[k] is not None:
                text = join_prefix(sink.prefixes[k] or "", text)
            hi = lo + n_mols[k]
            n_tok, n_anchor, n_dyn = molecule_token_counts(batch, gen.bridge, lo, hi)
            out.append(
                Completion(
                    text=text,
                    finish_reason="length" if cut else "stop",
                    prompt_tokens=int(prompt_tokens[k]),
                    completion_tokens=len(sink.ids[k]),
                    n_molecule_tokens=n_tok,
                    n_anchor_tokens=n_anchor,
                    n_dynamic_tokens=n_dyn,
                    facts=None if batch.sheets is None else list(batch.sheets[lo:hi]),
                )
            )
            lo = hi
        return out

    def answer(
        self, jobs: Sequence[GenerationJob], listeners: Sequence[Listener | None] | None = None
    ) -> list[Completion | EdtError]:
        """Answers of jobs batched together (streaming rows send their text to ``listeners``);
        when the batch fails on bad input, each job alone (so one bad request never fails the
        others)."""
        rows: list[Listener | None] = (
            list(listeners) if listeners is not None else [None] * len(jobs)
        )

        def sink(ls: list[Listener | None], starts: list[str | None]) -> TokenSink:
            return TokenSink(len(ls), self.eos_ids, self.model.prompts.decode, ls, starts)

        lettered = [i for i, j in enumerate(jobs) if _lettered_question(j) is not None]
        if lettered:  # answered as `edt ask` answers them: options cloze-scored, no generation
            chosen = self.choose([jobs[i] for i in lettered], [rows[i] for i in lettered])
            rest = [i for i in range(len(jobs)) if i not in set(lettered)]
            others = self.answer([jobs[i] for i in rest], [rows[i] for i in rest]) if rest else []
            merged: list[Completion | EdtError] = [EdtError("not answered")] * len(jobs)
            for i, c in zip([*lettered, *rest], [*chosen, *others], strict=True):
                merged[i] = c
            return merged
        begun = [self.begun(j) for j in jobs]
        jobs = [j for j, _ in begun]
        starts = [p for _, p in begun]
        try:
            return list(self.generate(jobs, self.prepare(jobs), sink(rows, starts)))
        except EdtError as exc:
            if len(jobs) == 1:
                return [exc]
        out: list[Completion | EdtError] = []
        for job, listener, start in zip(jobs, rows, starts, strict=True):
            try:
                out += self.generate([job], self.prepare([job]), sink([listener], [start]))
            except EdtError as exc:
                out.append(exc)
        return out

    def begun(self, job: GenerationJob) -> tuple[GenerationJob, str | None]:
        """``job`` with its answer begun as ``edt ask`` begins it (JSON under an asked key,
        a decline for a question naming no sheet fact: ``EDTFormer.begin_answer``)
        and that start; a conversation of more than one turn is never begun."""
        if len(job.messages) != 1 or job.messages[0]["role"] != "user":
            return job, None
        question = job.messages[0]["content"]
        smiles = [m.smiles for m in job.molecules]
        messages, start = self.model.begin_answer(question, list(job.messages), smiles)
        if start is None:
            return job, None
        return replace(job, messages=messages), start

    def names(self, job: GenerationJob, start: str | None) -> AnswerSpec | None:
        """The names ``job``'s answer must list, as ``edt ask`` constrains it
        (``EDTFormer.answer_names``): single-turn questions only."""
        user = [m for m in job.messages if m["role"] == "user"]
        if len(user) != 1 or job.messages[0]["role"] != "user":
            return None
        smiles = [m.smiles for m in job.molecules]
        return self.model.answer_names(user[0]["content"], smiles, start)

    def choose(
        self, jobs: Sequence[GenerationJob], listeners: Sequence[Listener | None]
    ) -> list[Completion | EdtError]:
        """Answers of single-turn questions with lettered options, by
        :meth:`~edtformer.model.EDTFormer.ask_many` (each option's text cloze-scored as the
        answer to the bare question); a streaming row gets the answer as one piece."""
        questions = [_lettered_question(j) or "" for j in jobs]
        answers = self.model.ask_many([[m.smiles for m in j.molecules] for j in jobs], questions)
        out: list[Completion | EdtError] = []
        for job, a, listener in zip(jobs, answers, listeners, strict=True):
            if isinstance(a, EdtError):
                out.append(a)
                continue
            # the prompt as asked (options included), counted as for a generated answer
            prompt_tokens = int(self.prepare([job]).attention_mask.sum())
            if listener is not None:
                listener.send(a.answer)
            out.append(
                Completion(
                    text=a.answer,
                    finish_reason="stop",
                    prompt_tokens=prompt_tokens,
                    completion_tokens=len(self.model.prompts.text_ids(a.answer)),
                    n_molecule_tokens=a.n_molecule_tokens,
                    n_anchor_tokens=a.n_anchor_tokens,
                    n_dynamic_tokens=a.n_dynamic_tokens,
                    facts=a.facts,
                )
            )
        return out

    async def complete(self, job: GenerationJob) -> Completion:
        """The answer of a non-streaming request (batched with requests that arrive with it)."""
        assert self.queue is not None, "ModelWorker.start() was not called"
        fut: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
        await self.queue.put((job, fut, None))
        return await fut

    async def _batch_loop(self) -> None:
        assert self.queue is not None
        loop = asyncio.get_running_loop()
        while True:
            jobs = [await self.queue.get()]
            deadline = loop.time() + self.batch_wait_s
            while len(jobs) < self.max_batch_size:
                try:
                    jobs.append(self.queue.get_nowait())
                    continue
                except asyncio.QueueEmpty:
                    pass
                left = deadline - loop.time()
                if left <= 0:
                    break
                try:
                    jobs.append(await asyncio.wait_for(self.queue.get(), left))
                except TimeoutError:
                    break
            groups: dict[tuple[Any, ...], list[QueueItem]] = {}
            for item in jobs:
                groups.setdefault(item[0].key, []).append(item)
            for group in groups.values():
                live = [(j, f, lst) for j, f, lst in group if not f.done()]  # a client left
                if not live:
                    continue
                results: list[Any]
                try:
                    results = await self.run(
                        self.answer, [j for j, _, _ in live], [lst for _, _, lst in live]
                    )
                    self.batches_run += 1
                except Exception as exc:  # a bug: every request of the batch gets it
                    logger.exception("batch of %d failed", len(live))
                    results = [exc] * len(live)
                for (_, fut, _), res in zip(live, results, strict=True):
                    if fut.done():
                        continue
                    if isinstance(res, BaseException):
                        fut.set_exception(res)
                    else:
                        fut.set_result(res)

    async def stream(
        self, job: GenerationJob, final: list[Completion]
    ) -> AsyncGenerator[str, None]:
        """Text deltas of one answer as they are generated (batched with the chat requests that
        arrive with it); the :class:`Completion` is appended to ``final`` at the end. Leaving the
        iteration early ends this answer's row of the batch."""
        assert self.queue is not None, "ModelWorker.start() was not called"
        loop = asyncio.get_running_loop()
        deltas: asyncio.Queue[str | None] = asyncio.Queue()

        def send(delta: str) -> None:  # on the model thread
            loop.call_soon_threadsafe(deltas.put_nowait, delta)

        listener = Listener(send)
        fut: asyncio.Future[Completion] = loop.create_future()
        fut.add_done_callback(lambda _: deltas.put_nowait(None))
        await self.queue.put((job, fut, listener))
        try:
            while (delta := await deltas.get()) is not None:
                yield delta
            final.append(await fut)
        finally:
            listener.cancelled = True
            if not fut.done():
                fut.cancel()
