"""MultiLabelTrainer: the expert trainer for texts that carry any number of labels (korean_unsmile_dataset).

Multi-label differs in data (float multi-hot targets), head (one sigmoid per label), loss (BCE, focal or dice)
and metrics (with a decision threshold per label) - not in the loop, which stays the beginner's.

Hooks overridden: setup, loss_weights, compute_metrics, calibrate, write_predictions,
write_plots, saved_settings.
Config keys added: train.pos_weight, train.threshold; data.label_columns or data.multi_label.
"""

from __future__ import annotations


import numpy as np
import torch

from koelectra_cookbook.data.dataset import Split
from koelectra_cookbook.classifier.metrics import multi_label_metrics, per_label_report, tune_thresholds
from koelectra_cookbook.runs.plots import plot_learning_curves, plot_per_label_f1
from koelectra_cookbook.trainers.expert import ExpertTrainer


class MultiLabelTrainer(ExpertTrainer):
    """Trains one sigmoid output per label; decision thresholds are tuned per label on the dev split."""

    level = "multi-label"
    problem_type = "multi_label_classification"
    multi_label = True
    default_loss = "bce"

    def setup(self) -> None:
        """The expert's set-up, then the decision thresholds: train.threshold for every label when it is set
        (chosen from the start), else 0.5 until `calibrate` tunes them."""
        super().setup()
        fixed = self.config.train.threshold
        self.thresholds = np.full(len(self.label_names), 0.5 if fixed is None else fixed)
        self.thresholds_chosen = fixed is not None

    def loss_weights(self) -> dict:
        """train.pos_weight for bce, where "balanced" means negatives / positives of each label in train."""
        pos_weight = self.config.train.pos_weight
        if pos_weight == "balanced":
            positives = self.data.train.labels.sum(axis=0)
            pos_weight = ((len(self.data.train) - positives) / np.maximum(positives, 1)).tolist()
        return {"pos_weight": None if pos_weight is None else torch.tensor(pos_weight)}

    def compute_metrics(self, split: Split, probabilities: np.ndarray) -> dict:
        """Metrics at the decision thresholds. Until `calibrate` chooses them (the dev evaluations during
        training), each evaluation is scored at the thresholds tuning would choose for its own probabilities,
        so checkpoints are compared as the final model will be. Nothing is changed here."""
        thresholds = self.thresholds if self.thresholds_chosen else tune_thresholds(split.labels, probabilities)
        return multi_label_metrics(split.labels, probabilities, thresholds, self.metric_names())

    def calibrate(self, dev_probabilities: np.ndarray | None) -> np.ndarray | None:
        """The temperatures first (one per label), then one decision threshold per label, maximising that
        label's F1 on the calibrated dev probabilities (unless train.threshold fixes them, or there is no dev
        split: then 0.5)."""
        dev_probabilities = super().calibrate(dev_probabilities)
        if dev_probabilities is not None and not self.thresholds_chosen:
            self.thresholds = tune_thresholds(self.data.dev.labels, dev_probabilities)
        # as config.json keeps them (6 decimals): a tuned threshold sits on a dev probability, and the run's own
        # scores must be those its saved model gives (evaluate.py, predict.py)
        self.thresholds = np.round(np.asarray(self.thresholds, dtype=np.float64), 6)
        self.thresholds_chosen = True
        return dev_probabilities

    def write_predictions(self, split: Split, probabilities: np.ndarray) -> None:
        """predictions.csv (gold and predicted names joined by "|", then one probability column per label)
        and per_label.csv (precision, recall, F1 and support of each label on the evaluation file)."""
        predicted = probabilities >= self.thresholds
        names = np.array(self.label_names)
        columns = {
            "text": split.texts,
            "labels": ["|".join(names[row.astype(bool)]) for row in split.labels],
            "predicted": ["|".join(names[row]) for row in predicted],
        }
        for index, name in enumerate(self.label_names):
            columns[name] = [f"{p:.6f}" for p in probabilities[:, index]]
        self.run_dir.write_csv("predictions.csv", columns)
        report = per_label_report(split.labels, predicted, self.label_names)
        thresholds = dict(zip(self.label_names, self.thresholds))
        self.run_dir.write_csv("per_label.csv", {
            "label": [r["label"] for r in report],
            "threshold": [f"{thresholds[r['label']]:.4f}" for r in report],
            **{key: [f"{r[key]:.4f}" if isinstance(r[key], float) else r[key] for r in report]
               for key in ("precision", "recall", "f1", "support")},
        })

    def write_plots(self, split: Split, probabilities: np.ndarray) -> None:
        """Learning curves and each label's F1 (a confusion matrix does not fit multi-label data)."""
        plot_learning_curves(self.run_dir.metrics_file, self.run_dir.plots_dir, self.run_dir.train_log_file)
        plot_per_label_f1(self.run_dir.path / "per_label.csv", self.run_dir.plots_dir)

    def saved_settings(self) -> dict:
        """The tuned thresholds travel with the model, in its config.json (`thresholds`, in label-id order)."""
        return {**super().saved_settings(), "thresholds": [float(t) for t in self.thresholds]}
