"""The names a config may give a loss or a metric, and which way each metric improves: the single definition,
imported by the config checks, early stopping, the sweep and compare.py. No torch and no scikit-learn here, so
checking a config loads neither."""

LOSS_NAMES = ("cross_entropy", "bce", "focal", "dice")
SINGLE_LABEL_METRICS = ("accuracy", "macro_f1", "micro_f1", "weighted_f1")
MULTI_LABEL_METRICS = ("lrap", "macro_f1", "micro_f1", "samples_f1", "hamming_loss", "subset_accuracy")
# Metrics of which a smaller value is better; every other one is maximised.
LOWER_IS_BETTER = ("loss", "hamming_loss")


def is_minimized(metric_name: str) -> bool:
    """True when a smaller value of `metric_name` is better ("loss", "hamming_loss")."""
    return metric_name in LOWER_IS_BETTER
