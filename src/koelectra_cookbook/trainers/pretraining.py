"""PretrainingTrainer: continued pretraining with ELECTRA's replaced-token detection, over the ladder's own loop.

It is the expert trainer (warmup and decay, accumulation, clipping, mixed precision, checkpoints, exact resume,
Ctrl-C and SIGTERM saving, several processes) with other data, another model and another objective: its hooks
build blocks of unlabelled text instead of labelled rows, a generator and a discriminator instead of a classifier,
score a block by its replaced-token loss, evaluate the held-out blocks by the generator's and the discriminator's
accuracy, and save the discriminator as `model/` (loadable as model.name_or_path by every training script) and
the generator as `generator/`. The checkpoint kept as the final model is the one of the lowest held-out loss.

Hooks overridden: build_data, build_model, prepare_model, create_loss, training_step, evaluate, metric_names,
save_model, write_card, write_predictions, write_plots.
Config keys added: pretrain.generator, generator_size, mask_prob, discriminator_weight, documents.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import ElectraForMaskedLM, ElectraForPreTraining

from koelectra_cookbook.classifier.folder_checks import check_local_path, check_safe_weights
from koelectra_cookbook.data.batching import SortedBatchSampler
from koelectra_cookbook.data.dataset import Split, TaskData
from koelectra_cookbook.data.download import ensure_file
from koelectra_cookbook.data.readers import detect_format, read_table
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.files.atomic import atomic_write
from koelectra_cookbook.pretraining.corpus import corpus_blocks
from koelectra_cookbook.pretraining.replaced_tokens import ReplacedTokenDetection, generator_config
from koelectra_cookbook.runs.plots import plot_learning_curves
from koelectra_cookbook.trainers.expert import ExpertTrainer

METRICS = ["generator_accuracy", "discriminator_accuracy", "generator_loss", "discriminator_loss", "replaced_share"]
PLAIN_TEXT_SUFFIXES = ("", ".txt", ".text")


class PretrainingTrainer(ExpertTrainer):
    """Adapts an ELECTRA discriminator to a corpus: replaced-token detection with a generator beside it."""

    level = "pretraining"
    default_loss = None  # its objective is replaced-token detection, whatever train.loss says

    def __init__(self, config, *args, **kwargs):
        config.train.es_metric = "loss"  # the best checkpoint is the one of the lowest held-out loss
        super().__init__(config, *args, **kwargs)

    # --- set-up -------------------------------------------------------------------------------------------

    def build_data(self) -> TaskData:
        """Blocks of max_seq_len tokens from data.train_file (plain text, or a table's data.text_column: a task's
        training texts, their labels never read; the evaluation file is never read either), data.dev_split of
        them held out (by block, seeded) to evaluate on."""
        data, files = self.config.data, self.corpus_files()
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
                 f"{', '.join(path.name for path in files)}; {held_out} held out"]
        held = self.split("dev", blocks, dev)
        return TaskData(self.split("train", blocks, train), held, held, [], notes)  # the held-out blocks, both

    def corpus_files(self) -> list[Path]:
        """The plain-text files of data.train_file; a table's text column is written out as one first (in the
        token cache folder, named by its content), so every corpus is read the same way."""
        data, paths = self.config.data, []
        for name in data.train_files():  # there already: check_inputs downloaded a built-in task's files
            path = ensure_file(Path(data.dir), name, None, False)
            fmt = data.format or ("txt" if path.suffix.lower() in PLAIN_TEXT_SUFFIXES else None)
            if fmt == "txt":
                paths.append(path)
                continue
            table = read_table(path, detect_format(path, fmt), [data.text_column], data.encoding,
                               text_columns=(data.text_column,), quoting=data.quoting).rows
            texts = "\n".join(" ".join(text.split()) for text in table[data.text_column] if text.strip()) + "\n"
            out = Path(data.cache_dir) / f"texts-{hashlib.sha256(texts.encode()).hexdigest()[:24]}.txt"
            if not out.is_file():
                atomic_write(out, texts)
            paths.append(out)
        return paths

    @staticmethod
    def split(name: str, blocks: np.ndarray, rows: np.ndarray) -> Split:
        """The blocks of `rows` as a split: each block a row (views on the memory-mapped cache), no labels."""
        return Split(name, [""] * len(rows), np.zeros(len(rows), dtype=np.int64), [blocks[i] for i in rows])

    def build_model(self) -> torch.nn.Module:
        """The discriminator of model.name_or_path (an ELECTRA checkpoint, safetensors only) and a generator:
        pretrain.generator's, or a new one at pretrain.generator_size of the discriminator's width."""
        name, settings = self.config.model.name_or_path, self.config.pretrain
        discriminator = load_electra(ElectraForPreTraining, name, "model.name_or_path")
        if settings.generator is not None:
            generator = load_electra(ElectraForMaskedLM, settings.generator, "pretrain.generator")
        else:
            generator = ElectraForMaskedLM(generator_config(discriminator.config, settings.generator_size))
        tokenizer = self.tokenizer
        if tokenizer.mask_token_id is None:
            raise UserError(f"model {name}: its tokenizer has no [MASK] token, which the generator fills")
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

    def training_step(self, batch: dict) -> torch.Tensor:
        """A block batch through the generator and the discriminator (masks drawn anew from the run's seeded
        random state, which checkpoints keep, so a resumed run masks as the uninterrupted one would)."""
        loss = self.model(batch["input_ids"], batch["attention_mask"]).loss
        if self.config.train.nan_policy == "skip_batch" and not torch.isfinite(loss):
            self.skipped_batches += 1
            return loss.new_zeros((), requires_grad=True)
        self.running_loss.add(loss)
        return loss

    @torch.inference_mode()
    def evaluate(self, split: Split) -> tuple[dict, None]:
        """The held-out blocks, masked the same way at every evaluation (a generator of the run's seed, apart from
        the training's random state): both losses, the generator's accuracy on the masked positions, the
        discriminator's on every token, and the share of tokens the generator replaced."""
        self.model.eval()
        if split.name not in self._eval_loaders:
            batch_size = self.config.train.eval_batch_size or 2 * self.config.train.batch_size
            loader = self.make_loader(split, SortedBatchSampler(split.lengths(), batch_size))
            self._eval_loaders[split.name] = (self.accelerator.prepare(loader), None)
        loader, _ = self._eval_loaders[split.name]
        device = self.accelerator.device
        masks = torch.Generator(device=device).manual_seed(self.config.train.seed)
        totals = torch.zeros(7, device=device, dtype=torch.float64)
        model = self.accelerator.unwrap_model(self.model)
        for batch in loader:
            out = model(batch["input_ids"], batch["attention_mask"], generator=masks)
            masked, scored = out.masked.sum(), out.scored.sum()
            correct = ((out.discriminator_logits > 0) == out.replaced)[out.scored].sum()
            totals += torch.stack([out.generator_loss * masked, masked, out.generator_correct.sum(),
                                   out.discriminator_loss * scored, scored, correct,
                                   out.replaced.sum()]).to(torch.float64)
        totals = self.accelerator.reduce(totals, reduction="sum").tolist()
        self.model.train()
        generator_loss, discriminator_loss = totals[0] / max(totals[1], 1), totals[3] / max(totals[4], 1)
        weight = self.config.pretrain.discriminator_weight
        return {"loss": generator_loss + weight * discriminator_loss,
                "generator_accuracy": totals[2] / max(totals[1], 1),
                "discriminator_accuracy": totals[5] / max(totals[4], 1),
                "generator_loss": generator_loss, "discriminator_loss": discriminator_loss,
                "replaced_share": totals[6] / max(totals[4], 1)}, None

    def metric_names(self) -> list[str]:
        return list(METRICS)

    # --- outputs --------------------------------------------------------------------------------------------

    def save_model(self, directory: Path) -> None:
        """The adapted discriminator and the tokenizer in model/ (any training script's model.name_or_path), the
        generator in generator/ beside it (to continue pretraining from later)."""
        objective = self.accelerator.unwrap_model(self.model)
        # what it was adapted on, for the card of a model fine-tuned from it (file names and counts, no paths)
        objective.discriminator.config.adapted_by = {"corpus": self.data.notes[0].split(": ", 1)[1],
                                                      "steps": self.global_step}
        objective.discriminator.save_pretrained(directory)
        self.tokenizer.save_pretrained(directory)
        generator = self.run_dir.path / "generator"
        objective.generator.save_pretrained(generator)
        self.tokenizer.save_pretrained(generator)

    def write_card(self, directory: Path, results: dict) -> None:
        """A short card: what the encoder was adapted on (file names and counts, no local paths), the held-out
        objective, and how to fine-tune it."""
        data, model = self.data, self.config.model
        held_out = results.get("eval", {})
        lines = ["---", "language: ko", "tags: [electra, continued-pretraining, koelectra-cookbook]", "---", "",
                 f"# {self.config.task}: an ELECTRA discriminator adapted by continued pretraining", "",
                 f"Started from `{model.name_or_path if not Path(model.name_or_path).is_absolute() else 'a local checkpoint'}`"
                 f" and trained {self.global_step} steps with replaced-token detection (a generator at "
                 f"{self.config.pretrain.generator_size:g} of its width, {self.config.pretrain.mask_prob:g} of the tokens "
                 f"masked) on {data.notes[0].split(': ', 1)[1]}.",
                 "", "| held-out metric | value |", "|---|---|",
                 *(f"| {name} | {value:.4f} |" for name, value in held_out.items()), "",
                 "Fine-tune it like any checkpoint: `python train_expert.py --task nsmc --set "
                 "model.name_or_path=RUN_DIR/model`.", ""]
        atomic_write(directory / "README.md", "\n".join(lines))

    def write_predictions(self, split: Split, probabilities) -> None:
        """No predictions: the blocks have no labels."""

    def write_plots(self, split: Split, probabilities) -> None:
        """The learning curves: training loss, the held-out objective and its accuracies."""
        plot_learning_curves(self.run_dir.metrics_file, self.run_dir.plots_dir, self.run_dir.train_log_file)


def load_electra(model_class, name_or_path: str, key: str):
    """An ELECTRA checkpoint of `model_class` (safetensors only, no remote code), or one error line."""
    check_local_path(name_or_path)
    check_safe_weights(name_or_path)
    verbosity = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()  # its loading bars and notes are not the user's
    try:
        model, loading = model_class.from_pretrained(name_or_path, use_safetensors=True, trust_remote_code=False,
                                                     output_loading_info=True)
    except Exception as exc:  # files from elsewhere can fail in any way
        raise UserError(f"{key} {name_or_path!r}: cannot load it as an ELECTRA {model_class.__name__} "
                        f"({' '.join(str(exc).split())[:200]})") from None
    finally:
        transformers.logging.set_verbosity(verbosity)
    if model.config.model_type != "electra":
        raise UserError(f"{key} {name_or_path!r} is a {model.config.model_type} checkpoint; replaced-token detection "
                        f"needs an ELECTRA one")
    missing = [k for k in loading.get("missing_keys", []) if k.startswith("electra.")]
    if missing:
        raise UserError(f"{key} {name_or_path!r}: its weights lack {missing[0]}; the checkpoint is damaged or not "
                        f"an ELECTRA {model_class.__name__.removeprefix('Electra')}")
    return model
