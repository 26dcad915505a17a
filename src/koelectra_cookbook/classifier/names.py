"""The names a config may give a loss or a metric, and which way each metric improves: the single definition,
imported by the config checks, early stopping, the sweep and compare.py. No torch and no scikit-learn here, so
checking a config loads neither."""

LOSS_NAMES = ("cross_entropy", "bce", "focal", "dice", "mse", "huber")
SINGLE_LABEL_METRICS = ("accuracy", "macro_f1", "micro_f1", "weighted_f1")
MULTI_LABEL_METRICS = ("lrap", "macro_f1", "micro_f1", "samples_f1", "hamming_loss", "subset_accuracy")
# binary_f1: F1 of "score >= train.binary_threshold" against the same cut of the gold score (KLUE-STS reports it).
REGRESSION_METRICS = ("pearson", "spearman", "mse", "binary_f1")
# The columns predictions.csv and predict.py write beside a multi-label model's one column per label: a label of
# one of these names would overwrite them.
OUTPUT_COLUMNS = ("text", "text_pair", "labels", "predicted")
# Metrics of which a smaller value is better; every other one is maximised.
LOWER_IS_BETTER = ("loss", "hamming_loss", "mse")


def loss_problem(name: str, multi_label: bool, *, label_smoothing: float = 0.0, class_weights: bool = False,
                 pos_weight: bool = False, regression: bool = False) -> str | None:
    """Why the loss `name` with these options cannot train this kind of task, or None. "cross_entropy" is
    single-label only, "bce" multi-label only; "focal" and "dice" serve both; "mse" and "huber" are for
    regression, which takes no other. An option the loss does not use is refused rather than silently ignored.
    Checked with the config, before anything loads."""
    if name not in LOSS_NAMES:
        return f"unknown loss {name!r}; valid choices are: {', '.join(LOSS_NAMES)}"
    task = "regression" if regression else "multi-label" if multi_label else "single-label"
    valid_for_task = (("mse", "huber") if regression else ("bce", "focal", "dice") if multi_label
                      else ("cross_entropy", "focal", "dice"))
    if name not in valid_for_task:
        return f"loss {name!r} does not support {task} tasks; choose one of: {', '.join(valid_for_task)}"
    if label_smoothing and name != "cross_entropy":
        return f"label_smoothing is only supported by 'cross_entropy', not {name!r}"
    if class_weights and (multi_label or regression or name == "dice"):
        return f"class_weights are only supported by single-label 'cross_entropy' and 'focal', not {task} {name!r}"
    if pos_weight and name != "bce":
        return f"pos_weight is only supported by 'bce', not {name!r}"
    return None


def is_minimized(metric_name: str) -> bool:
    """True when a smaller value of `metric_name` is better ("loss", "hamming_loss", "mse")."""
    return metric_name in LOWER_IS_BETTER
