"""The exceptions the scripts turn into exit statuses: UserError ("the user gave us something wrong": one
`error: <message>` line on stderr, exit status 2) and TrainingInterrupted (exit status 130). Anything else
that escapes is a bug and keeps its traceback.
"""

import reprlib
import sys
from pathlib import Path

_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = _SHORT.maxlong = 60
_SHORT.maxlist = _SHORT.maxdict = _SHORT.maxtuple = 6
_SHORT.maxlevel = 3


class UserError(Exception):
    """A bad config, a missing or malformed file, an unreachable model: something the user can fix."""


class TrainingInterrupted(Exception):
    """Raised after Ctrl-C or SIGTERM once a checkpoint is safely written; the script exits with 130."""

    def __init__(self, run_dir, step: int):
        super().__init__(f"interrupted at step {step}; checkpoint saved in {run_dir}/checkpoints\n"
                         f"resume with: python {Path(sys.argv[0]).name} --resume {run_dir}")
        self.run_dir = run_dir


def shown(value, limit: int = 60) -> str:
    """`value` as a message shows it: its repr, escaped (so a newline or a terminal escape in a file cannot break
    the one-line message), cut short, and bounded however deeply it nests or repeats itself (YAML anchors)."""
    try:
        text = _SHORT.repr(value)
    except ValueError:  # an integer beyond Python's 4300-digit conversion limit
        return "<a number too long to show>"
    return text if len(text) <= limit else text[: limit - 3] + "..."
