"""The server's Prometheus metrics (GET /metrics), in a registry of its own per application. With several worker
processes, each process counts its own requests, and prometheus-client's multiprocess mode adds them up when the
server sets PROMETHEUS_MULTIPROC_DIR (serve.py does for --workers above 1)."""

from __future__ import annotations

import os

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client import multiprocess

SECONDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
SIZES = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    def __init__(self):
        self.registry = CollectorRegistry()
        registry = self.registry

        def seconds(name: str, what: str, labels: tuple[str, ...] = ()) -> Histogram:
            return Histogram(f"koelectra_{name}_seconds", what, labels, buckets=SECONDS, registry=registry)

        self.request = seconds("request_duration", "time from a request's arrival to its answer", ("route",))
        self.tokenization = seconds("tokenization_duration", "time to tokenize one request's texts")
        self.queue = seconds("queue_duration", "time a request waited for its batch to start")
        self.inference = seconds("inference_duration", "time the model took for one batch")
        self.batch_requests = Histogram("koelectra_batch_requests", "requests per batch", buckets=SIZES,
                                        registry=registry)
        self.batch_texts = Histogram("koelectra_batch_texts", "texts per batch", buckets=SIZES, registry=registry)
        self.in_flight = Gauge("koelectra_requests_in_flight", "prediction requests being answered",
                               registry=registry, multiprocess_mode="livesum")
        self.responses = Counter("koelectra_responses", "responses by status code", ("status",), registry=registry)

    def on_batch(self, requests: int, texts: int, queue_seconds: list[float], inference_seconds: float) -> None:
        self.batch_requests.observe(requests)
        self.batch_texts.observe(texts)
        for waited in queue_seconds:
            self.queue.observe(waited)
        self.inference.observe(inference_seconds)

    def exposition(self) -> bytes:
        """The text Prometheus scrapes: every worker's counts where several share a multiprocess folder."""
        if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
            combined = CollectorRegistry()
            multiprocess.MultiProcessCollector(combined)
            return generate_latest(combined)
        return generate_latest(self.registry)
