"""app.py: a Gradio page for a trained model, its `/classify` endpoint, its file upload and its errors.

The server runs in this process on a free port of 127.0.0.1 and is called over HTTP with gradio_client, as a
user's script would. The browser check (marked slow) starts app.py itself and drives the system Chromium; it
skips where no Chromium is installed.
"""

from __future__ import annotations

import csv
import io
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("gradio")
gradio_client = pytest.importorskip("gradio_client")

from helpers import run_cli  # noqa: E402
from koelectra_cookbook.app import page as app  # noqa: E402
from koelectra_cookbook.commands import app as app_command  # noqa: E402
from koelectra_cookbook.paths import PROJECT_ROOT, SAMPLES_DIR  # noqa: E402
from koelectra_cookbook.commands.predict import main as predict_main  # noqa: E402
from koelectra_cookbook.inference.predictor import Predictor  # noqa: E402
from koelectra_cookbook.trainers.beginner import BeginnerTrainer  # noqa: E402

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
    running = app.start_server(trained_model, "127.0.0.1", free_port())
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


def assert_one_error_line(capsys, expected: str) -> None:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and expected in err[0], err


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
