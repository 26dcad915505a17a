"""Dynamic batching: requests that arrive while the model is busy, or within a short wait of each other, run as
one batch. A batch closes at a token budget, a request count, or the wait bound after its first request, whichever
comes first; inside it the rows are sorted by length (Predictor.logits) and every request gets its own texts'
answers back, in its order. The model runs on one thread of its own, so the event loop keeps accepting requests
(and answering 429, /health, /metrics) while a batch computes."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from koelectra_cookbook.inference.encoded import Encoded

DRAIN_CHECK_S = 0.05  # an open batch looks this often whether the server has begun to stop


@dataclasses.dataclass
class Waiting:
    encoded: Encoded
    answer: asyncio.Future
    since: float  # time.perf_counter() when it joined the queue


class DynamicBatcher:
    """Collects `Encoded` requests into batches for `run_batch` (the requests of a batch -> each one's logits).
    `on_batch(requests, texts, queue_seconds, inference_seconds)` is told of every batch (the metrics)."""

    def __init__(self, run_batch: Callable[[list[Encoded]], list[np.ndarray]], max_tokens: int, max_requests: int,
                 max_wait_s: float, on_batch: Callable[[int, int, list[float], float], None] | None = None):
        self.run_batch, self.on_batch = run_batch, on_batch
        self.max_tokens, self.max_requests, self.max_wait_s = max_tokens, max_requests, max_wait_s
        self.inference = ThreadPoolExecutor(1, thread_name_prefix="inference")  # one batch at a time
        self.queue: asyncio.Queue[Waiting] | None = None
        self.held: Waiting | None = None  # arrived over the last batch's token budget: first in the next
        self.task: asyncio.Task | None = None

    def start(self) -> None:
        """Called from the event loop the requests arrive on (the server's startup)."""
        self.queue = asyncio.Queue()
        self.task = asyncio.get_running_loop().create_task(self.serve_batches(), name="dynamic batcher")

    async def stop(self) -> None:
        """Called at shutdown, once the server has answered what was in flight."""
        if self.task is not None:
            self.task.cancel()
            await asyncio.gather(self.task, return_exceptions=True)
        self.inference.shutdown(wait=True)

    def drain(self) -> None:
        """The server is stopping: batches stop waiting to fill up, so what is in flight runs now."""
        self.max_wait_s = 0.0

    async def logits(self, encoded: Encoded) -> np.ndarray:
        """The logits of one request's texts, once the batch it joined has run."""
        answer = asyncio.get_running_loop().create_future()
        self.queue.put_nowait(Waiting(encoded, answer, time.perf_counter()))
        return await answer

    async def serve_batches(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            batch = await self.next_batch()
            if not batch:
                continue
            started = time.perf_counter()
            parts = [waiting.encoded for waiting in batch]
            try:
                answers = await loop.run_in_executor(self.inference, self.run_batch, parts)
            except Exception as problem:  # the model failed on this batch: its requests fail, the server goes on
                for waiting in batch:
                    if not waiting.answer.done():
                        waiting.answer.set_exception(problem)
                continue
            finished = time.perf_counter()
            for waiting, values in zip(batch, answers):
                if not waiting.answer.done():  # a request past its time limit has gone already
                    waiting.answer.set_result(values)
            if self.on_batch is not None:
                self.on_batch(len(batch), sum(part.texts for part in parts),
                              [started - waiting.since for waiting in batch], finished - started)

    async def next_batch(self) -> list[Waiting]:
        """The requests of the next batch: the first to wait, then whoever arrives within the bounds."""
        first, self.held = self.held or await self.queue.get(), None
        batch, tokens = [first], first.encoded.tokens
        opened = time.perf_counter()
        while len(batch) < self.max_requests and tokens < self.max_tokens:
            if self.queue.empty():
                remaining = opened + self.max_wait_s - time.perf_counter()  # max_wait_s drops to 0 on drain()
                if remaining <= 0:
                    break
                try:
                    waiting = await asyncio.wait_for(self.queue.get(), min(remaining, DRAIN_CHECK_S))
                except TimeoutError:
                    continue
            else:
                waiting = self.queue.get_nowait()
            if tokens + waiting.encoded.tokens > self.max_tokens:
                self.held = waiting  # over the budget: it opens the next batch instead
                break
            batch.append(waiting)
            tokens += waiting.encoded.tokens
        return [waiting for waiting in batch if not waiting.answer.done()]
