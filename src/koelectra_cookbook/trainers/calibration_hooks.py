"""CalibrationHooks: after training, a temperature fitted on the dev split (train.calibration), folded into the
model's output layer so the saved model gives calibrated probabilities to every reader; ECE, Brier score and NLL
before and after, on the dev split and the evaluation file, in results.json and plots/reliability.png. The
measures and the fit are in quality/calibration.py. Mixed into BeginnerTrainer; `run()` calls `calibrate` once
the final model is scored on the dev split, and `results_extras` once it is scored on the evaluation file."""

from __future__ import annotations

import numpy as np

from koelectra_cookbook.classifier.output_layer import FoldedTemperature, output_layer
from koelectra_cookbook.quality.calibration import calibration_report, choose_temperature

# The folded model's dev logits must be the unfolded ones over T, within what float32 (or bf16 under mixed
# precision) keeps of them, relative to the largest logit; else the head does more after its last linear layer
# and T is taken out again.
FOLD_TOLERANCE = 2e-2


class CalibrationHooks:
    """Mixed into BeginnerTrainer. `self.calibration`: what was fitted and measured (None: not calibrated)."""

    calibration: dict | None = None

    def calibrate(self, dev_probabilities: np.ndarray | None) -> np.ndarray | None:
        """Called once the final model is chosen and scored on the dev split, before the evaluation file is:
        the temperature, fitted on the dev split and kept only where it lowers the dev ECE, folded into the
        model's output layer. Returns the dev probabilities as the saved model gives them (the multi-label
        trainer tunes its thresholds on them). Nothing to fit for regression, or without a dev split."""
        if self.regression or dev_probabilities is None or not self.config.train.calibration:
            return dev_probabilities
        dev, logits = self.data.dev, self.logits[self.data.dev.name]
        fitted, kept = choose_temperature(logits, dev.labels, self.multi_label)
        applied = np.where(kept, fitted, 1.0)
        self.calibration = {"temperature": applied, "fitted": fitted, "kept": kept, "note": None,
                            "dev": {"before": calibration_report(logits, dev.labels, self.multi_label),
                                    "after": calibration_report(logits, dev.labels, self.multi_label, applied)}}
        if not kept.any():
            return dev_probabilities
        found = output_layer(self.accelerator.unwrap_model(self.model), len(self.label_names))
        if found is not None:
            folded = FoldedTemperature(found[1], applied)
            _, calibrated = self.evaluate(dev)  # what the saved model will give, and the check of the fold
            expected = logits / applied
            gap = np.abs(self.logits[dev.name] - expected).max()
            if gap <= FOLD_TOLERANCE * np.abs(logits).max():
                self.calibration["layer"] = found[0]
                return calibrated
            folded.undo()
        self.calibration.update(temperature=np.ones_like(applied), note="not applied: the model's logits are not "
                                "the output of a last linear layer with one output per label")
        self.calibration["dev"]["after"] = self.calibration["dev"]["before"]
        return dev_probabilities

    def results_extras(self) -> dict:
        """results.json's `calibration`: the temperature in the model (one per label for multi-label), the one
        fitted and whether it was kept, and ECE (with its bins), Brier score and NLL before and after on the dev
        split and the evaluation file."""
        extras = super().results_extras()
        if self.calibration is None:
            return extras
        applied, eval_split = self.calibration["temperature"], self.data.eval
        raw = self.logits[eval_split.name] * applied  # the evaluation file was scored by the calibrated model
        report = {**self.calibration, "eval": {
            "before": calibration_report(raw, eval_split.labels, self.multi_label),
            "after": calibration_report(raw, eval_split.labels, self.multi_label, applied)}}
        for key in ("temperature", "fitted", "kept"):
            values = report[key].tolist()
            report[key] = values if self.multi_label else values[0]
        return {**extras, "calibration": report}

    def saved_settings(self) -> dict:
        """config.json's `calibration`, a record for people and /info: the temperature already in the weights
        (never to be applied again) and the layer it is in; left out when none is."""
        applied = self.calibration is not None and "layer" in self.calibration
        record = {"temperature": [round(float(t), 6) for t in self.calibration["temperature"]],
                  "layer": self.calibration["layer"], "fitted_on": "dev"} if applied else None
        return {**super().saved_settings(), "calibration": record}

    def calibration_line(self) -> str | None:
        """The console's line on calibration, once results.json has it."""
        if self.calibration is None:
            return None
        before, after = (self.calibration["dev"][when]["ece"] for when in ("before", "after"))
        fitted = ", ".join(f"{t:.3f}" for t in self.calibration["fitted"])
        if self.calibration["note"]:
            return f"calibration: temperature {fitted} fitted on dev, {self.calibration['note']}"
        verdict = ("kept" if self.calibration["kept"].all() else "not kept: it did not lower the dev ECE"
                   if not self.calibration["kept"].any() else f"kept for {int(self.calibration['kept'].sum())} of "
                   f"{len(self.calibration['kept'])} labels")
        return f"calibration: temperature {fitted} fitted on dev ({verdict}); dev ECE {before:.4f} -> {after:.4f}"
