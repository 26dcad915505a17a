"""Score a saved model on a labelled file: what the Trainer's `--do_eval` gives, for any model folder and any file.

    python evaluate.py --model runs/nsmc/expert-20261126-120000/model --input data/nsmc/ratings_test.txt
    python evaluate.py --model RUN_DIR/model --input my_test.csv --label-column sentiment --output-dir evaluations

The texts are read and predicted exactly as predict.py reads and predicts them (the same Predictor: the model's own
long-text reading, --quantize int8 too), the gold labels as training reads them (data/labels.py), and the metrics
are the trainers' (classifier/metrics.py). A new folder under --output-dir (default `evaluations/`) gets
results.json (every metric of the model's kind), predictions.csv (every column of the input, then the model's),
per_label.csv (classes) and a plot: the confusion matrix, each label's F1, or predicted against gold scores. The
columns default to those the model was trained on (config.json's `columns`).
"""

from __future__ import annotations

import argparse
import codecs
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from koelectra_cookbook.classifier.folder_checks import label_settings
from koelectra_cookbook.classifier.model_folder import ModelFolder, read_model_folder
from koelectra_cookbook.classifier.names import MULTI_LABEL_METRICS, SINGLE_LABEL_METRICS
from koelectra_cookbook.commands.shell import ArgumentParser, exit_status, path_argument, quiet_libraries
from koelectra_cookbook.data.labels import label_ids, labels_from_indicator_columns, parse_label_list, scores
from koelectra_cookbook.data.readers import detect_format, read_table
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.files.values import normalize_label
from koelectra_cookbook.inference.inputs import REMEDY
from koelectra_cookbook.inference.predictor import Predictor
from koelectra_cookbook.runs.directory import RunDirectory
from koelectra_cookbook.runs.reader import enclosing_model_or_run


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)

    def path(text: str) -> Path:
        return Path(path_argument(text))

    parser.add_argument("--model", type=path, required=True, help="a saved model directory (RUN_DIR/model)")
    parser.add_argument("--input", type=path, required=True, help="a labelled .csv, .tsv, .json or .jsonl file")
    parser.add_argument("--output-dir", type=path, default=Path("evaluations"),
                        help="where the evaluation's new folder goes (default: evaluations)")
    parser.add_argument("--text-column", help="default: the column the model was trained on")
    parser.add_argument("--pair-column", help="sentence-pair models; default: the model's second text column")
    parser.add_argument("--label-column", help="the gold labels (or scores); default: the model's label column")
    parser.add_argument("--format", choices=["csv", "tsv", "json", "jsonl"], help="where the extension does not say")
    parser.add_argument("--no-quoting", action="store_true", help="a CSV/TSV written without quoting (KorNLI)")
    parser.add_argument("--encoding", default="utf-8")
    parser.add_argument("--batch-size", type=int, help="rows per batch (default 64; 16 with --quantize int8)")
    parser.add_argument("--long-text", choices=["truncate", "head_tail", "windows"],
                        help="how a text longer than the model's window is read (default: as the model was trained)")
    parser.add_argument("--quantize", choices=["int8"], help="CPU only: score the int8 copy of the model")
    quiet_libraries()

    def evaluate() -> None:
        args = parser.parse_args(argv)
        if args.batch_size is not None and args.batch_size < 1:
            raise UserError("--batch-size must be at least 1")
        try:
            codecs.lookup(args.encoding)
        except LookupError:
            raise UserError(f"--encoding {args.encoding!r} is not an encoding Python knows") from None
        owner = enclosing_model_or_run(args.output_dir)
        if owner is not None:
            raise UserError(f"--output-dir {args.output_dir} is inside the {owner[0]} {owner[1]}; write the "
                            f"evaluation elsewhere")
        model = read_model_folder(args.model)
        gold = read_gold(args, model)
        predictor = Predictor(args.model, batch_size=args.batch_size, quantize=args.quantize,
                              long_text=args.long_text)
        scored = [i for i, text in enumerate(gold.texts) if text.strip() and (gold.pairs is None or
                                                                               gold.pairs[i].strip())]
        if not scored:
            raise UserError(f"{args.input}: every row has an empty text")
        probabilities = predictor.probabilities([gold.texts[i] for i in scored],
                                                None if gold.pairs is None else [gold.pairs[i] for i in scored])
        folder = RunDirectory.create_in(args.output_dir, "evaluate")
        try:
            results = write_evaluation(folder, predictor, gold, scored, probabilities, args)
        finally:
            folder.unlock()
        print("eval: " + "  ".join(f"{name} {value:.4f}" for name, value in results["eval"].items()))
        unscored = len(gold.texts) - len(scored)
        if unscored:
            print(f"note: {unscored} row{'s' if unscored > 1 else ''} with an empty text not scored (kept, with empty "
                  f"predictions, in predictions.csv)")
        print(f"run: {folder.path}")

    return exit_status(evaluate, lambda: "interrupted; the evaluation folder, if begun, is incomplete")


def read_gold(args, model: ModelFolder) -> SimpleNamespace:
    """The input's every column, its texts (and second texts) and gold labels as the model's ids (a multi-hot row
    per text for multi-label, a score for regression); an error naming the line of a label the model lacks."""
    text_column = args.text_column or model.column("text")
    pair_column = args.pair_column or (model.column("text_pair") if model.sentence_pair else None)
    label_columns = model.columns.get("label_columns") if isinstance(model.columns, dict) else None
    label_column = args.label_column or model.column("label")
    if args.label_column or not (isinstance(label_columns, list) and all(isinstance(c, str) for c in label_columns)):
        label_columns = None
    if text_column is None or (label_column is None and label_columns is None) or \
            (model.sentence_pair and pair_column is None):
        raise UserError(f"--model {args.model} does not say which columns it was trained on: give --text-column"
                        f"{', --pair-column' if model.sentence_pair else ''} and --label-column")
    if pair_column is not None and not model.sentence_pair:
        raise UserError(f"--pair-column: {args.model} classifies one text; leave --pair-column out")
    labels = label_columns or [label_column]
    columns = list(dict.fromkeys([text_column, *([pair_column] if pair_column else []), *labels]))
    fmt = detect_format(args.input, args.format, REMEDY)
    table, lines = read_table(args.input, fmt, columns, args.encoding, "--encoding", text_columns=(
        text_column, *([pair_column] if pair_column else [])), quoting=not args.no_quoting,
        no_quoting_option="pass --no-quoting", all_columns=True)
    raw = SimpleNamespace(path=args.input, line=lambda row: int(lines[row]), label_values=[])
    names = label_settings(model.path, model)[0]
    if model.regression:
        raw.label_values = table[label_column].tolist()
        gold = scores(raw)
    elif model.multi_label:
        if label_columns:
            raw.label_values = labels_from_indicator_columns(raw, table, label_columns)
            gold = label_ids(raw, label_columns, "the model's labels")  # one 0/1 column per label, in id order
        else:
            raw.label_values = [parse_label_list(raw, row, value) for row, value in enumerate(table[label_column])]
            gold = label_ids(raw, names, "the model's labels")
    else:
        raw.label_values = [normalize_label(value) for value in table[label_column]]
        gold = label_ids(raw, written_labels(model, names, raw.label_values), "the model's labels")
    return SimpleNamespace(table=table, texts=table[text_column].tolist(), gold=gold,
                           pairs=table[pair_column].tolist() if pair_column else None)


def written_labels(model: ModelFolder, names: list[str], found: list[str]) -> list[str]:
    """The labels in id order as the file writes them: the model's label names, or the values its training files
    wrote (config.json's `label_values`: nsmc's 0 and 1 for negative and positive), whichever the file uses."""
    values = model.label_values
    if isinstance(values, list) and len(values) == len(names) and all(isinstance(v, str) for v in values):
        values = [normalize_label(v) for v in values]
        if set(found) & set(values) and not set(found) & set(names):
            return values
    return [normalize_label(name) for name in names]


def write_evaluation(folder: RunDirectory, predictor: Predictor, gold, scored: list[int],
                     probabilities: np.ndarray, args) -> dict:
    """results.json, predictions.csv (the input's columns, then the model's), per_label.csv and the plot."""
    # scikit-learn and matplotlib load here, not before the arguments are parsed (--help answers at once)
    from koelectra_cookbook.classifier.metrics import (confusion_matrix, multi_label_metrics, regression_metrics,
                                                       single_label_metrics)
    from koelectra_cookbook.runs.plots import plot_confusion_matrix, plot_per_label_f1, plot_predicted_scores

    names, gold_rows = predictor.label_names, gold.gold[scored]
    title = f"{args.model.name} on {args.input.name} ({len(scored)} rows)"
    if predictor.regression:
        metrics = regression_metrics(gold_rows, probabilities[:, 0], ["pearson", "spearman", "mse"])
        plot_predicted_scores(gold_rows, probabilities[:, 0], folder.plots_dir, title)
    elif predictor.multi_label:
        chosen = probabilities >= predictor.thresholds
        metrics = multi_label_metrics(gold_rows, probabilities, predictor.thresholds, MULTI_LABEL_METRICS)
        write_per_label(folder, gold_rows, chosen, names)
        plot_per_label_f1(folder.path / "per_label.csv", folder.plots_dir)
    else:
        predicted = probabilities.argmax(-1)
        metrics = single_label_metrics(gold_rows, predicted, len(names), SINGLE_LABEL_METRICS)
        eye = np.eye(len(names))
        write_per_label(folder, eye[gold_rows], eye[predicted], names)
        plot_confusion_matrix(confusion_matrix(gold_rows, predicted, len(names)), names, folder.plots_dir, title)
    full = np.zeros((len(gold.texts), probabilities.shape[1]))
    full[scored] = probabilities
    blank = np.ones(len(gold.texts), dtype=bool)
    blank[scored] = False
    model_columns = predictor.prediction_columns(full, blank)  # as predict.py writes them
    output = {name: gold.table[name].tolist() for name in gold.table.columns}
    for name, values in model_columns.items():
        output[name if name not in output else f"model_{name}"] = values
    folder.write_csv("predictions.csv", output)
    results = {"eval": metrics, "model": str(args.model), "input": str(args.input), "rows": len(scored),
               "rows_not_scored": len(gold.texts) - len(scored)}
    folder.write_results(results)
    return results


def write_per_label(folder: RunDirectory, gold: np.ndarray, chosen: np.ndarray, names: list[str]) -> None:
    from koelectra_cookbook.classifier.metrics import per_label_report

    report = per_label_report(gold, chosen, names)
    folder.write_csv("per_label.csv", {
        "label": [r["label"] for r in report], "precision": [f"{r['precision']:.4f}" for r in report],
        "recall": [f"{r['recall']:.4f}" for r in report], "f1": [f"{r['f1']:.4f}" for r in report],
        "support": [r["support"] for r in report]})

