"""EvaluationHooks: scoring a split (the dev split during and after training, the evaluation file at the end)
with the model being trained: its logits in input order, the loss, the probabilities and the metrics. Mixed into
BeginnerTrainer; the intermediate trainer widens `metric_names`, the multi-label one overrides `compute_metrics`."""

from __future__ import annotations

import numpy as np
import torch

from koelectra_cookbook.classifier.metrics import regression_metrics, single_label_metrics
from koelectra_cookbook.data.batching import SortedBatchSampler, model_inputs
from koelectra_cookbook.data.dataset import Split
from koelectra_cookbook.data.lengths import restore_order
from koelectra_cookbook.data.long_text import combine


class EvaluationHooks:
    """Mixed into BeginnerTrainer: called by `evaluate_dev()` during training and by `run()` after it."""

    def evaluate(self, split: Split) -> tuple[dict, np.ndarray]:
        """Loss and metrics on `split` (the selected metrics plus `loss`), and the probabilities (for
        regression, the predicted scores). The logits stay in `self.logits[split.name]` until the split is
        evaluated again (calibration fits on them)."""
        self.logits[split.name] = self.predict_logits(split)
        logits = torch.from_numpy(self.logits[split.name]).to(self.accelerator.device)
        loss = float(self.loss_fn(logits, torch.from_numpy(split.labels).to(self.accelerator.device)))
        # One probability per label: independent sigmoids for multi-label data, a softmax over the labels else.
        if self.regression:
            probabilities = logits[:, 0].cpu().numpy()
        else:
            probabilities = (torch.sigmoid(logits) if self.multi_label else torch.softmax(logits, dim=-1)).cpu().numpy()
        return {"loss": loss, **self.compute_metrics(split, probabilities)}, probabilities

    @torch.inference_mode()
    def predict_logits(self, split: Split) -> np.ndarray:
        """Logits for every document of `split`, in input order. Rows are batched by length; with several
        processes each row is counted once (`gather_for_metrics` drops the padding duplicates); the windows of a
        long document (data.long_text: windows) are combined into one only then, so they may be batched with
        other documents' and computed by any process."""
        self.model.eval()
        if split.name not in self._eval_loaders:  # built once per split: Accelerate keeps every loader prepared
            batch_size = self.config.train.eval_batch_size or 2 * self.config.train.batch_size
            sampler = SortedBatchSampler(split.lengths(), batch_size)
            self._eval_loaders[split.name] = (self.accelerator.prepare(self.make_loader(split, sampler)), sampler)
        loader, sampler = self._eval_loaders[split.name]
        chunks = []
        for batch in loader:
            logits = self.model(**model_inputs(batch)).logits
            chunks.append(self.accelerator.gather_for_metrics(logits.float()))
        self.model.train()
        rows = restore_order(torch.cat(chunks).cpu().numpy(), sampler.order)  # one device-to-host copy
        return combine(rows, split.starts, self.data.long_text.combine)

    def compute_metrics(self, split: Split, probabilities: np.ndarray) -> dict:
        """Called by `evaluate`: the metrics of `metric_names()` for these probabilities (or scores)."""
        if self.regression:
            return regression_metrics(split.labels, probabilities, self.metric_names(),
                                      self.config.train.binary_threshold)
        return single_label_metrics(split.labels, probabilities.argmax(-1), len(self.label_names),
                                    self.metric_names())

    def metric_names(self) -> list[str]:
        """The metrics computed at each evaluation: the beginner reports the first (headline) one."""
        return list(self.config.train.metrics[:1])
