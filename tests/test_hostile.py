"""Hostile and careless inputs, one table row each. Every row ends as the contract says (README "Reliability"):
exit status 2 and one `error:` line saying what and where, no traceback, nothing outside --output-dir, nothing
of another run or model changed, and no code from a run folder executed. Adding a case is adding a row.

The tables are grouped by what goes wrong: the command line and the config, the data, the model folder, a
run folder given to --resume, and predict.py. Cases that must end well instead (a damaged checkpoint is
skipped, a stale lock is taken over) and the signal cases follow the tables.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
import yaml

from koelectra_cookbook.commands import audit, predict, serve
from koelectra_cookbook.commands.train import main
from koelectra_cookbook.paths import PROJECT_ROOT, SAMPLES_DIR
from koelectra_cookbook.trainers.beginner import BeginnerTrainer
from koelectra_cookbook.trainers.expert import ExpertTrainer
from koelectra_cookbook.trainers.intermediate import IntermediateTrainer
from koelectra_cookbook.trainers.multi_label import MultiLabelTrainer

SCRIPTS = {"beginner": BeginnerTrainer, "intermediate": IntermediateTrainer, "expert": ExpertTrainer,
           "multi-label": MultiLabelTrainer, "pretraining": "pretraining"}


# --- the world each case starts from ----------------------------------------------------------------------

def small_run_args(out: Path, cache: Path, model: Path, *extra: str) -> list[str]:
    return ["--task", "nsmc", "--output-dir", str(out), "--set", f"data.dir={SAMPLES_DIR / 'nsmc'}",
            "--set", f"data.cache_dir={cache}", "--set", f"model.name_or_path={model}",
            "--set", "train.batch_size=32", "--set", "train.max_steps=6", "--set", "train.eval_every=2",
            "--set", "train.learning_rate=1e-3", *extra]


@pytest.fixture(scope="module")
def finished_runs(tmp_path_factory, tiny_model_dir) -> dict[str, Path]:
    """A finished run of the beginner and of the intermediate level (3 evaluations, checkpoints at 2, 4, 6, all
    kept: train.keep_checkpoints)."""
    root = tmp_path_factory.mktemp("hostile-runs")
    runs = {}
    for level in ("beginner", "intermediate"):
        assert main(SCRIPTS[level], "test", small_run_args(root / level, root / "cache", tiny_model_dir,
                                                           "--set", "train.keep_checkpoints=true")) == 0
        runs[level] = next((root / level / "nsmc").iterdir())
    return runs


class Context:
    """What a case may use and change: its own temp folder, copies of the finished runs, a tiny model."""

    def __init__(self, tmp: Path, model: Path, runs: dict[str, Path]):
        self.tmp, self.model, self._runs = tmp, model, runs
        self.out, self.cache = tmp / "out", tmp / "cache"
        self.protected: dict[Path, str] = {}

    def args(self, *extra: str) -> list[str]:
        """A small nsmc run into this case's output folder, plus `extra`."""
        return small_run_args(self.out, self.cache, self.model, *extra)

    def unsmile(self, *overrides: str) -> list[str]:
        """The multi-label demo into this case's output folder, with `--set` for each override."""
        return ["--task", "unsmile", "--demo", "--output-dir", str(self.out),
                *[arg for override in overrides for arg in ("--set", override)]]

    def run(self, level: str = "intermediate") -> Path:
        """A copy of a finished run of `level`; it must come through the case unchanged."""
        copy = self.tmp / "runs" / "nsmc" / self._runs[level].name
        if not copy.exists():
            shutil.copytree(self._runs[level], copy)
            self.protect(copy)
        return copy

    def model_copy(self, without: tuple[str, ...] = (), files: dict[str, bytes] | None = None,
                   config: dict | None = None) -> Path:
        """A copy of the finished intermediate run's model folder, less the files named in `without`, plus
        `files`, with `config` merged into its config.json."""
        copy = self.tmp / "model"
        shutil.copytree(self._runs["intermediate"] / "model", copy, dirs_exist_ok=True)
        for name in without:
            (copy / name).unlink()
        for name, content in (files or {}).items():
            (copy / name).write_bytes(content)
        if config:
            edit_json(copy / "config.json", lambda stored: stored.update(config))
        return copy

    def predict(self, *extra: str, model: Path | None = None, text: str | bytes = "좋다\n") -> list[str]:
        """predict.py with the finished run's model (or `model`) on a one-line in.txt, plus `extra`."""
        return ["--model", str(model or self.run() / "model"), "--input", str(self.write("in.txt", text)), *extra]

    def write(self, name: str, content: str | bytes) -> Path:
        path = self.tmp / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
        return path

    def yaml(self, content: dict, name: str = "my.yaml") -> Path:
        return self.write(name, yaml.safe_dump(content, allow_unicode=True))

    def custom(self, train: str | bytes, evaluation: str | bytes = "text,label\n좋다,1\n싫다,0\n",
               suffix: str = "csv", **data) -> list[str]:
        """--config for a user dataset made of these two files."""
        self.write(f"data/train.{suffix}", train)
        self.write(f"data/eval.{suffix}", evaluation)
        config = {"task": "mine", "model": {"name_or_path": str(self.model)},
                  "data": {"dir": str(self.tmp / "data"), "train_file": f"train.{suffix}",
                           "eval_file": f"eval.{suffix}", "cache_dir": str(self.cache), "dev_split": 0, **data},
                  "train": {"epochs": 1, "batch_size": 4}}
        return ["--config", str(self.yaml(config)), "--output-dir", str(self.out)]

    def protect(self, folder: Path) -> None:
        self.protected[folder] = tree_digest(folder)

    def check_nothing_lost(self) -> None:
        for folder, digest in self.protected.items():
            assert tree_digest(folder) == digest, f"{folder} was changed"


def tree_digest(folder: Path) -> str:
    """A digest of every file under `folder` but the lock file (which a refused process may create)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.name != ".lock"):
        digest.update(str(path.relative_to(folder)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()


@pytest.fixture
def context(tmp_path, tiny_model_dir, finished_runs) -> Context:
    return Context(tmp_path, tiny_model_dir, finished_runs)


def run_script(script: str, argv: list[str], capsys) -> tuple[int, str, str]:
    capsys.readouterr()
    if script in ("serve", "audit"):
        status = (serve if script == "serve" else audit).main(argv)
    else:
        status = predict.main(argv) if script == "predict" else main(SCRIPTS[script], "test", argv)
    captured = capsys.readouterr()
    return status, captured.out, captured.err


def rewrite_manifest(checkpoint: Path) -> None:
    """What an attacker does after planting a file: make the manifest agree with the folder."""
    files = {p.name: {"bytes": p.stat().st_size, "sha256": hashlib.sha256(p.read_bytes()).hexdigest()}
             for p in sorted(checkpoint.iterdir()) if p.is_file() and p.name != "manifest.json"}
    (checkpoint / "manifest.json").write_text(json.dumps(files))


def edit_json(path: Path, change) -> None:
    content = json.loads(path.read_text(encoding="utf-8"))
    change(content)
    path.write_text(json.dumps(content, ensure_ascii=False), encoding="utf-8")


def newest_checkpoint(run: Path) -> Path:
    return sorted((run / "checkpoints").glob("step-*"))[-1]


# --- the tables ---------------------------------------------------------------------------------------------
# Each row: (name, script, argv built from a Context, a fragment the one error line must contain).

def edited_config(c: Context) -> list[str]:
    run = c.run()
    config = run / "config.yaml"
    config.write_text(config.read_text().replace("batch_size: 32", "batch_size: 16"))
    c.protect(run)
    return ["--resume", str(run)]


def with_task(c: Context, task: str, *extra: str) -> list[str]:
    return ["--config", str(c.yaml({"task": task, "data": {"dir": "x"}})), "--output-dir", str(c.out), *extra]


COMMAND_LINE_AND_CONFIG = [
    ("task is an absolute path", "beginner", lambda c: with_task(c, f"{c.tmp}/elsewhere"), "task must be a name"),
    ("task climbs out of --output-dir", "beginner", lambda c: with_task(c, "../../x"), "task must be a name"),
    ("task is '..'", "beginner", lambda c: with_task(c, ".."), "task must be a name"),
    ("task is '.'", "beginner", lambda c: with_task(c, "."), "task must be a name"),
    ("task set by --set to a path", "beginner", lambda c: with_task(c, "mine", "--set", f"task={c.tmp}/elsewhere"),
     "task must be a name"),
    ("task with a slash in a YAML file", "beginner",
     lambda c: ["--config", str(c.yaml({"task": "a/b", "data": {"dir": "x"}})), "--output-dir", str(c.out)],
     "task must be a name"),
    ("a section given a value, then a key of it", "beginner",
     lambda c: c.args("--set", "train=1", "--set", "train.epochs=1"), "train was given a value"),
    ("negative seed", "beginner", lambda c: c.args("--set", "train.seed=-1"), "train.seed"),
    ("seed beyond numpy's range", "beginner", lambda c: c.args("--set", f"train.seed={2**32}"), "train.seed"),
    ("max_seq_len beyond the position table", "beginner", lambda c: c.args("--set", "model.max_seq_len=4096"),
     "model.max_seq_len 4096 is more than"),
    ("negative pos_weight", "multi-label",
     lambda c: c.unsmile("train.pos_weight=[1,1,1,1,1,1,1,1,1,-1]"),
     "train.pos_weight must all be greater than 0"),
    ("pos_weight of the wrong length", "multi-label",
     lambda c: c.unsmile("train.pos_weight=[1,2]"),
     "pos_weight"),
    ("class_weights of the wrong length", "expert", lambda c: c.args("--set", "train.class_weights=[1,2,3]"),
     "class_weights"),
    ("a lone surrogate in a YAML value", "beginner",
     lambda c: ["--config", str(c.write("s.yaml", 'task: mine\ndata:\n  dir: "x\\ud800"\n')),
     "--output-dir", str(c.out)],
     "not valid Unicode text"),
    ("an unknown argument", "beginner", lambda c: c.args("--epochs", "3"), "unrecognized arguments: --epochs"),
    ("--task and --config together", "beginner", lambda c: ["--task", "nsmc", "--config", "x.yaml"],
     "not allowed with argument"),
    ("--set without its value", "beginner", lambda c: ["--task", "nsmc", "--set"], "expected one argument"),
    ("--resume with other arguments", "intermediate", lambda c: ["--resume", "x", "--demo"], "give it alone"),
    ("--output-dir is a file", "beginner", lambda c: small_run_args(c.write("f", "x"), c.cache, c.model),
     "cannot create a run directory"),
    ("data.cache_dir is a file", "beginner", lambda c: c.args("--set", f"data.cache_dir={c.write('f', 'x')}"),
     "data.cache_dir"),
    ("data.cache_dir is read-only", "beginner", lambda c: c.args("--set", "data.cache_dir=/sys"),
     "data.cache_dir '/sys'"),
    ("an integer of 5,000 digits", "beginner", lambda c: c.args("--set", "train.epochs=" + "9" * 5000),
     "unreadable value"),
    ("a value nested 1,000 deep", "beginner", lambda c: c.args("--set", "data.labels=" + "[" * 1000 + "]" * 1000),
     "unreadable value"),
    ("anchors that expand to a billion items", "beginner", lambda c: ["--config", str(c.write("laughs.yaml", LAUGHS)),
                                                                      "--output-dir", str(c.out)],
                                                                      "must be an integer"),
    ("--demo with a task name too long for a file name", "beginner",
     lambda c: ["--config", str(c.yaml({"task": "a" * 300})), "--demo", "--output-dir", str(c.out)],
     "task must be a name"),
    ("--demo with a data section that is not a section", "beginner",
     lambda c: ["--config", str(c.yaml({"task": "mine", "data": 5})), "--demo", "--output-dir", str(c.out)],
     "data must be a section of keys, got 5"),  # said before --demo looks for samples
    ("the task set to nothing", "beginner", lambda c: with_task(c, "mine", "--set", "task=''"), "task must be a name"),
    ("a folder name over 255 bytes", "beginner", lambda c: c.args("--set", f"data.dir={c.tmp / ('a' * 300)}"),
     "File name too long"),
    ("a NUL in a path", "beginner", lambda c: c.args("--set", 'data.cache_dir="c\\0x"'), "control character"),
    ("a NEL, which config.yaml would not keep", "beginner",
     lambda c: c.args("--set", 'data.label_names=["neg\\x85ative", positive]'), "control character"),
    ("an infinite learning rate", "beginner", lambda c: c.args("--set", "train.learning_rate=.inf"),
     "not a finite number"),
    ("an infinite learning rate as text", "beginner", lambda c: c.args("--set", "train.learning_rate=inf"),
     "not a finite number"),
    ("the text column as the label column", "beginner", lambda c: c.args("--set", "data.text_column=label"),
     "data.text_column must differ from the label column"),
    ("the text column among the label columns", "multi-label",
     lambda c: c.unsmile("data.label_columns=[문장, 남성]"),
     "data.text_column must differ"),
    ("two labels with one name", "beginner", lambda c: c.args("--set", "data.label_names=[a, a]"),
     "data.label_names must be distinct"),
    ("one label column twice", "multi-label",
     lambda c: c.unsmile("data.label_columns=[남성, 남성]"),
     "data.label_columns must be distinct"),
    ("a multi-label label called predicted", "multi-label",
     lambda c: c.custom("text,predicted,b\n좋다,1,0\n싫다,0,1\n", "text,predicted,b\n좋다,1,0\n",
                        label_columns=["predicted", "b"]), "may not be called 'predicted'"),
    ("an added token of a zero-width space", "expert", lambda c: c.args("--set", 'model.add_tokens=["\u200b"]'),
     "model.add_tokens must be visible text"),
    ("class weights for multi-label data", "multi-label",
     lambda c: c.unsmile("train.class_weights=[1, 2]"),
     "train.class_weights is for single-label data"),
    ("pos_weight for single-label data", "expert", lambda c: c.args("--set", "train.pos_weight=[1, 2, 3]"),
     "are for multi-label data"),
    ("--resume with --output-dir", "intermediate", lambda c: ["--resume", str(c.run()), "--output-dir", str(c.out)],
     "give it alone"),
    ("an empty --output-dir", "beginner", lambda c: ["--task", "nsmc", "--demo", "--output-dir", ""],
     "--output-dir must name a folder"),
    ("--config is a folder", "beginner", lambda c: ["--config", str(c.tmp)], "is not a regular file"),
    ("a YAML key given twice", "beginner",
     lambda c: ["--config", str(c.write("twice.yaml", "task: nsmc\ntrain: {seed: 7}\ntrain: {epochs: 1}\n"))],
     "the key 'train' appears twice"),
    ("an empty data.cache_dir", "beginner", lambda c: c.args("--set", "data.cache_dir=''"),
     "data.cache_dir must name a folder"),
    ("a line break in --output-dir", "beginner", lambda c: ["--task", "nsmc", "--demo",
     "--output-dir", f"{c.tmp}/o\nx"],
     "holds a control character"),
    ("a line break in --model", "predict", lambda c: ["--model", "a\nb"], "holds a control character"),
    ("--set task beside --task", "beginner", lambda c: c.args("--set", "task=unsmile"),
     "the task is the one --task names"),
]

DATA = [
    ("a training file with one label only", "beginner", lambda c: c.custom("text,label\n좋다,1\n좋아,1\n"),
     "train.csv: the training file has only one label value '1'"),
    ("an unpaired surrogate escape in JSON", "beginner",
     lambda c: c.custom('[{"text": "좋다", "label": 1},\n {"text": "\\ud800", "label": 0}]',
                        '[{"text": "a", "label": 1}, {"text": "b", "label": 0}]', suffix="json"),
     "train.json:2: '\\ud800' holds an unpaired surrogate"),
    ("an unpaired surrogate escape in JSONL", "beginner",
     lambda c: c.custom('{"text": "좋다", "label": 1}\n{"text": "\\udfff", "label": 0}\n',
                        '{"text": "a", "label": 1}\n{"text": "b", "label": 0}\n', suffix="jsonl"),
     "train.jsonl:2: '\\udfff' holds an unpaired surrogate"),
    ("a training file that is a folder", "beginner",
     lambda c: [*c.custom("text,label\n좋다,1\n싫다,0\n"), "--set", "data.train_file=."], "not a regular file"),
    ("CP949 bytes without data.encoding", "beginner",
     lambda c: c.custom("text,label\n좋다,1\n싫다,0\n".encode("cp949")), "set data.encoding: cp949"),
    ("an encoding Python does not know", "beginner",
     lambda c: c.custom("text,label\n좋다,1\n싫다,0\n", encoding="klingon"), "config: data.encoding 'klingon'"),
    ("a header with a line break in a name", "beginner", lambda c: c.custom('"te\nxt",label\n좋다,1\n싫다,0\n'),
     "no column 'text' (columns found: 'te\\nxt', 'label')"),
    ("a bad label after a field spanning lines", "beginner",
     lambda c: c.custom('text,label\n"첫 줄\n둘째 줄\n셋째 줄",1\n좋다,0\n나쁜 라벨,7\n', labels=["0", "1"]),
     "train.csv:6: label '7'"),
    ("a quote that is never closed", "beginner", lambda c: c.custom('text,label\n좋다,1\n"닫히지 않은,0\n싫다,1\n'),
     "train.csv:3: a quoted field is never closed"),
    ("text after a closing quote", "beginner",
     lambda c: c.custom('text\tlabel\n"좋다"고 했다\t1\n싫다\t0\n', suffix="tsv"),
     "train.tsv:2: malformed quoting"),
    ("a raw KorNLI-style file read with quoting names the setting", "beginner",
     lambda c: c.custom('text\tlabel\n"그는 안녕" 하고\t1\n싫다\t0\n', suffix="tsv"), "set data.quoting: false"),
    ("a number as the text in JSON", "beginner",
     lambda c: c.custom('[{"text": 1e5, "label": 1}, {"text": "b", "label": 0}]',
                        '[{"text": "a", "label": 1}, {"text": "b", "label": 0}]', suffix="json"),
     "train.json:1: the text must be a string"),
    ("an infinite label in JSON", "beginner",
     lambda c: c.custom('{"text": "a", "label": 1e999}\n{"text": "b", "label": 0}\n',
                        '{"text": "a", "label": 1}\n', suffix="jsonl"), "train.jsonl:1: a number that is not finite"),
    ("an object as a label in JSON", "beginner",
     lambda c: c.custom('{"text": "a", "label": {"x": 1}}\n{"text": "b", "label": 0}\n',
                        '{"text": "a", "label": 1}\n', suffix="jsonl"), "train.jsonl:1: expected a label"),
    ("a key twice in one JSON object", "beginner",
     lambda c: c.custom('{"text": "a", "label": 1}\n{"text": "b", "label": 1, "label": 0}\n',
                        '{"text": "a", "label": 1}\n', suffix="jsonl"),
                        "train.jsonl:2: key 'label' appears more than once"),
    ("a nested list of label names", "multi-label",
     lambda c: [*c.custom('{"text": "a", "tags": [["x"]]}\n{"text": "b", "tags": ["y"]}\n',
                          '{"text": "a", "tags": ["x"]}\n', suffix="jsonl", label_column="tags", multi_label=True)],
     "train.jsonl:1: a list of label names must hold names"),
    ("a list of label names that is broken JSON", "multi-label",
     lambda c: [*c.custom('text,tags\n좋다,"[""x"", ""y"""\n싫다,y\n', 'text,tags\n좋다,x\n', label_column="tags",
                          multi_label=True)], "train.csv:2: '[\"x\", \"y\"' is not a JSON list of label names"),
    ("a pipe for a training file", "beginner", lambda c: fifo_data(c), "train.csv: not a regular file"),
    ("a header and no rows", "beginner", lambda c: c.custom("\ufefftext,label\r\n\r\n"),
     "train.csv: no rows after the header"),
    ("one column name composed and decomposed", "beginner",
     lambda c: c.custom(f"text,label,{NFD_NAME},이름\n좋다,1,a,b\n싫다,0,c,d\n"),
     "column '이름' appears more than once"),
    ("one JSON key composed and decomposed", "beginner",
     lambda c: c.custom(f'{{"text": "a", "label": 1, "{NFD_NAME}": 1, "이름": 2}}\n', '{"text": "a", "label": 1}\n',
                        suffix="jsonl"), "train.jsonl:1: key '이름' appears twice"),
    ("a bad label in a data wrapper after other lists", "beginner",
     lambda c: c.custom('{"meta": ["a", "b", "c"], "x": {"y": [1, 2]},\n "data": [\n  {"text": "a", "label": 1},\n'
                        '  {"text": "b", "label": 0},\n  {"text": "c", "label": 7}\n]}',
                        '[{"text": "a", "label": 1}]', suffix="json", labels=["0", "1"]), "train.json:5: label '7'"),
    ("a bad label in JSON with lone CR line ends", "beginner",
     lambda c: c.custom('[\r{"text": "a", "label": 1},\r{"text": "b", "label": 7}\r]', '[{"text": "a", "label": 1}]',
                        suffix="json", labels=["0", "1"]), "train.json:3: label '7'"),
    ("a label holding a NUL", "beginner", lambda c: c.custom("text,label\n좋다,1\n싫다,0\n별로,1\x000\n"),
     "train.csv:4: label '1\\x000' holds a control character"),
]

NFD_NAME = "\u110b\u1175\u1105\u1173\u11b7"  # 이름, decomposed


def fifo_data(c: Context) -> list[str]:
    argv = c.custom("text,label\n좋다,1\n싫다,0\n")
    (c.tmp / "data" / "train.csv").unlink()
    os.mkfifo(c.tmp / "data" / "train.csv")  # reading it would wait for a writer forever
    return argv


def laughs(levels: int) -> str:
    """A YAML file of a few hundred bytes whose anchors would expand to 9**levels items."""
    anchors = [f"&a0 [{', '.join(['lol'] * 9)}]"]
    anchors += [f"&a{level} [{', '.join([f'*a{level - 1}'] * 9)}]" for level in range(1, levels + 1)]
    return "task: nsmc\ntrain:\n  epochs: [" + ", ".join(anchors) + "]\n"


LAUGHS = laughs(9)

PICKLED_ONLY = {"without": ("model.safetensors",), "files": {"pytorch_model.bin": b"x"}}
NO_TOKENIZER = {"without": ("tokenizer.json", "tokenizer_config.json")}


def train_with(c: Context, **model_changes) -> list[str]:
    return c.args("--set", f"model.name_or_path={c.model_copy(**model_changes)}")


MODEL_FOLDER = [
    ("only pickled weights", "beginner", lambda c: train_with(c, **PICKLED_ONLY), "pytorch_model.bin, a pickle"),
    ("no tokenizer files", "beginner", lambda c: train_with(c, **NO_TOKENIZER), "its tokenizer has"),
    ("a config.json that does not fit the weights", "beginner",
     lambda c: train_with(c, config={"hidden_size": 48, "intermediate_size": 96}),
     "weights do not fit its config.json"),
    ("weights that are not safetensors", "beginner",
     lambda c: train_with(c, files={"model.safetensors": b"\x80\x04not safetensors"}), "cannot load model"),
    ("config.json that is not JSON", "beginner", lambda c: train_with(c, files={"config.json": b"{oops"}),
     "cannot load model"),
    ("an index naming a pickled shard", "beginner", lambda c: train_with(c, **sharded("pytorch_model-1-of-1.bin")),
     "which is not a safetensors file in the model's folder"),
    ("an index naming a shard outside the folder", "beginner", lambda c: train_with(c, **sharded("../w.safetensors")),
     "which is not a safetensors file in the model's folder"),
    ("an index naming a pipe", "beginner", lambda c: c.args("--set", f"model.name_or_path={piped_shard(c)}"),
     "which is not a regular file"),
    ("a tokenizer.json that is JSON but not a tokenizer", "beginner",
     lambda c: train_with(c, files={"tokenizer.json": b'{"a": 1}'}), "cannot load model"),
    ("a quantized checkpoint", "beginner",
     lambda c: train_with(c, config={"quantization_config": {"quant_method": "bitsandbytes", "load_in_8bit": True}}),
     "a quantized checkpoint"),
]


def nan_weights(c: Context) -> Path:
    from safetensors.torch import load_file, save_file

    model = c.model_copy()
    weights = load_file(model / "model.safetensors")
    weights["classifier.dense.weight"][0, 0] = float("nan")
    save_file(weights, model / "model.safetensors")
    return model


def endless_pattern(c: Context) -> Path:
    """A tokenizer.json whose pre-tokenizer pattern backtracks without end (its regex engine gives up, panicking)."""
    model = c.model_copy()
    edit_json(model / "tokenizer.json", lambda spec: spec.update(pre_tokenizer={
        "type": "Split", "pattern": {"Regex": "((\\w|\\s)+)+\\d"}, "behavior": "Isolated", "invert": False}))
    edit_json(model / "tokenizer_config.json", lambda spec: spec.update(tokenizer_class="PreTrainedTokenizerFast"))
    return model


def sharded(shard: str) -> dict:
    """A model folder whose weights are listed in an index that names `shard`."""
    index = {"metadata": {}, "weight_map": {"electra.embeddings.word_embeddings.weight": shard}}
    return {"without": ("model.safetensors",), "files": {"model.safetensors.index.json": json.dumps(index).encode()}}


def piped_shard(c: Context) -> Path:
    model = c.model_copy(**sharded("shard.safetensors"))
    os.mkfifo(model / "shard.safetensors")  # opening it would wait for a writer forever
    return model

DIRECTORY = object()  # `damaged` makes a folder instead of a file


def damaged(c: Context, relative: str, content, level: str = "intermediate") -> list[str]:
    """--resume of a copy of a finished run whose `relative` file is replaced (None: removed)."""
    run = c.run(level)
    target = run / relative
    if target.is_dir():
        shutil.rmtree(target)
    target.unlink(missing_ok=True)
    if content is DIRECTORY:
        target.mkdir()
    elif content is not None:
        target.write_bytes(content.encode() if isinstance(content, str) else content)
    c.protect(run)
    return ["--resume", str(run)]


RUN_FOLDER = [
    ("a finished beginner run given to the expert", "expert",
     lambda c: ["--resume", str(c.run("beginner"))], "a beginner run, and this script continues expert runs"),
    ("an intermediate run given to the expert", "expert",
     lambda c: ["--resume", str(c.run())], "resume it with train_intermediate.py"),
    ("an intermediate run given to the multi-label script", "multi-label",
     lambda c: ["--resume", str(c.run())], "this script continues multi-label runs"),
    ("config.yaml edited since the run started", "intermediate", edited_config,
     "was edited after the run started (train.batch_size: 32 -> 16)"),
    ("config.yaml that is not YAML", "intermediate", lambda c: damaged(c, "config.yaml", "train: [oops"),
     "not valid YAML"),
    ("run.json missing", "intermediate", lambda c: damaged(c, "run.json", None), "no run.json in it"),
    ("run.json that is not JSON", "intermediate", lambda c: damaged(c, "run.json", "{"), "run.json: unreadable"),
    ("run.json without a level", "intermediate", lambda c: damaged(c, "run.json", '{"task": "nsmc"}'),
     "run.json: damaged"),
    ("a folder that is not a run", "intermediate", lambda c: ["--resume", str(c.tmp)], "not a run directory"),
    ("a file instead of a folder", "intermediate", lambda c: ["--resume", str(c.write("f", "x"))],
     "not a run directory"),
    ("a folder that does not exist", "intermediate", lambda c: ["--resume", str(c.tmp / "nope")],
     "not a run directory"),
    ("checkpoints is a file", "intermediate", lambda c: damaged(c, "checkpoints", "x"), "is a file, not a folder"),
    ("metrics.csv without its header", "intermediate", lambda c: damaged(c, "metrics.csv", "1,2,3\n"),
     "metrics.csv: damaged"),
    ("the lock file is a folder", "intermediate", lambda c: damaged(c, ".lock", DIRECTORY), "cannot lock run"),
    ("the lock file links to another file", "intermediate", lambda c: linked(c, ".lock", c.write("victim.txt", "keep")),
     "is a symbolic link"),
    ("plots/ links to a folder elsewhere", "intermediate", lambda c: linked(c, "plots", c.tmp), "is a symbolic link"),
    ("checkpoints/ links to another run's", "intermediate",
     lambda c: linked(c, "checkpoints", c.run("beginner").parent / "other"), "is a symbolic link"),
    ("run.json links to a device that never ends", "intermediate", lambda c: linked(c, "run.json", Path("/dev/zero")),
     "is a symbolic link"),
    ("run.json is a pipe", "intermediate", lambda c: piped(c, "run.json"), "is not a regular file"),
    ("metrics.csv is a pipe", "intermediate", lambda c: piped(c, "metrics.csv"), "is not a regular file"),
    ("every checkpoint damaged", "intermediate", lambda c: every_checkpoint_flipped(c), "none of the 3 checkpoints"),
    ("the lock file a hard link to another file", "intermediate", lambda c: hard_linked_lock(c),
     "not a file of its own"),
    ("data read from /proc", "intermediate", lambda c: data_from_proc(c), "kmsg: file is empty"),
]


def hard_linked_lock(c: Context) -> list[str]:
    run, victim = c.run(), c.write("victim/victim.txt", "keep")
    (run / ".lock").unlink(missing_ok=True)
    os.link(victim, run / ".lock")
    c.protect(victim.parent)
    return ["--resume", str(run)]


def data_from_proc(c: Context) -> list[str]:
    """A config (here a resumed run's) naming a /proc file, which a reader would wait on forever."""
    run = c.run()
    for name in ("config.yaml", "run.json"):
        text = (run / name).read_text(encoding="utf-8")
        (run / name).write_text(text.replace(str(SAMPLES_DIR / "nsmc"), "/proc").replace("ratings_train.txt", "kmsg"),
                                encoding="utf-8")
    c.protect(run)
    return ["--resume", str(run)]


def linked(c: Context, relative: str, target: Path) -> list[str]:
    """--resume of a run whose `relative` is a symbolic link to `target`."""
    run = c.run()
    entry = run / relative
    shutil.rmtree(entry) if entry.is_dir() and not entry.is_symlink() else entry.unlink(missing_ok=True)
    entry.symlink_to(target)
    if target.is_file():
        c.protect(target.parent)
    c.protect(run)
    return ["--resume", str(run)]


def piped(c: Context, relative: str) -> list[str]:
    run = c.run()
    (run / relative).unlink()
    os.mkfifo(run / relative)  # reading it would wait for a writer forever
    c.protect(run)
    return ["--resume", str(run)]


def every_checkpoint_flipped(c: Context) -> list[str]:
    run = c.run()
    for checkpoint in (run / "checkpoints").glob("step-*"):
        flip_a_byte(checkpoint / "model.safetensors")
    c.protect(run)
    return ["--resume", str(run)]

PREDICT = [
    ("--output is the --input file", "predict", lambda c: c.predict("--output", str(c.tmp / "in.txt")),
     "is the --input file"),
    ("--output inside the model folder", "predict",
     lambda c: c.predict("--output", str(c.run() / "model" / "out.csv")), "inside the model folder"),
    ("--output replaces a file of a run", "predict", lambda c: c.predict("--output", str(c.run() / "results.json")),
     "would replace a file of the run"),
    ("--output is a folder", "predict", lambda c: c.predict("--output", str(c.tmp)), "is a folder"),
    ("an encoding Python does not know", "predict", lambda c: c.predict("--encoding", "klingon"),
     "error: --encoding 'klingon' is not an encoding"),
    ("undecodable input names the line and CP949", "predict",
     lambda c: c.predict(text="좋다\n싫다\n".encode("cp949")),
     "in.txt:1: bytes that are not valid utf-8; it decodes as CP949/EUC-KR: pass --encoding cp949"),
    ("a pretrained checkpoint that was never fine-tuned", "predict", lambda c: c.predict(model=c.model),
     "not a fine-tuned classifier"),
    ("only pickled weights", "predict", lambda c: c.predict(model=c.model_copy(**PICKLED_ONLY)), "a pickle"),
    ("a model folder without tokenizer files", "predict", lambda c: c.predict(model=c.model_copy(**NO_TOKENIZER)),
     "its tokenizer has"),
    ("thresholds of the wrong length", "predict",
     lambda c: c.predict(model=c.model_copy(config={"thresholds": [0.5]})), "thresholds must be"),
    ("a threshold that is not a number", "predict",
     lambda c: c.predict(model=c.model_copy(config={"thresholds": ["x", 0.5]})), "thresholds must be"),
    ("id2label that skips an id", "predict",
     lambda c: c.predict(model=c.model_copy(config={"id2label": {"0": "a", "5": "b"}})), "id2label"),
    ("truncated weights", "predict",
     lambda c: c.predict(model=c.model_copy(files={"model.safetensors": b"\x10" * 500})), "cannot load"),
    ("--input is a folder", "predict", lambda c: ["--model", str(c.run() / "model"), "--input", str(c.tmp)],
     "not a regular file"),
    ("a missing --model", "predict", lambda c: ["--input", "x.txt"], "the following arguments are required: --model"),
    ("--top-k that is not a number", "predict", lambda c: ["--model", "m", "--top-k", "two"], "invalid int value"),
    ("an empty input", "predict", lambda c: c.predict(text=""), "in.txt: file is empty"),
    ("a number as the text in JSON", "predict",
     lambda c: ["--model", str(c.run() / "model"), "--input", str(c.write("in.jsonl", '{"t": 5}\n')),
                "--text-column", "t"], "in.jsonl:1: the text must be a string"),
    ("weights of NaN", "predict", lambda c: c.predict(model=nan_weights(c)), "not finite"),
    ("a tokenizer whose pattern never finishes matching", "predict",
     lambda c: c.predict(model=endless_pattern(c), text="가나다라마바사아자차카타파하 " * 2 + "가나다라\n"),
     "tokenizer"),
    ("the same column as both texts of a pair", "predict",
     lambda c: ["--model", str(c.model_copy(config={"sentence_pair": True})), "--input",
                str(c.write("in.csv", "a,b\n좋다,좋아\n")), "--text-column", "a", "--pair-column", "a"],
     "--pair-column must name another column than --text-column"),
    ("a model whose token ids lie past its embeddings", "predict",
     lambda c: c.predict(model=ids_past_the_table(c.model_copy())), "its tokenizer gives token ids up to"),
    ("a regression model of two labels", "predict",
     lambda c: c.predict(model=c.model_copy(config={"problem_type": "regression"})),
     "problem_type is regression, which predicts one score, but id2label names 2 labels"),
    ("one label name twice", "predict",
     lambda c: c.predict(model=c.model_copy(config={"id2label": {"0": "좋음", "1": "좋음"}})), "names '좋음' twice"),
    ("a multi-label label named as an output column", "predict",
     lambda c: c.predict(model=c.model_copy(config={"problem_type": "multi_label_classification",
                                                    "id2label": {"0": "text", "1": "b"}})),
     "a multi-label label may not be called 'text'"),
    ("--top-k for a regression model", "predict",
     lambda c: [*c.predict(model=c.model_copy(config={"problem_type": "regression", "id2label": {"0": "score"}})),
                "--top-k", "2"], "--top-k ranks the classes of a single-label model"),
    ("a pair model of one token type", "predict",
     lambda c: c.predict(model=c.model_copy(config={"sentence_pair": True, "type_vocab_size": 1}), text="좋다\t좋아\n"),
     "type_vocab_size is 1"),
    ("a pair model of one token type, int8", "predict",
     lambda c: [*c.predict(model=c.model_copy(config={"sentence_pair": True, "type_vocab_size": 1}),
                           text="좋다\t좋아\n"), "--quantize", "int8"], "type_vocab_size is 1"),
    ("an id2label key in superscript digits", "predict",
     lambda c: c.predict(model=c.model_copy(config={"id2label": {"0": "a", "\u00b9": "b"}})), "id2label must name"),
    ("an extension that names no format", "predict",
     lambda c: ["--model", str(c.run() / "model"), "--input", str(c.write("in.dat", "a")), "--text-column", "t"],
     "name it .csv, .tsv, .json or .jsonl, or give --format"),
]

PAIRS = "text,second,score\n좋다,좋아,4.5\n싫다,별로,1.0\n"  # a pair dataset with scores
PAIR_EVAL = "text,second,score\n좋다,좋아,4.0\n"


def pairs(c: Context, train: str = PAIRS, evaluation: str = PAIR_EVAL, *sets: str, suffix: str = "csv",
          **data) -> list[str]:
    """A user's sentence-pair regression dataset (files of `suffix`), with --set options."""
    data = {"text_pair_column": "second", "label_column": "score", **data}
    argv = c.custom(train, evaluation, suffix, **data)
    return [*argv, "--set", "train.task_type=regression", *(x for item in sets for x in ("--set", item))]


PAIRS_AND_REGRESSION = [
    ("a pair column that does not exist", "beginner", lambda c: pairs(c, text_pair_column="secnd"),
     "did you mean 'second'?"),
    ("a pair column that is the text column", "beginner", lambda c: pairs(c, text_pair_column="text"),
     "data.text_pair_column must differ"),
    ("a score that is not a number", "beginner", lambda c: pairs(c, "text,second,score\n좋다,좋아,high\n싫다,별로,1\n"),
     "train.csv:2: score 'high' is not a finite number"),
    ("a score of NaN", "beginner", lambda c: pairs(c, "text,second,score\n좋다,좋아,1\n싫다,별로,nan\n"),
     "train.csv:3: score 'nan' is not a finite number"),
    ("a score of inf", "beginner", lambda c: pairs(c, PAIRS, "text,second,score\n좋다,좋아,inf\n"),
     "eval.csv:2: score 'inf' is not a finite number"),
    ("an empty score", "beginner", lambda c: pairs(c, "text,second,score\n좋다,좋아,\n싫다,별로,1\n"),
     "train.csv:2: score '' is not a finite number"),
    ("scores read as classes", "beginner",
     lambda c: c.custom("text,label\n좋다,4.5\n싫다,1.2\n", "text,label\n좋다,4.5\n"),
     "set train.task_type: regression"),
    ("an unknown task type", "beginner", lambda c: pairs(c, PAIRS, PAIR_EVAL, "train.task_type=ranking"),
     "train.task_type must be classification or regression"),
    ("binary_f1 without a threshold", "beginner", lambda c: pairs(c, PAIRS, PAIR_EVAL, "train.metrics=[binary_f1]"),
     "binary_f1 needs train.binary_threshold"),
    ("a classification metric for regression", "beginner",
     lambda c: pairs(c, PAIRS, PAIR_EVAL, "train.metrics=[accuracy]"), "'accuracy' is not a regression metric"),
    ("a classification loss for regression", "expert", lambda c: pairs(c, PAIRS, PAIR_EVAL, "train.loss=focal"),
     "does not support regression"),
    ("mse for classes", "expert", lambda c: [*c.custom("text,label\n좋다,1\n싫다,0\n"), "--set", "train.loss=mse"],
     "does not support single-label"),
    ("regression on the multi-label script", "multi-label", lambda c: pairs(c), "is single-label"),
    ("a binary threshold for classes", "beginner",
     lambda c: [*c.custom("text,label\n좋다,1\n싫다,0\n"), "--set", "train.binary_threshold=3"],
     "train.binary_threshold is a finite number for regression tasks only"),
    ("an empty list of training files", "beginner", lambda c: pairs(c, PAIRS, PAIR_EVAL, "data.train_file=[]"),
     "data.train_file must name a file"),
    ("a dev file that does not exist", "beginner", lambda c: pairs(c, PAIRS, PAIR_EVAL, "data.dev_file=dev.csv"),
     "dev.csv: file not found"),
    ("every pair missing its second text", "beginner", lambda c: pairs(c, "text,second,score\n좋다,,1\n싫다, ,2\n"),
     "every row has an empty text 'text' or 'second'"),
    ("the dev file is the evaluation file", "beginner", lambda c: pairs(c, PAIRS, PAIR_EVAL, "data.dev_file=eval.csv"),
     "data.dev_file eval.csv is also data.eval_file: the best checkpoint would be chosen on rows the run reports on"),
    ("the dev file is the training file, spelt another way", "beginner",
     lambda c: pairs(c, PAIRS, PAIR_EVAL, "data.dev_file=./train.csv"), "is also data.train_file"),
    ("the dev file a link to the training file", "beginner", lambda c: linked_dev_file(c), "is also data.train_file"),
    ("a score with an underscore, which float() reads as 45", "beginner",
     lambda c: pairs(c, "text,second,score\n좋다,좋아,4_5\n싫다,별로,1\n"), "train.csv:2: score '4_5' is not a finite number"),
    ("a score in full-width digits", "beginner", lambda c: pairs(c, PAIRS, "text,second,score\n좋다,좋아,４.５\n"),
     "eval.csv:2: score '４.５' is not a finite number"),
    ("a score beyond what the loss can hold", "beginner",
     lambda c: pairs(c, "text,second,score\n좋다,좋아,1e25\n싫다,별로,1\n"),
     "train.csv:2: score '1e25' is beyond ±1e+09, more than the loss can hold"),
    ("a JSON number as the second text", "beginner",
     lambda c: pairs(c, '{"text": "좋다", "second": 5, "score": 1}\n{"text": "싫다", "second": "별로", "score": 2}\n',
                     '{"text": "좋다", "second": "좋아", "score": 1}\n', suffix="jsonl"),
     "train.jsonl:1: the text must be a string, found 5"),
    ("a JSON boolean as the second text", "beginner",
     lambda c: pairs(c, '[{"text": "좋다", "second": "좋아", "score": 1}, {"text": "싫다", "second": true, "score": 2}]',
                     '[{"text": "좋다", "second": "좋아", "score": 1}]', suffix="json"),
     "train.json:1: the text must be a string, found True"),
    ("a learning rate with an underscore in quotes", "beginner",
     lambda c: c.args("--set", 'train.learning_rate="1_0e-4"'), "not a finite number written in decimal"),
    ("class weights in full-width digits", "expert",
     lambda c: c.args("--set", 'train.class_weights=["１", "2"]'), "not a finite number written in decimal"),
    ("pairs on an encoder of one token type", "beginner",
     lambda c: [*pairs(c), "--set", f"model.name_or_path={encoder_with(c, type_vocab_size=1)}"],
     "type_vocab_size is 1, so it has no token type for the second text"),
    ("a base model whose token ids lie past its embeddings", "beginner",
     lambda c: c.args("--set", f"model.name_or_path={ids_past_the_table(encoder_with(c))}"),
     "its tokenizer gives token ids up to"),
    ("a multi-label label named as the second text's column", "multi-label",
     lambda c: c.custom("text,tags\n좋다,text_pair|a\n싫다,a\n", "text,tags\n좋다,a\n", label_column="tags",
                        multi_label=True), "a multi-label label may not be called 'text_pair'"),
    ("the token cache inside another run's model folder", "beginner",
     lambda c: c.args("--set", f"data.cache_dir={c.run() / 'model' / 'tokens'}"), "is inside the model folder"),
    ("the token cache in another run's folder", "beginner",
     lambda c: c.args("--set", f"data.cache_dir={c.run()}"), "is inside the run"),
    ("the token cache in the base model's folder", "beginner",
     lambda c: c.args("--set", f"model.name_or_path={encoder_with(c)}", "--set", f"data.cache_dir={c.tmp / 'encoder'}"),
     "is inside the model folder"),
    ("the header again inside the file (two files joined)", "beginner",
     lambda c: c.custom("text,label\n좋다,1\n싫다,0\ntext,label\n좋아,1\n"), "train.csv:4: the header again"),
    ("a dev file of one score, chosen on by a correlation", "intermediate",
     lambda c: [*pairs(c, PAIRS, PAIR_EVAL, "data.dev_file=dev.csv"), "--set", "train.es_metric=pearson"]
     if c.write("data/dev.csv", "text,second,score\n좋다,좋아,3\n싫다,별로,3\n") else [],
     "dev: every score of the dev split (dev.csv) is 3, so pearson is undefined on it"),
    ("class names for a regression task", "beginner", lambda c: pairs(c, PAIRS, PAIR_EVAL, "data.labels=[a, b]"),
     "a regression task (train.task_type regression) reads one score a row and takes neither"),
    ("one training file listed twice", "beginner",
     lambda c: pairs(c, PAIRS, PAIR_EVAL, "data.train_file=[train.csv, ./train.csv]"),
     "data.train_file names one file twice (train.csv and ./train.csv)"),
]


def encoder_with(c: Context, **config) -> Path:
    """A copy of the tiny encoder with `config` merged into its config.json."""
    copy = shutil.copytree(c.model, c.tmp / "encoder")
    edit_json(copy / "config.json", lambda stored: stored.update(config))
    return copy


def ids_past_the_table(model: Path) -> Path:
    """`model` with its tokenizer's ids moved past the embeddings, as many tokens as before (tokenizer.json)."""
    def shifted(tokenizer):
        vocab = tokenizer["model"]["vocab"]
        for token, index in vocab.items():
            vocab[token] = index + 100_000 if index >= 5 else index

    edit_json(model / "tokenizer.json", shifted)
    return model


def linked_dev_file(c: Context) -> list[str]:
    argv = pairs(c, PAIRS, PAIR_EVAL, "data.dev_file=dev.csv")
    (c.tmp / "data" / "dev.csv").symlink_to(c.tmp / "data" / "train.csv")
    return argv



def long_text(c: Context, *sets: str, max_seq_len: int = 16) -> list[str]:
    """A user's dataset of one text a row, read with a 16-token window, with --set options."""
    argv = c.custom("text,label\n" + "좋다 " * 40 + ",1\n싫다,0\n")
    return [*argv, "--set", f"model.max_seq_len={max_seq_len}", *(x for item in sets for x in ("--set", item))]


def saved_long_text(c: Context, value) -> list[str]:
    """predict.py with a model whose config.json says `long_text: value` (a folder from someone else)."""
    return c.predict(model=c.model_copy(config={"long_text": value}))


LONG_TEXTS = [
    ("an unknown long-text mode", "beginner", lambda c: long_text(c, "data.long_text=sliding"),
     "data.long_text must be truncate, head_tail, windows"),
    ("windows that share all their tokens", "beginner",
     lambda c: long_text(c, "data.long_text=windows", "data.window_overlap=14"),
     "data.window_overlap must be less than the window's 14 text tokens"),
    ("windows that share more than they hold", "beginner",
     lambda c: long_text(c, "data.long_text=windows", "data.window_overlap=100"), "or no window moves on"),
    ("a negative overlap", "beginner", lambda c: long_text(c, "data.long_text=windows", "data.window_overlap=-1"),
     "data.window_overlap must be at least 0"),
    ("no windows a document", "beginner", lambda c: long_text(c, "data.windows_per_document=0"),
     "data.windows_per_document must be at least 1"),
    ("a negative head", "beginner", lambda c: long_text(c, "data.long_text=head_tail", "data.head_tokens=-3"),
     "data.head_tokens must be at least 0"),
    ("a head longer than the window", "beginner",
     lambda c: long_text(c, "data.long_text=head_tail", "data.head_tokens=15"), "data.head_tokens must be at most 14"),
    ("a huge head under truncate", "beginner", lambda c: long_text(c, "data.head_tokens=3000000"),
     "data.head_tokens must be at most 14"),
    ("a huge overlap under truncate", "beginner", lambda c: long_text(c, "data.window_overlap=5000"),
     "data.window_overlap must be less than the window's 14"),
    ("a saved head beyond the window under truncate", "predict",
     lambda c: saved_long_text(c, {"mode": "truncate", "max_seq_len": 32, "head_tokens": 5000, "overlap": 0,
                                   "combine": "mean"}), "head_tokens 5000 must be from 0 to"),
    ("an unknown way to combine windows", "beginner", lambda c: long_text(c, "data.window_combine=median"),
     "data.window_combine must be mean, max or null"),
    ("windows longer than the position table", "beginner",
     lambda c: long_text(c, "data.long_text=windows", max_seq_len=4096), "model.max_seq_len 4096 is more than"),
    ("windows over sentence pairs", "beginner", lambda c: pairs(c, PAIRS, PAIR_EVAL, "data.long_text=windows"),
     "data.long_text must be truncate for sentence pairs"),
    ("a training file whose texts tokenize to nothing", "beginner",
     lambda c: c.custom("text,label\n\ufffd\ufffd,1\n\u00ad,0\n"), "every training text tokenizes to nothing"),
    ("a saved long_text that is not a mapping", "predict", lambda c: saved_long_text(c, "windows"),
     "config.json: long_text must hold mode, max_seq_len, head_tokens, overlap, combine"),
    ("a saved long_text of a huge window", "predict",
     lambda c: saved_long_text(c, {"mode": "windows", "max_seq_len": 10**9, "head_tokens": 0, "overlap": 0,
                                   "combine": "mean"}), "long_text must hold"),
    ("a saved window beyond the position table", "predict",
     lambda c: saved_long_text(c, {"mode": "windows", "max_seq_len": 4096, "head_tokens": 0, "overlap": 0,
                                   "combine": "mean"}), "long_text max_seq_len 4096 is more than the model takes"),
    ("a saved overlap as long as the window", "predict",
     lambda c: saved_long_text(c, {"mode": "windows", "max_seq_len": 32, "head_tokens": 0, "overlap": 30,
                                   "combine": "mean"}), "window_overlap 30 must be at least 0 and less than"),
    ("a saved mode that does not exist", "predict",
     lambda c: saved_long_text(c, {"mode": "all", "max_seq_len": 32, "head_tokens": 0, "overlap": 0,
                                   "combine": "mean"}), "long_text mode must be one of truncate"),
    ("windows for a pair model at predict time", "predict",
     lambda c: [*c.predict(model=c.model_copy(config={"sentence_pair": True}), text="좋다\t좋아\n"),
                "--long-text", "windows"], "a sentence-pair model reads its pairs truncated"),
]

def pretraining(c: Context, *overrides: str, corpus: bytes | None = None) -> list[str]:
    """pretrain.py on the tiny model: the bundled corpus, or `corpus` as the only text file."""
    data = ["--set", f"data.dir={c.write('data/corpus.txt', corpus).parent}"] if corpus is not None else ["--demo"]
    return [*data, "--output-dir", str(c.out), "--set", f"model.name_or_path={c.model}",
            "--set", f"data.cache_dir={c.cache}", *[arg for override in overrides for arg in ("--set", override)]]


def checkpoint_copy(c: Context, name: str, drop: str = "", model_class=None) -> Path:
    """The tiny ELECTRA discriminator copied (as `model_class` when given), less the weights whose names start
    with `drop`."""
    from safetensors.torch import load_file, save_file

    copy = c.tmp / name
    shutil.copytree(c.model, copy)
    if model_class is not None:
        model_class.from_pretrained(c.model).save_pretrained(copy)
    weights = load_file(copy / "model.safetensors")
    save_file({k: v for k, v in weights.items() if not (drop and k.startswith(drop))}, copy / "model.safetensors",
              metadata={"format": "pt"})
    return copy


def bert_checkpoint(c: Context) -> Path:
    """A tiny BERT with the tiny model's tokenizer."""
    from transformers import BertConfig, BertForMaskedLM

    copy = c.tmp / "bert"
    shutil.copytree(c.model, copy)
    (copy / "model.safetensors").unlink()
    BertForMaskedLM(BertConfig(vocab_size=2000, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=64)).save_pretrained(copy)
    return copy


PRETRAINING = [
    ("an unknown pretraining objective", "pretraining", lambda c: pretraining(c, "pretrain.objective=electra"),
     "pretrain.objective must be one of replaced_tokens, masked_lm"),
    ("layer-wise learning rates for pretraining", "pretraining", lambda c: pretraining(c, "train.layerwise_lr_decay=0.8"),
     "train.layerwise_lr_decay is not supported by pretrain.py"),
    ("frozen layers for pretraining", "pretraining", lambda c: pretraining(c, "model.freeze_layers=1"),
     "model.freeze_layers is not supported by pretrain.py"),
    ("a generator of no width", "pretraining", lambda c: pretraining(c, "pretrain.generator_size=0"),
     "pretrain.generator_size must be in (0, 1]"),
    ("a corpus of whitespace only", "pretraining", lambda c: pretraining(c, corpus=" \t\n\n\u3000\n".encode()),
     "no text"),
    ("a binary corpus file", "pretraining", lambda c: pretraining(c, corpus=b"\x89PNG\x00\x01\xff\xfe" * 100),
     "bytes that are not valid utf-8"),
    ("a BERT checkpoint for replaced-token detection", "pretraining",
     lambda c: pretraining(c, f"model.name_or_path={bert_checkpoint(c)}"),
     "is a bert checkpoint; replaced-token detection needs an ELECTRA one (pretrain.objective: masked_lm"),
    ("an encoder checkpoint that lacks a layer", "pretraining",
     lambda c: pretraining(c, f"model.name_or_path={checkpoint_copy(c, 'cut', 'electra.encoder.layer.1')}"),
     "its weights lack electra.encoder.layer.1"),
    ("an encoder checkpoint that lacks a layer, for masked LM", "pretraining",
     lambda c: pretraining(c, f"model.name_or_path={checkpoint_copy(c, 'cut', 'electra.embeddings')}",
                           "pretrain.objective=masked_lm"), "its weights lack electra.embeddings"),
    ("a discriminator given as the generator", "pretraining",
     lambda c: pretraining(c, f"pretrain.generator={c.model}"), "or not saved as ElectraForMaskedLM"),
    ("a generator without its head", "pretraining",
     lambda c: pretraining(c, "pretrain.generator=" + str(checkpoint_copy(
         c, "generator", "generator_predictions", __import__("transformers").ElectraForMaskedLM))),
     "its weights lack generator_predictions"),
    ("a generator whose config.json does not fit", "pretraining",
     lambda c: pretraining(c, "pretrain.generator=" + str(broken_config(c))), "cannot load it as ElectraForMaskedLM"),
    ("a generator whose weights are a pickle", "pretraining",
     lambda c: pretraining(c, "pretrain.generator=" + str(pickled_checkpoint(c))), "a pickle, which can run code"),
]


def broken_config(c: Context) -> Path:
    copy = c.tmp / "broken"
    shutil.copytree(c.model, copy)
    (copy / "config.json").write_text('{"model_type": "electra", "hidden_size": "big"}')
    return copy


def pickled_checkpoint(c: Context) -> Path:
    copy = c.tmp / "pickled"
    shutil.copytree(c.model, copy)
    (copy / "model.safetensors").rename(copy / "pytorch_model.bin")
    return copy


def busy_port(c: Context) -> str:
    """A port another program listens on (held until the case's context is gone)."""
    import socket

    c.listener = socket.socket()
    c.listener.bind(("127.0.0.1", 0))
    c.listener.listen()
    return str(c.listener.getsockname()[1])


def serving(c: Context, *extra: str, model: Path | None = None) -> list[str]:
    """serve.py with the finished run's model (or `model`), in full precision, plus `extra`."""
    return ["--model", str(model or c.run() / "model"), "--precision", "full", "--port", "0", *extra]


SERVE = [
    ("serve: a pretrained checkpoint that was never fine-tuned", "serve", lambda c: serving(c, model=c.model),
     "not a fine-tuned classifier"),
    ("serve: only pickled weights", "serve", lambda c: serving(c, model=c.model_copy(**PICKLED_ONLY)), "a pickle"),
    ("serve: a port another program holds", "serve", lambda c: serving(c, "--port", busy_port(c)),
     "cannot listen there"),
    ("serve: an empty batch budget", "serve", lambda c: serving(c, "--max-batch-tokens", "0"),
     "--max-batch-tokens 0: must be 1 or more"),
    ("serve: a negative payload limit", "serve", lambda c: serving(c, "--payload-limit", "-1"), "--payload-limit"),
    ("serve: a wait bound of an hour", "serve", lambda c: serving(c, "--max-wait-ms", "3600000"), "--max-wait-ms"),
    ("serve: an API key variable that is not set", "serve",
     lambda c: serving(c, "--api-key-env", "KOELECTRA_TEST_NO_SUCH_VARIABLE"), "is not set"),
    ("serve: an API key file that is a folder", "serve", lambda c: serving(c, "--api-key-file", str(c.tmp)),
     "cannot read it"),
    ("serve: an API key of three characters", "serve",
     lambda c: serving(c, "--api-key-file", str(c.write("key.txt", "abc\n"))), "at least 8 printable"),
    ("serve: an API key of binary bytes", "serve",
     lambda c: serving(c, "--api-key-file", str(c.write("key.bin", b"\xff\xfe\x00\x01abcdefgh"))), "cannot read it"),
    ("serve: replicas without Ray", "serve", lambda c: serving(c, "--replicas", "2"), "--replicas is for --ray"),
    ("serve: workers with Ray", "serve", lambda c: serving(c, "--ray", "--workers", "2"), "with --ray, give --replicas"),
]



def excluding(c: Context, rows: str, script_args: tuple[str, ...] = ()) -> list[str]:
    """A user dataset trained with data.exclude naming `rows` (a CSV body under the header file,line,text)."""
    listed = c.write("exclude.csv", "file,line,text\n" + rows)
    return [*c.custom("text,label\n좋다,1\n싫다,0\n최고,1\n최악,0\n", exclude=str(listed)), *script_args]


AUDIT = [
    ("exclude: a line that is no number", "beginner", lambda c: excluding(c, "train.csv,two,좋다\n"),
     "a line number of at least 1"),
    ("exclude: a row whose text has changed", "beginner", lambda c: excluding(c, "train.csv,2,나쁘다\n"),
     "was the file changed since the list was made?"),
    ("exclude: a line past the end of the file", "beginner", lambda c: excluding(c, "train.csv,99,좋다\n"),
     "has no row starting at line 99"),
    ("exclude: a row of another file", "beginner", lambda c: excluding(c, "eval.csv,2,좋다\n"),
     "which is not a training file of this config"),
    ("exclude: every training row", "beginner",
     lambda c: excluding(c, "train.csv,2,좋다\ntrain.csv,3,싫다\ntrain.csv,4,최고\ntrain.csv,5,최악\n"),
     "names every training row"),
    ("exclude: a list that is not there", "beginner",
     lambda c: c.custom("text,label\n좋다,1\n싫다,0\n", exclude=str(c.tmp / "missing.csv")), "is not a file"),
    ("audit: one fold", "audit", lambda c: [*c.custom("text,label\n좋다,1\n싫다,0\n"), "--folds", "1"],
     "--folds 1: needs at least 2"),
    ("audit: a check that does not exist", "audit", lambda c: [*c.custom("text,label\n좋다,1\n"), "--checks", "all"],
     "--checks all: must list duplicates and/or labels"),
    ("audit: a label with fewer rows than folds", "audit",
     lambda c: c.custom("text,label\n" + "".join(f"좋다 {i},1\n" for i in range(9)) + "싫다,0\n미워,0\n"),
     "label '0' has 2 training rows, fewer than the folds"),
    ("audit: one label only", "audit",
     lambda c: c.custom("text,label\n좋다,1\n좋아,1\n", labels=["0", "1"]), "carry one label only"),
    ("audit: a training run's folder to resume", "audit", lambda c: ["--resume", str(c.run())],
     "this script continues audit runs"),
]

TABLE = (COMMAND_LINE_AND_CONFIG + DATA + PAIRS_AND_REGRESSION + LONG_TEXTS + MODEL_FOLDER + RUN_FOLDER + PREDICT
         + PRETRAINING + SERVE + AUDIT)


@pytest.mark.parametrize("name, script, argv, expected", TABLE, ids=[row[0] for row in TABLE])
def test_hostile_input_is_one_error_line_and_changes_nothing(name, script, argv, expected, context, capsys):
    status, out, err = run_script(script, argv(context), capsys)
    assert "Traceback" not in out + err
    lines = err.strip().splitlines()
    assert status == 2 and len(lines) == 1 and lines[0].startswith("error: "), (status, out, err)
    assert expected in lines[0]
    context.check_nothing_lost()
    assert not (context.tmp / "elsewhere").exists() and not (context.tmp.parent / "x").exists()


# --- a run folder from someone else runs none of their code -----------------------------------------------

class Payload:
    """Unpickling this creates the marker file: proof that code from the file ran."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("planted", ["custom_checkpoint_0.pkl", "random_states_0.pkl", "model.safetensors",
                                     "optimizer.safetensors", "rng-0.safetensors", "optimizer.json"])
def test_a_pickle_planted_in_a_checkpoint_is_never_loaded(planted, context, capsys):
    run = context.run()
    marker = context.tmp / "pwned"
    for checkpoint in (run / "checkpoints").glob("step-*"):
        torch.save(Payload(marker), checkpoint / planted)
        rewrite_manifest(checkpoint)
    status, out, err = run_script("intermediate", ["--resume", str(run)], capsys)
    assert not marker.exists(), "code from the run folder ran"
    assert "Traceback" not in out + err
    if planted.endswith(".pkl"):  # listed in the manifest, but a file the format does not read is never opened
        assert status == 0 and "resumed from step-00000006" in out
    else:  # every checkpoint is refused, and the finished run is left as it was
        assert status == 2 and "skipping checkpoint" in out and "none of the 3 checkpoints" in err
        assert (run / "results.json").is_file() and (run / "model" / "model.safetensors").is_file()


def test_resume_and_predict_never_unpickle_anything(context, capsys, monkeypatch):
    import pickle

    def refuse(*args, **kwargs):
        raise AssertionError("something was unpickled")

    run = context.run()
    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, refuse)
    monkeypatch.setattr(torch, "load", refuse)
    status, out, err = run_script("intermediate", ["--resume", str(run)], capsys)
    assert status == 0 and "resumed from step-00000006" in out, err
    status, out, err = run_script("predict", ["--model", str(run / "model"), "--input",
                                              str(context.write("in.txt", "좋다\n"))], capsys)
    assert status == 0, err


def test_remote_code_named_by_a_model_folder_is_never_run(context, capsys):
    """config.json and tokenizer_config.json can name Python files to import (auto_map); they are not."""
    model = context.model_copy()
    marker = context.tmp / "pwned"
    (model / "evil.py").write_text(f"open({str(marker)!r}, 'w')\n")
    edit_json(model / "config.json", lambda j: j.update(auto_map={
        "AutoConfig": "evil.Config", "AutoModelForSequenceClassification": "evil.Model"}))
    edit_json(model / "tokenizer_config.json", lambda j: j.update(auto_map={"AutoTokenizer": ["evil.Tok", None]}))
    status, out, err = run_script("predict", ["--model", str(model), "--input", str(context.write("in.txt", "좋다\n"))],
                                  capsys)
    assert not marker.exists() and "Traceback" not in out + err
    assert status in (0, 2)


# --- damage that is survived: skipped, taken over, or warned about ---------------------------------------

def flip_a_byte(path: Path) -> None:
    content = bytearray(path.read_bytes())
    content[len(content) // 2] ^= 0xFF
    path.write_bytes(bytes(content))


def edit_newest(relative: str, change):
    """A damage: the newest checkpoint's JSON file `relative` changed, its manifest made to agree."""
    def damage(run: Path) -> None:
        checkpoint = newest_checkpoint(run)
        edit_json(checkpoint / relative, change)
        rewrite_manifest(checkpoint)
    return damage


def replace_newest(relative: str, content: str):
    def damage(run: Path) -> None:
        (newest_checkpoint(run) / relative).write_text(content)
    return damage


RECOVERABLE = [
    ("a weight file corrupted at the same size", lambda run: flip_a_byte(newest_checkpoint(run) / "model.safetensors"),
     "does not match its checksum"),
    ("trainer_state.json without its loop", edit_newest("trainer_state.json", lambda state: state.pop("loop")),
     "trainer_state: expected the keys"),
    ("a trainer state of another step",
     edit_newest("trainer_state.json", lambda state: state["loop"].update(global_step=99)), "does not fit this run"),
    ("a loop counter of the wrong type",
     edit_newest("trainer_state.json", lambda state: state["loop"].update(epoch="2")), "trainer_state.loop.epoch"),
    ("optimizer groups that do not fit the model",
     edit_newest("optimizer.json", lambda state: state["param_groups"].append(state["param_groups"][0])),
     "optimizer.json.param_groups"),
    ("a schedule state with a foreign key",
     edit_newest("trainer_state.json", lambda state: state["early_stopping"].update(extra=1)),
     "trainer_state.early_stopping"),
    ("a manifest naming a file outside the checkpoint",
     replace_newest("manifest.json", '{"../../config.yaml": {"bytes": 1}}'), "is not a file of this checkpoint"),
    ("a manifest that is not JSON", replace_newest("manifest.json", "{"), "manifest.json is not valid JSON"),
    ("a manifest that leaves the weights out",
     lambda run: edit_json(newest_checkpoint(run) / "manifest.json", lambda files: files.pop("model.safetensors")),
     "model.safetensors is not listed in the manifest"),
    ("a numpy generator of another kind", edit_newest("rng-0.json", lambda state: state["numpy"].__setitem__(0,
     "PCG64")),
     "not an MT19937 state"),
    ("an optimizer entry without its second moment",
     edit_newest("optimizer.json", lambda state: state["state"]["0"].pop("exp_avg_sq")), "expected the entries"),
    ("an optimizer entry under a superscript index",
     edit_newest("optimizer.json", lambda state: state["state"].__setitem__("\u00b2", state["state"].pop("0"))),
     "expected the entries"),
    ("an optimizer that would maximise the loss",
     edit_newest("optimizer.json", lambda state: state["param_groups"][0].update(maximize=True)),
     "maximize is True, but this run's is False"),
    ("a learning rate of NaN in the optimizer",
     edit_newest("optimizer.json", lambda state: state["param_groups"][0].update(lr=float("nan"))), ".lr is nan"),
    ("a count beyond any float", edit_newest("trainer_state.json", lambda state: state["loop"].update(
        train_samples=10**400)), "does not fit this run"),
    ("a training time of NaN", edit_newest("trainer_state.json", lambda state: state["loop"].update(
        train_runtime_s=float("nan"))), "does not fit this run"),
    ("a best value of NaN", edit_newest("trainer_state.json", lambda state: state["early_stopping"].update(
        best=float("nan"))), "trainer_state.early_stopping does not fit"),
]


@pytest.mark.parametrize("name, damage, warning", RECOVERABLE, ids=[row[0] for row in RECOVERABLE])
def test_a_damaged_checkpoint_is_skipped_for_the_one_before(name, damage, warning, context, capsys):
    run = context.run()
    (run / "results.json").unlink()
    damage(run)
    status, out, err = run_script("intermediate", ["--resume", str(run)], capsys)
    assert status == 0 and "Traceback" not in out + err, err
    assert f"skipping checkpoint {newest_checkpoint(run)}" in out and warning in out
    assert "resumed from step-00000004" in out and (run / "results.json").is_file()


def test_a_checkpoint_folder_with_a_foreign_name_is_ignored(context, capsys):
    run = context.run()
    (run / "checkpoints" / "step-latest").mkdir()
    status, out, err = run_script("intermediate", ["--resume", str(run)], capsys)
    assert status == 0 and "resumed from step-00000006" in out, err


def test_a_metrics_row_cut_by_a_kill_is_dropped_on_resume(context, capsys):
    run = context.run()
    with open(run / "metrics.csv", "a", encoding="utf-8") as handle:
        handle.write("3.1,8,0.69")  # what a kill in the middle of writing the next row leaves
    status, out, err = run_script("intermediate", ["--resume", str(run)], capsys)
    assert status == 0, err
    steps = [line.split(",")[1] for line in (run / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == ["2", "4", "6"]


def test_a_metrics_row_whose_step_is_no_ascii_number_is_dropped_on_resume(context, capsys):
    run = context.run()
    with open(run / "metrics.csv", "a", encoding="utf-8") as handle:
        handle.write("3.1,\u00b2,0.69\n3.1,\uff18,0.69\n")  # a superscript 2 and a full-width 8: isdigit() says yes
    status, out, err = run_script("intermediate", ["--resume", str(run)], capsys)
    assert status == 0 and "Traceback" not in out + err, err
    steps = [line.split(",")[1] for line in (run / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == ["2", "4", "6"]


def test_a_missing_best_checkpoint_exports_the_last_weights_with_a_warning(context, capsys):
    run = context.run()
    best = json.loads((run / "results.json").read_text())["best_step"]
    if best == 6:
        pytest.skip("the best evaluation was the last one in this run")
    shutil.rmtree(run / "checkpoints" / f"step-{best:08d}")
    status, out, err = run_script("intermediate", ["--resume", str(run)], capsys)
    assert status == 0 and "exporting the last weights (step 6)" in out, err
    assert json.loads((run / "results.json").read_text())["best_step"] == 6


# --- two processes, one run --------------------------------------------------------------------------------

def hold_lock(run: Path) -> subprocess.Popen:
    """Another process working in `run`: it holds the lock until killed."""
    holder = subprocess.Popen([sys.executable, "-c", (
        "import fcntl, os, sys, time\n"
        f"handle = open({str(run / '.lock')!r}, 'a+'); fcntl.flock(handle, fcntl.LOCK_EX)\n"
        "handle.truncate(0); handle.write(str(os.getpid())); handle.flush(); print('locked', flush=True)\n"
        "time.sleep(600)\n")], stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    return holder


def test_a_run_in_use_is_refused_and_a_dead_holders_lock_is_taken_over(context, capsys):
    run = context.run()
    holder = hold_lock(run)
    try:
        status, out, err = run_script("intermediate", ["--resume", str(run)], capsys)
        assert status == 2 and err.strip() == (f"error: {run} is in use by another process (pid {holder.pid}); "
                                               f"let it finish or stop it, then try again")
        context.check_nothing_lost()
    finally:
        holder.kill()  # dies without unlocking: the lock is stale now
        holder.wait()
    status, out, err = run_script("intermediate", ["--resume", str(run)], capsys)
    assert status == 0 and "resumed from step-00000006" in out, err


# --- Ctrl-C and SIGTERM outside the training loop ----------------------------------------------------------

def raise_signal(stop: int):
    def handler(*args, **kwargs):
        os.kill(os.getpid(), stop)
        time.sleep(1)  # the signal arrives here
        raise AssertionError("the signal did not interrupt")
    return handler


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
@pytest.mark.parametrize("phase, patched", [
    ("tokenizing", "koelectra_cookbook.data.dataset.encode_documents"),
    ("final evaluation", "koelectra_cookbook.trainers.beginner.BeginnerTrainer.evaluate"),
    ("saving the model", "koelectra_cookbook.trainers.beginner.BeginnerTrainer.save_model"),
])
def test_a_stop_signal_outside_training_exits_130_with_what_to_do(phase, patched, stop, context, capsys,
                                                                   monkeypatch):
    original_evaluate = IntermediateTrainer.evaluate

    def evaluate_then_stop(self, split, *args, **kwargs):
        if self.global_step >= 6 and split.name == "eval":  # the final evaluation, after training
            raise_signal(stop)()
        return original_evaluate(self, split, *args, **kwargs)

    monkeypatch.setattr(patched, evaluate_then_stop if phase == "final evaluation" else raise_signal(stop))
    status, out, err = run_script("intermediate", context.args(), capsys)
    assert status == 130 and "Traceback" not in out + err and "KeyboardInterrupt" not in err
    if phase == "tokenizing":
        assert err.strip() == "interrupted before the run started; nothing was written"
        assert not context.out.exists()
    else:
        run = next((context.out / "nsmc").iterdir())
        assert err.strip().splitlines()[-1] == (f"interrupted; resume with: python {Path(sys.argv[0]).name} "
                                                f"--resume {run}")
        assert not (run / "model").exists() and not [p for p in run.iterdir() if "partial" in p.name]
        monkeypatch.undo()
        status, out, err = run_script("intermediate", ["--resume", str(run)], capsys)
        assert status == 0 and (run / "model" / "model.safetensors").is_file(), err


def wait_until_it_loads(process: subprocess.Popen, library: str) -> None:
    """Return once `process` has mapped a shared library whose name holds `library` (torch is being imported).
    Linux shows a process's mapped files in /proc; elsewhere the test is skipped."""
    maps = Path(f"/proc/{process.pid}/maps")
    if not maps.parent.is_dir():
        process.kill()
        pytest.skip("needs /proc to see what a process has loaded")
    deadline = time.monotonic() + 120
    while library not in maps.read_text(errors="replace"):
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, f"{library} was never loaded"
        time.sleep(0.01)


@pytest.mark.parametrize("script, moment", [("train_beginner.py", "while training"),
                                            ("train_intermediate.py", "while loading the libraries"),
                                            ("predict.py", "while loading the libraries")])
def test_sigterm_to_a_real_process_exits_130_without_a_traceback(script, moment, context):
    argv = context.args("--set", "train.max_steps=null", "--set", "train.epochs=500")
    if script == "predict.py":
        argv = context.predict()
    process = subprocess.Popen([sys.executable, str(PROJECT_ROOT / script), *argv], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    if moment == "while training":
        first = process.stdout.readline()
        while first.startswith("note: "):  # the beginner is told it ignores train.eval_every of the shared args
            first = process.stdout.readline()
        assert first.startswith("task nsmc:")  # set-up is over, training begins
    else:
        wait_until_it_loads(process, "libtorch")  # the phase itself, not a guess at how long it takes to begin
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 130 and "Traceback" not in err, err
    if moment == "while training":
        run = next((context.out / "nsmc").iterdir())
        assert err.strip().splitlines()[-1] == (f"interrupted; {run} is incomplete (the beginner level keeps no "
                                                f"checkpoints to resume from)")
    elif script == "predict.py":  # its own imports are light: torch loads inside, where it says so itself
        assert err.strip() == "interrupted; nothing was written"
    else:
        assert err.strip() == "interrupted before the run started; nothing was written"


# --- silent wrong answers -----------------------------------------------------------------------------------

def test_decomposed_hangul_is_read_as_the_same_text_in_training_and_prediction(context, capsys):
    """Hangul in NFD (macOS file names, some web forms) tokenizes like NFC instead of to [UNK], and an NFD
    label is the same label."""
    import unicodedata

    from koelectra_cookbook.data.token_cache import encode_texts
    from koelectra_cookbook.classifier.loading import load_tokenizer

    texts = ["정말 재밌는 영화였다", "돈 아깝다 최악"]
    decomposed = [unicodedata.normalize("NFD", text) for text in texts]
    tokenizer = load_tokenizer(str(context.model))
    assert [ids.tolist() for ids in encode_texts(decomposed, tokenizer, 32, None)] == \
        [ids.tolist() for ids in encode_texts(texts, tokenizer, 32, None)]
    assert tokenizer.unk_token_id not in encode_texts(decomposed, tokenizer, 32, None)[0]

    model = str(context.run() / "model")
    outputs = [run_script("predict", ["--model", model, "--input", str(context.write(f"{form}.txt", "\n".join(lines)))],
                          capsys)[1] for form, lines in (("nfc", texts), ("nfd", decomposed))]
    assert [row.split(",")[1:] for row in outputs[0].splitlines()] == \
        [row.split(",")[1:] for row in outputs[1].splitlines()]

    argv = context.custom(unicodedata.normalize("NFD", "text,label\n좋다,긍정\n싫다,부정\n좋아,긍정\n"),
                          "text,label\n좋다,긍정\n싫다,부정\n", labels=["부정", "긍정"])
    assert run_script("beginner", argv, capsys)[0] == 0


def test_the_free_space_check_counts_the_tokenizer_files(context, capsys, monkeypatch):
    """A disk with room for the weights alone cannot hold the saved model folder: refused before training."""
    from collections import namedtuple

    from transformers import AutoModelForSequenceClassification

    weights = sum(p.numel() * p.element_size()
                  for p in AutoModelForSequenceClassification.from_pretrained(str(context.model)).parameters())
    usage = namedtuple("usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage(2 * weights, weights, weights + 1000))
    status, out, err = run_script("beginner", context.args(), capsys)
    assert status == 2 and "MiB free, but this run needs about" in err and not context.out.exists()


# --- careless input that must simply work ------------------------------------------------------------------

def test_a_column_named_line_and_a_header_with_label_dot_1_read_as_columns(context, capsys):
    argv = context.custom("line,label,label.1\n좋다,1,x\n싫다,0,y\n좋아,1,z\n", "line,label,label.1\n좋다,1,x\n",
                          text_column="line")
    assert run_script("beginner", argv, capsys)[0] == 0
    status, out, err = run_script("predict", ["--model", str(context.run() / "model"), "--input",
                                              str(context.tmp / "data" / "eval.csv"), "--text-column", "line"], capsys)
    assert status == 0 and out.splitlines()[1].startswith("좋다,"), err


def test_predict_gives_one_row_per_line_whatever_other_line_breaks_a_line_holds(context, capsys):
    lines = ["첫째\x0c폼피드", "둘째\u2028줄", "셋째\x85줄", "넷째\x0b줄"]
    status, out, err = run_script("predict", context.predict(text="\r\n".join(lines) + "\r\n"), capsys)
    assert status == 0, err
    import csv
    import io

    assert [row["text"] for row in csv.DictReader(io.StringIO(out))] == lines


@pytest.mark.parametrize("suffix, separator", [("tsv", "\t"), ("csv", ",")])
def test_a_lone_carriage_return_in_a_field_stays_in_its_text(context, capsys, suffix, separator):
    """A file whose lines end in \n: a stray \r inside a text is a character of it, not the end of a record."""
    records = [["1", "좋다\r싫다"], ["2", "괜찮다"]]
    path = context.write(f"in.{suffix}", "".join(separator.join(r) + "\n" for r in [["id", "text"], *records]))
    status, out, err = run_script("predict", ["--model", str(context.run() / "model"), "--input", str(path),
                                              "--text-column", "text"], capsys)
    assert status == 0, err
    import csv
    import io

    assert [row["text"] for row in csv.DictReader(io.StringIO(out, newline=""))] == ["좋다\r싫다", "괜찮다"]


def test_a_file_of_lone_carriage_returns_still_reads_them_as_line_ends(tmp_path):
    from koelectra_cookbook.data.readers import read_table

    path = tmp_path / "old-mac.csv"
    path.write_bytes("text,label\r좋다,1\r싫다,0\r".encode())
    table = read_table(path, "csv", ["text", "label"])
    assert table.rows["text"].tolist() == ["좋다", "싫다"] and table.lines[1] == 3


def test_labels_that_only_look_alike_stay_apart():
    from koelectra_cookbook.config.schema import normalize_label

    assert [normalize_label(v) for v in ("1_0", "10", "１", "1", "1.0", " 007 ", "+3")] == \
        ["1_0", "10", "１", "1", "1", "7", "3"]


def test_invisible_texts_are_dropped_and_a_shared_train_and_eval_file_is_noted(context, capsys):
    argv = context.custom("text,label\n좋다,1\n\u200b\u200b,0\n싫다,0\n\ufeff,1\n", "text,label\n좋다,1\n")
    argv += ["--set", "data.eval_file=train.csv"]
    status, out, err = run_script("beginner", argv, capsys)
    assert status == 0, err
    assert "train.csv: 2 rows with empty text dropped (lines 3, 5)" in out
    assert "the evaluation file is the training file" in out


def test_label_columns_written_in_decomposed_hangul_are_found(context, capsys):
    import unicodedata

    columns = ["여성/가족", "남성", "성소수자", "인종/국적", "연령", "지역", "종교", "기타 혐오", "악플/욕설", "clean"]
    decomposed = "[" + ", ".join(unicodedata.normalize("NFD", name) for name in columns) + "]"
    status, out, err = run_script("multi-label", ["--task", "unsmile", "--demo", "--output-dir", str(context.out),
                                                  "--set", f"data.label_columns={decomposed}",
                                                  "--set", "train.max_steps=2"], capsys)
    assert status == 0, err


def test_a_resumed_run_writes_nowhere_but_its_own_folder(context, capsys):
    """Its config may come from someone else: a cache folder named there is read, never created or written."""
    run = context.run()
    elsewhere = context.tmp / "elsewhere-cache"
    for name in ("config.yaml", "run.json"):
        text = (run / name).read_text(encoding="utf-8")
        cache = str(context._runs["intermediate"].parents[3] / "cache")
        (run / name).write_text(text.replace(cache, str(elsewhere)), encoding="utf-8")
    (run / "results.json").unlink()
    status, out, err = run_script("intermediate", ["--resume", str(run)], capsys)
    assert status == 0 and "resumed from step-00000006" in out, err
    assert not elsewhere.exists()


def test_unnamed_trailing_columns_are_allowed_and_predict_keeps_quoted_empty_rows(context, capsys):
    argv = context.custom("text,label,,\n좋다,1,,\n싫다,0,,\n", "text,label,,\n좋다,1,,\n")
    assert run_script("beginner", argv, capsys)[0] == 0
    single = context.write("one.csv", 'text\n좋다\n""\n싫다\n')
    status, out, err = run_script("predict", ["--model", str(context.run() / "model"), "--input", str(single),
                                              "--text-column", "text"], capsys)
    assert status == 0 and len(out.splitlines()) == 4, (out, err)


def test_predict_notes_a_text_that_swallowed_lines(context, capsys):
    stray = context.write("stray.tsv", 'text\n"인용 시작\n보통\n끝"\n다음\n')
    status, out, err = run_script("predict", ["--model", str(context.run() / "model"), "--input", str(stray),
                                              "--text-column", "text"], capsys)
    assert status == 0 and f"note: 1 texts run over several lines, the first at {stray}:2" in err


def test_a_large_number_is_a_fine_label_name():
    """Labels are compared as text: a long number is a name, not a value too large for a field."""
    from koelectra_cookbook.config.schema import build_config

    config = build_config([("test", {"task": "mine", "data": {"labels": [0, 12345678901234567890123]}})])
    assert config.data.labels == ["0", "12345678901234567890123"]


def test_dollar_signs_in_label_names_are_drawn_as_text(context, capsys):
    """Matplotlib would read `$\\foo{$` as a malformed formula and stop the run while drawing its plots."""
    status, out, err = run_script("beginner", context.args("--set", "data.label_names=['$\\foo{$', pos]"), capsys)
    assert status == 0, err
    run = next((context.out / "nsmc").iterdir())
    assert (run / "plots" / "confusion_matrix.png").is_file() and (run / "results.json").is_file()


def test_a_folder_nested_deep_in_a_run_is_refused_without_recursion(context, capsys):
    """Python 3.11 walks and removes folders recursively: thousands deep, either would crash. The check walks
    without recursion and refuses folders deeper than a run's own (test kept shallow so pytest can delete it)."""
    run = context.run()
    folder = run / "plots"
    for _ in range(20):
        folder = folder / "d"
        folder.mkdir()
    status, out, err = run_script("intermediate", ["--resume", str(run)], capsys)
    assert status == 2 and "is nested deeper than a run folder's own folders" in err and "Traceback" not in err
