"""Classify texts with a saved model: `python predict.py --model RUN_DIR/model --input FILE [--output OUT.csv]`.

Input: a .txt file (one text a line; one output row per line, blank lines included), or a CSV/TSV/JSON(L)
file with --text-column; standard input when --input is left out. A sentence-pair model (KorNLI, KorSTS) takes
two texts a row: --text-column and --pair-column, or a tab between the two texts of each line. Output: CSV in input order, to standard
output when --output is left out. Rows are batched by length and put back in order.
"""

from __future__ import annotations

import argparse
import codecs
import sys
from pathlib import Path

from koelectra_cookbook.classifier.model_folder import read_model_folder
from koelectra_cookbook.commands.shell import ArgumentParser, exit_status, path_argument, quiet_libraries
from koelectra_cookbook.data.long_text import describe_cut
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.files.tables import write_table
from koelectra_cookbook.inference.inputs import read_pairs, read_texts
from koelectra_cookbook.inference.predictor import Predictor
from koelectra_cookbook.inference.processes import Processes
from koelectra_cookbook.runs.reader import enclosing_model_or_run


def check_output(output: Path | None, input_path: Path | None, model_dir: Path) -> None:
    """Refuse an --output that would overwrite the input, land in a model folder, or replace a file of a run."""
    if output is None:
        return
    target = output.resolve()
    if input_path is not None and target == input_path.resolve():
        raise UserError(f"--output {output} is the --input file; write the predictions to another file")
    if target.is_dir():
        raise UserError(f"--output {output} is a folder; give a file name")
    model_folder = model_dir.resolve()
    if model_folder in [target.parent, *target.parent.parents]:
        raise UserError(f"--output {output} is inside the model folder {model_folder}; write the predictions "
                        f"elsewhere")
    owner = enclosing_model_or_run(target.parent)
    if owner is not None and owner[0] == "model":
        raise UserError(f"--output {output} is inside the model folder {owner[1]}; write the predictions elsewhere")
    if owner is not None and target.exists():
        raise UserError(f"--output {output} would replace a file of the run {owner[1]}; write the predictions "
                        f"elsewhere")


def is_table(input_path: Path | None, fmt: str | None) -> bool:
    """Whether the input is a CSV/TSV/JSON(L) file, whose text is a named column (not a .txt file or stdin)."""
    if fmt is not None:
        return fmt != "txt"
    return input_path is not None and input_path.suffix.lower() in (".csv", ".tsv", ".json", ".jsonl")


def file_texts(args, pair_model: bool, defaulted: bool) -> tuple[list[str], list[str] | None]:
    """The texts (and second texts) of --input or standard input."""
    try:
        if pair_model:
            return read_pairs(args.input, args.text_column, args.pair_column, args.encoding, not args.no_quoting,
                              args.format)
        return read_texts(args.input, args.text_column, args.encoding, not args.no_quoting, args.format), None
    except UserError as problem:
        if defaulted and "no column" in str(problem):
            raise UserError(f"{problem} [the column the model was trained on]; give --text-column"
                            f"{' and --pair-column' if pair_model else ''}") from None
        raise


def dataset_texts(args, saved, pair_model: bool) -> tuple[list[str], list[str] | None]:
    """The texts (and second texts) of a dataset's split, its columns the model's training columns unless named.
    Blank texts keep their rows, as a file's do."""
    from koelectra_cookbook.config.schema import DataConfig
    from koelectra_cookbook.data.hub import read_texts as read_split_texts

    if args.input is not None:
        raise UserError("give --input or --dataset, not both")
    columns = [args.text_column or saved.column("text") or "text"]
    if pair_model:
        columns.append(args.pair_column or saved.column("text_pair") or "text_pair")
    data = DataConfig(dataset=args.dataset, dataset_config=args.dataset_config,
                      dataset_revision=args.dataset_revision)
    found = read_split_texts(data, args.split, columns)
    return found[0], (found[1] if pair_model else None)


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)

    def path(text: str) -> Path:
        return Path(path_argument(text))

    parser.add_argument("--model", type=path, required=True, help="a saved model directory (RUN_DIR/model)")
    parser.add_argument("--input", type=path, help="a .txt, .csv, .tsv, .json or .jsonl file (default: stdin)")
    parser.add_argument("--dataset", help="instead of --input: a Hugging Face dataset id (or a local folder laid "
                                          "out as one), read through `datasets` (the hub extra)")
    parser.add_argument("--dataset-config", help="--dataset's configuration (ynat)")
    parser.add_argument("--dataset-revision", help="--dataset's branch, tag or commit")
    parser.add_argument("--split", default="test", help="--dataset's split to classify (default test)")
    parser.add_argument("--output", type=path, help="where to write the CSV (default: stdout)")
    parser.add_argument("--text-column", help="the text column of a CSV/TSV/JSON(L) input")
    parser.add_argument("--format", choices=["txt", "csv", "tsv", "json", "jsonl"],
                        help="the input's format where its extension does not say it")
    parser.add_argument("--pair-column", help="sentence-pair models: the column of the second text")
    parser.add_argument("--no-quoting", action="store_true",
                        help="a CSV/TSV input written without quoting: a quote is a plain character (KorNLI, KorSTS)")
    parser.add_argument("--top-k", type=int, default=1, help="single-label: the k most likely labels per text")
    parser.add_argument("--batch-size", type=int, help="rows per batch (default 64; 16 with --quantize int8)")
    parser.add_argument("--encoding", default="utf-8")
    parser.add_argument("--long-text", choices=["truncate", "head_tail", "windows"],
                        help="how a text longer than the model's window is read (default: as the model was trained)")
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
        # config.json read as the Predictor reads it (through the links of the Hub cache's layout too)
        saved = read_model_folder(args.model)
        pair_model = saved.sentence_pair
        defaulted = args.text_column is None and is_table(args.input, args.format) and saved.column("text")
        if defaulted:  # the model says which columns it was trained on
            args.text_column = saved.column("text")
            if pair_model and args.pair_column is None:
                args.pair_column = saved.column("text_pair")
        if args.top_k != 1 and (saved.regression or saved.multi_label):
            raise UserError(f"--top-k ranks the classes of a single-label model; {args.model} gives "
                            f"{'a score' if saved.regression else 'every label its own probability'}: leave it out")
        if args.pair_column is not None and not pair_model:
            raise UserError(f"--pair-column: {args.model} classifies one text; leave --pair-column out")
        if args.dataset is not None:
            texts, pairs = dataset_texts(args, saved, pair_model)
            defaulted = False
        else:
            texts, pairs = file_texts(args, pair_model, defaulted)
        if defaulted:
            read = [args.text_column, *([args.pair_column] if pairs is not None else [])]
            print(f"note: read column {' and '.join(map(repr, read))}, the model's training column"
                  f"{'s' if len(read) > 1 else ''} (--text-column names another)", file=sys.stderr)
        # Under torchrun or accelerate launch, every process predicts its share; the main one writes.
        processes = Processes.from_environment()
        predictor = Predictor(args.model, batch_size=args.batch_size, quantize=args.quantize, processes=processes,
                              long_text=args.long_text)
        columns = predictor.table(texts, top_k=args.top_k, pairs=pairs)
        if processes.is_main:
            write_table(columns, args.output)
        processes.finish()
        if not processes.is_main:
            return
        if predictor.last_cut and predictor.last_cut["longer_than_max_seq_len"]:  # one line, on stderr
            print(describe_cut("input", predictor.last_cut, predictor.long_text, "--long-text"), file=sys.stderr)
        if args.output is not None:
            print(f"wrote {len(texts)} predictions to {args.output}", file=sys.stderr)

    return exit_status(classify, lambda: "interrupted; nothing was written")
