"""app.py: a Gradio page for a trained model, its `/classify` endpoint, its file upload and its errors.

The server runs in this process on a free port of 127.0.0.1 and is called over HTTP with gradio_client, as a
user's script would, and with plain HTTP requests, as the footer's curl commands do. Ctrl-C is sent to a real
`python app.py`. The browser check (marked slow) starts app.py itself and drives the system Chromium; it skips
where no Chromium is installed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from helpers import run_cli  # noqa: E402
from koelectra_cookbook.app import page as app  # noqa: E402
from koelectra_cookbook.app import server as app_server  # noqa: E402
from koelectra_cookbook.commands import app as app_command  # noqa: E402
from koelectra_cookbook.paths import PROJECT_ROOT, SAMPLES_DIR  # noqa: E402
from koelectra_cookbook.commands.predict import main as predict_main  # noqa: E402
from koelectra_cookbook.inference.predictor import Predictor  # noqa: E402
from koelectra_cookbook.trainers.beginner import BeginnerTrainer  # noqa: E402
from koelectra_cookbook.trainers.expert import ExpertTrainer  # noqa: E402

REVIEW = "정말 재밌는 영화였다 배우 연기도 좋았어요"


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory, tiny_model_dir) -> Path:
    """The model/ folder of a short training run on the NSMC samples (labels negative, positive)."""
    root = tmp_path_factory.mktemp("app")
    status, run = run_cli(BeginnerTrainer, "--task", "nsmc", "--output-dir", str(root / "runs"),
                          "--set", f"data.dir={SAMPLES_DIR / 'nsmc'}", "--set", f"data.cache_dir={root / 'cache'}",
                          "--set", f"model.name_or_path={tiny_model_dir}", "--set", "train.epochs=2")
    assert status == 0
    return run / "model"


@pytest.fixture(scope="module")
def server(trained_model):
    running = app_server.start_server(trained_model, "127.0.0.1", free_port())
    yield running
    running.close()


@pytest.fixture(scope="module")
def client(server):
    return gradio_client.Client(server.url, verbose=False)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_classify_endpoint_returns_the_models_probabilities(trained_model, server, client):
    assert server.url.startswith("http://127.0.0.1:")
    answer = client.predict(REVIEW, api_name="/classify")
    confidences = {row["label"]: row["confidence"] for row in answer["confidences"]}
    expected = Predictor(trained_model).probabilities([REVIEW])[0]
    assert set(confidences) == {"negative", "positive"}
    assert [confidences["negative"], confidences["positive"]] == pytest.approx(expected.tolist(), abs=1e-6)
    assert sum(confidences.values()) == pytest.approx(1.0, abs=1e-6)
    assert answer["label"] == ["negative", "positive"][int(np.argmax(expected))]


def post_json(url: str, body: dict) -> dict:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as answer:
        return json.load(answer)


def call_over_http(base_url: str, api_name: str, data: list) -> tuple[str, object]:
    """Gradio's HTTP API as the footer's curl commands use it: POST /gradio_api/call/NAME answers an event id,
    GET /gradio_api/call/NAME/ID streams server-sent events. Returns the last event's name and its data."""
    event_id = post_json(f"{base_url}gradio_api/call/{api_name}", {"data": data})["event_id"]
    with urllib.request.urlopen(f"{base_url}gradio_api/call/{api_name}/{event_id}", timeout=60) as stream:
        text = stream.read().decode("utf-8")
    events = [block.splitlines() for block in text.strip().split("\n\n")]
    names = [line.removeprefix("event: ") for lines in events for line in lines if line.startswith("event: ")]
    datas = [line.removeprefix("data: ") for lines in events for line in lines if line.startswith("data: ")]
    return names[-1], json.loads(datas[-1])


def test_the_footers_two_http_requests_return_the_models_probabilities(trained_model, server):
    """No gradio_client: the POST then the GET the page's footer shows, with urllib."""
    event, data = call_over_http(server.url, "classify", [REVIEW])
    assert event == "complete"
    confidences = {row["label"]: row["confidence"] for row in data[0]["confidences"]}
    expected = Predictor(trained_model).probabilities([REVIEW])[0]
    assert [confidences["negative"], confidences["positive"]] == pytest.approx(expected.tolist(), abs=1e-6)
    event, data = call_over_http(server.url, "classify", ["   "])
    assert event == "error" and data["error"] == "type a text to classify"


def footer_of(base_url: str) -> str:
    """The API footer as the page serves it (its Markdown in the page's config)."""
    with urllib.request.urlopen(f"{base_url}config", timeout=60) as answer:
        config = json.load(answer)
    values = [component["props"].get("value") or "" for component in config["components"]
              if component.get("type") == "markdown"]
    return next(value for value in values if value.startswith("### API"))


def test_the_footer_shows_curl_for_the_pages_own_address(server):
    footer = footer_of(server.url)
    endpoint = f"{server.url}gradio_api/call/classify"
    assert server.url.startswith("http://127.0.0.1:")
    assert f"curl -s -X POST {endpoint} -H 'Content-Type: application/json' -d '{{\"data\": [" in footer
    assert f"curl -s -N {endpoint}/$EVENT_ID" in footer and "/predict_file" in footer
    assert app.api_markdown("http://localhost:8080", wildcard=True).count("http://localhost:8080/gradio_api/") == 4
    assert "in place of `localhost`" in app.api_markdown("http://localhost:8080", wildcard=True)
    assert app_server.page_url("0.0.0.0", 8080) == "http://localhost:8080"
    assert app_server.page_url("::1", 80) == "http://[::1]:80"


@pytest.mark.skipif(shutil.which("curl") is None or shutil.which("bash") is None, reason="needs curl and bash")
def test_the_footers_one_line_curl_command_works(trained_model, server):
    """The footer's last command, run as it is shown: the POST inside the GET."""
    fence = footer_of(server.url).split("```bash\n", 1)[1].split("```", 1)[0]
    one_line = [line for line in fence.splitlines() if line.startswith("curl") and "$(curl" in line]
    assert len(one_line) == 1
    answer = subprocess.run(["bash", "-c", one_line[0]], capture_output=True, text=True, timeout=120)
    assert answer.returncode == 0 and answer.stdout.startswith("event: complete\ndata: "), answer
    data = json.loads(answer.stdout.splitlines()[1].removeprefix("data: "))
    confidences = {row["label"]: row["confidence"] for row in data[0]["confidences"]}
    text = json.loads(one_line[0].split("-d '", 1)[1].split("'", 1)[0])["data"][0]
    expected = Predictor(trained_model).probabilities([text])[0]
    assert [confidences["negative"], confidences["positive"]] == pytest.approx(expected.tolist(), abs=1e-6)


def test_an_empty_text_is_a_message_not_a_traceback(client):
    with pytest.raises(gradio_client.exceptions.AppError, match="type a text to classify"):
        client.predict("   ", api_name="/classify")


def test_file_upload_returns_the_csv_predict_py_writes(trained_model, client, tmp_path):
    upload = tmp_path / "reviews.txt"
    upload.write_text("정말 재밌는 영화였다\n\n돈 아깝다 최악\n", encoding="utf-8")
    returned = Path(client.predict(gradio_client.handle_file(str(upload)), "", "utf-8", api_name="/predict_file"))
    assert predict_main(["--model", str(trained_model), "--input", str(upload),
                         "--output", str(tmp_path / "predict_py.csv")]) == 0
    assert returned.read_bytes() == (tmp_path / "predict_py.csv").read_bytes()
    rows = list(csv.DictReader(io.StringIO(returned.read_text(encoding="utf-8"))))
    assert [row["text"] for row in rows] == ["정말 재밌는 영화였다", "", "돈 아깝다 최악"]


def test_a_csv_upload_with_its_text_column(client):
    reviews = SAMPLES_DIR / "custom" / "reviews.csv"
    column = next(csv.reader(io.StringIO(reviews.read_text(encoding="utf-8"))))[0]
    returned = Path(client.predict(gradio_client.handle_file(str(reviews)), column, "utf-8",
                                   api_name="/predict_file"))
    rows = list(csv.DictReader(io.StringIO(returned.read_text(encoding="utf-8"))))
    assert len(rows) > 0 and list(rows[0]) == ["text", "prediction", "score"]


def test_a_bad_upload_reaches_the_page_as_a_message(client, tmp_path, capsys):
    upload = tmp_path / "euc-kr.txt"
    upload.write_bytes("재밌다\n".encode("cp949"))
    with pytest.raises(gradio_client.exceptions.AppError) as caught:
        client.predict(gradio_client.handle_file(str(upload)), "", "utf-8", api_name="/predict_file")
    message = str(caught.value)
    assert "euc-kr.txt:1: bytes that are not valid utf-8" in message and "set the encoding to cp949" in message
    assert str(tmp_path) not in message and "gradio" not in message  # no path on the server is shown
    assert "Traceback" not in capsys.readouterr().err  # a visitor's mistake is not logged as a server error


@pytest.mark.parametrize("name,content,column,encoding,expected", [
    ("empty.txt", b"", "", "utf-8", "empty.txt: file is empty"),
    ("header.csv", b"id,review\n", "review", "utf-8", "header.csv: no rows after the header"),
    ("table.csv", "id,review\n1,좋다\n".encode(), "", "utf-8", "table.csv: give the text column"),
    ("table.csv", "id,review\n1,좋다\n".encode(), "document", "utf-8", "no column 'document'"),
    ("table.csv", "id,review\n1,좋다\n".encode(), "review", "no-such-codec", "encoding 'no-such-codec' is not an"),
    ("table.csv", "<b>id</b>,review\n1,좋다\n".encode(), "document", "utf-8", "found: '&lt;b&gt;id&lt;/b&gt;'"),
    ("big.txt", b"a\n" * 6, "", "utf-8", "6 texts; the page classifies at most 5"),
    ("large.txt", b"x" * 2048, "", "utf-8", "larger than"),
])
def test_bad_uploads_are_one_clear_message(trained_model, tmp_path, name, content, column, encoding, expected):
    import gradio

    page = app.ModelPage(gradio, Predictor(trained_model), trained_model, max_upload_bytes=1024, max_upload_rows=5)
    try:
        upload = tmp_path / name
        upload.write_bytes(content)
        with pytest.raises(gradio.Error) as caught:
            page.predict_file(str(upload), column, encoding)
        assert expected in caught.value.message and str(tmp_path) not in caught.value.message
        assert list(Path(page.work_dir.name).iterdir()) == []  # nothing written for a refused file
    finally:
        page.close()


def test_the_page_lists_task_labels_and_metrics(trained_model):
    results = json.loads((trained_model.parent / "results.json").read_text(encoding="utf-8"))
    summary = app.summary_markdown(trained_model, ["negative", "positive"], np.array([0.5, 0.5]), False)
    assert "**task**: nsmc" in summary and "- 0: negative" in summary and "- 1: positive" in summary
    assert f"| accuracy | {results['eval']['accuracy']:.4f} |" in summary


def test_the_summary_survives_a_damaged_run_folder(tmp_path):
    model = tmp_path / "run" / "model"
    model.mkdir(parents=True)
    (model.parent / "results.json").write_text("{not json", encoding="utf-8")
    (model.parent / "run.json").write_text(json.dumps({"task": ["not", "a", "name"]}), encoding="utf-8")
    summary = app.summary_markdown(model, ["<img src=x onerror=alert(1)>", "**bold**"], np.array([0.3, 0.7]), True)
    assert "**task**: unknown" in summary and r"**metrics**: not shown (results\.json is not valid JSON" in summary
    assert "<img" not in summary and "&lt;img" in summary and r"\*\*bold\*\*" in summary
    assert "threshold 0.700" in summary


def test_a_multi_label_model_marks_its_thresholds(trained_model, tmp_path):
    """The trained model's two outputs read as two sigmoid labels, with thresholds saved in config.json."""
    import gradio

    model = tmp_path / "multi" / "model"
    shutil.copytree(trained_model, model)
    config = json.loads((model / "config.json").read_text(encoding="utf-8"))
    config.update(problem_type="multi_label_classification", thresholds=[0.0, 1.0])
    (model / "config.json").write_text(json.dumps(config), encoding="utf-8")
    page = app.ModelPage(gradio, Predictor(model), model, max_upload_bytes=2**20, max_upload_rows=10)
    try:
        chart, above = page.chart(REVIEW)
        assert above == "**above threshold**: negative"  # 0 <= p always; p >= 1 never for a sigmoid of finite logits
        assert chart.format == "PNG" and chart.size[0] > 300
        assert set(page.classify(REVIEW)) == {"negative", "positive"}
    finally:
        page.close()


def test_a_refused_port_or_host_is_one_error_line(trained_model, capsys):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert app_command.main(["--model", str(trained_model), "--port", str(port)]) == 2
    assert_one_error_line(capsys, f"--port {port}: cannot listen there (the port is in use")
    assert app_command.main(["--model", str(trained_model), "--host", "192.0.2.1", "--port", str(free_port())]) == 2
    assert_one_error_line(capsys, "not an address of this machine")
    assert app_command.main(["--model", str(trained_model), "--port", "70000"]) == 2
    assert_one_error_line(capsys, "give a port from 1 to 65535")


def test_a_folder_that_is_not_a_trained_classifier(tiny_model_dir, tmp_path, capsys):
    assert app_command.main(["--model", str(tiny_model_dir), "--port", str(free_port())]) == 2
    assert_one_error_line(capsys, "not a fine-tuned classifier")
    assert app_command.main(["--model", str(tmp_path), "--port", str(free_port())]) == 2
    assert_one_error_line(capsys, "not a saved model")


def test_without_gradio_the_error_names_the_extra(trained_model, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "gradio", None)  # `import gradio` now raises ImportError
    assert app_command.main(["--model", str(trained_model)]) == 2
    assert_one_error_line(capsys, 'pip install -e ".[app]"')


def start_app_py(model: Path, port: int, sigint=signal.default_int_handler) -> subprocess.Popen:
    """`python app.py --model MODEL --port PORT`, its output in pipes. With SIGINT handled as Python does by
    default even where this test runs with it ignored (a shell's background job): the child inherits that;
    `sigint=signal.SIG_IGN` starts it as such a job."""
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "src"),
                                                                os.environ.get("PYTHONPATH", "")])}
    previous = signal.signal(signal.SIGINT, sigint)
    try:
        return subprocess.Popen([sys.executable, str(PROJECT_ROOT / "app.py"), "--model", str(model),
                                 "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=environment)
    finally:
        signal.signal(signal.SIGINT, previous if previous is not None else signal.SIG_DFL)


def start_a_large_file(base_url: str, session: str, path: Path) -> list[bytes]:
    """Upload `path` and queue its /predict_file as the browser does (queue/join, then the queue/data stream it
    keeps open). Returns once the server has started on it (or the stream ended): the stream's lines so far."""
    boundary = uuid.uuid4().hex
    body = (f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{path.name}"\r\n\r\n'
            .encode() + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode())
    upload = urllib.request.Request(f"{base_url}gradio_api/upload", data=body,
                                    headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(upload, timeout=60) as answer:
        uploaded = json.load(answer)[0]
    with urllib.request.urlopen(f"{base_url}config", timeout=60) as answer:
        dependencies = json.load(answer)["dependencies"]
    fn_index = next(d["id"] for d in dependencies if d.get("api_name") == "predict_file")
    post_json(f"{base_url}gradio_api/queue/join",
              {"data": [{"path": uploaded, "meta": {"_type": "gradio.FileData"}}, "", "utf-8"],
               "fn_index": fn_index, "session_hash": session, "trigger_id": None, "event_data": None})
    started, lines = threading.Event(), []

    def follow() -> None:
        try:
            with urllib.request.urlopen(f"{base_url}gradio_api/queue/data?session_hash={session}") as stream:
                for line in stream:
                    lines.append(line)
                    if b'"process_starts"' in line:
                        started.set()
        except Exception:  # noqa: BLE001 (the server stops under it, mid-stream: the point of the test)
            pass
        started.set()

    threading.Thread(target=follow, daemon=True).start()
    assert started.wait(timeout=120), "the file was never started on"
    return lines


def test_ctrl_c_stops_the_server_in_seconds(trained_model, tmp_path):
    """SIGINT to `python app.py` while a browser-like client keeps its stream open and a 10,000-text file is
    being classified: exit status 130 and its line within seconds, no traceback and no abort. (Before, the
    interpreter took 4 to 10 s to exit; and an exit while the model runs aborts, SIGABRT, unless the script ends
    the process itself.)"""
    port = free_port()
    process = start_app_py(trained_model, port)
    try:
        url = f"http://127.0.0.1:{port}/"
        assert process.stdout.readline() == f"serving {trained_model} at {url} (Ctrl-C stops it)\n"
        assert call_over_http(url, "classify", [REVIEW])[0] == "complete"
        large = tmp_path / "large.txt"  # 1.8 MB (under 5 MB): the model is still at it when the script exits
        large.write_text(f"{' '.join([REVIEW] * 3)}\n" * 10_000, encoding="utf-8")
        assert any(b'"process_starts"' in line for line in start_a_large_file(url, "ctrl-c-test", large))
        stopping = time.monotonic()
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
        took = time.monotonic() - stopping
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130, err
    # stderr also holds the tokenizer's progress bar for the file (a line of \r-separated updates)
    assert f"stopped serving {url}\n" in err and out == ""
    assert "Traceback" not in err and "terminate called" not in err and "Error" not in err, err
    assert took < 10, f"{took:.1f} s to stop"  # about 1 s on an idle machine; generous for a busy one


def test_app_py_started_as_a_background_job_still_stops_on_sigint(trained_model):
    """A shell script's `python app.py &` inherits SIGINT ignored; the script takes Ctrl-C back."""
    port = free_port()
    process = start_app_py(trained_model, port, sigint=signal.SIG_IGN)
    try:
        assert process.stdout.readline().startswith(f"serving {trained_model}")  # the handlers are in place
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 130 and "stopped serving" in err, err


def test_a_stopped_page_starts_no_batch(trained_model, monkeypatch):
    """The model is marked in use while it runs, and a closed page (the script is exiting) starts no batch."""
    import gradio

    page = app.ModelPage(gradio, Predictor(trained_model), trained_model, max_upload_bytes=2**20, max_upload_rows=10)
    seen = []
    original = page.predictor.probabilities
    monkeypatch.setattr(page.predictor, "probabilities", lambda texts: seen.append(page.in_use) or original(texts))
    assert page.classify(REVIEW) and seen == [True] and not page.in_use
    page.close()
    with pytest.raises(gradio.Error, match="the page is stopping"):
        page.classify(REVIEW)
    assert seen == [True]


def test_after_ctrl_c_the_process_ends_at_once_only_while_the_model_runs(monkeypatch):
    """The exit handler app.py registers after Ctrl-C: os._exit while a server thread is in the model (a normal
    exit would abort), nothing otherwise."""
    ended = []
    monkeypatch.setattr(app_command.os, "_exit", ended.append)

    class Server:
        def __init__(self, busy: bool):
            self.busy = lambda: busy

    app_command.end_now_if_busy(Server(False), 130)
    assert ended == []
    app_command.end_now_if_busy(Server(True), 130)
    assert ended == [130]


def assert_one_error_line(capsys, expected: str) -> None:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0], err


# --- sentence-pair and regression models ----------------------------------------------------------------------

PAIR = ("한 남자가 기타를 치고 있다", "남자가 악기를 연주하고 있다")


def pair_model(tmp_path_factory, tiny_model_dir, trainer, task: str) -> Path:
    """The model/ folder of a few steps on a built-in pair task's bundled samples."""
    root = tmp_path_factory.mktemp(task)
    status, run = run_cli(trainer, "--task", task, "--output-dir", str(root / "runs"),
                          "--set", f"data.dir={SAMPLES_DIR / task}", "--set", f"data.cache_dir={root / 'cache'}",
                          "--set", f"model.name_or_path={tiny_model_dir}", "--set", "train.max_steps=8",
                          "--set", "train.learning_rate=1e-3", "--set", "data.download=false")
    assert status == 0
    return run / "model"


@pytest.fixture(scope="module")
def nli_model(tmp_path_factory, tiny_model_dir) -> Path:
    """Sentence-pair classification (KorNLI: entailment, neutral, contradiction)."""
    return pair_model(tmp_path_factory, tiny_model_dir, BeginnerTrainer, "kornli")


@pytest.fixture(scope="module")
def sts_model(tmp_path_factory, tiny_model_dir) -> Path:
    """Sentence-pair regression (KorSTS: one score)."""
    return pair_model(tmp_path_factory, tiny_model_dir, ExpertTrainer, "korsts")


@pytest.fixture(scope="module")
def nli_server(nli_model):
    running = app_server.start_server(nli_model, "127.0.0.1", free_port())
    yield running
    running.close()


@pytest.fixture(scope="module")
def sts_server(sts_model):
    running = app_server.start_server(sts_model, "127.0.0.1", free_port())
    yield running
    running.close()


def page_components(base_url: str) -> list[dict]:
    with urllib.request.urlopen(f"{base_url}config", timeout=60) as answer:
        return json.load(answer)["components"]


def test_a_pair_models_two_texts_get_the_predictors_probabilities(nli_model, nli_server):
    expected = Predictor(nli_model).probabilities([PAIR[0]], [PAIR[1]])[0]
    names = ["entailment", "neutral", "contradiction"]
    answer = gradio_client.Client(nli_server.url, verbose=False).predict(*PAIR, api_name="/classify")
    confidences = {row["label"]: row["confidence"] for row in answer["confidences"]}
    assert [confidences[name] for name in names] == pytest.approx(expected.tolist(), abs=1e-6)
    assert answer["label"] == names[int(np.argmax(expected))]
    event, data = call_over_http(nli_server.url, "classify", list(PAIR))  # the footer's POST and GET
    assert event == "complete"
    assert [{r["label"]: r["confidence"] for r in data[0]["confidences"]}[name] for name in names] == \
        pytest.approx(expected.tolist(), abs=1e-6)
    boxes = [c["props"].get("label") for c in page_components(nli_server.url) if c.get("type") == "textbox"]
    assert boxes[:2] == ["first text", "second text"]


def test_a_pair_models_bad_calls_are_messages(nli_server, capsys):
    client = gradio_client.Client(nli_server.url, verbose=False)
    with pytest.raises(gradio_client.exceptions.AppError, match="type the second text"):
        client.predict(PAIR[0], "  ", api_name="/classify")
    with pytest.raises(gradio_client.exceptions.AppError, match="type the first text"):
        client.predict("", PAIR[1], api_name="/classify")
    event, data = call_over_http(nli_server.url, "classify", [PAIR[0]])  # a single-text page's footer, one string
    assert event == "error" and data["error"].startswith("this model compares two texts: give both")
    assert "Traceback" not in capsys.readouterr().err


def test_a_regression_models_call_returns_the_predictors_score(sts_model, sts_server):
    expected = float(Predictor(sts_model).probabilities([PAIR[0]], [PAIR[1]])[0, 0])
    score = gradio_client.Client(sts_server.url, verbose=False).predict(*PAIR, api_name="/classify")
    assert isinstance(score, float) and score == pytest.approx(expected, abs=1e-6)
    event, data = call_over_http(sts_server.url, "classify", list(PAIR))
    assert event == "complete" and data[0] == pytest.approx(expected, abs=1e-6)
    kinds = [c.get("type") for c in page_components(sts_server.url)]
    assert "number" in kinds and "label" not in kinds and "image" not in kinds  # a number, no chart of classes
    summary = next(c["props"]["value"] for c in page_components(sts_server.url)
                   if c.get("type") == "markdown" and (c["props"].get("value") or "").startswith("### Model"))
    assert "**kind**: regression" in summary and "**labels**" not in summary and "**input**: a sentence pair" in summary


@pytest.mark.parametrize("kind", ["classification", "regression"])
def test_the_footer_of_a_pair_model_sends_two_texts(kind, request):
    name = "nli" if kind == "classification" else "sts"
    model, server = request.getfixturevalue(f"{name}_model"), request.getfixturevalue(f"{name}_server")
    footer = footer_of(server.url)
    assert f"""-d '{{"data": ["{PAIR[0]}", "{PAIR[1]}"]}}'""" in footer
    assert f'predict("{PAIR[0]}", "{PAIR[1]}", api_name="/classify")' in footer
    assert ("the predicted score" in footer) == (kind == "regression")
    if shutil.which("curl") is None or shutil.which("bash") is None:
        return  # the text of the footer is checked; running its command needs curl
    fence = footer.split("```bash\n", 1)[1].split("```", 1)[0]
    [one_line] = [line for line in fence.splitlines() if line.startswith("curl") and "$(curl" in line]
    answer = subprocess.run(["bash", "-c", one_line], capture_output=True, text=True, timeout=120)
    assert answer.returncode == 0 and answer.stdout.startswith("event: complete\ndata: "), answer
    data = json.loads(answer.stdout.splitlines()[1].removeprefix("data: "))
    expected = Predictor(model).probabilities([PAIR[0]], [PAIR[1]])[0]
    if kind == "regression":
        assert data[0] == pytest.approx(float(expected[0]), abs=1e-6)
    else:
        confidences = {row["label"]: row["confidence"] for row in data[0]["confidences"]}
        assert [confidences[n] for n in ["entailment", "neutral", "contradiction"]] == \
            pytest.approx(expected.tolist(), abs=1e-6)


def test_a_pair_upload_returns_the_csv_predict_py_writes(nli_model, nli_server, sts_model, sts_server, tmp_path):
    """Two named columns of a file written without quoting (KorSTS's own TSV), and a .txt file of tab-separated
    pairs with a blank line: the page's CSV is predict.py's, byte for byte."""
    sts_test = SAMPLES_DIR / "korsts" / "sts-test.tsv"
    returned = Path(gradio_client.Client(sts_server.url, verbose=False).predict(
        gradio_client.handle_file(str(sts_test)), "sentence1", "sentence2", "utf-8", True, api_name="/predict_file"))
    assert predict_main(["--model", str(sts_model), "--input", str(sts_test), "--text-column", "sentence1",
                         "--pair-column", "sentence2", "--no-quoting", "--output", str(tmp_path / "sts.csv")]) == 0
    assert returned.read_bytes() == (tmp_path / "sts.csv").read_bytes()
    rows = list(csv.DictReader(io.StringIO(returned.read_text(encoding="utf-8"))))
    assert list(rows[0]) == ["text", "text_pair", "prediction"] and len(rows) == 60
    float(rows[0]["prediction"])  # a score, not a class name

    pairs = tmp_path / "pairs.txt"
    pairs.write_text(f"{PAIR[0]}\t{PAIR[1]}\n\n남자가 노래한다\t여자가 춤춘다\n", encoding="utf-8")
    returned = Path(gradio_client.Client(nli_server.url, verbose=False).predict(
        gradio_client.handle_file(str(pairs)), "", "", "utf-8", False, api_name="/predict_file"))
    assert predict_main(["--model", str(nli_model), "--input", str(pairs),
                         "--output", str(tmp_path / "nli.csv")]) == 0
    assert returned.read_bytes() == (tmp_path / "nli.csv").read_bytes()
    rows = list(csv.DictReader(io.StringIO(returned.read_text(encoding="utf-8"))))
    assert list(rows[0]) == ["text", "text_pair", "prediction", "score"]
    second = ("남자가 노래한다", "여자가 춤춘다")
    assert [(r["text"], r["text_pair"]) for r in rows] == [PAIR, ("", ""), second]


def test_a_one_column_upload_for_a_pair_model_is_a_message(nli_server, tmp_path, capsys):
    upload = tmp_path / "reviews.csv"
    upload.write_text("sentence1,sentence2\n가,나\n", encoding="utf-8")
    with pytest.raises(gradio_client.exceptions.AppError, match="reviews.csv: give both text columns"):
        gradio_client.Client(nli_server.url, verbose=False).predict(
            gradio_client.handle_file(str(upload)), "sentence1", "", "utf-8", False, api_name="/predict_file")
    assert "Traceback" not in capsys.readouterr().err


@pytest.mark.parametrize("name,content,columns,no_quoting,expected", [
    ("one.txt", "첫 줄\t둘째\n탭이 없는 줄\n", ("", ""), False,
     "one.txt:2: a sentence-pair model needs two texts a line, separated by one tab (found 1 field)"),
    ("one.csv", "sentence1\n가\n", ("sentence1", "sentence2"), False, "no column 'sentence2'"),
    ("one.csv", "sentence1,sentence2\n가,나\n", ("", "sentence2"), False, "one.csv: give both text columns"),
    ("quote.tsv", 'sentence1\tsentence2\n"그는 안녕\t인사했다\n', ("sentence1", "sentence2"), False,
     "a quoted field is never closed; if the file was written without quoting, so that a quote is a plain character "
     "(KorNLI and KorSTS are), tick 'no quoting'"),
    ("big.txt", "가\t나\n" * 6, ("", ""), False, "6 pairs; the page classifies at most 5"),
])
def test_bad_pair_uploads_are_one_clear_message(nli_model, tmp_path, name, content, columns, no_quoting, expected):
    import gradio

    page = app.ModelPage(gradio, Predictor(nli_model), nli_model, max_upload_bytes=1024, max_upload_rows=5)
    try:
        upload = tmp_path / name
        upload.write_text(content, encoding="utf-8")
        with pytest.raises(gradio.Error) as caught:
            page.predict_pair_file(str(upload), *columns, "utf-8", no_quoting)
        assert expected in caught.value.message and str(tmp_path) not in caught.value.message
        assert list(Path(page.work_dir.name).iterdir()) == []
        # the same file without quoting is read (the quote is a plain character)
        if name == "quote.tsv":
            rows = (Path(page.predict_pair_file(str(upload), *columns, "utf-8", True)).read_text(encoding="utf-8")
                    .splitlines())
            assert rows[1].startswith('"""그는 안녕",인사했다,')
    finally:
        page.close()


# --- in a real browser -------------------------------------------------------------------------------------

def find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return shutil.which(name)
    return None


@pytest.mark.slow
@pytest.mark.skipif(find_chromium() is None, reason="no Chromium installed (apt-get install chromium)")
def test_the_page_in_a_browser(trained_model, tmp_path):
    """`python app.py` serves a page; headless Chromium types a Korean review and sees its probabilities and
    the bar chart. Set KOELECTRA_APP_SCREENSHOT=page.png to keep a screenshot."""
    sync_api = pytest.importorskip("playwright.sync_api")
    port = free_port()
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(PROJECT_ROOT / "src"),
                                                                os.environ.get("PYTHONPATH", "")])}
    server = subprocess.Popen([sys.executable, str(PROJECT_ROOT / "app.py"), "--model", str(trained_model),
                               "--port", str(port)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                              env=environment)
    try:
        assert server.stdout.readline() == f"serving {trained_model} at http://127.0.0.1:{port}/ (Ctrl-C stops it)\n"
        expected = Predictor(trained_model).probabilities([REVIEW])[0]
        with sync_api.sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=find_chromium(), args=["--no-sandbox"])
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1000})
                page.goto(f"http://127.0.0.1:{port}/", timeout=60_000)
                page.get_by_label("text").first.fill(REVIEW)
                page.get_by_role("button", name="classify", exact=True).click()
                label = page.get_by_test_id("label")
                label.get_by_text("%").first.wait_for(timeout=60_000)  # the answer is in
                shown = label.inner_text()
                # The chart is an image served from the page's files once drawn.
                page.locator("img[src*='/gradio_api/file=']").first.wait_for(timeout=60_000)
                screenshot = os.environ.get("KOELECTRA_APP_SCREENSHOT") or str(tmp_path / "page.png")
                page.screenshot(path=screenshot, full_page=True)
            finally:
                browser.close()
        for name, probability in zip(["negative", "positive"], expected):
            assert f"{name}\n{round(probability * 100)}%" in shown, shown
    finally:
        server.terminate()  # SIGTERM: the script stops like after Ctrl-C
        server.wait(timeout=30)
    assert server.returncode == 130
