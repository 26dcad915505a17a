"""SetupHooks: the hooks that build a run (what `BeginnerTrainer.setup()` calls) and `teardown`, which takes it down, with the beginner's answers. The expert level overrides most of them
(mixed precision, added tokens, frozen layers, losses, layer-wise learning rates, the schedule); the intermediate
level the run directory and the teardown."""

from __future__ import annotations

import math
from pathlib import Path

import torch
from accelerate.utils import DataLoaderConfiguration, ProjectConfiguration, broadcast_object_list
from torch.utils.data import DataLoader

from koelectra_cookbook.data.batching import PaddingCollator, SplitDataset
from koelectra_cookbook.data.dataset import Split
from koelectra_cookbook.classifier.losses import build_loss
from koelectra_cookbook.classifier.loading import load_model, tokenizer_bytes
from koelectra_cookbook.data.dataset import TaskData, load_task_data
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.runs.directory import RunDirectory, check_free_space
from koelectra_cookbook.runs.reader import enclosing_model_or_run


class SetupHooks:
    """Mixed into BeginnerTrainer: each method is called once, in the order below."""

    def accelerator_options(self) -> dict:
        """Keyword arguments for the Accelerator: the experiment trackers of train.report_to. Their folder is
        set to <run>/logs once the run directory exists (`on_fit_start`)."""
        return {"log_with": self.config.train.report_to or None, "project_config": ProjectConfiguration("."),
                "dataloader_config": DataLoaderConfiguration(non_blocking=torch.cuda.is_available())}

    def prepare_tokenizer(self, tokenizer):
        """Called once, right after the tokenizer is loaded and before any text is tokenized."""
        return tokenizer

    def build_data(self) -> TaskData:
        """Called once, after `prepare_tokenizer` (on the main process first, which fills the token cache for the
        others): the task's files read, split and tokenized (data/dataset.py). A resumed run only reads the
        cache. (Continued pretraining builds blocks of unlabelled text here instead.)"""
        return load_task_data(self.config, self.tokenizer, writes=self.resume_dir is None)

    def build_model(self) -> torch.nn.Module:
        """Called once, after `build_data`: the checkpoint of model.name_or_path with a new head for the task's
        labels (one output for a score), before `prepare_model`."""
        model = self.config.model
        return load_model(model.name_or_path, self.label_names, model.attn_implementation,
                          "regression" if self.regression else self.problem_type)

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        """Called once, right after the model is loaded and before the optimizer sees its parameters."""
        return model

    def create_loss(self) -> torch.nn.Module:
        """Called once during set-up: the loss between logits and labels (a score's squared error for
        regression)."""
        if self.regression:
            return build_loss("mse", num_labels=1, multi_label=False, regression=True)
        return build_loss("cross_entropy", num_labels=len(self.label_names), multi_label=False)

    def parameter_groups(self) -> list[dict]:
        """Called once during set-up: AdamW's parameter groups, by weight decay (see `weight_decay`)."""
        groups: dict[float, list] = {}
        for parameter in self.model.parameters():
            if parameter.requires_grad:
                groups.setdefault(weight_decay(parameter, self.config.train.weight_decay), []).append(parameter)
        return [{"params": params, "weight_decay": decay} for decay, params in groups.items()]

    def accumulation_steps(self) -> int:
        """Batches whose gradients one optimizer step sums: the beginner steps after every batch (the expert
        level accumulates train.gradient_accumulation_steps)."""
        return 1

    def count_total_steps(self) -> int:
        """Optimizer steps the whole run will take: one per group of `accumulation_steps()` batches (the
        epoch's last group may be short), over every epoch; train.max_steps caps it."""
        steps = math.ceil(len(self.train_loader) / self.accumulation_steps()) * self.config.train.epochs
        return min(steps, self.config.train.max_steps or steps)

    def create_scheduler(self):
        """Called once, after the optimizer exists. The beginner keeps the learning rate constant."""
        return None

    def create_run_directory(self) -> RunDirectory:
        """Called at the end of set-up: a new run directory, named by the main process and shared with all."""
        path, run = [None], None
        if self.accelerator.is_main_process:
            check_free_space(self.output_dir, self.disk_space_needed())
            run = RunDirectory.create_in(self.runs_folder(), self.level)  # locked by this process until teardown
            run.write_config(self.config.to_dict(), self.level)
            path = [str(run.path)]
        path = broadcast_object_list(path) if self.accelerator.num_processes > 1 else path
        return run or RunDirectory(Path(path[0]))

    def runs_folder(self) -> Path:
        """Where `create_run_directory` puts a new run: <output-dir>/<task>/ (a sweep's trials go one folder
        further down)."""
        return self.output_dir / self.config.task

    def disk_space_needed(self) -> int:
        """Bytes the run will write at most: the beginner saves the model and its tokenizer once."""
        return parameter_bytes(self.model) + tokenizer_bytes(self.tokenizer)

    def make_loader(self, split: Split, batch_sampler) -> DataLoader:
        collator = PaddingCollator(self.tokenizer.pad_token_id)
        # Its own generator: creating a loader's iterator would otherwise draw from the global torch RNG, and a
        # resumed run (which creates one more iterator) would then get different dropout masks.
        return DataLoader(SplitDataset(split), batch_sampler=batch_sampler, collate_fn=collator,
                          generator=torch.Generator().manual_seed(self.config.train.seed),
                          pin_memory=torch.cuda.is_available())  # pinned pages copy to a GPU asynchronously

    def teardown(self) -> None:
        """Called last by `run()`, however it ends (done, an error, Ctrl-C, a pruned sweep trial), for whatever
        `setup` got to build: the trackers' files closed, the process's CPU thread count given back, the run
        folder unlocked. Callers rely on it and repeat none of it."""
        if self.accelerator is not None:
            self.accelerator.end_training()
        if self.cpu_threads is not None:
            self.cpu_threads.restore()
        if self.run_dir is not None:
            self.run_dir.unlock()


def check_cache_location(cache_dir: Path) -> None:
    """The token cache is written into data.cache_dir: never into a model folder or a run (another run's, a base
    checkpoint's), whose files would change under them (an int8 cache key hashes every file of a model folder)."""
    owner = enclosing_model_or_run(cache_dir)
    if owner is not None:
        kind, folder = owner
        raise UserError(f"data.cache_dir {cache_dir} is inside the {'model folder' if kind == 'model' else 'run'} "
                        f"{folder}, which a run may not write into; choose another folder")


def weight_decay(parameter: torch.nn.Parameter, rate: float) -> float:
    """AdamW's weight decay for `parameter`: biases and LayerNorm weights (the 1-dimensional tensors) get none."""
    return 0.0 if parameter.ndim < 2 else rate


def parameter_bytes(model: torch.nn.Module) -> int:
    return sum(p.numel() * p.element_size() for p in model.parameters())
