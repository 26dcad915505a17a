"""Before anything heavy loads: the data files are there (a built-in task's are downloaded now) and the model
can be reached. Every problem of the two is said in one go, so a user fixes both before trying again."""

from __future__ import annotations

import os
from pathlib import Path

from koelectra_cookbook.classifier.hub import model_problem
from koelectra_cookbook.config.schema import Config, DataConfig
from koelectra_cookbook.config.tasks import task_spec
from koelectra_cookbook.data.download import ensure_file
from koelectra_cookbook.errors import UserError


def check_inputs(config: Config, writes: bool, evaluation: bool = True, model: bool = True) -> None:
    """UserError naming every problem of the model (unless `model` is false: audit.py's duplicates need none) and
    the data files. `writes` false (a resumed run): nothing is downloaded. Under several processes only the first
    downloads; the others find the files when they read them, after it (the trainers' main_process_first)."""
    problems = []
    try:
        problem = model_problem(config.model.name_or_path) if model else None
    except UserError as exc:
        problem = str(exc)
    if problem:
        problems.append(problem)
    first_process = int(os.environ.get("LOCAL_RANK", "0")) == 0
    data = config.data
    names = [*data.train_files(), *([data.dev_file] if data.dev_file else []),
             *([data.eval_file] if evaluation else [])]  # pretraining never reads an evaluation file
    known_sources = task_spec(config.task) is not None and task_spec(config.task).remote_files
    if data.dataset:  # a Hugging Face dataset: `datasets` reads (and checks) it when the data loads
        names = []
    elif not Path(data.dir).is_dir() and not known_sources:  # one line for the folder, not one per file
        problems.append(f"data.dir {data.dir!r} is not a folder (a relative data.dir is read from the working "
                        f"folder: {Path(data.dir).resolve()}); put the data files there ({', '.join(names)}) or "
                        f"set data.dir")
        names = []
    for file_name in names:
        if not file_name:
            problems.append(f"config: data.train_file and data.eval_file must name files in data.dir ({data.dir})")
            break
        if not first_process:
            continue
        try:
            ensure_file(Path(data.dir), file_name, task_spec(config.task), data.download and writes)
        except UserError as exc:
            problems.append(str(exc))
    if not data.dataset:
        problems.extend(shared_files(data))
    if problems:  # one error line naming every problem, then the ways around them (the model's, if any)
        lines = [problem.split("\n", 1) for problem in problems]
        message = "; also: ".join(line[0] for line in lines)
        raise UserError(message + "".join(f"\n{line[1]}" for line in lines if len(line) > 1))


def shared_files(data: DataConfig) -> list[str]:
    """The same file (after resolving `./`, links and hard links) named twice in data.train_file, or as the dev
    file and a training or evaluation file: rows read twice, or choices made on rows the run trains on or
    reports on. (The evaluation file as a training file is allowed, with a note: load_task_data says its
    metrics are not held out.)"""
    roles = [*(("data.train_file", name) for name in data.train_files() if name),
             *([("data.dev_file", data.dev_file)] if data.dev_file else []),
             *([("data.eval_file", data.eval_file)] if data.eval_file else [])]
    problems = []
    for index, (role, name) in enumerate(roles):
        for earlier_role, earlier_name in roles[:index]:
            if not same_file(Path(data.dir) / earlier_name, Path(data.dir) / name):
                continue
            if role == earlier_role:
                problems.append(f"{role} names one file twice ({earlier_name} and {name}): every row of it would "
                                f"be trained on twice")
            elif role == "data.dev_file" or earlier_role == "data.dev_file":
                other = earlier_role if role == "data.dev_file" else role
                use = "trains on" if other == "data.train_file" else "reports on"
                problems.append(f"data.dev_file {data.dev_file} is also {other}: the best checkpoint would be chosen "
                                f"on rows the run {use}; give another dev file, or data.dev_file \"\" to hold "
                                f"data.dev_split of the training rows out")
    return list(dict.fromkeys(problems))  # a file named three times is said once


def same_file(first: Path, second: Path) -> bool:
    if first.resolve() == second.resolve():
        return True
    try:
        return os.path.samefile(first, second)
    except OSError:  # one is not there yet (a built-in task's file is downloaded later)
        return False
