"""PNG plots of a run, written into its `plots/` folder.

Every function here draws from the files the run already wrote (metrics.csv, per_label.csv) or from a
confusion matrix the caller computed. Nothing is shown on screen: the
Agg backend renders straight to files, so plotting works on a server without a display.

Korean label names need a font with Hangul. `hangul_font()` registers NanumGothic from the
koreanize-matplotlib package (a dependency, so a pip install alone is enough), else finds one on the system;
when it returns None, the plots are still written (Korean shows as boxes) and the caller should print
`NO_HANGUL_FONT_WARNING` once. Nothing in this module prints.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import importlib.util
import io
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import font_manager  # noqa: E402
from matplotlib.ft2font import FT2Font  # noqa: E402

from koelectra_cookbook.files.atomic import atomic_write  # noqa: E402

NO_HANGUL_FONT_WARNING = ("warning: no font with Hangul found; Korean labels in plots show as boxes "
                          "(pip install koreanize-matplotlib, a dependency of this project, or install the system "
                          "fonts-nanum or fonts-noto-cjk)")
# Families tried first, in this order; any other font that maps the glyph '한' comes after them.
PREFERRED_FONTS = ["NanumGothic", "NanumBarunGothic", "Noto Sans CJK KR", "Noto Sans KR", "UnDotum",
                   "Malgun Gothic", "Apple SD Gothic Neo", "AppleGothic"]
DPI = 120
_FEW_POINTS = 20  # series with at most this many points get markers, so a single row is still visible


def _hangul_family(path: str) -> str | None:
    """The family name matplotlib would register for the font file at `path`, if it has Hangul."""
    try:
        font = FT2Font(path)
        name = font_manager.ttfFontProperty(font).name
    except Exception:  # unreadable or unsupported font file
        return None
    # "Last Resort" maps every code point, but only to placeholder boxes.
    if ord("한") not in font.get_charmap() or "Last Resort" in name:
        return None
    return name


@functools.lru_cache(maxsize=None)
def hangul_font() -> str | None:
    """Family name of a font with Hangul, registered with matplotlib, or None. Called by every plot; searched
    once. The NanumGothic that koreanize-matplotlib ships comes first, so plots look the same everywhere;
    without it, matplotlib's font list and the system's font files are searched (fonts installed after
    matplotlib built its font cache are found too)."""
    bundled = bundled_hangul_font()
    if bundled is not None and _hangul_family(bundled) is not None:
        font_manager.fontManager.addfont(bundled)
        return _hangul_family(bundled)
    registered = {entry.fname: entry.name for entry in font_manager.fontManager.ttflist}
    paths = set(registered) | set(font_manager.findSystemFonts())
    found = []
    for path in sorted(paths):
        name = _hangul_family(path)
        if name is not None:
            rank = PREFERRED_FONTS.index(name) if name in PREFERRED_FONTS else len(PREFERRED_FONTS)
            found.append((rank, name, path))
    if not found:
        return None
    _, name, path = min(found)
    if path not in registered:
        font_manager.fontManager.addfont(path)
    return name


def bundled_hangul_font() -> str | None:
    """NanumGothic.ttf of the koreanize-matplotlib package, found without importing the package: importing it
    changes matplotlib's settings for the whole process (and it imports distutils, gone from Python 3.12)."""
    spec = importlib.util.find_spec("koreanize_matplotlib")
    for folder in (spec.submodule_search_locations or []) if spec is not None else []:
        path = Path(folder) / "fonts" / "NanumGothic.ttf"
        if path.is_file():
            return str(path)
    return None


@contextlib.contextmanager
def korean_text():
    """Use the Hangul font (DejaVu Sans for anything it lacks) and silence per-glyph font warnings.
    Minus signs are plain '-': some Hangul fonts draw U+2212 (matplotlib's default minus) as a box.
    Text is drawn as it is: a label name or a metrics.csv column with dollar signs would otherwise be parsed
    as a formula, and a malformed one would stop the run."""
    family = [name for name in (hangul_font(), "DejaVu Sans") if name]
    settings = {"font.family": "sans-serif", "font.sans-serif": family, "axes.unicode_minus": False,
                "text.parse_math": False}
    with plt.rc_context(settings), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="Glyph .* missing from", category=UserWarning)
        yield


def _save(fig, out_dir: Path, name: str) -> Path:
    """Write `fig` to out_dir/name.png whole or not at all (a reader never sees half a PNG); close it."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / f"{name}.png"
    image = io.BytesIO()
    try:
        fig.savefig(image, dpi=DPI, format="png")
    finally:
        plt.close(fig)
    atomic_write(target, image.getvalue())
    return target


def _read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def _number(text: str | None) -> float | None:
    """A float from a CSV cell; None for empty or unparsable cells (those points are skipped)."""
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if np.isfinite(value) else None


def _plot_series(ax, rows: list[dict[str, str]], column: str, label: str) -> bool:
    """Draw `column` against step on `ax`; False if the column has no usable value."""
    points = [(_number(row.get("step")), _number(row.get(column))) for row in rows]
    points = [(x, y) for x, y in points if x is not None and y is not None]
    if not points:
        return False
    xs, ys = zip(*points)
    ax.plot(xs, ys, label=label, marker="o" if len(points) <= _FEW_POINTS else None, markersize=4)
    return True


def plot_learning_curves(metrics_csv: Path, out_dir: Path, train_log_csv: Path | None = None) -> list[Path]:
    """Called after every dev evaluation and at the end of a run: learning_curves.png from metrics.csv (a row per
    evaluation) and train_log.csv (a row every train.log_every steps), when there is one.

    Three panels against the optimizer step: train and dev loss, every other dev metric, learning rate. The train
    loss and the learning rate come from train_log.csv, point by point, where it has rows. Returns the written
    files: [] when neither file has a row.
    """
    metrics_csv, out_dir = Path(metrics_csv), Path(out_dir)
    rows = _read_csv(metrics_csv) if metrics_csv.is_file() else []
    log_rows = _read_csv(Path(train_log_csv)) if train_log_csv is not None and Path(train_log_csv).is_file() else []
    if not rows and not log_rows:
        return []
    fixed = {"epoch", "step", "train_loss", "learning_rate", "loss"}
    metric_columns = [column for column in (rows[0] if rows else {}) if column and column not in fixed]
    train = (log_rows, "loss") if log_rows else (rows, "train_loss")
    with korean_text():
        fig, (loss_ax, metric_ax, lr_ax) = plt.subplots(3, 1, figsize=(8, 9), sharex=True)
        panels = [
            (loss_ax, "loss", [(*train, "train loss"), (rows, "loss", "dev loss")]),
            (metric_ax, "dev metrics", [(rows, column, column) for column in metric_columns]),
            (lr_ax, "learning rate", [(log_rows or rows, "learning_rate", "learning rate")]),
        ]
        for ax, title, series in panels:
            drawn = [_plot_series(ax, source, column, label) for source, column, label in series]
            ax.set_title(title)
            ax.grid(alpha=0.3)
            if any(drawn):
                ax.legend(loc="best", fontsize="small")
            else:
                ax.text(0.5, 0.5, "no data", transform=ax.transAxes, ha="center", va="center", color="grey")
        lr_ax.ticklabel_format(axis="y", style="sci", scilimits=(-3, 3))
        lr_ax.set_xlabel("step")
        fig.suptitle(f"learning curves: {out_dir.parent.name}")
        fig.tight_layout()
        return [_save(fig, out_dir, "learning_curves")]


def plot_confusion_matrix(matrix: np.ndarray, label_names: list[str], out_dir: Path, title: str) -> Path:
    """Called after evaluating a single-label run: confusion_matrix.png of gold (rows) against
    predicted (columns) labels. Cells show counts; colour is the share of the gold row."""
    matrix = np.asarray(matrix)
    size = len(label_names)
    if matrix.shape != (size, size):
        raise ValueError(f"confusion matrix of shape {matrix.shape} does not match {size} label names")
    row_totals = matrix.sum(axis=1, keepdims=True)
    shares = np.divide(matrix, row_totals, out=np.zeros(matrix.shape, dtype=float), where=row_totals > 0)
    side = max(4.5, 0.7 * size + 2.5)
    with korean_text():
        fig, ax = plt.subplots(figsize=(side + 1, side))
        image = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of gold row")
        font_size = 10 if size <= 10 else max(5, 10 - (size - 10) // 3)
        for gold in range(size):
            for predicted in range(size):
                colour = "white" if shares[gold, predicted] > 0.5 else "black"
                ax.text(predicted, gold, f"{int(matrix[gold, predicted])}", ha="center", va="center",
                        color=colour, fontsize=font_size)
        ax.set_xticks(range(size), labels=label_names, rotation=45, ha="right", rotation_mode="anchor")
        ax.set_yticks(range(size), labels=label_names)
        ax.set_xlabel("predicted")
        ax.set_ylabel("gold")
        ax.set_title(title)
        fig.tight_layout()
        return _save(fig, Path(out_dir), "confusion_matrix")


def plot_predicted_scores(gold: np.ndarray, predicted: np.ndarray, out_dir: Path, title: str) -> Path:
    """Called after evaluating a regression run: predicted_scores.png, each row's predicted score against its
    gold score, with the line where they would be equal."""
    gold, predicted = np.asarray(gold, dtype=float), np.asarray(predicted, dtype=float)
    low, high = float(min(gold.min(), predicted.min())), float(max(gold.max(), predicted.max()))
    with korean_text():
        fig, ax = plt.subplots(figsize=(5.5, 5))
        ax.scatter(gold, predicted, s=8, alpha=0.4 if len(gold) > 500 else 0.7)
        ax.plot([low, high], [low, high], color="grey", linewidth=1, linestyle="--", label="predicted = gold")
        ax.set_xlabel("gold score")
        ax.set_ylabel("predicted score")
        ax.set_title(title)
        ax.legend(loc="upper left")
        ax.grid(alpha=0.3)
        fig.tight_layout()
        return _save(fig, Path(out_dir), "predicted_scores")


def plot_per_label_f1(per_label_csv: Path, out_dir: Path) -> Path | None:
    """Called after evaluating a multi-label run: per_label_f1.png, one bar per label from
    per_label.csv (support in the label text). None when the file is missing or empty."""
    per_label_csv = Path(per_label_csv)
    if not per_label_csv.is_file():
        return None
    rows = [row for row in _read_csv(per_label_csv) if row.get("label")]
    if not rows:
        return None
    f1 = [_number(row.get("f1")) or 0.0 for row in rows]
    names = []
    for row in rows:
        support = _number(row.get("support"))
        names.append(row["label"] if support is None else f"{row['label']} (n={int(support)})")
    with korean_text():
        fig, ax = plt.subplots(figsize=(7, max(2.5, 0.4 * len(rows) + 1.2)))
        positions = np.arange(len(rows))
        ax.barh(positions, f1, color="tab:blue")
        for y, value in zip(positions, f1):
            ax.text(value + 0.01, y, f"{value:.3f}", va="center", fontsize="small")
        ax.set_yticks(positions, labels=names)
        ax.invert_yaxis()  # first label at the top, as in the file
        ax.set_xlim(0, 1.1)
        ax.set_xlabel("F1")
        ax.set_title(f"per-label F1: {Path(out_dir).parent.name}")
        ax.grid(axis="x", alpha=0.3)
        fig.tight_layout()
        return _save(fig, Path(out_dir), "per_label_f1")
