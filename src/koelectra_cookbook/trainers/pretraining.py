"""PretrainingTrainer: continued pretraining of an encoder on unlabelled text, over the ladder's own loop.

It is the expert trainer (warmup and decay, accumulation, clipping, mixed precision, checkpoints, exact resume,
Ctrl-C and SIGTERM saving, several processes) with other data, another model and another objective: its hooks
build blocks of unlabelled text instead of labelled rows; the model is ELECTRA's replaced-token detection (a
generator beside the discriminator, pretraining/replaced_tokens.py) or masked-language modelling (any encoder,
pretraining/masked_lm.py); each batch is scored by the objective's own loss, the held-out blocks by the
objective's counts, before the first step too (the yardstick a run is read against). It saves the encoder as
`model/` (loadable as model.name_or_path by every training script), and a generator as `generator/`. The
checkpoint kept as the final model is the one of the lowest held-out loss.

Hooks overridden: build_data, build_model, prepare_model, create_loss, on_fit_start, load_parts, training_step,
on_evaluate_end, on_fit_end, evaluate, metric_names, save_model, write_card, results_extras, write_predictions,
write_plots.
Config keys added: pretrain.objective, generator, generator_size, mask_prob, discriminator_weight, documents.
"""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

import numpy as np
import torch
from transformers import AutoModelForMaskedLM, ElectraForMaskedLM, ElectraForPreTraining

from koelectra_cookbook.data.batching import SortedBatchSampler
from koelectra_cookbook.data.dataset import Split, TaskData
from koelectra_cookbook.data.download import ensure_file
from koelectra_cookbook.data.readers import detect_format, read_table
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.files.atomic import atomic_write
from koelectra_cookbook.pretraining.corpus import BlockRows, corpus_blocks
from koelectra_cookbook.pretraining.floors import context_verdict, most_frequent_share
from koelectra_cookbook.pretraining.loading import load_checkpoint
from koelectra_cookbook.pretraining.masked_lm import MaskedLanguageModel
from koelectra_cookbook.pretraining.replaced_tokens import ReplacedTokenDetection, generator_config
from koelectra_cookbook.runs.plots import plot_learning_curves
from koelectra_cookbook.trainers.expert import ExpertTrainer

OBJECTIVES = {"replaced_tokens": ReplacedTokenDetection, "masked_lm": MaskedLanguageModel}
PLAIN_TEXT_SUFFIXES = ("", ".txt", ".text")


class StartingPoint:
    """The starting model's held-out loss and first accuracy, evaluated before the first step and kept in the
    checkpoints, so a resumed run reports against the same yardstick."""

    STATE_FIELDS = {"loss": (float, type(None)), "accuracy": (float, type(None))}

    def __init__(self):
        self.loss = self.accuracy = None
        self.accuracy_name = ""

    def update(self, metrics: dict, accuracy_name: str) -> None:
        self.loss, self.accuracy, self.accuracy_name = metrics["loss"], metrics[accuracy_name], accuracy_name

    def describe(self) -> str:
        return f"loss {self.loss:.4f}, {self.accuracy_name} {self.accuracy:.4f}"

    def state_dict(self) -> dict:
        return {"loss": self.loss, "accuracy": self.accuracy}

    def load_state_dict(self, state: dict) -> None:
        self.loss, self.accuracy = state["loss"], state["accuracy"]


class PretrainingTrainer(ExpertTrainer):
    """Adapts an encoder to a corpus: replaced-token detection (a generator beside the discriminator) or masked LM."""

    level = "pretraining"
    default_loss = None  # its objective computes its own loss, whatever train.loss says

    PARTS = {**ExpertTrainer.PARTS, "starting_point": StartingPoint}

    def __init__(self, config, *args, **kwargs):
        config.train.es_metric = "loss"  # the best checkpoint is the one of the lowest held-out loss
        super().__init__(config, *args, **kwargs)
        self.starting_point = StartingPoint()

    # --- set-up -------------------------------------------------------------------------------------------

    def build_data(self) -> TaskData:
        """Blocks of max_seq_len tokens from data.train_file (plain text, or a table's data.text_column: a task's
        training texts, their labels never read; the evaluation file is never read either), data.dev_split of
        them held out (by block, seeded) to evaluate on."""
        if self.config.data.dataset:
            raise UserError("pretrain.py reads text files (data.dir and data.train_file); data.dataset is for the "
                            "training scripts: export the dataset's texts to a file to pretrain on them")
        data, sources = self.config.data, self.corpus_files()
        files = list(sources)
        if data.dev_split <= 0:
            raise UserError("config: data.dev_split must be above 0 for pretraining: the held-out blocks show "
                            "whether it is getting anywhere (0.1 is the default)")
        blocks = corpus_blocks(files, self.tokenizer, self.config.model.max_seq_len, Path(data.cache_dir),
                               data.encoding, self.config.pretrain.documents)
        order = np.random.default_rng(self.config.train.seed).permutation(len(blocks))
        held_out = max(1, round(len(blocks) * data.dev_split))
        if held_out >= len(blocks):
            raise UserError(f"data: {len(blocks)} blocks of {self.config.model.max_seq_len} tokens leave none to "
                            f"train on beside data.dev_split {data.dev_split}; bring more text")
        train, dev = np.sort(order[held_out:]), np.sort(order[:held_out])
        notes = [f"corpus: {len(blocks)} blocks of {self.config.model.max_seq_len} tokens "
                 f"({len(blocks) * (self.config.model.max_seq_len - 2):,} tokens of text) from "
                 f"{', '.join(sources.values())}; {held_out} held out"]
        held = self.split("dev", blocks, dev)
        return TaskData(self.split("train", blocks, train), held, held, [], notes)  # the held-out blocks, both

    def corpus_files(self) -> dict[Path, str]:
        """The plain-text files of data.train_file, each with the name a card shows (no paths); a table's text
        column is written out as one first (in the token cache folder, named by its content), so every corpus is
        read the same way."""
        data, sources = self.config.data, {}
        for name in data.train_files():  # there already: check_inputs downloaded a built-in task's files
            path = ensure_file(Path(data.dir), name, None, False)
            fmt = data.format or ("txt" if path.suffix.lower() in PLAIN_TEXT_SUFFIXES else None)
            if fmt == "txt":
                sources[path] = path.name
                continue
            table = read_table(path, detect_format(path, fmt), [data.text_column], data.encoding,
                               text_columns=(data.text_column,), quoting=data.quoting).rows
            texts = "\n".join(" ".join(text.split()) for text in table[data.text_column] if text.strip()) + "\n"
            out = Path(data.cache_dir) / f"texts-{hashlib.sha256(texts.encode()).hexdigest()[:24]}.txt"
            if not out.is_file():
                out.parent.mkdir(parents=True, exist_ok=True)
                atomic_write(out, texts)
            sources[out] = f"{path.name} ({data.text_column})"
        return sources

    @staticmethod
    def split(name: str, blocks: np.ndarray, rows: np.ndarray) -> Split:
        """The blocks of `rows` as a split: each block a row (read from the memory-mapped cache when a batch
        needs it), no labels."""
        return Split(name, [""] * len(rows), np.zeros(len(rows), dtype=np.int64), BlockRows(blocks, rows))

    def build_model(self) -> torch.nn.Module:
        """The objective around model.name_or_path (safetensors only): replaced-token detection, the discriminator
        of that ELECTRA checkpoint and a generator (pretrain.generator's, or a new one at pretrain.generator_size of
        the discriminator's width); or masked-language modelling, that checkpoint (any encoder) with its MLM head."""
        name, settings, tokenizer = self.config.model.name_or_path, self.config.pretrain, self.tokenizer
        if tokenizer.mask_token_id is None:
            raise UserError(f"model {name}: its tokenizer has no mask token, which the objective needs")
        if settings.objective == "masked_lm":
            model = load_checkpoint(AutoModelForMaskedLM, name, "model.name_or_path", self.accelerator.print)
            return MaskedLanguageModel(model, tokenizer.mask_token_id, tokenizer.all_special_ids, settings.mask_prob)
        discriminator = load_checkpoint(ElectraForPreTraining, name, "model.name_or_path", self.accelerator.print)
        if settings.generator is not None:
            generator = load_checkpoint(ElectraForMaskedLM, settings.generator, "pretrain.generator", None)
        else:
            generator = ElectraForMaskedLM(generator_config(discriminator.config, settings.generator_size))
        try:
            return ReplacedTokenDetection(discriminator, generator, tokenizer.mask_token_id, tokenizer.all_special_ids,
                                          settings.mask_prob, settings.discriminator_weight)
        except ValueError as exc:
            raise UserError(f"pretrain.generator: {exc}") from None

    def prepare_model(self, model: torch.nn.Module) -> torch.nn.Module:
        """Nothing to grow or freeze: the whole encoder adapts."""
        return model

    def create_loss(self) -> torch.nn.Module:
        """The objective computes its own loss (replaced_tokens.py)."""
        return torch.nn.Identity()

    # --- the loop's steps -----------------------------------------------------------------------------------

    def on_fit_start(self) -> None:
        """Before the first step of a new run: the held-out objective of the starting model, the yardstick the
        run's evaluations are read against (a resumed run has it from its checkpoint)."""
        super().on_fit_start()
        if self.global_step == 0 and self.starting_point.loss is None:
            metrics, _ = self.evaluate(self.data.dev)
            self.starting_point.update(metrics, self.metric_names()[0])
            self.log(f"held out before training: {self.starting_point.describe()}")

    def load_parts(self, state: dict) -> None:
        super().load_parts(state)
        self.starting_point.load_state_dict(state["starting_point"])

    def training_step(self, batch: dict) -> torch.Tensor:
        """A block batch through the objective (masks drawn anew from the run's seeded random state, which
        checkpoints keep, so a resumed run masks as the uninterrupted one would)."""
        loss = self.model(batch["input_ids"], batch["attention_mask"]).loss
        if self.config.train.nan_policy == "skip_batch" and not torch.isfinite(loss):
            self.skipped_batches += 1
            return loss.new_zeros((), requires_grad=True)
        self.running_loss.add(loss)
        return loss

    def on_evaluate_end(self, metrics: dict) -> None:
        super().on_evaluate_end(metrics)
        self.latest_metrics = metrics

    def on_fit_end(self) -> None:
        """Says whether the run has got anywhere: the held-out loss against the start's, and the accuracies
        against what token frequencies alone give (a lower loss may mean no more than that)."""
        super().on_fit_end()
        if self.best.best is not None and self.starting_point.loss is not None:
            verdict = "lower" if self.best.best < self.starting_point.loss else "NOT lower: train longer or check the text"
            self.log(f"held-out loss {self.starting_point.loss:.4f} at the start, {self.best.best:.4f} at the best "
                     f"step ({verdict})")
        if getattr(self, "latest_metrics", None):
            self.log(context_verdict(self.latest_metrics, self.frequent_token_share))

    @functools.cached_property
    def frequent_token_share(self) -> float:
        """The held-out floor of the generator's or masked LM's accuracy (floors.most_frequent_share), once."""
        return most_frequent_share(self.data.dev.token_ids, self.tokenizer.all_special_ids)

    @torch.inference_mode()
    def evaluate(self, split: Split) -> tuple[dict, None]:
        """The held-out blocks through the objective, counted (objective.count) and summarized: both losses and
        accuracies. Each batch is masked by a generator of its own (the run's seed plus its number), so every
        evaluation masks alike and the figures do not depend on how many processes share the batches (each takes
        every n-th, none twice) or on the training's random state."""
        self.model.eval()
        if split.name not in self._eval_loaders:
            batch_size = self.config.train.eval_batch_size or 2 * self.config.train.batch_size
            numbered = list(enumerate(SortedBatchSampler(split.lengths(), batch_size)))
            mine = numbered[self.accelerator.process_index::self.accelerator.num_processes]
            self._eval_loaders[split.name] = (self.make_loader(split, [rows for _, rows in mine]),
                                              [number for number, _ in mine])
        loader, numbers = self._eval_loaders[split.name]
        device, seed = self.accelerator.device, self.config.train.seed
        objective = self.accelerator.unwrap_model(self.model)
        totals = torch.zeros(objective.count_size, dtype=torch.float64, device=device)
        with self.accelerator.autocast():
            for number, batch in zip(numbers, loader):
                masks = torch.Generator(device=device).manual_seed(seed + number)
                ids, attention = batch["input_ids"].to(device), batch["attention_mask"].to(device)
                totals += objective.count(objective(ids, attention, generator=masks))
        totals = self.accelerator.reduce(totals, reduction="sum").tolist()
        self.model.train()
        return objective.summarize(totals), None

    def metric_names(self) -> list[str]:
        return list(OBJECTIVES[self.config.pretrain.objective].metric_names)

    # --- outputs --------------------------------------------------------------------------------------------

    def save_model(self, directory: Path) -> None:
        """The adapted encoder and the tokenizer in model/ (any training script's model.name_or_path): for
        replaced-token detection the discriminator, with the generator in generator/ beside it (to continue
        pretraining from later); for masked-language modelling the model with its MLM head."""
        objective = self.accelerator.unwrap_model(self.model)
        encoder = objective.model if isinstance(objective, MaskedLanguageModel) else objective.discriminator
        # what it was adapted on, for the card of a model fine-tuned from it (file names and counts, no paths)
        encoder.config.adapted_by = {"corpus": self.corpus_description(), "steps": self.global_step,
                                     "objective": self.config.pretrain.objective}
        encoder.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)
        if isinstance(objective, ReplacedTokenDetection):
            generator = self.run_dir.path / "generator"
            objective.generator.save_pretrained(generator)
            self.tokenizer.save_pretrained(generator)

    def corpus_description(self) -> str:
        """What the corpus was, in the words of build_data's note: blocks, tokens, file names (no paths)."""
        return self.data.notes[0].split(": ", 1)[1]

    def write_card(self, directory: Path, results: dict) -> None:
        """A short card: what the encoder was adapted on (file names and counts, no local paths), the held-out
        objective, and how to fine-tune it."""
        model, settings = self.config.model, self.config.pretrain
        held_out = results.get("eval", {})
        start = model.name_or_path if not Path(model.name_or_path).is_absolute() else "a local checkpoint"
        how = (f"replaced-token detection (a generator at {settings.generator_size:g} of its width, "
               f"{settings.mask_prob:g} of the tokens masked)" if settings.objective == "replaced_tokens"
               else f"masked-language modelling ({settings.mask_prob:g} of the tokens masked)")
        what = "an ELECTRA discriminator" if settings.objective == "replaced_tokens" else "an encoder"
        lines = ["---", "language: ko", "tags: [continued-pretraining, koelectra-cookbook]", "---", "",
                 f"# {self.config.task}: {what} adapted by continued pretraining", "",
                 f"Started from `{start}` and trained {self.global_step} steps with {how} on "
                 f"{self.corpus_description()}.", "",
                 "| held-out metric | at the start | at the end |", "|---|---|---|",
                 *(f"| {name} | {shown_number(results.get('held_out_at_start', {}).get(name))} | {value:.4f} |"
                   for name, value in held_out.items()), "",
                 "Fine-tune it like any checkpoint: `python train_expert.py --task nsmc --set "
                 "model.name_or_path=RUN_DIR/model`.", ""]
        atomic_write(directory / "README.md", "\n".join(lines))

    def results_extras(self) -> dict:
        """results.json also holds the starting model's held-out objective, beside `eval` (the final model's), and
        the accuracy of always guessing the most frequent token (the floor of the generator's or masked LM's)."""
        start = {"loss": self.starting_point.loss, self.metric_names()[0]: self.starting_point.accuracy}
        return {**super().results_extras(), "held_out_at_start": start,
                "held_out_most_frequent_token_share": self.frequent_token_share}

    def write_predictions(self, split: Split, probabilities) -> None:
        """No predictions: the blocks have no labels."""

    def write_plots(self, split: Split, probabilities) -> None:
        """The learning curves: training loss, the held-out objective and its accuracies."""
        plot_learning_curves(self.run_dir.metrics_file, self.run_dir.plots_dir, self.run_dir.train_log_file)


def shown_number(value) -> str:
    """A card's cell: four decimals, or empty where the start was not measured."""
    return "" if value is None else f"{value:.4f}"
