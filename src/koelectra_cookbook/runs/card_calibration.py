"""The model card's Calibration section: the temperature in the weights, and what it did (results.json's
`calibration`)."""

from __future__ import annotations


def shown_temperature(temperature) -> str:
    """One temperature, or a multi-label model's range of them."""
    if isinstance(temperature, list):
        return f"{min(temperature):.3f} to {max(temperature):.3f} (one per label)"
    return f"{temperature:.3f}"


def calibration_section(results: dict) -> list[str]:
    """Lines of the card's Calibration section; none for a model that was not calibrated (regression,
    train.calibration: false, no dev split)."""
    calibration = results.get("calibration")
    if not calibration:
        return []
    lines = ["## Calibration", ""]
    kept = calibration["kept"] if isinstance(calibration["kept"], list) else [calibration["kept"]]
    if calibration.get("note"):
        lines.append(f"A temperature was fitted on the dev split but {calibration['note']}: the scores are the raw "
                     f"probabilities.")
    elif any(kept):
        lines.append(f"The logits are divided by a temperature of {shown_temperature(calibration['temperature'])}, "
                     f"fitted on the dev split and folded into the weights of the output layer "
                     f"(`{calibration.get('layer')}`): `pipeline` alone, int8 and every other reader of this folder "
                     f"give the calibrated probabilities; the predicted labels are those of the uncalibrated model.")
    else:
        lines.append(f"A temperature of {shown_temperature(calibration['fitted'])} was fitted on the dev split but "
                     f"did not lower its expected calibration error, so it was not kept: the scores are the raw "
                     f"probabilities.")
    lines += ["", "| set | ECE before | ECE after | Brier before | Brier after | NLL before | NLL after |",
              "|---|---|---|---|---|---|---|"]
    for split in ("eval", "dev"):
        if split in calibration:
            before, after = calibration[split]["before"], calibration[split]["after"]
            lines.append(f"| {split} | " + " | ".join(f"{before[k]:.4f} | {after[k]:.4f}"
                                                       for k in ("ece", "brier", "nll")) + " |")
    return [*lines, ""]
