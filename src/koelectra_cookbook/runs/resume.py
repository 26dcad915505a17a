"""--resume's first check, for every script that continues a folder it wrote (the training scripts, audit.py):
the folder is a run of that level whose config.yaml is still the one it was started with."""

from __future__ import annotations

from pathlib import Path

from koelectra_cookbook.config.levels import LEVELS
from koelectra_cookbook.config.parsing import flat_differences, load_yaml
from koelectra_cookbook.config.resolve import complete_config
from koelectra_cookbook.config.schema import Config, build_config
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.runs.directory import RunDirectory


def load_resume_config(run_dir: Path, level: str) -> Config:
    """The config of the run to continue (--resume), after checking that the folder is a run of this level whose
    config.yaml is still the one it was started with."""
    config_file = Path(run_dir) / "config.yaml"
    if not config_file.is_file():
        raise UserError(f"--resume {run_dir}: not a run directory (no config.yaml in it)")
    RunDirectory(run_dir).check_own_files()
    identity = RunDirectory(run_dir).identity()
    if identity["level"] != level:
        other = LEVELS.get(identity["level"])
        how = f"resume it with {other.script}" if other and other.resumable else "that level keeps no checkpoints"
        article = "an" if str(identity["level"])[:1] in "aeiou" else "a"
        raise UserError(f"--resume {run_dir}: {article} {identity['level']} run, and this script continues {level} "
                        f"runs ({how}, or start a new run)")
    config = complete_config(build_config([(str(config_file), load_yaml(config_file))]), str(config_file))
    edits = flat_differences(identity["config"], config.to_dict())
    if edits:
        listed = "; ".join(f"{key}: {old!r} -> {new!r}" for key, (old, new) in list(edits.items())[:4])
        raise UserError(f"{config_file} was edited after the run started ({listed}{'; ...' if len(edits) > 4 else ''})"
                        f"; a run resumes with the config it started with: undo the edit, or start a new run")
    return config
