"""compare.py: one row per run (seeds grouped as mean +- std), sorted by the dev metric; damaged or unfinished
runs are reported, never a traceback; --csv and --plot write files, never inside a run."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from koelectra_cookbook.commands.compare import main


def make_run(parent: Path, name: str, lr: float, seed: int, dev: float | None, eval_: float | None,
             pruned: bool = False, task: str = "nsmc", metric: str = "accuracy", **settings) -> Path:
    """A run directory as the trainers leave it (run.json, results.json, metrics.csv), written by hand;
    `settings` are more config keys, `section__key=value`."""
    run = parent / name
    run.mkdir(parents=True)
    config = {"task": task, "model": {"name_or_path": "tiny"}, "data": {},
              "train": {"learning_rate": lr, "seed": seed, "metrics": [metric, "accuracy"]}}
    for dotted, value in settings.items():
        section, key = dotted.split("__")
        config[section][key] = value
    (run / "run.json").write_text(json.dumps({"level": "expert", "task": task, "config": config}))
    results = {"dev": {"loss": 0.5, metric: dev}, "train_runtime_s": 10.0, "train_samples_per_s": 100.0,
               "best_step": 20}
    if pruned:
        results["pruned"] = True
    else:
        results["eval"] = {"loss": 0.6, metric: eval_}
    (run / "results.json").write_text(json.dumps(results))
    (run / "metrics.csv").write_text(f"epoch,step,train_loss,learning_rate,loss,{metric}\n"
                                     f"0.5,10,0.7,{lr},0.6,{dev - 0.1}\n1.0,20,0.6,0,0.5,{dev}\n")
    return run


def table_rows(text: str) -> list[list[str]]:
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    return [[cell.strip() for cell in line.strip("|").split("|")] for line in lines]


def test_one_row_per_run_sorted_by_dev_and_seeds_grouped(tmp_path, capsys):
    folder = tmp_path / "runs" / "nsmc"
    make_run(folder, "expert-1", lr=1e-4, seed=1, dev=0.70, eval_=0.69)
    make_run(folder, "expert-2", lr=1e-3, seed=1, dev=0.80, eval_=0.78)
    make_run(folder, "expert-3", lr=1e-3, seed=2, dev=0.82, eval_=0.80)
    make_run(folder / "sweep-default", "expert-4", lr=3e-5, seed=1, dev=0.60, eval_=None, pruned=True)
    assert main([str(folder), "--wide"]) == 0
    out = capsys.readouterr()
    header, *rows = table_rows(out.out)
    assert header == ["level", "train.learning_rate", "seeds", "dev accuracy", "eval accuracy", "best step",
                      "train s", "samples/s", "run"]
    assert [row[1] for row in rows] == ["0.001", "0.0001", "3e-05"]  # best dev first
    assert rows[0][2:5] == ["2", "0.8100 ± 0.0141", "0.7900 ± 0.0141"]
    assert rows[0][8] == "expert-2 (+1)" and rows[1][3:5] == ["0.7000", "0.6900"]
    assert rows[2][3:5] == ["0.6000 (pruned)", "pruned"] and rows[2][8] == "sweep-default/expert-4"
    assert out.err == ""


def test_damaged_and_unfinished_runs_are_reported_not_a_traceback(tmp_path, capsys):
    folder = tmp_path / "nsmc"
    make_run(folder, "expert-good", lr=1e-3, seed=1, dev=0.8, eval_=0.7)
    (make_run(folder, "expert-no-results", 1e-3, 2, 0.8, 0.7) / "results.json").unlink()
    (make_run(folder, "expert-bad-json", 1e-3, 3, 0.8, 0.7) / "results.json").write_text("{not json")
    (make_run(folder, "expert-bad-identity", 1e-3, 4, 0.8, 0.7) / "run.json").write_text('{"level": 3}')
    (make_run(folder, "expert-list", 1e-3, 5, 0.8, 0.7) / "results.json").write_text("[1, 2]")
    weird = make_run(folder, "expert-weird-values", 1e-3, 6, 0.8, 0.7)
    (weird / "results.json").write_text('{"dev": {"accuracy": "high"}, "eval": 5, "best_step": [1]}')
    (weird / "metrics.csv").write_bytes(b"\xff\xfe garbage")
    assert main([str(folder), "--plot", str(tmp_path / "curves.png")]) == 0
    out = capsys.readouterr()
    skipped = sorted(out.err.strip().splitlines())
    assert len(skipped) == 4 and all(line.startswith("skipped: ") for line in skipped)
    assert "expert-bad-identity: run.json is damaged" in skipped[0]
    assert "expert-bad-json: results.json is not valid JSON" in skipped[1]
    assert "expert-list: results.json is not a JSON object" in skipped[2]
    assert "expert-no-results: no results.json" in skipped[3]
    rows = table_rows(out.out)[1:]
    assert len(rows) == 1 and rows[0][1] == "2"  # the good run and the one with unusable values share a row
    assert (tmp_path / "curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_folder_without_runs_is_one_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main([str(tmp_path / "empty"), str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err[0].endswith("empty: no run directories in it") and err[1].endswith("missing: not a folder")
    assert err[2].startswith("error: no run with results to compare in ") and len(err) == 3


def test_csv_and_plot_are_written_but_never_inside_a_run(tmp_path, capsys):
    folder = tmp_path / "nsmc"
    run = make_run(folder, "expert-1", lr=1e-4, seed=1, dev=0.7, eval_=0.69)
    make_run(folder, "expert-2", lr=1e-3, seed=1, dev=0.8, eval_=0.78)
    assert main([str(folder), "--csv", str(tmp_path / "table.csv"), "--plot", str(tmp_path / "curves.png")]) == 0
    with open(tmp_path / "table.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.reader(handle))
    assert rows[0][:2] == ["level", "train.learning_rate"] and [r[1] for r in rows[1:]] == ["0.001", "0.0001"]
    assert (tmp_path / "curves.png").stat().st_size > 1000
    capsys.readouterr()
    before = (run / "results.json").read_text()
    assert main([str(folder), "--csv", str(run / "results.json")]) == 2
    assert capsys.readouterr().err.strip().endswith("write it outside the run directories")
    assert (run / "results.json").read_text() == before


def test_runs_of_each_task_get_their_own_table_ranked_by_their_own_metric(tmp_path, capsys):
    """Accuracy and macro-F1 are never ranked in one column: a table per task, headed by its metric."""
    runs = tmp_path / "runs"
    make_run(runs / "nsmc", "expert-1", lr=1e-4, seed=1, dev=0.70, eval_=0.69)
    make_run(runs / "ynat", "expert-1", lr=1e-4, seed=1, dev=0.90, eval_=0.80, task="ynat", metric="macro_f1")
    make_run(runs / "ynat", "expert-2", lr=1e-3, seed=1, dev=0.50, eval_=0.40, task="ynat", metric="macro_f1")
    assert main([str(runs), "--csv", str(tmp_path / "all.csv")]) == 0
    out = capsys.readouterr().out
    titles = [line for line in out.splitlines() if line.startswith("## ")]
    assert titles == ["## nsmc (dev accuracy)", "## ynat (dev macro_f1)"]
    ynat = out.split("## ynat")[1]
    header, *rows = table_rows(ynat)
    assert "dev macro_f1" in header and [row[header.index("dev macro_f1")] for row in rows] == ["0.9000", "0.5000"]
    with open(tmp_path / "all.csv", newline="", encoding="utf-8") as handle:
        table = list(csv.DictReader(handle))
    assert [(row["task"], row["metric"], row["dev"]) for row in table] == \
        [("nsmc", "accuracy", "0.7000"), ("ynat", "macro_f1", "0.9000"), ("ynat", "macro_f1", "0.5000")]


def test_sentence_pair_tasks_get_their_own_tables_and_an_mse_section_ranks_lowest_first(tmp_path, capsys):
    """KorSTS (spearman) and KorNLI (accuracy) are never ranked together; KorSTS runs headlined and chosen by mse
    (smaller is better) rank lowest first, in the table and in --csv."""
    runs = tmp_path / "runs"
    make_run(runs / "korsts", "expert-1", lr=1e-4, seed=1, dev=0.60, eval_=0.55, task="korsts", metric="spearman")
    make_run(runs / "korsts", "expert-2", lr=1e-3, seed=1, dev=0.80, eval_=0.75, task="korsts", metric="spearman")
    make_run(runs / "kornli", "expert-1", lr=1e-4, seed=1, dev=0.70, eval_=0.69, task="kornli")
    make_run(runs / "kornli", "expert-2", lr=1e-3, seed=1, dev=0.75, eval_=0.72, task="kornli")
    assert main([str(runs), "--wide"]) == 0
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("## ")] == \
        ["## kornli (dev accuracy)", "## korsts (dev spearman)"]
    kornli, korsts = out.split("## kornli")[1].split("## korsts")
    header, *rows = table_rows(korsts)
    assert "dev accuracy" not in header and [row[header.index("dev spearman")] for row in rows] == ["0.8000", "0.6000"]
    header, *rows = table_rows(kornli)
    assert "dev spearman" not in header and [row[header.index("dev accuracy")] for row in rows] == ["0.7500", "0.7000"]

    mse = tmp_path / "mse" / "korsts"
    for i, (lr, dev) in enumerate([(1e-4, 1.20), (3e-4, 0.45), (1e-3, 2.10)]):
        make_run(mse, f"expert-{i}", lr=lr, seed=1, dev=dev, eval_=dev + 0.1, task="korsts", metric="mse",
                 train__es_metric="mse")
    assert main([str(mse), "--wide", "--csv", str(tmp_path / "mse.csv")]) == 0
    out = capsys.readouterr().out
    assert [line for line in out.splitlines() if line.startswith("## ")] == ["## korsts (dev mse)"]
    header, *rows = table_rows(out)
    assert [(row[header.index("train.learning_rate")], row[header.index("dev mse")]) for row in rows] == \
        [("0.0003", "0.4500"), ("0.0001", "1.2000"), ("0.001", "2.1000")]
    with open(tmp_path / "mse.csv", newline="", encoding="utf-8") as handle:
        assert [row["dev"] for row in csv.DictReader(handle)] == ["0.4500", "1.2000", "2.1000"]


def test_keys_that_do_not_change_results_neither_split_rows_nor_become_columns(tmp_path, capsys):
    folder = tmp_path / "nsmc"
    make_run(folder, "expert-1", lr=1e-4, seed=1, dev=0.70, eval_=0.69, data__download=True, train__log_every=10)
    make_run(folder, "expert-2", lr=1e-4, seed=2, dev=0.72, eval_=0.70, data__download=False, train__log_every=50)
    make_run(folder, "expert-3", lr=1e-3, seed=1, dev=0.80, eval_=0.78, data__download=True, train__log_every=10)
    assert main([str(folder)]) == 0
    out = capsys.readouterr().out
    header, *rows = table_rows(out)
    assert header[0] == "train.learning_rate" and "data.download" not in header
    assert "level: expert (every row)" in out  # one level in every row: said under the table, not a column
    assert [row[header.index("seeds")] for row in rows] == ["1", "2"]  # expert-1 and expert-2 share a row: mean over seeds
    assert "differ, but do not change results (not columns): data.download, train.log_every" in out


def test_a_wide_table_fits_120_columns_and_hangul_lines_up(tmp_path, capsys):
    """Many differing keys, long values and Hangul: every line of the table is at most 120 terminal columns
    (Hangul counts two), every line of a table is as wide as its header, the metric cells are whole, and the
    keys moved out are named under the table; --wide shows them all."""
    from koelectra_cookbook.experiments.compare_table import display_width

    folder = tmp_path / "nsmc"
    for i in range(3):
        make_run(folder / ("아주-긴-폴더-이름-" * 3), f"expert-{i}", lr=10.0 ** -(i + 3), seed=1, dev=0.7 + i / 100,
                 eval_=0.6, model__name_or_path=f"/home/someone/models/한국어-모델-{i}" * 2,
                 train__warmup_ratio=i / 10, train__weight_decay=i / 100, train__label_smoothing=i / 10,
                 model__max_seq_len=128 * (i + 1), train__batch_size=16 * (i + 1), train__epochs=i + 1,
                 train__loss=["ce", "focal", "dice"][i], train__gradient_accumulation_steps=i + 1)
    assert main([str(folder)]) == 0
    out = capsys.readouterr().out
    lines = [line for line in out.splitlines() if line.startswith("|")]
    assert max(display_width(line) for line in lines) <= 120, out
    assert len({display_width(line) for line in lines}) == 1, out
    header, *rows = table_rows(out)
    assert [row[header.index("dev accuracy")] for row in rows] == ["0.7200", "0.7100", "0.7000"]
    moved = next(line for line in out.splitlines() if line.startswith("not shown (--wide shows them): "))
    assert moved and all(key not in header for key in moved.split(": ")[1].split(", "))
    assert main([str(folder), "--wide"]) == 0
    wide_header = table_rows(capsys.readouterr().out)[0]
    assert {"model.name_or_path", "train.loss", "train.warmup_ratio"} <= set(wide_header)
    assert len(wide_header) > len(header)


def test_a_short_setting_that_tells_runs_apart_stays_and_a_cut_path_goes_first():
    """At the default width, a long model path (cut, so shown only in part) is moved out before a short setting
    such as data.long_text that is what the runs differ in."""
    from koelectra_cookbook.experiments.compare_table import fit

    keys = ["model.name_or_path", "data.long_text", "train.learning_rate"]
    header = ["level", *keys, "dev accuracy", "run"]
    cells = [["expert", f"/home/someone/models/a-very-long-model-folder-name-{i}" * 2, mode, "5e-05", f"0.7{i}",
              f"runs/petitions/expert-20261206-1200{i}"] for i, mode in enumerate(["truncate", "head_tail", "windows"])]
    fitted, rows, notes = fit(header, cells, keys, 64)
    assert "long_text" in fitted and "name_or_path" not in fitted, fitted
    assert [row[fitted.index("long_text")] for row in rows] == ["truncate", "head_tail", "windows"]
    assert notes[-1] == "not shown (--wide shows them): model.name_or_path"


def test_the_csv_of_several_tasks_has_one_task_column(tmp_path, capsys):
    runs = tmp_path / "runs"
    make_run(runs / "nsmc", "expert-1", lr=1e-4, seed=1, dev=0.70, eval_=0.69)
    make_run(runs / "ynat", "expert-1", lr=1e-4, seed=1, dev=0.90, eval_=0.80, task="ynat", metric="macro_f1")
    assert main([str(runs), "--csv", str(tmp_path / "all.csv")]) == 0
    with open(tmp_path / "all.csv", newline="", encoding="utf-8") as handle:
        header = next(csv.reader(handle))
    assert header.count("task") == 1


def test_display_width_counts_hangul_as_two_columns():
    from koelectra_cookbook.experiments.compare_table import cut, display_width

    assert display_width("한국어 abc") == 10 and display_width("e\u0301") == 1
    assert cut("한국어모델", 7) == "한국어…" and display_width(cut("한국어모델", 7)) == 7
    assert cut("short", 10) == "short"
    assert cut("runs/nsmc/expert-1", 9, keep_end=True) == "…expert-1"  # a path keeps its end
