"""Classify texts with a saved model: `python predict.py --model RUN_DIR/model --input FILE [--output OUT.csv]`.

Input: a .txt file (one text a line; one output row per line, blank lines included), or a CSV/TSV/JSON(L)
file with --text-column; standard input when --input is left out. Output: CSV in input order, to standard
output when --output is left out. Rows are batched by length and put back in order.
"""

from __future__ import annotations

import argparse
import codecs
import csv
import io
import sys
from pathlib import Path

import numpy as np

from koelectra_cookbook.files.atomic import atomic_write
from koelectra_cookbook.data.lengths import cut_into_batches, length_sorted_order, pad_rows, restore_order
from koelectra_cookbook.data.readers import decode, detect_format, read_bytes, read_table
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.classifier.folder_checks import PICKLED_WEIGHTS, SAFE_WEIGHTS, check_safe_weights
from koelectra_cookbook.inference.processes import Processes
from koelectra_cookbook.inference.int8.cache import check_quantize_option, load_int8_classifier
from koelectra_cookbook.runs.directory import IDENTITY_FILE


class Predictor:
    """A saved model and its tokenizer, ready to turn texts into label probabilities.

    `quantize="int8"`: predict with an int8 copy of the model on the CPU (quantize.py); once it is cached, this
    path imports neither torch nor transformers. `processes`: several processes started by torchrun or
    `accelerate launch` share the work (processes.py); each ends with every row's probabilities."""

    def __init__(self, model_dir: Path, batch_size: int | None = None, *, quantize: str | None = None,
                 processes: Processes | None = None):
        model_dir = Path(model_dir)
        if not (model_dir / "config.json").is_file():
            raise UserError(f"--model {model_dir}: not a saved model (no config.json); give RUN_DIR/model")
        self.processes = processes or Processes()
        check_quantize_option(quantize, self.processes)
        check_safe_weights(model_dir)
        if quantize == "int8":
            self.model = load_int8_classifier(model_dir, self.processes)
        else:
            from koelectra_cookbook.inference.full_precision import FullPrecisionClassifier  # torch and transformers take seconds to import

            self.model = FullPrecisionClassifier(model_dir, self.processes.device())
        self.label_names, self.thresholds = self.model.label_names, self.model.thresholds
        self.multi_label = self.model.multi_label
        # Int8 batches run one per core (quantize.py), and shorter ones measured faster there (docs/benchmarks.md).
        self.batch_size = batch_size or (16 if quantize == "int8" else 64)

    def probabilities(self, texts: list[str]) -> np.ndarray:
        """Probabilities of shape (len(texts), labels): softmax, or one sigmoid per label (multi-label)."""
        token_ids = self.model.token_ids(texts)
        order = length_sorted_order([len(ids) for ids in token_ids])
        batches = self.processes.share(cut_into_batches(order, self.batch_size))
        padded = (pad_rows([token_ids[row] for row in batch], self.model.pad_token_id) for batch in batches)
        chunks = [np.zeros((0, len(self.label_names)), dtype=np.float32)]  # a process may get no batch at all
        for logits in self.model.logits_in_order(padded):
            chunks.append(sigmoid(logits) if self.multi_label else softmax(logits))
        visited = np.array([row for batch in batches for row in batch], dtype=np.int64)
        visited, probabilities = self.processes.gather(visited, np.concatenate(chunks))
        return restore_order(probabilities, visited)

    def table(self, texts: list[str], top_k: int = 1) -> dict[str, list]:
        """Output columns: text, prediction(s) and score(s); multi-label: predicted names and each probability.
        Blank texts keep their row, with empty predictions."""
        kept = [i for i, text in enumerate(texts) if text.strip()]
        probabilities = np.zeros((len(texts), len(self.label_names)))
        if kept:
            probabilities[kept] = self.probabilities([texts[i] for i in kept])
        blank = np.ones(len(texts), dtype=bool)
        blank[kept] = False
        columns: dict[str, list] = {"text": texts}
        if self.multi_label:
            chosen = probabilities >= self.thresholds
            columns["predicted"] = ["" if blank[i] else "|".join(np.array(self.label_names)[row])
                                    for i, row in enumerate(chosen)]
            for index, name in enumerate(self.label_names):
                columns[name] = ["" if blank[i] else f"{p:.6f}" for i, p in enumerate(probabilities[:, index])]
            return columns
        ranked = np.argsort(-probabilities, axis=1, kind="stable")[:, :top_k]
        for rank in range(min(top_k, len(self.label_names))):
            suffix = "" if top_k == 1 else f"_{rank + 1}"
            columns[f"prediction{suffix}"] = ["" if blank[i] else self.label_names[r[rank]]
                                              for i, r in enumerate(ranked)]
            columns[f"score{suffix}"] = ["" if blank[i] else f"{probabilities[i, r[rank]]:.6f}"
                                         for i, r in enumerate(ranked)]
        return columns


def softmax(logits: np.ndarray) -> np.ndarray:
    exponentials = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return exponentials / exponentials.sum(axis=-1, keepdims=True)


def sigmoid(logits: np.ndarray) -> np.ndarray:
    return 0.5 * (1 + np.tanh(0.5 * logits))  # 1 / (1 + e^-x), without overflow for very negative logits


def read_texts(input_path: Path | None, text_column: str | None, encoding: str) -> list[str]:
    """Texts from a file (or standard input), in order. Lines end at \n (or \r\n) only: a form feed or a
    U+2028 inside a line does not split it, so output rows match input lines."""
    if input_path is None:
        stdin = getattr(sys.stdin, "buffer", None)
        text = sys.stdin.read() if stdin is None else decode("<stdin>", stdin.read(), encoding, "--encoding")
        texts = text_lines(text)
    elif input_path.suffix.lower() in (".txt", "") and text_column is None:
        texts = text_lines(decode(input_path, read_bytes(input_path), encoding, "--encoding"))
    elif text_column is None:
        read_bytes(input_path)  # a missing file is said first
        raise UserError(f"--input {input_path}: give --text-column for a {input_path.suffix} file")
    else:
        fmt = detect_format(input_path, None, "name it .csv, .tsv, .json or .jsonl")
        table = read_table(input_path, fmt, [text_column], encoding, "--encoding", text_column=text_column)
        texts = table.rows[text_column].tolist()
        spanning = [i for i, text in enumerate(texts) if "\n" in text]
        if spanning:  # legal in CSV, but in a TSV usually a stray quote that swallowed the rows after it
            print(f"note: {len(spanning)} texts run over several lines, the first at {input_path}:"
                  f"{table.lines[spanning[0]]} (a quoted field; check for a stray quote)", file=sys.stderr)
    if not texts:
        raise UserError(f"{'--input ' + str(input_path) if input_path else 'standard input'}: no texts to classify")
    return texts


def text_lines(text: str) -> list[str]:
    """One text per line; a file of lone \r line ends (old Mac) is read by those."""
    newline = "\n" if "\n" in text or "\r" not in text else "\r"
    lines = text.split(newline)
    if lines and lines[-1] == "":
        lines.pop()
    return [line.removesuffix("\r") for line in lines]


def check_output(output: Path | None, input_path: Path | None, model_dir: Path) -> None:
    """Refuse an --output that would overwrite the input, land in a model folder, or replace a file of a run."""
    if output is None:
        return
    target = output.resolve()
    if input_path is not None and target == input_path.resolve():
        raise UserError(f"--output {output} is the --input file; write the predictions to another file")
    if target.is_dir():
        raise UserError(f"--output {output} is a folder; give a file name")
    for folder in [target.parent, *target.parent.parents]:
        if folder == model_dir.resolve() or ((folder / "config.json").is_file() and any(
                (folder / name).is_file() for name in SAFE_WEIGHTS + PICKLED_WEIGHTS)):
            raise UserError(f"--output {output} is inside the model folder {folder}; write the predictions elsewhere")
        if target.exists() and (folder / IDENTITY_FILE).is_file():
            raise UserError(f"--output {output} would replace a file of the run {folder}; write the predictions "
                            f"elsewhere")


def write_table(columns: dict[str, list], output: Path | None) -> None:
    handle = io.StringIO()
    writer = csv.writer(handle)
    writer.writerow(list(columns))
    writer.writerows(zip(*columns.values()))
    if output is None:
        sys.stdout.write(handle.getvalue())
        return
    try:
        output.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(output, handle.getvalue())
    except OSError as exc:
        raise UserError(f"--output {output}: cannot write ({exc.strerror or exc})") from None


def main(argv: list[str] | None = None) -> int:
    from koelectra_cookbook.commands.shell import ArgumentParser, exit_status, path_argument, quiet_libraries

    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)

    def path(text: str) -> Path:
        return Path(path_argument(text))

    parser.add_argument("--model", type=path, required=True, help="a saved model directory (RUN_DIR/model)")
    parser.add_argument("--input", type=path, help="a .txt, .csv, .tsv, .json or .jsonl file (default: stdin)")
    parser.add_argument("--output", type=path, help="where to write the CSV (default: stdout)")
    parser.add_argument("--text-column", help="the text column of a CSV/TSV/JSON(L) input")
    parser.add_argument("--top-k", type=int, default=1, help="single-label: the k most likely labels per text")
    parser.add_argument("--batch-size", type=int, help="rows per batch (default 64; 16 with --quantize int8)")
    parser.add_argument("--encoding", default="utf-8")
    parser.add_argument("--quantize", choices=["int8"], help="CPU only: predict with an int8 copy of the model, "
                                                          "built once and cached (needs the int8 extra)")
    quiet_libraries()

    def classify() -> None:
        args = parser.parse_args(argv)
        if args.top_k < 1 or (args.batch_size is not None and args.batch_size < 1):
            raise UserError("--top-k and --batch-size must be at least 1")
        try:
            codecs.lookup(args.encoding)
        except LookupError:
            raise UserError(f"--encoding {args.encoding!r} is not an encoding Python knows") from None
        check_output(args.output, args.input, args.model)
        texts = read_texts(args.input, args.text_column, args.encoding)
        # Under torchrun or accelerate launch, every process predicts its share; the main one writes.
        processes = Processes.from_environment()
        predictor = Predictor(args.model, batch_size=args.batch_size, quantize=args.quantize, processes=processes)
        columns = predictor.table(texts, top_k=args.top_k)
        if not processes.is_main:
            return
        write_table(columns, args.output)
        if args.output is not None:
            print(f"wrote {len(texts)} predictions to {args.output}", file=sys.stderr)

    return exit_status(classify, lambda: "interrupted; nothing was written")
