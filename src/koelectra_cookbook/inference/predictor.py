"""Predictor: a saved model turned into label probabilities for a list of texts, in input order (batched by
length, put back in order), in full precision or int8, by one process or several. A text longer than the model's
window is read as the model was trained to read it (its config.json's `long_text`: data/long_text.py): windows
of one text are batched with other rows, then combined into one prediction per text."""

from __future__ import annotations

import dataclasses

from pathlib import Path

import numpy as np

from koelectra_cookbook.classifier.folder_checks import check_safe_weights, check_saved_model
from koelectra_cookbook.classifier.model_folder import ModelFolder, read_model_folder
from koelectra_cookbook.data.lengths import cut_into_batches, length_sorted_order, pad_rows, restore_order, segment_ids
from koelectra_cookbook.data.long_text import LongText, check_settings, combine, cut_report, document_rows, from_saved
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.inference.encoded import Encoded
from koelectra_cookbook.inference.int8.cache import check_quantize_option, load_int8_classifier
from koelectra_cookbook.inference.processes import Processes


class Predictor:
    """A saved model and its tokenizer, ready to turn texts into label probabilities.

    `quantize="int8"`: predict with an int8 copy of the model on the CPU (int8/); once it is cached, this
    path imports neither torch nor transformers. `processes`: several processes started by torchrun or
    `accelerate launch` share the work (processes.py beside this); each ends with every row's probabilities."""

    def __init__(self, model_dir: Path, batch_size: int | None = None, *, quantize: str | None = None,
                 processes: Processes | None = None, long_text: str | None = None):
        folder = read_model_folder(model_dir)  # config.json, read once and passed down
        self.processes = processes or Processes()
        check_quantize_option(quantize, self.processes)
        check_safe_weights(folder.path, folder)
        check_saved_model(folder)  # labels and token types, before anything loads
        if quantize == "int8":
            self.model = load_int8_classifier(folder, self.processes)
        else:
            from koelectra_cookbook.inference.full_precision import FullPrecisionClassifier  # torch and transformers take seconds to import

            self.model = FullPrecisionClassifier(folder, self.processes.device())
        self.label_names, self.thresholds = self.model.label_names, self.model.thresholds
        self.multi_label = self.model.multi_label
        self.regression = getattr(self.model, "regression", False)  # a score per row (one output)
        self.sentence_pair = getattr(self.model, "sentence_pair", False)  # two texts per row
        # Int8 batches run one per core (int8/runtime.py), and shorter ones measured faster there (docs/benchmarks.md).
        self.batch_size = batch_size or (16 if quantize == "int8" else 64)
        self.long_text = self.reading(folder, long_text)
        self.temperature = folder.temperature()  # already in the weights (calibration): for /info, never applied
        self.last_cut: dict | None = None  # what the last call's long texts lost (predict.py's summary says it)

    def reading(self, folder: ModelFolder, mode: str | None) -> LongText:
        """How this model reads a long text: as saved with it (`long_text` in config.json), with `mode` (predict.py
        --long-text) in place of the saved mode when given. A model saved before long_text existed truncates
        at the longest input it takes."""
        saved, config_file = folder.long_text, folder.config_file
        prefix, suffix = self.model.specials
        if saved is None:
            room = self.model.max_seq_len - len(prefix) - len(suffix)
            settings = LongText("truncate", self.model.max_seq_len, room // 4, room // 4,
                                "max" if self.multi_label else "mean")
        else:
            settings = from_saved(saved, f"{config_file}")
        if mode is not None:
            if self.sentence_pair and mode != "truncate":
                raise UserError(f"--long-text {mode}: a sentence-pair model reads its pairs truncated")
            settings = dataclasses.replace(settings, mode=mode)
        check_settings(settings, len(prefix) + len(suffix), f"{config_file}")
        if settings.max_seq_len > self.model.max_seq_len:  # beyond the position table: an index error in the model
            raise UserError(f"{config_file}: long_text max_seq_len {settings.max_seq_len} is more "
                            f"than the model takes ({self.model.max_seq_len} tokens)")
        return settings

    def probabilities(self, texts: list[str], pairs: list[str] | None = None) -> np.ndarray:
        """Probabilities of shape (len(texts), labels): softmax, or one sigmoid per label (multi-label); for a
        regression model, the scores, shape (len(texts), 1). `pairs`: the second texts of a pair model."""
        return self.activate(self.logits(self.encode(texts, pairs)))

    def encode(self, texts: list[str], pairs: list[str] | None = None) -> Encoded:
        """The rows the model reads for `texts` (and `pairs`): a long text's windows, a pair cut to fit."""
        if (pairs is not None) != self.sentence_pair:
            raise UserError("this model compares two texts: give the second text of each row too" if self.sentence_pair
                            else "this model classifies one text: it takes no second text")
        if pairs is not None:
            # cut where training cut them (the saved long_text's max_seq_len), not at the position table
            token_ids, first_lengths = self.model.pair_token_ids(texts, pairs, self.long_text.max_seq_len)
            return Encoded(token_ids, None, np.asarray(first_lengths), len(texts))
        documents = self.model.document_ids(texts)
        prefix, suffix = self.model.specials
        token_ids, starts = document_rows(documents, prefix, suffix, self.long_text)
        self.last_cut = cut_report(np.fromiter(map(len, documents), dtype=np.int64, count=len(documents)),
                                   self.long_text, len(prefix) + len(suffix), len(token_ids))
        return Encoded(token_ids, starts, None, len(texts))

    def logits(self, encoded: Encoded, batch_size: int | None = None) -> np.ndarray:
        """One row of logits per text of `encoded`, in its order: its rows batched by length (`batch_size` rows a
        batch, the Predictor's unless given; shared among processes), a long text's windows combined as the model
        was trained to."""
        token_ids, first_lengths = encoded.rows, encoded.first_lengths
        order = length_sorted_order([len(ids) for ids in token_ids])
        batches = self.processes.share(cut_into_batches(order, batch_size or self.batch_size))

        def padded(batch: list[int]) -> tuple[np.ndarray, ...]:
            input_ids, attention_mask = pad_rows([token_ids[row] for row in batch], self.model.pad_token_id)
            if first_lengths is None:
                return input_ids, attention_mask
            return input_ids, attention_mask, segment_ids(first_lengths[batch], attention_mask)

        chunks = [np.zeros((0, len(self.label_names)), dtype=np.float32)]  # a process may get no batch at all
        chunks.extend(self.model.logits_in_order(padded(batch) for batch in batches))
        visited = np.array([row for batch in batches for row in batch], dtype=np.int64)
        visited, logits = self.processes.gather(visited, np.concatenate(chunks).astype(np.float32))
        # every process now holds every row: a text's windows, wherever they were computed, become one
        return combine(restore_order(logits, visited), encoded.starts, self.long_text.combine)

    def activate(self, logits: np.ndarray, function: str | None = None) -> np.ndarray:
        """Logits -> what the model outputs: `function` "softmax", "sigmoid" or "none", or the model's own
        (regression: none; multi-label: sigmoid; else softmax), as transformers' pipeline chooses it."""
        function = function or ("none" if self.regression else "sigmoid" if self.multi_label else "softmax")
        return logits if function == "none" else sigmoid(logits) if function == "sigmoid" else softmax(logits)

    def table(self, texts: list[str], top_k: int = 1, pairs: list[str] | None = None) -> dict[str, list]:
        """Output columns: text (and text_pair), prediction(s) and score(s); multi-label: predicted names and
        each probability; regression: the predicted score. Blank texts keep their row, with empty predictions."""
        kept = [i for i, text in enumerate(texts) if text.strip() and (pairs is None or pairs[i].strip())]
        probabilities = np.zeros((len(texts), len(self.label_names)))
        if kept:
            probabilities[kept] = self.probabilities([texts[i] for i in kept],
                                                     None if pairs is None else [pairs[i] for i in kept])
        blank = np.ones(len(texts), dtype=bool)
        blank[kept] = False
        return {"text": texts, **({"text_pair": pairs} if pairs is not None else {}),
                **self.prediction_columns(probabilities, blank, top_k)}

    def prediction_columns(self, probabilities: np.ndarray, blank: np.ndarray, top_k: int = 1) -> dict[str, list]:
        """The model's output columns for rows of `probabilities` (`probabilities()`'s), empty where `blank`
        (predict.py's and evaluate.py's)."""
        columns: dict[str, list] = {}
        if self.regression:
            columns["prediction"] = ["" if blank[i] else f"{p:.6f}" for i, p in enumerate(probabilities[:, 0])]
            return columns
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
