"""The trainer of one sweep trial: the expert (or multi-label) trainer, reporting its dev evaluations to Optuna.

Three small hook overrides, no change to the loop:
- `should_evaluate`: evaluate `evals_per_epoch` times per epoch, at the same shares of an epoch whatever the
  trial's batch size, so the pruner compares trials that have seen the same amount of data;
- `on_evaluate_end`: report the dev value of train.es_metric to Optuna (its step: evaluations so far, counted
  in those shares), and ask the pruner; a trial to prune stops training as early stopping does;
- `load_final_model`: a pruned trial ends here (after `fit` has cleaned up), with `TrialPruned`, before its
  final evaluation; the sweep writes `results.json` saying so.
The run folder goes in the sweep's folder, `<output-dir>/<task>/sweep-<study>/` (`runs_folder`). Without a
trial (the best config's runs of --repeat-best) nothing is reported: the runs only evaluate on the same schedule.
"""

from __future__ import annotations

from pathlib import Path

import optuna

from koelectra_cookbook.config.schema import Config
from koelectra_cookbook.trainers.expert import ExpertTrainer
from koelectra_cookbook.trainers.multi_label import MultiLabelTrainer


class ReportsToOptuna:
    """Mixed in before a trainer class of the intermediate level or above."""

    def __init__(self, config: Config, runs_folder: Path, trial: optuna.Trial | None, evals_per_epoch: int):
        super().__init__(config, output_dir=runs_folder)
        self.trial = trial  # None: an ordinary run in the sweep's folder (the best config's repeats)
        self.evals_per_epoch = evals_per_epoch
        self.evaluated_mark = 0
        self.pruned_at: int | None = None
        self.last_dev_metrics: dict | None = None

    def runs_folder(self) -> Path:
        """The sweep's folder, <output-dir>/<task>/sweep-<study>/ (the trainer was given it as output_dir)."""
        return self.output_dir

    def epoch_mark(self) -> int:
        """How many 1/evals_per_epoch shares of an epoch the run has trained on."""
        progress = self.epoch + self.batch_in_epoch / max(len(self.train_loader), 1)
        return int(progress * self.evals_per_epoch + 1e-9)

    def should_evaluate(self, moment: str) -> bool:
        """At each new share of an epoch (instead of train.eval_every), and at the end when not just done."""
        if not self.evaluating or moment == "end":
            return super().should_evaluate(moment)
        return moment == "step" and self.epoch_mark() > self.evaluated_mark

    def on_evaluate_end(self, metrics: dict) -> None:
        """After the intermediate level's bookkeeping: report the selection metric, and stop if the pruner says
        so (the run then ends in `load_final_model`)."""
        super().on_evaluate_end(metrics)
        self.last_dev_metrics = metrics
        mark = self.epoch_mark()
        if mark <= self.evaluated_mark:  # the evaluation at the end, right after the last share's
            return
        self.evaluated_mark = mark
        if self.trial is None:
            return
        value = metrics[self.config.train.es_metric]
        self.trial.report(value, step=mark)
        if self.trial.should_prune():
            self.pruned_at = mark
            self.should_stop = True
            self.log(f"pruned after {mark / self.evals_per_epoch:.2f} epochs: {self.config.train.es_metric} "
                     f"{value:.4f} is worse than the median of the completed trials there")

    def load_final_model(self) -> None:
        if self.pruned_at is not None:
            raise optuna.TrialPruned(f"pruned at step {self.pruned_at}")
        super().load_final_model()


class ExpertTrial(ReportsToOptuna, ExpertTrainer):
    """A single-label trial."""


class MultiLabelTrial(ReportsToOptuna, MultiLabelTrainer):
    """A multi-label trial."""
