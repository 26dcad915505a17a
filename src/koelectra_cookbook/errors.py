"""The one exception type that means "the user gave us something wrong".

Scripts catch it at the top, print `error: <message>` on stderr and exit with status 2.
Anything else that escapes is a bug and keeps its traceback.
"""


class UserError(Exception):
    """A bad config, a missing or malformed file, an unreachable model: something the user can fix."""


class TrainingInterrupted(Exception):
    """Raised after Ctrl-C or SIGTERM once a checkpoint is safely written; the script exits with 130."""

    def __init__(self, run_dir, step: int):
        super().__init__(f"interrupted at step {step}; checkpoint saved in {run_dir}/checkpoints")
        self.run_dir = run_dir
