"""serve.py: the prediction server. In-process (FastAPI's TestClient) for the API's shapes and refusals; one real
server process for what a user runs: huggingface_hub's InferenceClient, predict.py's numbers, SIGTERM under load."""

from __future__ import annotations

import asyncio
import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest

pytest.importorskip("fastapi")
from fastapi.testclient import TestClient  # noqa: E402

from helpers import classifier_with_a_decided_head  # noqa: E402
from koelectra_cookbook.inference.encoded import Encoded, join, split  # noqa: E402
from koelectra_cookbook.paths import PROJECT_ROOT, SAMPLES_DIR  # noqa: E402
from koelectra_cookbook.serving.api import build_app  # noqa: E402
from koelectra_cookbook.serving.batcher import DynamicBatcher  # noqa: E402
from koelectra_cookbook.serving.guard import Guard  # noqa: E402
from koelectra_cookbook.serving.metrics import Metrics  # noqa: E402
from koelectra_cookbook.serving.settings import ServerSettings  # noqa: E402

REVIEWS = [text for text in (line.split("\t")[1] for line in (SAMPLES_DIR / "nsmc" / "ratings_test.txt").read_text(
    encoding="utf-8").splitlines()[1:]) if text.strip()]  # the server refuses a blank text (predict.py keeps its row)


@pytest.fixture(scope="module")
def model(tmp_path_factory, tiny_model_dir):
    return classifier_with_a_decided_head(tiny_model_dir, tmp_path_factory.mktemp("serve") / "model")


def started(app) -> TestClient:
    """A TestClient of `app` once it has loaded its model and answered the warm-up request (GET /health 200)."""
    client = TestClient(app, raise_server_exceptions=False).__enter__()
    while client.get("/health").status_code != 200:
        assert app.state.service.problem is None, app.state.service.problem
    return client


@pytest.fixture(scope="module")
def client(model):
    client = started(build_app(ServerSettings(model=str(model), log_requests=False, max_client_batch_size=200)))
    yield client
    client.__exit__(None, None, None)


def test_the_inference_api_body_gets_every_label_highest_first(client):
    answer = client.post("/", json={"inputs": REVIEWS[0]}).json()
    assert len(answer) == 1 and [label["label"] for label in answer[0]] != []
    scores = [label["score"] for label in answer[0]]
    assert sorted(label["label"] for label in answer[0]) == ["negative", "positive"]
    assert scores == sorted(scores, reverse=True) and sum(scores) == pytest.approx(1, abs=1e-6)
    top = client.post("/", json={"inputs": REVIEWS[0], "parameters": {"top_k": 1}}).json()
    assert top == [answer[0][:1]]
    raw = client.post("/", json={"inputs": REVIEWS[0], "parameters": {"function_to_apply": "none"}}).json()[0]
    logits = {label["label"]: label["score"] for label in raw}
    softmax = np.exp(np.array(list(logits.values()))) / np.exp(np.array(list(logits.values()))).sum()
    assert dict(zip(logits, softmax)) == pytest.approx({label["label"]: label["score"] for label in answer[0]})
    batch = client.post("/", json={"inputs": REVIEWS[:3]}).json()
    assert len(batch) == 3 and alike(batch[0], answer[0])


def alike(labels: list[dict], others: list[dict]) -> bool:
    """The same labels in the same order, the scores equal but for float rounding (a text padded in a batch with
    longer ones is computed in another shape than alone)."""
    return ([label["label"] for label in labels] == [label["label"] for label in others] and
            [label["score"] for label in labels] == pytest.approx([label["score"] for label in others], abs=1e-6))


def test_the_tei_body_a_text_is_a_flat_list_a_batch_a_list_each(client):
    single = client.post("/predict", json={"inputs": REVIEWS[0]}).json()
    assert isinstance(single[0], dict) and len(single) == 2
    batch = client.post("/predict", json={"inputs": [[REVIEWS[0]], [REVIEWS[1]]], "truncate": True}).json()
    assert len(batch) == 2 and alike(batch[0], single)
    assert client.post("/predict", json={"inputs": [REVIEWS[0]]}).json() == single
    raw = client.post("/predict", json={"inputs": REVIEWS[0], "raw_scores": True}).json()
    assert {label["label"] for label in raw} == {"negative", "positive"} and any(
        label["score"] > 1 or label["score"] < 0 for label in raw)


@pytest.mark.parametrize("path, body, status, said", [
    ("/", b'{"inputs": "', 422, "Invalid JSON"),
    ("/", b"[" * 100_000, 422, "recursion limit"),
    ("/", b'\xff\xfe{"inputs": 1}', 422, "Invalid JSON"),
    ("/", b'{"inputs": 5}', 422, "valid string"),
    ("/", b'{"inputs": "  "}', 422, "empty text"),
    ("/", b'{"inputs": []}', 422, "no text"),
    ("/", b'{"inputs": "a", "parameters": {"top_k": 0}}', 422, "top_k"),
    ("/", b'{"inputs": "a", "parameters": {"function_to_apply": "exp"}}', 422, "function_to_apply"),
    ("/", b'{"inputs": "a", "model": "../../etc/passwd"}', 422, "Extra inputs"),
    ("/", b'{"inputs": {"text": "a", "text_pair": "b"}}', 422, "takes no second text"),
    ("/", b'{"inputs": "\\ud800"}', 422, "Invalid JSON"),  # a lone surrogate: not text any tokenizer takes
    ("/", json.dumps({"inputs": ["a"] * 201}).encode(), 413, "--max-client-batch-size"),
    ("/predict", b'{"inputs": ["a", "b", "c"]}', 422, "a batch is a list"),
    ("/predict", b'{"inputs": [["a", "b", "c"]]}', 422, "[TEXT] or [TEXT, TEXT_PAIR]"),
    ("/predict", b'{"inputs": ["a", "b"]}', 422, "takes no second text"),
    ("/predict", b'{"inputs": "a", "raw_scores": "yes"}', 422, "raw_scores"),
    # encodings: JSON is UTF-8 here; anything else is named, not guessed
    ("/", '{"inputs": "좋아요"}'.encode("utf-16"), 422, "Invalid JSON"),
    ("/", '{"inputs": "좋아요"}'.encode("cp949"), 422, "Invalid JSON"),
    ("/", b'\xef\xbb\xbf{"inputs": "a"}', 422, "Invalid JSON"),  # a byte-order mark
    ("/", b'{"inputs": "a\u0000b", "parameters": {"top_k": NaN}}', 422, "top_k"),
    ("/", b'{"inputs": "a", "parameters": {"top_k": true}}', 422, "top_k"),
    ("/", b'{"inputs": "a", "parameters": {"top_k": 1.5}}', 422, "top_k"),
    ("/", b'{"inputs": "a", "inputs": "b"}', 200, ""),  # a key twice: JSON parsers keep the last, as this one does
    # huge batches and bodies: refused before any tokenizing
    ("/predict", json.dumps({"inputs": [["a"]] * 201}).encode(), 413, "--max-client-batch-size"),
    ("/", json.dumps({"inputs": "a" * 8_400_000}).encode(), 413, "--payload-limit"),
])
def test_a_bad_body_is_a_4xx_json_error_and_the_server_goes_on(client, path, body, status, said):
    answer = client.post(path, content=body, headers={"Content-Type": "application/json"})
    assert answer.status_code == status, answer.text
    if status != 200:
        assert said in answer.json()["error"] and answer.json()["error_type"] in ("validation", "payload_too_large")
    assert client.post("/", json={"inputs": REVIEWS[0]}).status_code == 200


def test_any_content_type_is_read_as_json_and_unknown_routes_answer_json(client):
    assert client.post("/", content=json.dumps({"inputs": "좋아요"}),
                       headers={"Content-Type": "application/x-www-form-urlencoded"}).status_code == 200
    missing = client.get("/nothing")
    assert missing.status_code == 404 and missing.json()["error_type"] == "not_found"
    assert client.get("/predict").status_code == 405


def test_info_metrics_and_the_schema_say_what_is_served(client, model):
    info = client.get("/info").json()
    assert info["model"] == str(model) and info["labels"] == ["negative", "positive"] and info["ready"]
    assert info["long_text"]["mode"] == "truncate" and info["batching"]["max_batch_tokens"] == 16384
    assert info["calibration"] is None  # this model was never calibrated (test_calibration.py serves one that was)
    client.post("/", json={"inputs": REVIEWS[:2]})
    metrics = client.get("/metrics").text
    for name in ["koelectra_request_duration_seconds_count", "koelectra_tokenization_duration_seconds_count",
                 "koelectra_queue_duration_seconds_count", "koelectra_inference_duration_seconds_count",
                 "koelectra_batch_requests_count", "koelectra_requests_in_flight",
                 'koelectra_responses_total{status="200"}']:
        assert name in metrics
    schema = client.get("/openapi.json").json()
    assert {"InferenceRequest", "PredictRequest", "TextPair"} <= set(schema["components"]["schemas"])
    assert schema["paths"]["/"]["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/InferenceRequest"}
    assert client.get("/docs").status_code == 200


def test_an_api_key_is_asked_everywhere_but_health(model, monkeypatch):
    monkeypatch.setenv("TEST_SERVE_KEY", "s3cret-key-1")
    client = started(build_app(ServerSettings(model=str(model), api_key_env="TEST_SERVE_KEY", log_requests=False)))
    try:
        assert client.get("/health").status_code == 200
        refused = client.post("/", json={"inputs": "좋아요"})
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
        assert client.get("/metrics").status_code == 401
        wrong = {"Authorization": "Bearer s3cret-key-2"}
        assert client.post("/", json={"inputs": "좋아요"}, headers=wrong).status_code == 401
        for header in ["Basic czNjcmV0LWtleS0x", "Bearer", "bearer  s3cret-key-1x", "s3cret-key-1",
                       "Bearer s3cret-key-1\u00e9".encode("latin-1")]:
            assert client.post("/", json={"inputs": "좋아요"}, headers={"Authorization": header}).status_code == 401
        right = {"Authorization": "Bearer s3cret-key-1"}
        assert client.post("/", json={"inputs": "좋아요"}, headers=right).status_code == 200
    finally:
        client.__exit__(None, None, None)


def test_settings_refuse_a_missing_or_short_key_and_bad_bounds(tmp_path, monkeypatch):
    from koelectra_cookbook.errors import UserError

    monkeypatch.delenv("NO_SUCH_KEY_VARIABLE", raising=False)
    with pytest.raises(UserError, match="not set"):
        ServerSettings(model="m", api_key_env="NO_SUCH_KEY_VARIABLE").check()
    (tmp_path / "key").write_text("short\n")
    with pytest.raises(UserError, match="at least 8"):
        ServerSettings(model="m", api_key_file=str(tmp_path / "key")).check()
    with pytest.raises(UserError, match="cannot read it"):
        ServerSettings(model="m", api_key_file=str(tmp_path / "missing")).check()
    with pytest.raises(UserError, match="--max-batch-tokens 0"):
        ServerSettings(model="m", max_batch_tokens=0).check()


def test_pairs_multi_label_and_scores_answer_in_their_own_shapes(tmp_path, tiny_model_dir):
    pair = classifier_with_a_decided_head(tiny_model_dir, tmp_path / "pair", ("entailment", "neutral", "contradiction"),
                                          sentence_pair=True)
    tags = classifier_with_a_decided_head(tiny_model_dir, tmp_path / "tags", ("악플", "혐오", "clean"),
                                          problem_type="multi_label_classification", thresholds=[0.2, 0.5, 0.9])
    score = classifier_with_a_decided_head(tiny_model_dir, tmp_path / "score", ("similarity",),
                                           problem_type="regression", sentence_pair=True)
    for folder, check in [(pair, check_pairs), (tags, check_multi_label), (score, check_regression)]:
        client = started(build_app(ServerSettings(model=str(folder), log_requests=False)))
        try:
            check(client)
        finally:
            client.__exit__(None, None, None)


def check_pairs(client):
    answer = client.post("/", json={"inputs": {"text": "비가 온다", "text_pair": "날씨가 맑다"}}).json()
    assert len(answer[0]) == 3 and sum(label["score"] for label in answer[0]) == pytest.approx(1, abs=1e-6)
    assert client.post("/predict", json={"inputs": ["비가 온다", "날씨가 맑다"]}).json() == answer[0]
    refused = client.post("/", json={"inputs": "비가 온다"})
    assert refused.status_code == 422 and "compares two texts" in refused.json()["error"]


def check_multi_label(client):
    [labels] = client.post("/", json={"inputs": "정말 나쁜 말"}).json()
    assert len(labels) == 3 and all(0 <= label["score"] <= 1 for label in labels)
    thresholds = {"악플": 0.2, "혐오": 0.5, "clean": 0.9}
    assert all(label["above_threshold"] == (label["score"] >= thresholds[label["label"]]) for label in labels)


def check_regression(client):
    [[label]] = client.post("/", json={"inputs": [{"text": "비가 온다", "text_pair": "비가 내린다"}]}).json()
    assert label["label"] == "similarity" and isinstance(label["score"], float) and "above_threshold" not in label


def encoded(texts: int, tokens_each: int) -> Encoded:
    return Encoded([np.arange(tokens_each, dtype=np.int32)] * texts, None, None, texts)


def test_the_batcher_closes_a_batch_at_its_request_count_and_token_budget_and_keeps_order():
    """Requests already waiting run together, up to the bounds; each gets its own texts' rows back."""
    seen = []

    def run_batch(parts: list[Encoded]) -> list[np.ndarray]:
        joined = join(parts)
        seen.append(joined.texts)
        return split(np.arange(joined.texts, dtype=np.float32).reshape(-1, 1) + 100 * len(seen), parts)

    async def scenario(max_tokens: int, max_requests: int, sizes: list[int]) -> list[np.ndarray]:
        batcher = DynamicBatcher(run_batch, max_tokens, max_requests, max_wait_s=0.0)
        batcher.start()
        waiting = [asyncio.ensure_future(batcher.logits(encoded(size, 10))) for size in sizes]
        answers = await asyncio.gather(*waiting)
        await batcher.stop()
        return answers

    answers = asyncio.run(scenario(10_000, 2, [1, 2, 3, 1, 1]))
    assert seen == [3, 4, 1]  # two requests a batch: (1 + 2), (3 + 1), (1)
    assert [a.ravel().tolist() for a in answers] == [[100], [101, 102], [200, 201, 202], [203], [300]]
    seen.clear()
    asyncio.run(scenario(45, 100, [2, 2, 1, 3]))  # 10 tokens a text, 45 a batch: (2 + 2), then (1 + 3)
    assert seen == [4, 4]


def test_joined_requests_keep_their_long_texts_windows():
    one = Encoded([np.zeros(3)] * 3, np.array([0, 2, 3]), None, 2)  # text 1 in two windows
    two = Encoded([np.zeros(3)] * 2, None, None, 2)
    joined = join([one, two])
    assert joined.texts == 4 and joined.starts.tolist() == [0, 2, 3, 4, 5]
    assert [part.tolist() for part in split(np.arange(4), [one, two])] == [[0, 1], [2, 3]]


async def call(app, method: str, path: str, body_chunks: list[bytes], headers=()) -> tuple[int, dict]:
    """One request through an ASGI app, its body sent in `body_chunks` (a chunk None: the client stalls)."""
    messages = [{"type": "http.request", "body": chunk, "more_body": i < len(body_chunks) - 1}
                for i, chunk in enumerate(body_chunks)]
    stalled = asyncio.Event()

    async def receive():
        if messages and messages[0]["body"] is not None:
            return messages.pop(0)
        await stalled.wait()  # never set: a client that sends nothing more

    sent = []

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "method": method, "path": path, "headers": list(headers), "client": ("test", 1)}
    await app(scope, receive, send)
    body = b"".join(message.get("body", b"") for message in sent if message["type"] == "http.response.body")
    return sent[0]["status"], {**dict(sent[0]["headers"]), "json": json.loads(body)}


def test_the_guard_answers_429_when_full_413_when_large_408_when_slow():
    """The limits before any parsing: a held request keeps the one slot, so the next is told to come back."""
    release = asyncio.Event()

    async def held_app(scope, receive, send):
        await receive()
        await release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"{}"})

    settings = ServerSettings(model="m", max_concurrent_requests=1, payload_limit=10, request_timeout_s=0.2,
                              log_requests=False)

    async def scenario():
        guard = Guard(held_app, settings, Metrics(), None)
        first = asyncio.ensure_future(call(guard, "POST", "/", [b"{}"]))
        while guard.in_flight == 0:
            await asyncio.sleep(0)
        busy = await call(guard, "POST", "/", [b"{}"])
        assert busy[0] == 429 and busy[1][b"retry-after"] == b"1" and busy[1]["json"]["error_type"] == "overloaded"
        release.set()
        assert (await first)[0] == 200
        large = await call(guard, "POST", "/", [b"{}"], [(b"content-length", b"11")])
        assert large[0] == 413 and large[1]["json"]["error_type"] == "payload_too_large"
        chunked = await call(guard, "POST", "/", [b"123456", b"123456"])  # no Content-Length, 12 bytes
        assert chunked[0] == 413
        slow = await call(guard, "POST", "/", [b"{", None])
        assert slow[0] == 408 and slow[1]["json"]["error_type"] == "timeout"
        assert guard.in_flight == 0

    asyncio.run(scenario())


def test_a_request_over_its_time_limit_is_504_and_one_before_warm_up_503(model):
    from koelectra_cookbook.inference.predictor import Predictor

    never = asyncio.Event()

    async def stuck_batches(encoded):
        await never.wait()

    predictor = Predictor(model)
    app = build_app(ServerSettings(model=str(model), request_timeout_s=0.3, log_requests=False), predictor,
                    stuck_batches)
    with TestClient(app) as client:
        while client.get("/health").status_code != 200:  # the warm-up request goes straight to the model
            pass
        late = client.post("/", json={"inputs": "좋아요"})
        assert late.status_code == 504 and late.json()["error_type"] == "timeout"
        app.state.service.ready = False  # as before the warm-up request is answered
        for early in [client.get("/health"), client.post("/", json={"inputs": "좋아요"})]:
            assert early.status_code == 503 and early.json()["error_type"] == "unhealthy"


def read_predictions(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def start_server(model, *options: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(PROJECT_ROOT / "serve.py"), "--model", str(model), "--port", "0",
                             "--precision", "full", *options], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})


def ready_url(server: subprocess.Popen) -> str:
    """The URL serve.py prints, once it has printed that its warm-up request was answered."""
    url = server.stdout.readline().split(" at ")[1].split(" ")[0]
    for line in server.stderr:
        if line.startswith("ready:"):
            return url
    raise AssertionError(f"serve.py ended with status {server.wait()} before it was ready")


def test_serve_py_answers_inference_client_as_predict_py_and_drains_on_sigterm(model, monkeypatch):
    """The user's path: serve.py in its own process; InferenceClient unchanged; the numbers predict.py writes;
    SIGTERM while requests wait: each is answered, the process exits 0."""
    huggingface_hub = pytest.importorskip("huggingface_hub")
    httpx = pytest.importorskip("httpx")
    # The suite's offline switch blocks every request huggingface_hub makes; this one goes to a local server only.
    monkeypatch.setattr(huggingface_hub.constants, "is_offline_mode", lambda: False)
    server = start_server(model)
    # a second server whose batches wait for 9 requests (or a minute): 8 requests sent to it stay in flight
    waiting = start_server(model, "--max-batch-requests", "9", "--max-wait-ms", "60000")
    try:
        url = ready_url(server)
        answer = huggingface_hub.InferenceClient(model=url).text_classification(REVIEWS[0])
        assert {element.label for element in answer} == {"negative", "positive"}
        assert answer[0].score >= answer[1].score
        # the same texts in one request: the batches predict.py makes, the scores it prints
        served = httpx.post(url + "/", json={"inputs": REVIEWS}, timeout=60).raise_for_status().json()
        predicted = subprocess.run([sys.executable, str(PROJECT_ROOT / "predict.py"), "--model", str(model),
                                    "--top-k", "2"], input="\n".join(REVIEWS) + "\n", capture_output=True,
                                   text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
        for row, labels in zip(read_predictions(predicted.stdout), served, strict=True):
            assert [row["prediction_1"], row["prediction_2"]] == [label["label"] for label in labels]
            assert [row["score_1"], row["score_2"]] == [f"{label['score']:.6f}" for label in labels]

        url = ready_url(waiting)
        answers = []

        def ask(text):
            answers.append(httpx.post(url + "/predict", json={"inputs": text}, timeout=60).status_code)

        askers = [threading.Thread(target=ask, args=(text,)) for text in REVIEWS[:8]]
        for asker in askers:
            asker.start()
        while "koelectra_requests_in_flight 8.0" not in httpx.get(url + "/metrics").text:
            assert all(asker.is_alive() for asker in askers)  # none answered before the stop: the point
        waiting.send_signal(signal.SIGTERM)  # the batch runs at once (it no longer waits for company)
        for asker in askers:
            asker.join()
        assert answers == [200] * 8
        assert waiting.wait(timeout=60) == 0
        assert "stopped serving" in waiting.stderr.read()
    finally:
        for process in [server, waiting]:
            process.kill()
            process.wait()


def free_port() -> int:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.mark.slow
def test_the_ray_serve_deployment_answers_as_the_uvicorn_server(model, client):
    """serve.py --ray: a local Ray started by the test, one replica batched by @serve.batch; the same requests get
    the same answers; SIGTERM shuts the deployment down and exits 0."""
    pytest.importorskip("ray.serve")
    httpx = pytest.importorskip("httpx")
    port = free_port()
    server = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "serve.py"), "--model", str(model), "--ray",
                               "--port", str(port), "--precision", "full", "--no-access-log"],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0"})  # the suite's thread count
    try:
        for line in server.stdout:  # printed once serve.run() has the deployment running
            if line.startswith("serving "):
                break
        url = f"http://127.0.0.1:{port}"
        while httpx.get(url + "/health").status_code != 200:  # then the replica answers its warm-up request
            assert server.poll() is None
        for path, body in [("/", {"inputs": REVIEWS[:20]}), ("/predict", {"inputs": [[text] for text in REVIEWS[:5]]}),
                           ("/predict", {"inputs": ""}), ("/", {"inputs": "좋아요", "parameters": {"top_k": 1}})]:
            on_ray = httpx.post(url + path, json=body, timeout=60)
            here = client.post(path, json=body)
            assert (on_ray.status_code, on_ray.json()) == (here.status_code, here.json())
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=120) == 0
    finally:
        server.kill()
        server.wait()


def test_serve_run_arguments_become_typed_settings():
    """`serve run ...:app_builder key=value`: Ray hands the builder strings; each becomes its field's type."""
    from koelectra_cookbook.serving.ray_deployment import settings_of

    settings, replicas = settings_of({"model": "/models/nsmc", "replicas": "3", "max_wait_ms": "5",
                                      "log_requests": "false", "batch_size": "16", "quantize": "int8"})
    assert replicas == 3 and settings.max_wait_ms == 5.0 and settings.log_requests is False
    assert settings.batch_size == 16 and settings.quantize == "int8"
    assert settings_of({"model": "m", "quantize": "none"})[0].quantize is None
    with pytest.raises(ValueError, match="unknown settings"):
        settings_of({"model": "m", "max_batch": "4"})
    with pytest.raises(ValueError, match="true or false"):
        settings_of({"model": "m", "log_requests": "no"})


def test_one_access_log_line_per_request_with_the_path_escaped(model, capfd):
    client = started(build_app(ServerSettings(model=str(model))))
    try:
        capfd.readouterr()
        client.post("/", json={"inputs": "좋아요"})
        client.get("/%0Afake%20line%1B[31m")
        lines = capfd.readouterr().err.splitlines()
    finally:
        client.__exit__(None, None, None)
    assert len(lines) == 2 and '"POST /" 200' in lines[0]
    assert '"GET /\\nfake line\\x1b[31m" 404' in lines[1]


def test_the_int8_server_gives_predict_py_int8_numbers_for_one_request(model, tmp_path, monkeypatch):
    """The default on a CPU: one request's texts are batched as predict.py --quantize int8 batches them (int8
    quantizes each batch's activations with its own scale, so the batches must be the same)."""
    pytest.importorskip("onnxruntime")
    from koelectra_cookbook.inference.predictor import Predictor

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    predictor = Predictor(model, quantize="int8")
    expected = predictor.table(REVIEWS, top_k=2)  # predict.py's columns
    client = started(build_app(ServerSettings(model=str(model), quantize="int8", log_requests=False), predictor))
    try:
        served = client.post("/", json={"inputs": REVIEWS}).json()
    finally:
        client.__exit__(None, None, None)
    assert [[label["label"] for label in labels] for labels in served] == [
        list(pair) for pair in zip(expected["prediction_1"], expected["prediction_2"])]
    assert [[f"{label['score']:.6f}" for label in labels] for labels in served] == [
        list(pair) for pair in zip(expected["score_1"], expected["score_2"])]


def test_a_failure_in_the_model_is_a_json_500_and_the_server_goes_on(model):
    from koelectra_cookbook.inference.predictor import Predictor

    calls = []

    async def failing_once(encoded):
        calls.append(encoded)
        if len(calls) == 1:
            raise RuntimeError("out of memory")
        return np.zeros((encoded.texts, 2), dtype=np.float32)

    app = build_app(ServerSettings(model=str(model), log_requests=False), Predictor(model), failing_once)
    client = started(app)
    try:
        failed = client.post("/", json={"inputs": "좋아요"})
        assert failed.status_code == 500 and failed.json()["error_type"] == "backend"
        assert client.post("/", json={"inputs": "좋아요"}).status_code == 200
    finally:
        client.__exit__(None, None, None)


def test_several_workers_share_one_port_and_add_up_their_metrics(model):
    """serve.py --workers 2: two processes on one port, each with its model; /metrics counts both; SIGTERM ends
    both and the script exits 0."""
    httpx = pytest.importorskip("httpx")
    server = start_server(model, "--workers", "2", "--no-access-log")
    try:
        url = server.stdout.readline().split(" at ")[1].split(" ")[0]
        ready = 0
        for line in server.stderr:
            ready += line.startswith("ready:")
            if ready == 2:
                break
        for text in REVIEWS[:6]:
            assert httpx.post(url + "/", json={"inputs": text}, timeout=60).status_code == 200
        metrics = httpx.get(url + "/metrics").text
        assert re.search(r'^koelectra_responses_total\{status="200"\} 6\.0$', metrics, re.M), metrics[-2000:]
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
    finally:
        server.kill()
        server.wait()
