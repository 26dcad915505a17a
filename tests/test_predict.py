"""predict.py: a saved model classifies a file or standard input, one output row per input row, in order."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys

import pytest

from helpers import run_cli
from koelectra_cookbook.paths import PROJECT_ROOT, SAMPLES_DIR
from koelectra_cookbook.commands.predict import main
from koelectra_cookbook.inference.predictor import Predictor
from koelectra_cookbook.trainers.beginner import BeginnerTrainer


@pytest.fixture(scope="module")
def trained_model(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("predict")
    status, run = run_cli(BeginnerTrainer, "--task", "nsmc", "--output-dir", str(root / "runs"),
                          "--set", f"data.dir={SAMPLES_DIR / 'nsmc'}", "--set", f"data.cache_dir={root / 'cache'}",
                          "--set", f"model.name_or_path={tiny_model_dir}", "--set", "train.epochs=2")
    assert status == 0
    return run


def read_rows(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_txt_file_one_row_per_line_blank_lines_included(trained_model, tmp_path, capsys):
    lines = ["정말 재밌는 영화였다", "", "돈 아깝다 최악", "   ", "배우 연기가 좋았어요 ㅋㅋ"]
    (tmp_path / "in.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert main(["--model", str(trained_model / "model"), "--input", str(tmp_path / "in.txt")]) == 0
    rows = read_rows(capsys.readouterr().out)
    assert [row["text"] for row in rows] == lines
    assert [row["prediction"] == "" for row in rows] == [False, True, False, True, False]
    assert {row["prediction"] for row in rows} <= {"", "negative", "positive"}


def test_predictions_match_the_run_and_keep_input_order(trained_model, tmp_path):
    """predict.py on the evaluation file gives the run's own predictions.csv, row for row."""
    output = tmp_path / "out.csv"
    status = main(["--model", str(trained_model / "model"), "--input", str(SAMPLES_DIR / "nsmc" / "ratings_test.txt"),
                   "--text-column", "document", "--output", str(output)])
    assert status == 0
    ours = [row for row in read_rows(output.read_text(encoding="utf-8")) if row["text"].strip()]
    theirs = read_rows((trained_model / "predictions.csv").read_text(encoding="utf-8"))
    assert [row["text"].strip() for row in ours] == [row["text"] for row in theirs]
    assert [row["prediction"] for row in ours] == [row["prediction"] for row in theirs]
    assert [float(row["score"]) for row in ours] == pytest.approx([float(r["score"]) for r in theirs], abs=1e-4)


def test_top_k_and_stdin(trained_model):
    result = subprocess.run([sys.executable, str(PROJECT_ROOT / "predict.py"), "--model", str(trained_model / "model"),
                             "--top-k", "2"], input="시간 가는 줄 몰랐다\n", capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    row = read_rows(result.stdout)[0]
    assert list(row) == ["text", "prediction_1", "score_1", "prediction_2", "score_2"]
    assert {row["prediction_1"], row["prediction_2"]} == {"negative", "positive"}
    assert float(row["score_1"]) + float(row["score_2"]) == pytest.approx(1.0, abs=1e-5)


def test_jsonl_input_with_a_text_column(trained_model, tmp_path):
    (tmp_path / "in.jsonl").write_text("\n".join(json.dumps({"review": t}, ensure_ascii=False)
                                                 for t in ["최고", "최악"]), encoding="utf-8")
    predictor = Predictor(trained_model / "model")
    from koelectra_cookbook.inference.inputs import read_texts

    assert predictor.table(read_texts(tmp_path / "in.jsonl", "review", "utf-8"))["text"] == ["최고", "최악"]


@pytest.mark.parametrize("argv,message", [
    (["--input", "missing.txt"], "file not found"),
    (["--input", str(SAMPLES_DIR / "custom" / "reviews.csv")],
     "no column 'document' (columns found: 'text', 'label') [the column the model was trained on]; give --text-column"),
    (["--input", str(SAMPLES_DIR / "custom" / "reviews.csv"), "--text-column", "txt"], "no column 'txt'"),
])
def test_bad_input_is_one_error_line_and_exit_2(trained_model, capsys, argv, message):
    assert main(["--model", str(trained_model / "model"), *argv]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]


def test_a_folder_that_is_not_a_model(tmp_path, capsys):
    (tmp_path / "in.txt").write_text("좋아\n", encoding="utf-8")
    assert main(["--model", str(tmp_path), "--input", str(tmp_path / "in.txt")]) == 2
    assert "not a saved model" in capsys.readouterr().err


@pytest.mark.parametrize("loaded_first", ["", "import huggingface_hub", "import transformers"])
def test_libraries_are_quiet_whether_loaded_before_or_after(loaded_first):
    """quiet_libraries speaks through environment variables to libraries not loaded yet (predict.py's int8 path
    never loads them) and directly to loaded ones; either way their logs and progress bars are off."""
    script = (f"{loaded_first}\nfrom koelectra_cookbook.commands.shell import quiet_libraries\nquiet_libraries()\n"
              "import logging, transformers\nfrom huggingface_hub.utils import are_progress_bars_disabled, "
              "logging as hub_logging\n"
              "print(transformers.logging.get_verbosity() == logging.ERROR == hub_logging.get_verbosity(), "
              "transformers.utils.logging.is_progress_bar_enabled(), are_progress_bars_disabled())\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_HUB_", "TRANSFORMERS_VERBOSITY"))}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["True", "False", "True"]
