"""The order in which `run()` and `fit()` call the trainer's hooks, per level, against the order documented at
the top of src/koelectra_cookbook/trainers/beginner.py.

A recorder subclasses a trainer and wraps every hook; a tiny demo training runs through the script's main(),
and the recorded sequence of hook calls must match the documented order, written below as a small grammar
(`DOCUMENTED`). A test ties the grammar to the docstring: the hooks the docstring names, read in its order,
must be those of the grammar, in the grammar's order; so the docstring stays the one place that says the order,
and neither it nor the code can change it alone.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pytest

import koelectra_cookbook.trainers.beginner as beginner_module
from helpers import run_cli
from koelectra_cookbook.paths import SAMPLES_DIR
from koelectra_cookbook.trainers.beginner import BeginnerTrainer
from koelectra_cookbook.trainers.expert import ExpertTrainer
from koelectra_cookbook.trainers.intermediate import IntermediateTrainer
from koelectra_cookbook.trainers.multi_label import MultiLabelTrainer

# --- the documented order, as a grammar over hook calls ----------------------------------------------------------
# Read from the docstring of trainers/beginner.py ("The hooks, in the order they run"). A token is a hook's
# name, with its argument where the docstring gives one: should_evaluate("step" | "epoch" | "end"), and
# evaluate(dev) / evaluate(eval) for the dev split and the evaluation file.


@dataclass(frozen=True)
class Seq:
    items: tuple

    def __init__(self, *items):
        object.__setattr__(self, "items", tuple(items))


@dataclass(frozen=True)
class Opt:  # zero or one
    item: object


@dataclass(frozen=True)
class Rep:  # zero or more
    item: object


@dataclass(frozen=True)
class Call:
    """A hook that calls documented hooks itself (`children`); `inline`: the docstring lists its children
    beside it (setup, write_outputs, ...) rather than defining it on a line of its own (evaluate_dev)."""
    name: str
    children: Seq
    inline: bool = True


EVALUATE_DEV = Call("evaluate_dev", Seq("evaluate(dev)", "on_evaluate_end"), inline=False)
SETUP = Call("setup", Seq("accelerator_options", "prepare_tokenizer", "build_data", "build_model", "prepare_model",
                          "create_loss",
                          "parameter_groups", Rep("parameter_groups"),  # asked again when fused AdamW is refused
                          "count_total_steps", "create_scheduler", "create_run_directory"))
# An optimizer step, its evaluation and on_step_end happen only when should_step says yes (the expert's
# accumulation); the docstring draws them under `should_step?`.
BATCH = Call("train_on_batch", Seq("training_step", "backward", "should_step",
                                   Opt(Seq("optimizer_step", Opt("on_log"), 'should_evaluate("step")', Opt(EVALUATE_DEV),
                                           "on_step_end"))))
# An epoch cut short (max_steps, early stopping) skips the epoch's evaluation question.
EPOCH = Seq("on_epoch_start", "epoch_batches", Rep(BATCH), Opt(Seq('should_evaluate("epoch")', Opt(EVALUATE_DEV))))
FIT = Call("fit", Seq("on_fit_start", Rep(EPOCH), 'should_evaluate("end")', Opt(EVALUATE_DEV), "on_fit_end"))
WRITE_OUTPUTS = Call("write_outputs", Seq("save_model", "write_card", "write_predictions", "write_plots"))
# calibrate scores the dev split once more when it keeps a temperature (the check of the fold).
CALIBRATE = Call("calibrate", Seq(Opt("evaluate(dev)")), inline=False)
DOCUMENTED = Call("run", Seq(SETUP, FIT, "load_final_model", Opt("evaluate(dev)"), CALIBRATE, "evaluate(eval)",
                             "results_extras", WRITE_OUTPUTS, "teardown"))

# Hooks that are questions or helpers asked from inside other hooks, wherever they are needed; their calls are not
# part of the order (e.g. accumulation_steps is asked by count_total_steps, the run summary, should_step).
NESTED = {"accumulation_steps", "loss_weights", "metric_names", "compute_metrics", "disk_space_needed",
          "runs_folder", "predict_logits", "make_loader", "model_reference", "saved_settings"}
# Called by run() (between evaluate(evaluation file) and write_outputs) but not named in the docstring of
# trainers/beginner.py; the cross-check below accepts its absence there, and its place if it is ever added.
UNDOCUMENTED = {"results_extras"}


def tokens(node) -> list[str]:
    """Every token of the grammar, once, in order."""
    if isinstance(node, str):
        return [node]
    if isinstance(node, Seq):
        return [t for item in node.items for t in tokens(item)]
    if isinstance(node, (Opt, Rep)):
        return tokens(node.item)
    return [node.name, *tokens(node.children)]


def hook_name(token: str) -> str:
    return token.split("(")[0]


HOOKS = sorted({hook_name(t) for t in tokens(DOCUMENTED)})


def regex(node) -> str:
    """The grammar as a regular expression over the recorded tokens, one per line."""
    if isinstance(node, str):
        return re.escape(node) + r"\n"
    if isinstance(node, Seq):
        return "".join(regex(item) for item in node.items)
    if isinstance(node, Opt):
        return f"(?:{regex(node.item)})?"
    if isinstance(node, Rep):
        return f"(?:{regex(node.item)})*"
    return regex(node.name) + regex(node.children)


DOCUMENTED_ORDER = re.compile(regex(DOCUMENTED))


def follows_documented_order(trace: list[str]) -> bool:
    return DOCUMENTED_ORDER.fullmatch("".join(f"{t}\n" for t in trace)) is not None


# --- the recorder ------------------------------------------------------------------------------------------------


def recording(trainer_class: type) -> tuple[type, list[str]]:
    """A subclass of `trainer_class` that records each call of a documented hook, wherever it comes from (a hook
    called from the wrong place shows as a call out of order), and the list it records into. The NESTED
    questions are not wrapped."""
    trace: list[str] = []

    def token(self, name: str, args: tuple) -> str:
        if name == "should_evaluate":
            return f'should_evaluate("{args[0]}")'
        if name == "evaluate":
            split = args[0]
            return "evaluate(dev)" if split is self.data.dev else "evaluate(eval)" if split is self.data.eval \
                else f"evaluate({split.name})"
        return name

    def wrap(name: str):
        def hook(self, *args, **kwargs):
            trace.append(token(self, name, args))
            return getattr(super(recorder, self), name)(*args, **kwargs)
        hook.__name__ = name
        return hook

    missing = [name for name in HOOKS if not callable(getattr(trainer_class, name, None))]
    assert not missing, f"{trainer_class.__name__} has no hook {missing}"
    recorder = type(f"Recording{trainer_class.__name__}", (trainer_class,), {name: wrap(name) for name in HOOKS})
    return recorder, trace


# --- the tiny trainings ------------------------------------------------------------------------------------------
# 36 training rows: 4 held out as the dev split, 32 in 4 batches of 8. Two epochs, cut short by max_steps in the
# second, so both a complete epoch and a cut one are seen. The expert levels accumulate 2 batches per step.

COMMON = ("--set", "data.max_train_samples=36", "--set", "data.max_eval_samples=12", "--set", "train.batch_size=8",
          "--set", "train.epochs=2", "--set", "train.num_threads=1", "--set", "train.es_patience=null",
          "--set", "train.learning_rate=1e-3")
LEVELS = {
    "beginner": (BeginnerTrainer, "nsmc", ("--set", "train.max_steps=6")),
    "intermediate": (IntermediateTrainer, "nsmc", ("--set", "train.max_steps=6", "--set", "train.eval_every=3")),
    "expert": (ExpertTrainer, "nsmc", ("--set", "train.max_steps=3", "--set", "train.eval_every=2",
                                       "--set", "train.gradient_accumulation_steps=2")),
    "multi-label": (MultiLabelTrainer, "unsmile", ("--set", "train.max_steps=3", "--set", "train.eval_every=2",
                                                   "--set", "train.gradient_accumulation_steps=2")),
}


def record_levels(model_dir, new_folder) -> dict[str, list[str]]:
    """Each level's recorded hook calls, from one tiny training each (about 2 s each on 2 cores)."""
    found = {}
    for level, (trainer_class, task, extra) in LEVELS.items():
        folder = new_folder(f"hooks-{level}")
        recorder, trace = recording(trainer_class)
        status, _ = run_cli(recorder, "--task", task, "--output-dir", str(folder / "runs"),
                            "--set", f"data.dir={SAMPLES_DIR / task}", "--set", f"data.cache_dir={folder / 'cache'}",
                            "--set", f"model.name_or_path={model_dir}", *COMMON, *extra)
        assert status == 0, level
        found[level] = trace
    return found


@pytest.fixture(scope="module")
def traces(tiny_model_dir, tmp_path_factory) -> dict[str, list[str]]:
    return record_levels(tiny_model_dir, tmp_path_factory.mktemp)


def batch_groups(trace: list[str]) -> list[tuple[int, int]]:
    """(start, end) of each batch's calls: from train_on_batch to before the next batch or epoch-level call."""
    groups, start = [], None
    for index, t in enumerate(trace):
        if start is not None and t in ("train_on_batch", "on_epoch_start", 'should_evaluate("epoch")',
                                       'should_evaluate("end")'):
            groups.append((start, index))
            start = None
        if t == "train_on_batch":
            start = index
    return groups


def collapsed(trace: list[str]) -> list[str]:
    """The trace with each batch's calls as one bracketed item, and consecutive equal batches folded (` x3`)."""
    out, position = [], 0
    for start, end in batch_groups(trace):
        out += trace[position:start]
        item = f"[{' '.join(trace[start:end])}]"
        if out and out[-1].split(" x")[0] == item:
            base, _, count = out[-1].partition(" x")
            out[-1] = f"{base} x{int(count or 1) + 1}"
        else:
            out.append(item)
        position = end
    return out + trace[position:]


def skeleton(trace: list[str]) -> list[str]:
    """What every level shares: the trace without the dev evaluations inside fit (a level's own choice of when to
    evaluate), each batch as `batch`, counted."""
    inside_fit = False
    kept = []
    index = 0
    while index < len(trace):
        t = trace[index]
        if t == "fit":
            inside_fit = True
        if t == "on_fit_end":
            inside_fit = False
        if inside_fit and t == "evaluate_dev":
            index += 3  # evaluate_dev, evaluate(dev), on_evaluate_end
            continue
        kept.append(t)
        index += 1
    out, position = [], 0
    for start, end in batch_groups(kept):
        out += kept[position:start] + ["batch"]
        position = end
    return out + kept[position:]


def prefix_regex(node) -> str:
    """A regular expression matching every prefix (at a call boundary) of a trace the grammar accepts."""
    if isinstance(node, str):
        return f"(?:{regex(node)})?"
    if isinstance(node, Seq):
        return _seq_prefix(list(node.items))
    if isinstance(node, Opt):
        return prefix_regex(node.item)
    if isinstance(node, Rep):
        return f"(?:{regex(node.item)})*{prefix_regex(node.item)}"
    return _seq_prefix([node.name, node.children])


def _seq_prefix(items: list) -> str:
    first, rest = items[0], items[1:]
    return f"(?:{regex(first)}{_seq_prefix(rest)}|{prefix_regex(first)})" if rest else prefix_regex(first)


def explain(trace: list[str]) -> str:
    """The first call at which no documented order can continue, and the whole trace collapsed."""
    longest = max(length for length in range(len(trace) + 1)
                  if _PREFIX_ORDER.fullmatch("".join(f"{t}\n" for t in trace[:length])))
    at = trace[longest] if longest < len(trace) else "(the end of the run)"
    return (f"call {longest}, {at}, is out of the documented order (after {trace[max(0, longest - 4):longest]});"
            f" the calls:\n  " + "\n  ".join(collapsed(trace)))


_PREFIX_ORDER = re.compile(prefix_regex(DOCUMENTED))


# --- the tests ---------------------------------------------------------------------------------------------------


def test_the_grammar_is_the_order_the_docstring_of_beginner_py_documents():
    """The hooks named in the docstring's hook listing, in its order (each evaluate_dev() by name, defined on its
    own line below the listing), are the grammar's."""
    doc = beginner_module.__doc__
    listing, _, definitions = doc.partition("evaluate_dev() =")
    listing = listing[re.search(r"^ +run\(\)", listing, re.MULTILINE).start():]  # the indented listing
    named = {hook_name(t) for t in tokens(DOCUMENTED)}
    word = re.compile(r"\b(" + "|".join(sorted(named, key=len, reverse=True)) + r")\b")
    in_docstring = [match.group(1) for match in word.finditer(listing)]
    # run() is the root of the listing; later, "run" is prose ("however run() ends", "the run folder").
    in_docstring = in_docstring[:1] + [name for name in in_docstring[1:] if name != "run"]

    def documented_tokens(node) -> list[str]:  # as the listing names them: evaluate_dev not expanded
        if isinstance(node, str):
            return [hook_name(node)]
        if isinstance(node, Seq):
            return [t for item in node.items for t in documented_tokens(item)]
        if isinstance(node, (Opt, Rep)):
            return documented_tokens(node.item)
        return [node.name, *(documented_tokens(node.children) if node.inline else [])]

    expected = [t for t in documented_tokens(DOCUMENTED) if t not in UNDOCUMENTED or t in in_docstring]
    expected = [t for i, t in enumerate(expected) if i == 0 or t != expected[i - 1]]  # parameter_groups' retry
    assert in_docstring == expected, "the hook order in the docstring of trainers/beginner.py and DOCUMENTED differ"
    defined = [match.group(1) for match in word.finditer(definitions.split("\n")[0])]
    assert defined == [hook_name(t) for t in tokens(EVALUATE_DEV.children)]


def test_every_hook_a_level_overrides_has_a_place_in_the_order_or_is_a_nested_question():
    """The 'Hooks overridden:' line of each trainer's docstring names only hooks the grammar orders or NESTED lists,
    so a new hook cannot be added without a place in this test."""
    import koelectra_cookbook.trainers.expert as expert
    import koelectra_cookbook.trainers.intermediate as intermediate
    import koelectra_cookbook.trainers.multi_label as multi_label

    for module in (intermediate, expert, multi_label):
        text = module.__doc__.split("Hooks overridden:")[1].split("Config keys")[0]
        overridden = re.findall(r"[a-z_]+", re.sub(r"\([^)]*\)", "", text))
        assert overridden, module.__name__
        assert not NESTED & set(HOOKS)
        unplaced = [name for name in overridden if name not in HOOKS and name not in NESTED]
        assert not unplaced, f"{module.__name__}: hooks with no place in the documented order: {unplaced}"
        trainer = vars(module)[next(name for name in vars(module) if name.endswith("Trainer")
                                    and getattr(vars(module)[name], "__module__", "") == module.__name__)]
        not_overridden = [name for name in overridden if name not in vars(trainer)]
        assert not not_overridden, f"{module.__name__} says it overrides {not_overridden}, and does not"


@pytest.mark.parametrize("level", list(LEVELS))
def test_each_level_calls_its_hooks_in_the_documented_order(traces, level):
    trace = traces[level]
    assert follows_documented_order(trace), explain(trace)


def test_every_level_runs_the_skeleton_of_the_beginner(traces):
    """Set-up, epochs, batches, the final model, calibration and the outputs: the same calls at every level, once
    the evaluations during training are set aside (the same number of batches: the expert levels take half the
    steps, accumulating two batches each)."""
    expected = skeleton(traces["beginner"])
    assert expected.count("batch") == 6 and expected.count("on_epoch_start") == 2
    for level in ("intermediate", "expert", "multi-label"):
        assert skeleton(traces[level]) == expected, level


def test_the_beginner_evaluates_once_when_training_ends(traces):
    trace = traces["beginner"]
    assert trace.count("evaluate_dev") == 1
    assert trace[trace.index("evaluate_dev") - 1] == 'should_evaluate("end")'


@pytest.mark.parametrize("level", ["intermediate", "expert", "multi-label"])
def test_higher_levels_also_evaluate_during_training(traces, level):
    trace = traces[level]
    during = [i for i, t in enumerate(trace[:trace.index('should_evaluate("end")')]) if t == "evaluate_dev"]
    assert during, collapsed(trace)
    assert all(trace[i - 1] == 'should_evaluate("step")' for i in during)  # train.eval_every
    steps = trace.count("optimizer_step")
    assert len(during) == steps // {"intermediate": 3}.get(level, 2)


@pytest.mark.parametrize("level", ["expert", "multi-label"])
def test_accumulating_levels_step_every_other_batch(traces, level):
    trace = traces[level]
    groups = [tuple(trace[start:end]) for start, end in batch_groups(trace)]
    stepped = ["optimizer_step" in group for group in groups]
    assert stepped == [False, True, False, True, False, True], collapsed(trace)
    assert all(group[-1] == "should_step" for group, step in zip(groups, stepped) if not step)


def test_the_order_check_rejects_any_two_neighbouring_calls_swapped(traces):
    """The check can fail: in each level's real trace, swapping two neighbouring different calls breaks it."""
    for level, trace in traces.items():
        accepted = []
        for i in range(len(trace) - 1):
            if trace[i] != trace[i + 1]:
                swapped = trace[:i] + [trace[i + 1], trace[i]] + trace[i + 2:]
                if follows_documented_order(swapped):
                    accepted.append((i, trace[i], trace[i + 1]))
        assert not accepted, f"{level}: swaps the order check accepts: {accepted}"
    assert not follows_documented_order([t for t in traces["beginner"] if t != "calibrate"])
    assert not follows_documented_order(traces["beginner"] + ["training_step"])
