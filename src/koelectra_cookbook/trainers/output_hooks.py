"""OutputHooks: what a run leaves behind once trained (model/, predictions.csv, the plots, results.json),
written by `BeginnerTrainer.run()` through these hooks; the multi-label trainer overrides three of them."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from koelectra_cookbook.files.atomic import atomic_folder
from koelectra_cookbook.data.dataset import Split
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.classifier.metrics import confusion_matrix
from koelectra_cookbook.runs.calibration_plot import plot_reliability
from koelectra_cookbook.runs.card_calibration import shown_temperature
from koelectra_cookbook.runs.model_card import portable_path, write_model_card
from koelectra_cookbook.runs.plots import (NO_HANGUL_FONT_WARNING, hangul_font, plot_confusion_matrix, plot_learning_curves,
                                          plot_predicted_scores)


class OutputHooks:
    """Mixed into BeginnerTrainer: called once, on the main process, at the end of `run()`."""

    def write_outputs(self, results: dict, probabilities: np.ndarray) -> None:
        """model/ first (whole or not at all), then predictions and plots, and results.json last: its presence
        means the run finished. A full disk is one clear error; a resumable run keeps its checkpoints."""
        try:
            with atomic_folder(self.run_dir.model_dir) as partial:
                self.save_model(partial)
                self.write_card(partial, results)
            self.write_predictions(self.data.eval, probabilities)
            if hangul_font() is None and any(not name.isascii() for name in self.label_names):
                print(NO_HANGUL_FONT_WARNING, file=sys.stderr)
            self.write_plots(self.data.eval, probabilities)
            if "calibration" in results:
                plot_reliability(results["calibration"], self.run_dir.plots_dir,
                                 f"{self.config.task}: calibration (temperature "
                                 f"{shown_temperature(results['calibration']['temperature'])})")
            self.run_dir.write_results(results)
        except OSError as exc:
            then = (f"its checkpoints are kept: free some space, then --resume {self.run_dir.path}"
                    if self.supports_resume else "the beginner level keeps no checkpoints: free some space and "
                                                 "run it again")
            raise UserError(f"cannot write the outputs of run {self.run_dir.path} ({exc.strerror or exc}); {then}") \
                from None

    def write_card(self, directory: Path, results: dict) -> None:
        """Called by `write_outputs` after `save_model`: the model card (README.md) beside the saved model."""
        write_model_card(directory, self.config, self.label_names, results, self.data, self.level,
                         model_ref=self.model_reference(),
                         model_name=self.push_to_hub or f"{self.config.task}-{self.run_dir.path.name}")

    def model_reference(self) -> str:
        """What the model card's usage example loads: the Hub id the run is pushed to, or the final model
        folder, relative to where the run was started (a card never names an absolute local path)."""
        return self.push_to_hub or portable_path(str(self.run_dir.model_dir), Path.cwd(), keep=3)

    def saved_settings(self) -> dict:
        """What the saved model says of itself in config.json beyond transformers' own keys, for predict.py,
        evaluate.py, the page and the card: whether it reads sentence pairs (`sentence_pair`), how it read long
        texts (`long_text`), the columns it was trained on (`columns`: predict.py and evaluate.py default to
        them), the labels as its files wrote them where they differ from its label names (`label_values`: nsmc's
        0 and 1 for negative and positive), and decision thresholds (None: the key is left out). Every key is
        written from this run: a checkpoint fine-tuned further carries the keys of its own run in its config,
        and they must not pass on (a single-text model trained from a pair model is no pair model)."""
        data = self.config.data
        columns = {"text": data.text_column, "text_pair": data.text_pair_column,
                   "label": None if data.label_columns else data.label_column, "label_columns": data.label_columns}
        values = self.data.label_values
        return {"sentence_pair": self.data.train.pairs is not None, "long_text": self.data.long_text.to_dict(),
                "columns": {key: value for key, value in columns.items() if value},
                "label_values": values if values and list(values) != list(self.label_names) else None,
                "thresholds": None, "adapted_by": None}  # a pretrain.py base's note is the card's, not this model's

    def save_model(self, directory: Path) -> None:
        """Save model and tokenizer so `transformers.pipeline("text-classification", model=directory)` works,
        with saved_settings() in its config.json."""
        model = self.accelerator.unwrap_model(self.model)
        for key, value in self.saved_settings().items():
            if value is not None:
                setattr(model.config, key, value)
            elif hasattr(model.config, key):
                delattr(model.config, key)
        model.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)

    def write_predictions(self, split: Split, probabilities: np.ndarray) -> None:
        """Called once at the end, on the main process: predictions.csv for the evaluation file (both texts of
        a pair; for regression the gold and predicted score)."""
        texts = {"text": split.texts, **({"text_pair": split.pairs} if split.pairs is not None else {})}
        if self.regression:
            self.run_dir.write_csv("predictions.csv", {
                **texts, "label": [f"{v:g}" for v in split.labels], "prediction": [f"{p:.6f}" for p in probabilities]})
            return
        predicted = probabilities.argmax(-1)
        self.run_dir.write_csv("predictions.csv", {
            **texts,
            "label": [self.label_names[i] for i in split.labels],
            "prediction": [self.label_names[i] for i in predicted],
            "score": [f"{p:.6f}" for p in probabilities[np.arange(len(predicted)), predicted]],
        })

    def write_plots(self, split: Split, probabilities: np.ndarray) -> None:
        """Called once at the end, on the main process: learning curves and the confusion matrix (for
        regression, predicted against gold scores)."""
        plot_learning_curves(self.run_dir.metrics_file, self.run_dir.plots_dir, self.run_dir.train_log_file)
        if self.regression:
            plot_predicted_scores(split.labels, probabilities, self.run_dir.plots_dir,
                                  f"{self.config.task}: {split.name} ({len(split)} rows)")
            return
        matrix = confusion_matrix(split.labels, probabilities.argmax(-1), len(self.label_names))
        plot_confusion_matrix(matrix, self.label_names, self.run_dir.plots_dir,
                              f"{self.config.task}: {split.name} ({len(split)} rows)")

    def results_extras(self) -> dict:
        """What results.json holds beside the metrics."""
        speed = round(self.train_samples / self.train_runtime_s, 2) if self.train_runtime_s else None
        return {
            "train_samples_per_s": speed,
            "train_runtime_s": round(self.train_runtime_s, 2),
            "best_step": self.global_step,
            "long_texts": self.data.cut,
            **({"skipped_batches": self.skipped_batches} if self.skipped_batches else {}),
            **({"fp16_skipped_steps": self.fp16_skipped_steps} if self.fp16_skipped_steps else {}),
        }
