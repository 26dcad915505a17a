"""The prediction server's application (FastAPI): POST / and POST /predict classify (bodies.py), GET /health,
/info and /metrics tell how it is doing, /docs shows the schema. `build_app` makes it for uvicorn (serve.py) and
for a Ray Serve replica (ray_deployment.py); only where the batches come from differs."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from koelectra_cookbook.inference.encoded import Encoded, join, split
from koelectra_cookbook.inference.predictor import Predictor
from koelectra_cookbook.serving.batcher import DynamicBatcher
from koelectra_cookbook.serving.bodies import (InferenceRequest, Label, PredictRequest, Question, Refused, Strict,
                                               answers, from_inference_request, from_predict_request)
from koelectra_cookbook.serving.guard import Guard
from koelectra_cookbook.serving.metrics import Metrics
from koelectra_cookbook.serving.settings import ServerSettings

SCHEMAS = "#/components/schemas/{model}"
WARM_UP_TEXT = "서버가 준비되었는지 확인하는 문장입니다."


def batch_logits(predictor: Predictor, parts: list[Encoded]) -> list[np.ndarray]:
    """The logits of each request of a batch. One request is computed in predict.py's batches, so the same texts get
    predict.py's numbers. Several are joined; the int8 model computes each model call on one core, several calls side
    by side, so a joined batch smaller than a call per core is shared out among the cores instead of left on one."""
    joined, rows_per_call = join(parts), None
    cores = getattr(predictor.model, "workers", 1)
    if len(parts) > 1 and cores > 1 and len(joined.rows) < predictor.batch_size * cores:
        rows_per_call = max(1, -(-len(joined.rows) // cores))
    return split(predictor.logits(joined, rows_per_call), parts)


class Service:
    """The model behind the routes: loaded (or given), warmed up by one prediction, then ready.
    `batches`: where a request's rows are computed (the dynamic batcher here; Ray's @serve.batch on Ray)."""

    def __init__(self, settings: ServerSettings, predictor: Predictor | None = None,
                 batches: Callable[[Encoded], Awaitable[np.ndarray]] | None = None):
        self.settings, self.predictor, self.metrics = settings, predictor, Metrics()
        self.batcher = None if batches is not None else DynamicBatcher(
            self.run_batch, settings.max_batch_tokens, settings.max_batch_requests, settings.max_wait_ms / 1000,
            self.metrics.on_batch)
        self.batches = batches or self.batcher.logits
        self.tokenizing = ThreadPoolExecutor(max(2, os.cpu_count() or 1), thread_name_prefix="tokenize")
        self.ready, self.problem = False, None

    def run_batch(self, parts: list[Encoded]) -> list[np.ndarray]:
        return batch_logits(self.predictor, parts)

    async def start(self) -> None:
        if self.batcher is not None:
            self.batcher.start()
        asyncio.get_running_loop().create_task(self.load_and_warm_up(), name="load the model")

    async def load_and_warm_up(self) -> None:
        try:
            if self.predictor is None:  # a worker process loads its own copy
                settings = self.settings
                self.predictor = await asyncio.to_thread(Predictor, settings.model, settings.batch_size,
                                                         quantize=settings.quantize)
            pair = [WARM_UP_TEXT] if self.predictor.sentence_pair else None
            # straight to the model, not through the batches (whose wait bound may be long)
            await asyncio.to_thread(self.predictor.probabilities, [WARM_UP_TEXT], pair)
        except Exception as problem:  # said on /health and in the log; the process stays up to say it
            self.problem = " ".join(str(problem).split())[:300] or type(problem).__name__
            print(f"error: the model did not load: {self.problem}", file=sys.stderr, flush=True)
            return
        self.ready = True
        print(f"ready: {self.settings.model} answered its warm-up request", file=sys.stderr, flush=True)

    async def stop(self) -> None:
        if self.batcher is not None:
            await self.batcher.stop()
        self.tokenizing.shutdown(wait=False)

    async def classify(self, question: Question) -> list:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(self.settings.request_timeout_s):
                started = time.perf_counter()
                encoded = await loop.run_in_executor(self.tokenizing, self.predictor.encode, question.texts,
                                                     question.pairs)
                self.metrics.tokenization.observe(time.perf_counter() - started)
                logits = await self.batches(encoded)
        except TimeoutError:
            raise Refused(504, f"no answer within {self.settings.request_timeout_s:g} s (--request-timeout)",
                          "timeout") from None
        predictor = self.predictor
        scores = predictor.activate(logits, question.function)
        return answers(scores, question, predictor.label_names, predictor.thresholds, predictor.multi_label)

    def info(self) -> dict:
        predictor, settings = self.predictor, self.settings
        described = {"model": settings.model, "ready": self.ready,
                     "backend": "onnxruntime int8" if settings.quantize == "int8" else "pytorch full precision",
                     "batching": {"max_batch_tokens": settings.max_batch_tokens,
                                  "max_batch_requests": settings.max_batch_requests,
                                  "max_wait_ms": settings.max_wait_ms, "rows_per_model_call": None},
                     "limits": {"max_concurrent_requests": settings.max_concurrent_requests,
                                "max_client_batch_size": settings.max_client_batch_size,
                                "payload_limit": settings.payload_limit,
                                "request_timeout_s": settings.request_timeout_s}}
        if predictor is not None:
            long_text = predictor.long_text
            described.update({
                "labels": list(predictor.label_names),
                "problem_type": ("regression" if predictor.regression else
                                 "multi_label_classification" if predictor.multi_label else
                                 "single_label_classification"),
                "sentence_pair": predictor.sentence_pair, "max_seq_len": long_text.max_seq_len,
                "long_text": {"mode": long_text.mode, "overlap": long_text.overlap,
                              "combine": long_text.combine},
                "calibration": None if predictor.temperature is None else {"temperature": predictor.temperature,
                                                                             "in_the_weights": True}})
            described["batching"]["rows_per_model_call"] = predictor.batch_size
            if predictor.multi_label:
                described["thresholds"] = [float(t) for t in predictor.thresholds]
        return described


def build_app(settings: ServerSettings, predictor: Predictor | None = None,
              batches: Callable[[Encoded], Awaitable[np.ndarray]] | None = None) -> FastAPI:
    service = Service(settings, predictor, batches)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI):
        await service.start()
        yield
        await service.stop()

    app = FastAPI(title="KoELECTRA cookbook prediction server", lifespan=lifespan,
                  description="Text classification with a model trained by the cookbook: the Hugging Face inference "
                              "API's body on POST /, text-embeddings-inference's on POST /predict.")
    app.state.service = service

    def refused(request: Request, problem: Refused) -> JSONResponse:
        return JSONResponse({"error": problem.message, "error_type": problem.error_type}, problem.status,
                            headers=problem.headers)

    def http_problem(request: Request, problem: HTTPException) -> JSONResponse:
        error_type = {404: "not_found", 405: "method_not_allowed"}.get(problem.status_code, "http")
        return JSONResponse({"error": str(problem.detail), "error_type": error_type}, problem.status_code,
                            headers=getattr(problem, "headers", None))

    def failed(request: Request, problem: Exception) -> JSONResponse:  # a bug or a model failure, said as JSON
        return JSONResponse({"error": f"the server failed on this request ({type(problem).__name__})",
                             "error_type": "backend"}, 500)

    app.add_exception_handler(Refused, refused)
    app.add_exception_handler(Exception, failed)
    app.add_exception_handler(HTTPException, http_problem)
    app.add_middleware(Guard, settings=settings, metrics=service.metrics, api_key=settings.api_key())

    def ready_service() -> Service:
        if not service.ready:
            raise Refused(503, service.problem or "the model is still loading; GET /health says when it is ready",
                          "unhealthy", {"Retry-After": "1"})
        return service

    # The bodies are parsed here, not by FastAPI: any Content-Type (curl -d sends a form's), pydantic's own JSON
    # parser (depth-limited; Python's json module recurses into a deeply nested body), one error line per problem.
    def read(model: type[Strict], raw: bytes):
        try:
            return model.model_validate_json(raw)
        except ValidationError as problem:
            first = problem.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "body"
            raise Refused(422, f"{where}: {first['msg']}"[:500], "validation") from None

    @app.post("/", response_model=list[list[Label]], response_model_exclude_none=True, openapi_extra=body_schema(
        InferenceRequest), summary="Classify (the Hugging Face inference API's text classification)")
    async def classify(request: Request) -> JSONResponse:  # response_model documents it; no second validation
        ready = ready_service()
        body = read(InferenceRequest, await request.body())
        return JSONResponse(await ready.classify(from_inference_request(body, ready.predictor.sentence_pair,
                                                                        settings.max_client_batch_size)))

    @app.post("/predict", response_model=list[Label] | list[list[Label]], response_model_exclude_none=True,
              openapi_extra=body_schema(PredictRequest), summary="Classify (text-embeddings-inference's /predict)")
    async def predict(request: Request) -> JSONResponse:
        ready = ready_service()
        body = read(PredictRequest, await request.body())
        return JSONResponse(await ready.classify(from_predict_request(body, ready.predictor.sentence_pair,
                                                                      settings.max_client_batch_size)))

    @app.get("/health", summary="200 once the model has answered its warm-up request, 503 before")
    async def health() -> dict:
        ready_service()
        return {"status": "ok"}

    @app.get("/info", summary="The model, its labels and how it reads long texts; batching and limits")
    async def info() -> dict:
        return service.info()

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(service.metrics.exposition(), media_type="text/plain; version=0.0.4")

    documented(app, [InferenceRequest, PredictRequest])
    return app


def body_schema(model: type[Strict]) -> dict:
    """The OpenAPI entry of a request body parsed by the route itself (`documented` adds the schema it names)."""
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": {
        "$ref": SCHEMAS.format(model=model.__name__)}}}}}


def documented(app: FastAPI, models: list[type[Strict]]) -> None:
    """Adds the request bodies' schemas to the app's OpenAPI document (/docs, /openapi.json)."""
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema is None:
            schemas = generate().setdefault("components", {}).setdefault("schemas", {})
            for model in models:
                schema = model.model_json_schema(ref_template=SCHEMAS)
                schemas.update(schema.pop("$defs", {}))
                schemas[model.__name__] = schema
        return app.openapi_schema

    app.openapi = openapi
