"""The model's one thread, and the batching of requests that arrive together.

Torch calls on one model are not made from several threads at once: every forward (prepare,
generate, score, patch) runs on a single worker thread, so the event loop stays free to accept
requests and stream tokens. Non-streaming chat requests wait in a queue for up to
``batch_wait_s`` (a few ms) and are answered together, one ``generate`` per group of requests
with the same generation settings (up to ``max_batch_size`` prompts): while a batch runs, the
next requests gather and go together. A streaming request is generated alone (its tokens are
sent as they come); it takes its turn on the same thread.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import torch
from transformers import StoppingCriteria, StoppingCriteriaList
from transformers.generation.streamers import BaseStreamer

from edtformer.chem import MolRecord
from edtformer.errors import EdtError
from edtformer.llm.prompt import Message
from edtformer.model.outputs import ChatBatch

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
    """One generated answer and its counts."""

    text: str
    finish_reason: str
    """``stop`` (the model ended it) or ``length`` (``max_tokens`` reached)."""
    prompt_tokens: int
    completion_tokens: int
    n_molecule_tokens: int
    n_anchor_tokens: int
    n_dynamic_tokens: int


class TokenSink(BaseStreamer):  # type: ignore[misc]
    """A ``generate`` streamer for a batch: keeps each row's new ids up to its end of sequence,
    calls ``on_delta`` with new text of row 0 as it grows, and stops generation once
    :attr:`cancelled` is set (the client went away)."""

    def __init__(
        self,
        n_rows: int,
        eos_ids: set[int],
        decode: Callable[[list[int]], str],
        on_delta: Callable[[str], None] | None = None,
    ) -> None:
        self.ids: list[list[int]] = [[] for _ in range(n_rows)]
        self.done = [False] * n_rows
        self.eos_ids = eos_ids
        self.decode = decode
        self.on_delta = on_delta
        self.sent = ""
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
        if self.on_delta is not None:
            self._emit(self.decode(self.ids[0]), final=False)

    def end(self) -> None:
        if self.on_delta is not None:
            self._emit(self.decode(self.ids[0]), final=True)

    def _emit(self, text: str, final: bool) -> None:
        """Send the text not sent yet; trailing spaces and half characters wait for more, so that
        the deltas add up to the stripped answer."""
        visible = text.strip()
        if not final and visible.endswith("\ufffd"):
            return
        if visible.startswith(self.sent) and len(visible) > len(self.sent):
            assert self.on_delta is not None
            self.on_delta(visible[len(self.sent) :])
            self.sent = visible

    def stopper(self) -> StoppingCriteria:
        """A stopping criterion that ends every row once :attr:`cancelled` is set."""
        sink = self

        class _Cancelled(StoppingCriteria):  # type: ignore[misc]
            def __call__(self, input_ids: torch.Tensor, scores: Any, **kwargs: Any) -> torch.Tensor:
                return torch.full(
                    (input_ids.shape[0],), sink.cancelled, dtype=torch.bool, device=input_ids.device
                )

        return _Cancelled()


class ModelWorker:
    """Runs everything that touches the model on one thread; batches chat requests.

    Args:
        model: a loaded :class:`~edtformer.model.EDTFormer` in eval mode.
        max_batch_size: most prompts per ``generate``.
        batch_wait_s: how long the first request of a batch waits for others.
    """

    def __init__(self, model: Any, max_batch_size: int = 16, batch_wait_s: float = 0.005) -> None:
        if max_batch_size < 1:
            raise EdtError(f"max_batch_size must be at least 1, got {max_batch_size}")
        self.model = model
        self.max_batch_size = max_batch_size
        self.batch_wait_s = batch_wait_s
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="edt-model")
        self.queue: asyncio.Queue[tuple[GenerationJob, asyncio.Future[Any]]] | None = None
        self._task: asyncio.Task[None] | None = None
        eos = model.llm.generation_config.eos_token_id
        eos = model.tokenizer.eos_token_id if eos is None else eos
        self.eos_ids = set(eos if isinstance(eos, list) else [eos])
        self.batches_run = 0
        """Number of ``generate`` calls for non-streaming requests (for tests and /health)."""

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
        """Generate the answers of ``jobs`` (same :attr:`GenerationJob.key`) in one call."""
        job = jobs[0]
        sink = sink or TokenSink(len(jobs), self.eos_ids, self.model.prompts.decode)
        texts, bridge, cuts = self.model._generate(
            batch,
            job.max_new_tokens,
            streamer=sink,
            stopping_criteria=StoppingCriteriaList([sink.stopper()]),
            **job.sampling,
        )
        prompt_tokens = batch.attention_mask.sum(dim=1).tolist()  # [B]
        n_mols = [len(j.molecules) for j in jobs]
        out, lo = [], 0
        for k, (text, cut) in enumerate(zip(texts, cuts, strict=True)):
            hi = lo + n_mols[k]
            n_tok = int(batch.mol_counts[lo:hi].sum())
            n_anchor = 0 if bridge is None else bridge.n_anchors * n_mols[k]
            out.append(
                Completion(
                    text=text,
                    finish_reason="length" if cut else "stop",
                    prompt_tokens=int(prompt_tokens[k]),
                    completion_tokens=len(sink.ids[k]),
                    n_molecule_tokens=n_tok,
                    n_anchor_tokens=n_anchor,
                    n_dynamic_tokens=n_tok - n_anchor,
                )
            )
            lo = hi
        return out

    def answer(self, jobs: Sequence[GenerationJob]) -> list[Completion | EdtError]:
        """Answers of jobs batched together; when the batch fails on bad input, each job alone
        (so one bad request never fails the others)."""
        try:
            return list(self.generate(jobs, self.prepare(jobs)))
        except EdtError as exc:
            if len(jobs) == 1:
                return [exc]
        out: list[Completion | EdtError] = []
        for job in jobs:
            try:
                out += self.generate([job], self.prepare([job]))
            except EdtError as exc:
                out.append(exc)
        return out

    async def complete(self, job: GenerationJob) -> Completion:
        """The answer of a non-streaming request (batched with requests that arrive with it)."""
        assert self.queue is not None, "ModelWorker.start() was not called"
        fut: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
        await self.queue.put((job, fut))
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
            groups: dict[tuple[Any, ...], list[tuple[GenerationJob, asyncio.Future[Any]]]] = {}
            for item in jobs:
                groups.setdefault(item[0].key, []).append(item)
            for group in groups.values():
                live = [(j, f) for j, f in group if not f.done()]  # a client may have left
                if not live:
                    continue
                results: list[Any]
                try:
                    results = await self.run(self.answer, [j for j, _ in live])
                    self.batches_run += 1
                except Exception as exc:  # a bug: every request of the batch gets it
                    logger.exception("batch of %d failed", len(live))
                    results = [exc] * len(live)
                for (_, fut), res in zip(live, results, strict=True):
                    if fut.done():
                        continue
                    if isinstance(res, BaseException):
                        fut.set_exception(res)
                    else:
                        fut.set_result(res)

    async def stream(
        self, job: GenerationJob, batch: ChatBatch, final: list[Completion]
    ) -> AsyncGenerator[str, None]:
        """Text deltas of one answer as they are generated; the :class:`Completion` is appended
        to ``final`` at the end. Leaving the iteration early stops the generation."""
        loop = asyncio.get_running_loop()
        deltas: asyncio.Queue[str | None] = asyncio.Queue()

        def send(delta: str) -> None:  # on the model thread
            loop.call_soon_threadsafe(deltas.put_nowait, delta)

        sink = TokenSink(1, self.eos_ids, self.model.prompts.decode, send)
        task = asyncio.ensure_future(self.run(self.generate, [job], batch, sink))
        task.add_done_callback(lambda _: deltas.put_nowait(None))
        try:
            while (delta := await deltas.get()) is not None:
                yield delta
            final += await task
        finally:
            sink.cancelled = True
