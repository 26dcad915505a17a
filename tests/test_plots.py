"""The plots: each writes a real PNG from small synthetic run files, atomically, with or without a Hangul font."""

from __future__ import annotations

from pathlib import Path

import matplotlib
import numpy as np
import pytest

from koelectra_cookbook.runs import plots

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
YNAT_LABELS = ["IT과학", "경제", "사회", "생활문화", "세계", "스포츠", "정치"]
HEADER = "epoch,step,train_loss,learning_rate,loss,accuracy,macro_f1\n"


def assert_png(path: Path) -> None:
    assert path.is_file()
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > 5000  # a rendered figure, not an empty image
    assert not list(path.parent.glob("*.part*")), "a partial file was left behind"


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    path = tmp_path / "ynat" / "beginner-20250101-000000"
    path.mkdir(parents=True)
    return path


@pytest.fixture(params=["installed fonts", "no Hangul font"])
def font_situation(request, monkeypatch):
    """Run a test once with whatever fonts exist here and once as if none had Hangul."""
    if request.param == "no Hangul font":
        monkeypatch.setattr(plots, "hangul_font", lambda: None)
    return request.param


def test_backend_needs_no_display():
    assert matplotlib.get_backend().lower() == "agg"


def test_learning_curves_many_rows(run_dir: Path):
    rows = [f"{i / 10:.2f},{i * 10},{1 / i:.4f},{5e-5 * (1 - i / 30):.3g},{1.2 / i:.4f},{0.5 + i / 60:.4f},"
            f"{0.4 + i / 60:.4f}\n" for i in range(1, 21)]
    (run_dir / "metrics.csv").write_text(HEADER + "".join(rows), encoding="utf-8")
    written = plots.plot_learning_curves(run_dir / "metrics.csv", run_dir / "plots")
    assert written == [run_dir / "plots" / "learning_curves.png"]
    assert_png(written[0])


def test_learning_curves_single_row_and_empty_cells(run_dir: Path):
    # Multi-label metric names, and an empty train_loss and learning_rate (as before the first logged step).
    text = "epoch,step,train_loss,learning_rate,loss,lrap,micro_f1,hamming_loss\n1.0,120,,,0.38,0.81,0.66,0.07\n"
    (run_dir / "metrics.csv").write_text(text, encoding="utf-8")
    [path] = plots.plot_learning_curves(run_dir / "metrics.csv", run_dir / "plots")
    assert_png(path)


def test_learning_curves_with_gaps(run_dir: Path):
    text = HEADER + "0.5,50,0.9,3e-05,,0.6,0.5\n1.0,100,0.7,2e-05,0.65,,0.55\n1.5,150,,1e-05,0.6,0.7,\n"
    (run_dir / "metrics.csv").write_text(text, encoding="utf-8")
    [path] = plots.plot_learning_curves(run_dir / "metrics.csv", run_dir / "plots")
    assert_png(path)


def test_learning_curves_missing_or_header_only(run_dir: Path):
    assert plots.plot_learning_curves(run_dir / "metrics.csv", run_dir / "plots") == []
    (run_dir / "metrics.csv").write_text(HEADER, encoding="utf-8")
    assert plots.plot_learning_curves(run_dir / "metrics.csv", run_dir / "plots") == []
    assert not (run_dir / "plots" / "learning_curves.png").exists()


def test_confusion_matrix_korean_labels(run_dir: Path, font_situation):
    rng = np.random.default_rng(0)
    matrix = rng.integers(0, 20, (7, 7)) + np.diag(rng.integers(100, 300, 7))
    matrix[3] = 0  # a gold class with no examples must not divide by zero
    path = plots.plot_confusion_matrix(matrix, YNAT_LABELS, run_dir / "plots", "YNAT dev")
    assert path == run_dir / "plots" / "confusion_matrix.png"
    assert_png(path)


def test_confusion_matrix_overwrites_and_checks_shape(run_dir: Path):
    out = run_dir / "plots"
    first = plots.plot_confusion_matrix(np.array([[3, 1], [0, 4]]), ["여성/가족", "clean"], out, "a")
    second = plots.plot_confusion_matrix(np.array([[5, 0], [2, 4]]), ["여성/가족", "clean"], out, "b")
    assert first == second
    assert_png(second)
    with pytest.raises(ValueError, match="label names"):
        plots.plot_confusion_matrix(np.zeros((3, 3)), ["a", "b"], out, "bad")


def test_per_label_f1(run_dir: Path, font_situation):
    text = ("label,threshold,precision,recall,f1,support\n"
            "여성/가족,0.4000,0.7000,0.6000,0.6462,120\n"
            "남성,0.5000,0.8000,0.7000,0.7467,90\n"
            "clean,0.5000,0.9000,0.9500,0.9243,800\n")
    (run_dir / "per_label.csv").write_text(text, encoding="utf-8")
    path = plots.plot_per_label_f1(run_dir / "per_label.csv", run_dir / "plots")
    assert path == run_dir / "plots" / "per_label_f1.png"
    assert_png(path)


def test_per_label_f1_missing_or_empty(run_dir: Path):
    assert plots.plot_per_label_f1(run_dir / "per_label.csv", run_dir / "plots") is None
    (run_dir / "per_label.csv").write_text("label,threshold,precision,recall,f1,support\n", encoding="utf-8")
    assert plots.plot_per_label_f1(run_dir / "per_label.csv", run_dir / "plots") is None


def test_figures_are_closed(run_dir: Path):
    import matplotlib.pyplot as plt

    before = len(plt.get_fignums())
    plots.plot_confusion_matrix(np.eye(2, dtype=int), ["a", "b"], run_dir / "plots", "t")
    assert len(plt.get_fignums()) == before


def test_hangul_font_is_cached_and_real():
    name = plots.hangul_font()
    assert name is plots.hangul_font()
    assert name is None or (isinstance(name, str) and "Last Resort" not in name)
    assert "fonts-nanum" in plots.NO_HANGUL_FONT_WARNING


def test_last_resort_font_does_not_count_as_hangul():
    # matplotlib bundles "Last Resort", which maps every code point to a placeholder box.
    path = Path(matplotlib.get_data_path()) / "fonts" / "ttf" / "LastResortHE-Regular.ttf"
    if not path.exists():
        pytest.skip("this matplotlib does not bundle the Last Resort font")
    assert plots._hangul_family(str(path)) is None


def test_a_pip_install_alone_draws_hangul_with_the_bundled_nanumgothic():
    """koreanize-matplotlib is a dependency; its NanumGothic is used without importing the package (whose import
    would change matplotlib's settings for the whole process)."""
    import sys

    assert plots.bundled_hangul_font() is not None, "koreanize-matplotlib is not installed"
    assert plots.hangul_font() == "NanumGothic"
    assert "koreanize_matplotlib" not in sys.modules
