"""The task registry: what each built-in dataset looks like on disk and where it comes from.

A task's `data_defaults` are the lowest config layer for its `data:` section, so config/nsmc.yaml only has to
say what a user may want to change. Any other task name is a user's own dataset, described fully in YAML.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class RemoteFile:
    """A file the project downloads itself, with the row count that proves it arrived whole."""

    name: str
    url: str
    rows: int


@dataclass(frozen=True)
class HubDataset:
    """The same dataset on the Hugging Face Hub, named in model cards (`datasets`, `model-index`)."""

    id: str
    pretty_name: str
    eval_split: str  # the Hub split that holds our evaluation file
    config: str | None = None
    # `data.source: hub` reads this twin instead of the files: the data keys that differ there (columns, revision);
    # None: no twin the task can switch to (its files come from several configurations)
    differences: dict | None = None

    def layer(self) -> dict:
        """The `data:` keys that point a built-in task at this twin (a config layer above the task's defaults)."""
        return {"dataset": self.id, "dataset_config": self.config, "dataset_eval_split": self.eval_split,
                **(self.differences or {})}


@dataclass(frozen=True)
class TaskSpec:
    """A built-in task: its file layout (as config defaults), headline metric and download sources."""

    name: str
    description: str
    metric: str
    data_defaults: dict[str, Any]
    remote_files: tuple[RemoteFile, ...] = field(default=())
    hub_dataset: HubDataset | None = None
    train_defaults: dict[str, Any] = field(default_factory=dict)  # the lowest layer of `train:` (task_type)


_GITHUB = "https://raw.githubusercontent.com"
UNSMILE_LABELS = ["여성/가족", "남성", "성소수자", "인종/국적", "연령", "지역", "종교", "기타 혐오", "악플/욕설", "clean"]
_KOR_NLU = f"{_GITHUB}/kakaobrain/kor-nlu-datasets/master"
_KLUE = f"{_GITHUB}/KLUE-benchmark/KLUE/main/klue_benchmark"


def _remote(folder_url: str, rows: dict[str, int]) -> tuple[RemoteFile, ...]:
    """The files of one folder, each with its published row count."""
    return tuple(RemoteFile(name, f"{folder_url}/{name}", count) for name, count in rows.items())


TASKS: dict[str, TaskSpec] = {
    "nsmc": TaskSpec(
        name="nsmc",
        description="Naver movie review sentiment (binary)",
        metric="accuracy",
        data_defaults={
            "dir": "data/nsmc",
            "train_file": "ratings_train.txt",
            "eval_file": "ratings_test.txt",
            "format": "tsv",
            "text_column": "document",
            "label_column": "label",
            "labels": ["0", "1"],
            "label_names": ["negative", "positive"],
        },
        remote_files=_remote(f"{_GITHUB}/e9t/nsmc/master", {"ratings_train.txt": 150_000,
                                                             "ratings_test.txt": 50_000}),
        # e9t/nsmc is a loading-script dataset: its Parquet copy is on the Hub's conversion branch
        hub_dataset=HubDataset("e9t/nsmc", "NSMC", eval_split="test",
                               differences={"dataset_revision": "refs/convert/parquet"}),
    ),
    "ynat": TaskSpec(
        name="ynat",
        description="KLUE-YNAT news headline topic (7 classes)",
        metric="macro_f1",
        data_defaults={
            "dir": "data/ynat",
            "train_file": "ynat-v1.1_train.json",
            "eval_file": "ynat-v1.1_dev.json",
            "format": "json",
            "text_column": "title",
            # The human topic label. `predefined_news_category` is the news section, a different target.
            "label_column": "label",
            # KLUE's label-id order.
            "labels": ["IT과학", "경제", "사회", "생활문화", "세계", "스포츠", "정치"],
        },
        remote_files=_remote(f"{_KLUE}/ynat-v1.1", {"ynat-v1.1_train.json": 45_678, "ynat-v1.1_dev.json": 9_107}),
        hub_dataset=HubDataset("klue/klue", "KLUE-YNAT", eval_split="validation", config="ynat", differences={}),
    ),
    "unsmile": TaskSpec(
        name="unsmile",
        description="korean_unsmile_dataset hate speech categories (multi-label)",
        metric="macro_f1",
        data_defaults={
            "dir": "data/unsmile",
            "train_file": "unsmile_train_v1.0.tsv",
            "eval_file": "unsmile_valid_v1.0.tsv",
            "format": "tsv",
            "text_column": "문장",
            # The 10 categories. `개인지칭` (a person is targeted) is a tag, not a category: add it by naming it.
            "label_columns": UNSMILE_LABELS,
        },
        remote_files=_remote(f"{_GITHUB}/smilegate-ai/korean_unsmile_dataset/main",
                             {"unsmile_train_v1.0.tsv": 15_005, "unsmile_valid_v1.0.tsv": 3_737}),
        # on the Hub the ten categories are one multi-hot `labels` list (assumed in the TSV files' column order)
        hub_dataset=HubDataset("smilegate-ai/kor_unsmile", "korean_unsmile_dataset", eval_split="valid",
                               differences={"label_column": "labels", "label_columns": None, "multi_label": True,
                                            "labels": UNSMILE_LABELS}),
    ),
}


NLI_LABELS = ["entailment", "neutral", "contradiction"]  # KLUE's label-id order, and KorNLI's
# kakaobrain/kor-nlu-datasets' layout, KorNLI's and KorSTS's alike.
_KOR_NLU_LAYOUT = {"format": "tsv", "quoting": False, "text_column": "sentence1", "text_pair_column": "sentence2"}



# Sentence pairs. KorNLI and KorSTS are tab-separated without quoting, and several sentences hold an unbalanced
# quote: read with quoting, xnli.dev.ko.tsv gives 1,571 rows of its 2,490 (data.quoting: false reads them all).
TASKS.update({
    "kornli": TaskSpec(
        "kornli", "KorNLI natural language inference (sentence pairs, 3 classes)",
        metric="accuracy", data_defaults={
            "dir": "data/kornli",
            # Machine-translated MultiNLI and SNLI; the dev and test files are human-translated XNLI.
            "train_file": ["multinli.train.ko.tsv", "snli_1.0_train.ko.tsv"],
            "dev_file": "xnli.dev.ko.tsv",
            "eval_file": "xnli.test.ko.tsv",
            **_KOR_NLU_LAYOUT,
            "label_column": "gold_label",
            "labels": NLI_LABELS,
        },
        remote_files=_remote(f"{_KOR_NLU}/KorNLI", {"multinli.train.ko.tsv": 392_702, "snli_1.0_train.ko.tsv": 550_152,
                                                    "xnli.dev.ko.tsv": 2_490, "xnli.test.ko.tsv": 5_010}),
        hub_dataset=HubDataset("kakaobrain/kor_nlu", "KorNLI", eval_split="test", config="nli"),
    ),
    "korsts": TaskSpec(
        "korsts", "KorSTS semantic textual similarity (sentence pairs, a 0-5 score)",
        metric="spearman", data_defaults={  # spearman: what KoELECTRA's table reports for KorSTS
            "dir": "data/korsts",
            "train_file": "sts-train.tsv",
            "dev_file": "sts-dev.tsv",
            "eval_file": "sts-test.tsv",
            **_KOR_NLU_LAYOUT,
            "label_column": "score",
        },
        remote_files=_remote(f"{_KOR_NLU}/KorSTS", {"sts-train.tsv": 5_749, "sts-dev.tsv": 1_500,
                                                    "sts-test.tsv": 1_379}),
        hub_dataset=HubDataset("kakaobrain/kor_nlu", "KorSTS", eval_split="test", config="sts"),
        train_defaults={"task_type": "regression"},
    ),
    "klue-nli": TaskSpec(
        "klue-nli", "KLUE-NLI natural language inference (sentence pairs, 3 classes)",
        metric="accuracy", data_defaults={
            "dir": "data/klue-nli",
            "train_file": "klue-nli-v1.1_train.json",
            "eval_file": "klue-nli-v1.1_dev.json",  # the test set is hidden: the dev set is the evaluation file
            "format": "json",
            "text_column": "premise",
            "text_pair_column": "hypothesis",
            "label_column": "gold_label",
            "labels": NLI_LABELS,
        },
        remote_files=_remote(f"{_KLUE}/klue-nli-v1.1", {"klue-nli-v1.1_train.json": 24_998,
                                                        "klue-nli-v1.1_dev.json": 3_000}),
        hub_dataset=HubDataset("klue/klue", "KLUE-NLI", eval_split="validation", config="nli",
                               differences={"label_column": "label"}),
    ),
    "klue-sts": TaskSpec(
        "klue-sts", "KLUE-STS semantic textual similarity (sentence pairs, a 0-5 score)",
        metric="pearson", data_defaults={
            "dir": "data/klue-sts",
            "train_file": "klue-sts-v1.1_train.json",
            "eval_file": "klue-sts-v1.1_dev.json",
            "format": "json",
            "text_column": "sentence1",
            "text_pair_column": "sentence2",
            "label_column": "labels.real-label",  # the unrounded score; labels.binary-label is real-label >= 3
        },
        remote_files=_remote(f"{_KLUE}/klue-sts-v1.1", {"klue-sts-v1.1_train.json": 11_668,
                                                        "klue-sts-v1.1_dev.json": 519}),
        hub_dataset=HubDataset("klue/klue", "KLUE-STS", eval_split="validation", config="sts", differences={}),
        train_defaults={"task_type": "regression", "binary_threshold": 3.0},
    ),
})


def task_spec(name: str) -> TaskSpec | None:
    """The built-in task of that name, or None for a user's own dataset."""
    return TASKS.get(name)
