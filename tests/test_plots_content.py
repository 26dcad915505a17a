"""What the plots show, read back from the matplotlib Figure each one saves: titles, axis labels, the series and
their labels and values, tick labels, cell counts and bar lengths. Fed small files written here, not trainings.
(tests/test_plots.py checks that the PNG files themselves are written.)"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import matplotlib.figure
import numpy as np
import pytest

from koelectra_cookbook.app.chart import CHOSEN_COLOUR, OTHER_COLOUR, probability_chart
from koelectra_cookbook.experiments.compare_outputs import write_plot
from koelectra_cookbook.runs import plots

YNAT_LABELS = ["IT과학", "경제", "사회", "생활문화", "세계", "스포츠", "정치"]


@pytest.fixture
def saved(monkeypatch) -> list[matplotlib.figure.Figure]:
    """Every Figure saved while the test runs, as it was when saved (closing a figure keeps its artists)."""
    figures = []
    original = matplotlib.figure.Figure.savefig

    def savefig(self, *args, **kwargs):
        figures.append(self)
        return original(self, *args, **kwargs)

    monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
    return figures


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    path = tmp_path / "nsmc" / "intermediate-20250101-000000"
    path.mkdir(parents=True)
    return path


def lines(ax) -> dict[str, tuple[list[float], list[float]]]:
    """label -> (x values, y values) of every line on `ax`."""
    return {line.get_label(): (list(map(float, line.get_xdata())), list(map(float, line.get_ydata())))
            for line in ax.get_lines()}


def legend_labels(ax) -> list[str]:
    legend = ax.get_legend()
    return [text.get_text() for text in legend.get_texts()] if legend is not None else []


def tick_labels(ticks) -> list[str]:
    return [label.get_text() for label in ticks]


def texts(ax) -> list[str]:
    return [text.get_text() for text in ax.texts]


# --- learning curves ---------------------------------------------------------------------------------------------


def test_learning_curves_draw_one_series_per_metric_column_with_its_values(run_dir, saved):
    (run_dir / "metrics.csv").write_text(
        "epoch,step,train_loss,learning_rate,loss,accuracy,macro_f1,weighted_f1\n"
        "0.5,10,0.90,3e-05,0.80,0.60,0.55,0.58\n"
        "1.0,20,0.70,2e-05,0.65,0.70,0.66,0.69\n"
        "1.5,30,0.50,1e-05,0.60,0.75,0.71,0.74\n", encoding="utf-8")
    plots.plot_learning_curves(run_dir / "metrics.csv", run_dir / "plots")
    [figure] = saved
    loss_ax, metric_ax, lr_ax = figure.axes
    assert figure._suptitle.get_text() == f"learning curves: {run_dir.name}"
    assert [ax.get_title() for ax in figure.axes] == ["loss", "dev metrics", "learning rate"]
    assert lr_ax.get_xlabel() == "step"
    steps = [10.0, 20.0, 30.0]
    assert lines(loss_ax) == {"train loss": (steps, [0.9, 0.7, 0.5]), "dev loss": (steps, [0.8, 0.65, 0.6])}
    # one series per metric in metrics.csv beyond the fixed columns, in the file's order, each with its values
    assert lines(metric_ax) == {"accuracy": (steps, [0.6, 0.7, 0.75]), "macro_f1": (steps, [0.55, 0.66, 0.71]),
                                "weighted_f1": (steps, [0.58, 0.69, 0.74])}
    assert legend_labels(metric_ax) == ["accuracy", "macro_f1", "weighted_f1"]
    assert lines(lr_ax) == {"learning rate": (steps, pytest.approx([3e-05, 2e-05, 1e-05]))}
    assert legend_labels(loss_ax) == ["train loss", "dev loss"]


def test_the_train_loss_and_learning_rate_come_from_the_log_of_every_log_every_steps(run_dir, saved):
    (run_dir / "metrics.csv").write_text("epoch,step,train_loss,learning_rate,loss,accuracy\n"
                                         "1.0,6,0.70,1e-05,0.65,0.70\n", encoding="utf-8")
    (run_dir / "train_log.csv").write_text("epoch,step,loss,learning_rate,grad_norm\n"
                                           "0.33,2,0.90,3e-05,\n0.67,4,0.80,2e-05,\n1.0,6,0.60,1e-05,\n",
                                           encoding="utf-8")
    plots.plot_learning_curves(run_dir / "metrics.csv", run_dir / "plots", run_dir / "train_log.csv")
    [figure] = saved
    loss_ax, metric_ax, lr_ax = figure.axes
    assert lines(loss_ax) == {"train loss": ([2.0, 4.0, 6.0], [0.9, 0.8, 0.6]), "dev loss": ([6.0], [0.65])}
    assert lines(lr_ax) == {"learning rate": ([2.0, 4.0, 6.0], pytest.approx([3e-05, 2e-05, 1e-05]))}
    assert lines(metric_ax) == {"accuracy": ([6.0], [0.7])}


def test_learning_curves_of_multi_label_metrics_and_empty_cells(run_dir, saved):
    """Another metric set gives its own series; empty or unparsable cells leave points out, not zeros; a panel
    with nothing to draw says so instead of a legend."""
    (run_dir / "metrics.csv").write_text(
        "epoch,step,train_loss,learning_rate,loss,lrap,micro_f1,hamming_loss,samples_f1\n"
        "1.0,100,,,0.38,0.81,0.66,0.07,nan\n"
        "2.0,200,,,0.35,,0.70,0.06,\n", encoding="utf-8")
    plots.plot_learning_curves(run_dir / "metrics.csv", run_dir / "plots")
    [figure] = saved
    loss_ax, metric_ax, lr_ax = figure.axes
    assert lines(loss_ax) == {"dev loss": ([100.0, 200.0], [0.38, 0.35])}
    assert lines(metric_ax) == {"lrap": ([100.0], [0.81]), "micro_f1": ([100.0, 200.0], [0.66, 0.70]),
                                "hamming_loss": ([100.0, 200.0], [0.07, 0.06])}  # samples_f1 has no number
    assert lines(lr_ax) == {} and texts(lr_ax) == ["no data"] and lr_ax.get_legend() is None
    assert all(line.get_marker() == "o" for line in metric_ax.get_lines())  # few points: each one marked


def test_learning_curves_with_many_rows_draw_lines_without_markers(run_dir, saved):
    rows = "".join(f"{i / 10},{i},{1 / i},1e-05,{2 / i},{i / 100}\n" for i in range(1, 31))
    (run_dir / "metrics.csv").write_text("epoch,step,train_loss,learning_rate,loss,accuracy\n" + rows,
                                         encoding="utf-8")
    plots.plot_learning_curves(run_dir / "metrics.csv", run_dir / "plots")
    [figure] = saved
    [accuracy] = figure.axes[1].get_lines()
    assert accuracy.get_label() == "accuracy" and len(accuracy.get_xdata()) == 30
    assert accuracy.get_marker() in (None, "None", "none", "")


# --- confusion matrix --------------------------------------------------------------------------------------------


def test_confusion_matrix_shows_the_label_names_and_every_count(run_dir, saved):
    rng = np.random.default_rng(0)
    matrix = rng.integers(0, 20, (7, 7)) + np.diag(rng.integers(100, 300, 7))
    matrix[3] = 0  # a gold label with no rows
    plots.plot_confusion_matrix(matrix, YNAT_LABELS, run_dir / "plots", "ynat: eval (1234 rows)")
    [figure] = saved
    ax = figure.axes[0]
    assert ax.get_title() == "ynat: eval (1234 rows)"
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("predicted", "gold")
    assert tick_labels(ax.get_xticklabels()) == YNAT_LABELS
    assert tick_labels(ax.get_yticklabels()) == YNAT_LABELS
    assert list(ax.get_xticks()) == list(range(7)) and list(ax.get_yticks()) == list(range(7))
    # the text in cell (column = predicted, row = gold) is that count
    cells = {(round(text.get_position()[1]), round(text.get_position()[0])): text.get_text() for text in ax.texts}
    assert cells == {(gold, predicted): str(matrix[gold, predicted]) for gold in range(7) for predicted in range(7)}
    # the colour is the share of the gold row (an empty row: 0 everywhere)
    [image] = ax.get_images()
    shares = np.asarray(image.get_array())
    totals = matrix.sum(axis=1, keepdims=True)
    expected = np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)
    assert np.allclose(shares, expected) and not shares[3].any()
    assert figure.axes[1].get_ylabel() == "share of gold row"  # the colour bar


def test_confusion_matrix_of_two_labels_puts_gold_on_rows(run_dir, saved):
    plots.plot_confusion_matrix(np.array([[5, 1], [2, 7]]), ["부정", "긍정"], run_dir / "plots", "nsmc")
    [figure] = saved
    ax = figure.axes[0]
    cells = {(round(t.get_position()[1]), round(t.get_position()[0])): t.get_text() for t in ax.texts}
    assert cells == {(0, 0): "5", (0, 1): "1", (1, 0): "2", (1, 1): "7"}  # (gold, predicted)
    assert tick_labels(ax.get_yticklabels()) == ["부정", "긍정"]


# --- per-label F1 ------------------------------------------------------------------------------------------------


def test_per_label_f1_bars_are_the_values_of_per_label_csv(run_dir, saved):
    (run_dir / "per_label.csv").write_text(
        "label,threshold,precision,recall,f1,support\n"
        "여성/가족,0.4000,0.7000,0.6000,0.6462,120\n"
        "남성,0.5000,0.8000,0.7000,0.7467,90\n"
        "기타 혐오,0.5000,0.1000,0.0500,,7\n"
        "clean,0.5000,0.9000,0.9500,0.9243,800\n", encoding="utf-8")
    plots.plot_per_label_f1(run_dir / "per_label.csv", run_dir / "plots")
    [figure] = saved
    [ax] = figure.axes
    bars = ax.patches
    assert [bar.get_width() for bar in bars] == pytest.approx([0.6462, 0.7467, 0.0, 0.9243])  # empty f1: 0
    assert tick_labels(ax.get_yticklabels()) == ["여성/가족 (n=120)", "남성 (n=90)", "기타 혐오 (n=7)",
                                                 "clean (n=800)"]
    assert list(ax.get_yticks()) == [bar.get_y() + bar.get_height() / 2 for bar in bars]
    assert texts(ax) == ["0.646", "0.747", "0.000", "0.924"]
    assert ax.yaxis_inverted()  # the first label of the file on top
    assert ax.get_xlabel() == "F1" and ax.get_title() == f"per-label F1: {run_dir.name}"
    assert ax.get_xlim() == (0, 1.1)


# --- the web page's probability chart ----------------------------------------------------------------------------


def test_probability_chart_of_a_single_label_prediction(saved):
    probabilities = np.array([0.05, 0.70, 0.10, 0.15])
    names = ["IT과학", "경제", "사회", "정치"]
    probability_chart(names, probabilities)
    [figure] = saved
    [ax] = figure.axes
    assert [bar.get_width() for bar in ax.patches] == pytest.approx(list(probabilities))
    assert tick_labels(ax.get_yticklabels()) == names
    assert ax.get_title(loc="left") == "prediction: 경제 (70.0%)"
    colours = [matplotlib.colors.to_hex(bar.get_facecolor()) for bar in ax.patches]
    assert colours == [OTHER_COLOUR, CHOSEN_COLOUR, OTHER_COLOUR, OTHER_COLOUR]
    assert texts(ax) == ["5.0%", "70.0%", "10.0%", "15.0%"]
    assert ax.get_xlabel() == "probability" and ax.get_xlim() == (0, 1)
    assert list(ax.collections) == []  # no threshold marks


def test_probability_chart_of_a_multi_label_prediction_marks_each_threshold(saved):
    names = ["여성/가족", "남성", "악플/욕설", "clean"]
    probabilities = np.array([0.80, 0.20, 0.55, 0.30])
    thresholds = np.array([0.50, 0.40, 0.60, 0.25])
    probability_chart(names, probabilities, thresholds)
    [figure] = saved
    [ax] = figure.axes
    assert [bar.get_width() for bar in ax.patches] == pytest.approx(list(probabilities))
    [marks] = ax.collections
    assert np.allclose(marks.get_offsets(), np.column_stack([thresholds, np.arange(4)]))
    colours = [matplotlib.colors.to_hex(bar.get_facecolor()) for bar in ax.patches]
    assert colours == [CHOSEN_COLOUR, OTHER_COLOUR, OTHER_COLOUR, CHOSEN_COLOUR]  # at or above the threshold
    assert ax.get_title(loc="left") == "above threshold: 여성/가족, clean"
    assert legend_labels(ax) == ["threshold"]


# --- compare.py --plot -------------------------------------------------------------------------------------------


def comparison_run(folder: Path, name: str, rows: list[tuple[int, float, float]], **config) -> SimpleNamespace:
    """A run as write_plot reads one (compare.py's Run: path, task, flat config, headline metric), with its
    metrics.csv of (step, accuracy, loss) rows."""
    path = folder / name
    path.mkdir(parents=True)
    (path / "metrics.csv").write_text(
        "epoch,step,train_loss,learning_rate,loss,accuracy\n"
        + "".join(f"{step / 100},{step},0.5,1e-05,{loss},{accuracy}\n" for step, accuracy, loss in rows),
        encoding="utf-8")
    return SimpleNamespace(path=path, level="intermediate", results={}, metric="accuracy", task="nsmc",
                           config={"train.seed": 42, **config})


def test_comparison_plot_draws_one_series_per_run_on_each_panel(tmp_path, saved):
    runs = [
        comparison_run(tmp_path, "a", [(10, 0.6, 0.8), (20, 0.7, 0.7)], **{"train.learning_rate": 1e-3}),
        comparison_run(tmp_path, "b", [(10, 0.5, 0.9), (20, 0.55, 0.85), (30, 0.6, 0.8)],
                       **{"train.learning_rate": 5e-5}),
        comparison_run(tmp_path, "c", [(10, 0.65, 0.75)], **{"train.learning_rate": 1e-4}),
    ]
    write_plot(tmp_path / "compare.png", runs, ["train.learning_rate"])
    [figure] = saved
    left, right = figure.axes
    assert (left.get_title(), right.get_title()) == ("dev accuracy", "dev loss")
    assert left.get_xlabel() == right.get_xlabel() == "step"
    names = ["learning_rate=0.001", "learning_rate=5e-05", "learning_rate=0.0001"]
    assert lines(left) == {names[0]: ([10.0, 20.0], [0.6, 0.7]), names[1]: ([10.0, 20.0, 30.0], [0.5, 0.55, 0.6]),
                           names[2]: ([10.0], [0.65])}
    assert lines(right) == {names[0]: ([10.0, 20.0], [0.8, 0.7]), names[1]: ([10.0, 20.0, 30.0], [0.9, 0.85, 0.8]),
                            names[2]: ([10.0], [0.75])}
    [legend] = figure.legends
    assert [text.get_text() for text in legend.get_texts()] == names  # one entry per run
    assert (tmp_path / "compare.png").read_bytes()[:4] == b"\x89PNG"


def test_comparison_plot_names_seeds_when_they_differ_and_skips_a_run_without_curves(tmp_path, saved):
    runs = [comparison_run(tmp_path, "s1", [(10, 0.6, 0.8)], **{"train.seed": 1}),
            comparison_run(tmp_path, "s2", [(10, 0.7, 0.7)], **{"train.seed": 2}),
            comparison_run(tmp_path, "empty", [], **{"train.seed": 3})]
    write_plot(tmp_path / "compare.png", runs, [])
    [figure] = saved
    left, right = figure.axes
    # without differing keys a run is named by its folder; differing seeds are said
    assert list(lines(left)) == list(lines(right)) == ["s1 (seed 1)", "s2 (seed 2)"]
    assert [text.get_text() for text in figure.legends[0].get_texts()] == ["s1 (seed 1)", "s2 (seed 2)"]
