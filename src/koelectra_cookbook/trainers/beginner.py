"""BeginnerTrainer: fine-tune, evaluate, predict. The training loop of the whole project lives here, once.

`run()` is the recipe and `fit()` the loop. Each step of either is a small method (a hook); the intermediate and
expert trainers change behaviour by overriding a hook or two and calling super(), never the loop. The hooks, in
the order they run:

    run()                       (before it, the script has checked the config: config/levels.py)
      setup()                   accelerator_options, prepare_tokenizer, build_data, build_model, prepare_model,
                                create_loss, parameter_groups, count_total_steps (accumulation_steps),
                                create_scheduler, create_run_directory (these set-up hooks are in setup_hooks.py)
      fit()
        on_fit_start()
        each epoch:   on_epoch_start()
          each batch of epoch_batches():  train_on_batch()
                        training_step -> backward -> should_step? -> optimizer_step
                        every train.log_every steps: on_log()
                        should_evaluate("step")? -> evaluate_dev()
                        on_step_end()
          after it:     should_evaluate("epoch")? -> evaluate_dev()
        should_evaluate("end")? -> evaluate_dev()
        on_fit_end()
      load_final_model()
      evaluate(dev split) -> calibrate() -> evaluate(evaluation file)
                                (a temperature fitted on dev, folded into the model and checked on the dev split
                                once more: calibration_hooks.py)
      write_outputs()           save_model (saved_settings), write_card, write_predictions, write_plots, results.json
                                (output_hooks.py)
      teardown()                always, however run() ends: trackers closed, CPU threads and signal handlers
                                given back, the run folder unlocked

    evaluate_dev() = evaluate(dev split) -> on_evaluate_end(metrics)
    evaluate(split) = predict_logits -> loss, probabilities -> compute_metrics   (evaluation_hooks.py)

Config keys used here: model.*, data.*, train.epochs, max_steps, batch_size, eval_batch_size, learning_rate,
weight_decay, seed, metrics, log_every, nan_policy, report_to, num_threads, task_type, binary_threshold,
calibration.
The other train.* keys belong to the higher levels (config/levels.py names one set that this level ignores).
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch
from accelerate import Accelerator
from accelerate.utils import set_seed
from tqdm.auto import tqdm

from koelectra_cookbook.config.schema import Config
from koelectra_cookbook.data.batching import LengthGroupedBatchSampler, model_inputs
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.classifier.loading import check_model_limits, load_tokenizer
from koelectra_cookbook.runs.plots import plot_learning_curves
from koelectra_cookbook.runs.directory import flat_config
from koelectra_cookbook.trainers.cpu_threads import CpuThreads
from koelectra_cookbook.trainers.state import RunningLoss
from koelectra_cookbook.trainers.console import results_summary, run_summary
from koelectra_cookbook.trainers.calibration_hooks import CalibrationHooks
from koelectra_cookbook.trainers.evaluation_hooks import EvaluationHooks
from koelectra_cookbook.trainers.output_hooks import OutputHooks
from koelectra_cookbook.trainers.setup_hooks import SetupHooks, check_cache_location


class BeginnerTrainer(SetupHooks, EvaluationHooks, CalibrationHooks, OutputHooks):
    """Fine-tunes a classifier with AdamW at a constant learning rate, then evaluates and predicts. The hooks
    that build the run are in setup_hooks.py, those that score a split in evaluation_hooks.py, the temperature in
    calibration_hooks.py, those that write what it leaves behind in output_hooks.py (as Lightning keeps a
    module's hooks beside it); the recipe and the loop are here."""

    level = "beginner"
    supports_resume = False  # the intermediate level adds checkpoints and --resume
    problem_type = "single_label_classification"
    multi_label = False

    def __init__(self, config: Config, output_dir: str | Path = "runs", push_to_hub: str | None = None):
        """Only stores its arguments: `setup()`, the first step of `run()`, builds everything. `push_to_hub` is
        the Hub id the model will be uploaded to after the run (the card's usage example names it)."""
        self.config = config
        self.output_dir = Path(output_dir)
        self.push_to_hub = push_to_hub
        self.resume_dir: Path | None = None  # the intermediate level continues a run in its own folder
        # A score per row (KorSTS): one output, a squared-error loss, correlation metrics; the loop is the same.
        self.regression = config.train.task_type == "regression"
        self.accelerator = self.cpu_threads = self.run_dir = None  # set by `setup`; `teardown` checks them

    # --- the recipe --------------------------------------------------------------------------------

    def run(self) -> Path:
        """Set up, train, choose the final model, score it on the dev split and the evaluation file, and write
        the outputs; tear down however it ends. Returns the run directory."""
        try:
            self.setup()
            self.accelerator.print(run_summary(self))
            self.fit()
            self.load_final_model()
            results, dev_probabilities = {}, None
            if self.data.dev is not None:
                results["dev"], dev_probabilities = self.evaluate(self.data.dev)
            self.calibrate(dev_probabilities)
            results["eval"], probabilities = self.evaluate(self.data.eval)
            results.update(self.results_extras())
            if self.accelerator.is_main_process:
                self.write_outputs(results, probabilities)
            self.accelerator.print(results_summary(results, self.calibration_line()))
            self.accelerator.wait_for_everyone()
            return self.run_dir.path
        finally:
            self.teardown()

    def setup(self) -> None:
        """Called first by `run()`: the accelerator, the tokenizer and the data, the model, the loss, the
        optimizer and the loaders, the schedule, the run directory, and the loop's counters."""
        config, train = self.config, self.config.train
        try:  # device placement, distribution, trackers (and the expert's mixed precision) come from here
            self.accelerator = Accelerator(**self.accelerator_options())
        except ValueError as exc:  # e.g. bf16 on hardware without it
            raise UserError(f"config: {exc}") from None
        set_seed(train.seed)
        # Counts from here the CPU time other processes take, to choose a thread count when training starts.
        self.cpu_threads = CpuThreads(train.num_threads, processes_here=int(os.environ.get("LOCAL_WORLD_SIZE", 1)))
        tokenizer = load_tokenizer(config.model.name_or_path)
        check_model_limits(config.model.name_or_path, tokenizer, config.model.max_seq_len,
                           sentence_pair=bool(config.data.text_pair_column))
        self.tokenizer = self.prepare_tokenizer(tokenizer)
        if self.resume_dir is None:  # a resumed run only reads the cache
            check_cache_location(Path(config.data.cache_dir))
        with self.accelerator.main_process_first():  # the main process fills the token cache for the others
            self.data = self.build_data()
        self.label_names = self.data.label_names
        self.model = self.prepare_model(self.build_model())
        self.loss_fn = self.create_loss().to(self.accelerator.device)  # class weights live with the logits
        try:  # the fused AdamW updates every tensor in one kernel (docs/benchmarks.md has the measured gain)
            optimizer = torch.optim.AdamW(self.parameter_groups(), lr=train.learning_rate, fused=True)
        except (RuntimeError, ValueError):  # a device or dtype without the fused kernel
            optimizer = torch.optim.AdamW(self.parameter_groups(), lr=train.learning_rate)
        self.train_sampler = LengthGroupedBatchSampler.for_split(self.data.train, train.batch_size, train.seed,
                                                                 config.data.windows_per_document)
        self.model, self.optimizer, self.train_loader = self.accelerator.prepare(
            self.model, optimizer, self.make_loader(self.data.train, self.train_sampler))
        self.total_steps = self.count_total_steps()
        self.scheduler = self.create_scheduler()
        self.run_dir = self.create_run_directory()

        self.epoch = 0  # epochs completed
        self.global_step = 0  # optimizer steps taken
        self.batch_in_epoch = 0  # batches of the current epoch already trained on
        self.should_stop = False
        self.running_loss = RunningLoss(self.accelerator.device,
                                        reduce=lambda total: self.accelerator.reduce(total, reduction="mean"))
        self.train_runtime_s, self.train_samples = 0.0, 0
        self.skipped_batches = 0  # non-finite losses skipped under train.nan_policy: skip_batch
        self.fp16_skipped_steps = 0  # updates the fp16 grad scaler skipped after an overflow (expert level)
        self.grad_norm: torch.Tensor | None = None  # the last step's norm before clipping (levels that clip)
        self._fit_started: float | None = None
        self._eval_loaders: dict[str, tuple] = {}
        self.logits: dict[str, np.ndarray] = {}  # each split's logits at its latest evaluation

    # --- the loop ----------------------------------------------------------------------------------

    def fit(self) -> None:
        """The training loop. Each step is a hook; `should_stop` ends it early."""
        self.on_fit_start()
        self.progress = tqdm(total=self.total_steps, initial=self.global_step, desc="training", unit="step",
                             disable=not self.accelerator.is_local_main_process, dynamic_ncols=True)
        self._fit_started = time.perf_counter()
        try:  # the bar is closed even on an error, so the error line starts a line of its own
            while self.epoch < self.config.train.epochs and not self.should_stop:
                self.on_epoch_start()
                for batch in self.epoch_batches():
                    self.train_on_batch(batch)
                    if self.should_stop:
                        break
                else:
                    self.epoch += 1
                    self.batch_in_epoch = 0
                    if self.should_evaluate("epoch"):
                        self.evaluate_dev()
        finally:
            self.progress.close()
        self.train_runtime_s += self.elapsed_s()
        self._fit_started = None
        if self.should_evaluate("end"):
            self.evaluate_dev()
        self.on_fit_end()

    def train_on_batch(self, batch: dict) -> None:
        """One batch through the hooks: loss, gradients, and an optimizer step when `should_step` says so."""
        loss = self.training_step(batch)
        self.backward(loss)
        self.batch_in_epoch += 1
        self.train_samples += len(batch["labels"])
        if not self.should_step():
            return
        self.optimizer_step()
        self.global_step += 1
        self.progress.update(1)
        if self.global_step % self.config.train.log_every == 0:
            self.on_log()
        self.should_stop = self.should_stop or self.max_steps_reached()
        if self.should_evaluate("step"):
            self.evaluate_dev()
        self.on_step_end()

    # --- loop hooks --------------------------------------------------------------------------------

    def on_fit_start(self) -> None:
        """Called once before the first epoch: the CPU thread count (train.num_threads), and the experiment
        trackers (train.report_to), logging into the run directory."""
        self.accelerator.print(self.cpu_threads.start())
        if self.config.train.report_to:
            self.accelerator.project_configuration.logging_dir = str(self.run_dir.path / "logs")
            self.accelerator.init_trackers(self.run_dir.path.name, config=flat_config(self.config.to_dict()))

    def on_epoch_start(self) -> None:
        """Called at the start of every epoch, before its first batch."""
        self.model.train()
        # Accelerate's loader re-sets its sampler's epoch from its own counter on every pass; keep that counter
        # equal to ours, so a resumed run (a fresh loader) replays the same epoch order.
        self.train_loader.set_epoch(self.epoch)
        self.train_sampler.set_epoch(self.epoch)

    def epoch_batches(self):
        """The batches of the current epoch still to train on."""
        return self.train_loader

    def training_step(self, batch: dict) -> torch.Tensor:
        """Called for every batch: forward pass and loss (the mean over the batch)."""
        logits = self.model(**model_inputs(batch)).logits
        loss = self.loss_fn(logits, batch["labels"])
        # A loss that is not finite: skip_batch looks at every batch (a host sync each); stop counts it on the
        # device here, and the loop raises at the next loss report or evaluation, before any checkpoint.
        if self.config.train.nan_policy == "skip_batch" and not torch.isfinite(loss):
            self.skipped_batches += 1
            return loss.new_zeros((), requires_grad=True)  # no gradient from this batch
        self.running_loss.add(loss)
        return loss

    def backward(self, loss: torch.Tensor) -> None:
        """Called for every batch, after `training_step`: gradients of the loss."""
        self.accelerator.backward(loss)

    def should_step(self) -> bool:
        """Called after every backward: whether to update the weights now. The beginner steps every batch."""
        return True

    def optimizer_step(self) -> None:
        """Called when `should_step` says so: update the weights, advance the schedule, clear gradients."""
        self.optimizer.step()
        if self.scheduler is not None:
            self.scheduler.step()
        self.optimizer.zero_grad(set_to_none=True)
        if self.accelerator.optimizer_step_was_skipped:  # fp16 overflow: the grad scaler skipped this update
            self.fp16_skipped_steps += 1

    def on_log(self) -> None:
        """Called every train.log_every optimizer steps (the loop's one host sync for the loss): the mean
        training loss of the steps since the last log line (a stop when it is not finite), the learning rate
        and, where the level clips it, the gradient norm, into train_log.csv, the trackers and the progress bar."""
        loss = self.running_loss.log_mean(self.global_step)
        if loss is None:  # every batch since the last line was skipped (train.nan_policy: skip_batch)
            return
        row = {"epoch": self.epoch + self.batch_in_epoch / max(len(self.train_loader), 1), "step": self.global_step,
               "loss": loss, "learning_rate": self.current_learning_rate(),
               "grad_norm": None if self.grad_norm is None else float(self.grad_norm)}
        if self.accelerator.is_main_process:
            self.run_dir.append_train_log(row)
        if self.config.train.report_to:
            self.accelerator.log({f"train/{k}": v for k, v in row.items() if k not in ("epoch", "step")
                                  and v is not None}, step=self.global_step)
        self.progress.set_postfix(loss=f"{loss:.4f}")

    def should_evaluate(self, moment: str) -> bool:
        """Asked after every optimizer step ("step"), every complete epoch ("epoch") and once when training
        ends ("end"): whether to evaluate on the dev split now. The beginner evaluates once, at the end."""
        return moment == "end" and self.data.dev is not None

    def on_step_end(self) -> None:
        """Called after every optimizer step (global_step already counts it), after its evaluation if any:
        every half minute, the CPU thread count follows the load of other processes (train.num_threads: auto)."""
        changed = self.cpu_threads.maybe_adjust()
        if changed and self.accelerator.is_local_main_process:
            self.progress.write(changed)

    def on_fit_end(self) -> None:
        """Called once after training ends, after the last evaluation."""

    def load_final_model(self) -> None:
        """Called after `fit`: the weights to evaluate and save. The beginner keeps the last ones."""

    # --- evaluation --------------------------------------------------------------------------------

    def evaluate_dev(self) -> None:
        """One evaluation on the dev split during or after training: its metrics go to `on_evaluate_end`."""
        metrics, _ = self.evaluate(self.data.dev)
        self.on_evaluate_end(metrics)

    def on_evaluate_end(self, metrics: dict) -> None:
        """Called after each evaluation on the dev split: its row in metrics.csv, the plot, the trackers."""
        progress = self.epoch + self.batch_in_epoch / max(len(self.train_loader), 1)
        self.running_loss.check_finite(self.global_step)  # before this evaluation's checkpoint is saved
        row = {"epoch": progress, "step": self.global_step, "train_loss": self.running_loss.mean(self.global_step),
               "learning_rate": self.current_learning_rate(), **metrics}
        if self.accelerator.is_main_process:
            self.run_dir.append_metrics(row)
            plot_learning_curves(self.run_dir.metrics_file, self.run_dir.plots_dir, self.run_dir.train_log_file)
        if self.config.train.report_to:
            self.accelerator.log({f"dev/{k}" if k in metrics else k: v for k, v in row.items() if v is not None},
                                 step=self.global_step)
        self.log(f"step {self.global_step} (epoch {progress:.2f}): "
                 + "  ".join(f"{k} {v:.4f}" for k, v in metrics.items()))

    # --- small helpers -----------------------------------------------------------------------------

    def log(self, message: str) -> None:
        """A console line from the main process, printed above the progress bar."""
        if self.accelerator.is_main_process:
            tqdm.write(message)

    def current_learning_rate(self) -> float:
        """The head's learning rate (the highest, when layers get different ones)."""
        return max(group["lr"] for group in self.optimizer.param_groups)

    def max_steps_reached(self) -> bool:
        return bool(self.config.train.max_steps) and self.global_step >= self.config.train.max_steps

    def elapsed_s(self) -> float:
        """Seconds since this process entered `fit` (0 outside it)."""
        return 0.0 if self._fit_started is None else time.perf_counter() - self._fit_started
