"""IntermediateTrainer: the beginner's loop, plus evaluation during training, several metrics, the best
model kept, early stopping, checkpoints, resume and a clean stop on Ctrl-C.

Hooks overridden: setup, create_run_directory, disk_space_needed, metric_names, on_fit_start, epoch_batches,
should_evaluate, on_evaluate_end, on_step_end, on_fit_end, load_final_model, write_outputs, results_extras, teardown.
Config keys added: train.metrics (all of them), eval_every, evaluate_during_training, es_metric,
es_patience, es_min_delta, save_total_limit, keep_checkpoints.
"""

from __future__ import annotations

import csv
import io
import math
import signal
from pathlib import Path

from koelectra_cookbook.files.atomic import atomic_write
from koelectra_cookbook.runs.checkpoints import CheckpointManager
from koelectra_cookbook.config.schema import Config
from koelectra_cookbook.errors import TrainingInterrupted, UserError, shown
from koelectra_cookbook.runs.directory import RunDirectory
from koelectra_cookbook.runs.reader import RESULTS_FILE
from koelectra_cookbook.files.safe_json import DamagedState, check_fields, check_like
from koelectra_cookbook.files.values import parse_whole_number
from koelectra_cookbook.trainers.state import BestCheckpoint, EarlyStopping, RunningLoss
from koelectra_cookbook.trainers.beginner import BeginnerTrainer
from koelectra_cookbook.trainers.setup_hooks import parameter_bytes


class IntermediateTrainer(BeginnerTrainer):
    """Evaluates on the dev split while training, keeps the best model, stops early, and can resume."""

    level = "intermediate"
    supports_resume = True

    def __init__(self, config: Config, output_dir: str | Path = "runs", resume_dir: Path | None = None,
                 push_to_hub: str | None = None):
        super().__init__(config, output_dir, push_to_hub)
        self.resume_dir = resume_dir
        self._outer_handlers: dict = {}  # the Ctrl-C and SIGTERM handlers fit() replaces while it trains

    def setup(self) -> None:
        """The beginner's set-up, then early stopping, the best checkpoint so far and the checkpoint folder."""
        super().setup()
        train = self.config.train
        self.evaluating = train.evaluate_during_training and self.data.dev is not None
        if train.evaluate_during_training and self.data.dev is None:
            self.accelerator.print("note: no dev split (data.dev_split is 0), so no evaluation during training")
        self.early_stopping = EarlyStopping(train.es_metric, train.es_patience, train.es_min_delta)
        self.best = BestCheckpoint(train.es_metric)
        self.checkpoints = CheckpointManager(self.run_dir.checkpoints_dir, train.save_total_limit)
        self.last_eval_step: int | None = None
        self._skip_batches = 0
        self._stop_signal: int | None = None

    def create_run_directory(self) -> RunDirectory:
        """A resumed run continues in its own directory (locked, so no other process resumes it meanwhile);
        a new run gets a new one."""
        if self.resume_dir is None:
            return super().create_run_directory()
        run = RunDirectory(self.resume_dir)
        if self.accelerator.is_main_process:
            run.lock()
        return run

    def disk_space_needed(self) -> int:
        """The model, plus `save_total_limit` checkpoints and the best one, each holding the weights and the
        optimizer's two moments."""
        return super().disk_space_needed() + parameter_bytes(self.model) * 3 * (self.config.train.save_total_limit + 1)

    def metric_names(self) -> list[str]:
        """Every metric in `train.metrics`."""
        return list(self.config.train.metrics)

    # --- loop hooks --------------------------------------------------------------------------------

    def on_fit_start(self) -> None:
        """Restore the newest checkpoint when resuming; catch Ctrl-C and SIGTERM to stop at a step boundary."""
        super().on_fit_start()
        if self.resume_dir is not None:
            self.restore_latest_checkpoint()
        self._outer_handlers = {stop: signal.signal(stop, self._request_stop)
                                for stop in (signal.SIGINT, signal.SIGTERM)}

    def epoch_batches(self):
        """After a resume, the batches of the interrupted epoch already trained on are skipped, not redrawn."""
        if self._skip_batches:
            skip, self._skip_batches = self._skip_batches, 0
            return self.accelerator.skip_first_batches(self.train_loader, skip)
        return super().epoch_batches()

    def should_evaluate(self, moment: str) -> bool:
        """Every `train.eval_every` steps, or after each epoch when it is null; and when training ends, unless
        the last weights were just evaluated (max_steps can stop mid-epoch). Without evaluation during training
        (train.evaluate_during_training false, or no dev split): as the beginner, once at the end."""
        if not self.evaluating:
            return super().should_evaluate(moment)
        every = self.config.train.eval_every
        if moment == "step":
            return bool(every) and self.global_step % every == 0
        if moment == "epoch":
            return not every
        return self.last_eval_step != self.global_step

    def on_evaluate_end(self, metrics: dict) -> None:
        """After each dev evaluation: the metrics row, the best model, early stopping, then a checkpoint."""
        super().on_evaluate_end(metrics)
        self.last_eval_step = self.global_step
        value = metrics[self.config.train.es_metric]
        self.best.update(value, self.global_step)
        self.early_stopping.update(value)
        if self.early_stopping.should_stop:
            self.log(f"early stopping: no improvement of {self.early_stopping.metric} for "
                     f"{self.early_stopping.patience} evaluations (best {self.early_stopping.best:.4f})")
            self.should_stop = True
        self.save_checkpoint()

    def on_step_end(self) -> None:
        """Honour a stop request (Ctrl-C, SIGTERM) with a checkpoint, then stop with exit status 130."""
        super().on_step_end()
        if self._stop_signal is not None:
            if self.last_eval_step != self.global_step:  # else the evaluation has just saved one
                self.save_checkpoint()
            raise TrainingInterrupted(self.run_dir.path, self.global_step)

    def on_fit_end(self) -> None:
        """After training, Ctrl-C and SIGTERM interrupt at once again."""
        super().on_fit_end()
        self._restore_stop_handlers()

    def teardown(self) -> None:
        """The beginner's teardown; and the handlers `on_fit_start` replaced are back, had fit() ended early."""
        self._restore_stop_handlers()
        super().teardown()

    def load_final_model(self) -> None:
        """Export the best model by `train.es_metric`, not the last weights (its checkpoint was spared)."""
        self.accelerator.wait_for_everyone()
        if self.best.best_step is None or self.best.best_step == self.global_step:
            return
        try:
            self.checkpoints.load_weights(self.best.best_step, self.accelerator.unwrap_model(self.model))
        except UserError as problem:  # the run is not lost: its last weights are exported instead, and said so
            self.accelerator.print(f"warning: {problem}; exporting the last weights (step {self.global_step})")
            self.best.best_step = self.global_step
            return
        self.accelerator.print(f"best model: step {self.best.best_step} "
                               f"({self.best.metric} {self.best.best:.4f} on dev)")

    def write_outputs(self, results: dict, probabilities) -> None:
        """The beginner's outputs; then, the run having ended well, only the checkpoints a --resume of it still
        needs stay: the newest (where it resumes) and the best (whose weights it exports again), unless
        train.keep_checkpoints keeps them all."""
        super().write_outputs(results, probabilities)
        if self.config.train.keep_checkpoints:
            return
        before = len(self.checkpoints.candidates())
        kept = self.checkpoints.keep_only({self.global_step, self.best.best_step})
        if before > len(kept):
            self.log(f"checkpoints: kept {', '.join(p.name for p in kept)} (the newest, for --resume, and the best); "
                     f"removed {before - len(kept)} (train.keep_checkpoints: true keeps them)")

    def results_extras(self) -> dict:
        extras = super().results_extras()
        if self.best.best_step is not None:
            extras["best_step"] = self.best.best_step
        return extras

    # --- checkpoints -------------------------------------------------------------------------------

    LOOP_FIELDS = {"epoch": (int,), "global_step": (int,), "batch_in_epoch": (int,), "train_samples": (int,),
                   "train_runtime_s": (float,), "last_eval_step": (int, type(None)), "skipped_batches": (int,),
                   "fp16_skipped_steps": (int,)}
    PARTS = {"running_loss": RunningLoss, "early_stopping": EarlyStopping, "best": BestCheckpoint}

    def save_checkpoint(self) -> Path:
        """Everything needed to continue exactly: weights, optimizer, RNGs (checkpoints.py) and this state."""
        loop = {"epoch": self.epoch, "global_step": self.global_step, "batch_in_epoch": self.batch_in_epoch,
                "train_samples": self.train_samples, "train_runtime_s": self.train_runtime_s + self.elapsed_s(),
                "last_eval_step": self.last_eval_step, "skipped_batches": self.skipped_batches,
                "fp16_skipped_steps": self.fp16_skipped_steps}
        state = {"loop": loop, **{name: getattr(self, name).state_dict() for name in self.PARTS},
                 "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
                 "scaler": self.accelerator.scaler.state_dict() if self.accelerator.scaler is not None else None}
        return self.checkpoints.save(self.accelerator, self.global_step, self.model, self.optimizer, state,
                                     keep_step=self.best.best_step)

    def check_checkpoint_state(self, state: dict, step: int) -> None:
        """Raise DamagedState unless `state` (trainer_state.json of checkpoint `step`) is one this run can
        continue from. Called before anything is restored, so a bad file costs nothing but a warning."""
        running = state.get("running_loss") if isinstance(state, dict) else None
        if isinstance(running, dict) and set(running) == {"sum", "batches"}:  # written before train_log.csv
            state["running_loss"] = {**running, "log_sum": 0.0, "log_batches": 0}  # its log window starts empty
        check_fields(state, {"loop": (dict,), **{name: (dict,) for name in self.PARTS},
                             "scheduler": (dict, type(None)), "scaler": (dict, type(None))}, "trainer_state")
        loop = check_fields(state["loop"], self.LOOP_FIELDS, "trainer_state.loop")
        numbers = [value for value in loop.values() if value is not None]
        if loop["global_step"] != step or not all(0 <= value < 2**53 for value in numbers) \
                or loop["epoch"] > self.config.train.epochs or loop["batch_in_epoch"] > len(self.train_loader):
            raise DamagedState(f"trainer_state.loop does not fit this run: {shown(loop, 300)}")
        for name, part in self.PARTS.items():
            values = check_fields(state[name], part.STATE_FIELDS, f"trainer_state.{name}").values()
            if not all(value is None or math.isfinite(value) and 0 <= value < 2**53 for value in values):
                raise DamagedState(f"trainer_state.{name} does not fit this run: {shown(state[name])}")
        for name, live in (("scheduler", self.scheduler), ("scaler", self.accelerator.scaler)):
            if (state[name] is None) != (live is None):
                raise DamagedState(f"trainer_state.{name} does not fit this run")
            if live is not None:
                state[name] = check_like(state[name], live.state_dict(), f"trainer_state.{name}")

    def restore_latest_checkpoint(self) -> None:
        restored = self.checkpoints.restore(self.accelerator, self.accelerator.unwrap_model(self.model),
                                            self.optimizer, self.check_checkpoint_state)
        if restored is None:
            self.accelerator.print(f"no complete checkpoint in {self.run_dir.checkpoints_dir}: starting over")
            if self.accelerator.is_main_process:
                self.run_dir.metrics_file.unlink(missing_ok=True)
                self.run_dir.train_log_file.unlink(missing_ok=True)
            return
        checkpoint, state = restored
        loop = state["loop"]
        self.epoch, self.global_step = loop["epoch"], loop["global_step"]
        self.batch_in_epoch = self._skip_batches = loop["batch_in_epoch"]
        self.train_samples, self.train_runtime_s = loop["train_samples"], loop["train_runtime_s"]
        self.last_eval_step = loop["last_eval_step"]
        self.skipped_batches, self.fp16_skipped_steps = loop["skipped_batches"], loop["fp16_skipped_steps"]
        self.load_parts(state)
        if self.scheduler is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.accelerator.scaler is not None:
            self.accelerator.scaler.load_state_dict(state["scaler"])
        self.should_stop = self.early_stopping.should_stop or self.max_steps_reached()
        if self.accelerator.is_main_process:
            for log in (self.run_dir.metrics_file, self.run_dir.train_log_file):
                _drop_metrics_after(log, self.global_step)
        self.accelerator.print(f"resumed from {checkpoint.name} (epoch {self.epoch}, step {self.global_step})")
        if (self.run_dir.path / RESULTS_FILE).is_file():
            self.accelerator.print("note: this run had finished (its results.json is there); resuming it evaluates "
                                   "its final model again and writes the same outputs")

    def load_parts(self, state: dict) -> None:
        """Called by a resume, after the loop's counters: each of PARTS from the checkpoint's (checked) state. A
        level that adds a part extends PARTS and this."""
        self.running_loss.load_state_dict(state["running_loss"], step=self.global_step)
        self.early_stopping.load_state_dict(state["early_stopping"])
        self.best.load_state_dict(state["best"])

    def _restore_stop_handlers(self) -> None:
        for stop, handler in self._outer_handlers.items():
            signal.signal(stop, handler)
        self._outer_handlers = {}

    def _request_stop(self, signum, frame) -> None:
        if self._stop_signal is not None:  # a second Ctrl-C: the user really wants out now
            raise KeyboardInterrupt
        self._stop_signal = signum
        self.log("stopping after this step and saving a checkpoint (press Ctrl-C again to abort)")


def _drop_metrics_after(metrics_file: Path, step: int) -> None:
    """Rows written after the checkpoint will be written again by the resumed run; so will a row that a kill
    cut short."""
    if not metrics_file.exists():
        return
    try:
        with open(metrics_file, newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise UserError(f"{metrics_file}: unreadable ({exc}); move it away to resume without it") from None
    if not rows or rows[0][:2] != ["epoch", "step"]:
        raise UserError(f"{metrics_file}: damaged (its first line is not the header); move it away to resume "
                        f"without it")
    header = rows[0]
    steps = [parse_whole_number(row[1]) if len(row) == len(header) else None for row in rows[1:]]
    kept = [header] + [row for row, at in zip(rows[1:], steps) if at is not None and 0 <= at <= step]
    text = io.StringIO()
    csv.writer(text).writerows(kept)
    atomic_write(metrics_file, text.getvalue())
