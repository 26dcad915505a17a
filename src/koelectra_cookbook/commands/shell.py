"""What every script shares with the shell: arguments whose mistakes are one `error:` line, the exit statuses
(0 done, 2 a user error with one `error: ...` line on stderr, 130 after Ctrl-C or SIGTERM), and quiet libraries.

Light on purpose: predict.py's int8 path imports this and neither torch nor transformers.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import os
import signal
import sys
import unicodedata
from collections.abc import Callable

from koelectra_cookbook.errors import TrainingInterrupted, UserError, shown


class ArgumentParser(argparse.ArgumentParser):
    """argparse, but a mistake is one `error:` line (exit 2) like every other user error, not a usage block."""

    def error(self, message: str):
        raise UserError(f"{message} (see {self.prog} --help)")


def path_argument(text: str) -> str:
    """A path on the command line: a control character (a newline) in it would split every message naming it."""
    if any(unicodedata.category(char) == "Cc" for char in text):
        raise argparse.ArgumentTypeError(f"{text!r} holds a control character")
    return text


def exit_status(body: Callable[[], None], interrupted: Callable[[], str]) -> int:
    """The scripts' contract around `body`: 0 when it returns; 2 and one `error:` line for a user error (or an
    operating-system error no check foresaw); 130 after Ctrl-C or SIGTERM, with `interrupted()` saying what
    was kept (a training loop that stopped at a step boundary says it itself)."""
    try:
        with sigterm_as_keyboard_interrupt():
            body()
        return 0
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except TrainingInterrupted as stop:
        print(stop, file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print(interrupted(), file=sys.stderr)
        quiet_teardown()
        return 130
    except OSError as exc:  # a path or a disk the checks did not foresee: still the user's to fix
        print(f"error: {os_error_message(exc)}", file=sys.stderr)
        return 2
    finally:
        loud_teardown()


def quiet_teardown() -> None:
    """After Ctrl-C or SIGTERM, an object the interrupt caught half-built (a progress bar) complains when it is
    freed, as the exception is let go; the one-line message already said what happened. `loud_teardown` ends it."""
    sys.unraisablehook = _ignore


def loud_teardown() -> None:
    if sys.unraisablehook is _ignore:
        gc.collect()  # what the interrupt left in reference cycles goes now, still quietly
        sys.unraisablehook = sys.__unraisablehook__


def _ignore(unraisable) -> None:
    pass


def os_error_message(exc: OSError) -> str:
    """`path: reason` for an operating-system error, on one line."""
    where = exc.filename if exc.filename is not None else ""
    return f"{shown(str(where), 200)[1:-1]}: {exc.strerror or exc}" if where else " ".join(str(exc).split())


@contextlib.contextmanager
def sigterm_as_keyboard_interrupt():
    """SIGTERM (a scheduler, `kill`) ends the run like Ctrl-C: cleanly, with a message, exit status 130.
    The intermediate level replaces both with a stop at the next step boundary while it trains; whatever a
    trainer installs, the handlers from before are back afterwards."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = {stop: signal.getsignal(stop) for stop in (signal.SIGINT, signal.SIGTERM)}
        signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread (e.g. run from a notebook's worker): leave signals alone
        yield
        return
    try:
        yield
    finally:
        for stop, handler in previous.items():
            signal.signal(stop, handler)


def quiet_libraries() -> None:
    """Library chatter (load reports, retry notices, progress bars) would bury our own messages; errors still
    surface. Said through the environment variables transformers and huggingface_hub read when they load, so a
    script that never loads them does not import them to quiet them; a library already loaded is told directly."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.update(TRANSFORMERS_VERBOSITY="error", HF_HUB_VERBOSITY="error", HF_HUB_DISABLE_PROGRESS_BARS="1")
    if "huggingface_hub" in sys.modules:
        from huggingface_hub.utils import disable_progress_bars, logging

        logging.set_verbosity_error()
        disable_progress_bars()
    if "transformers" in sys.modules:
        import transformers

        transformers.logging.set_verbosity_error()
        transformers.utils.logging.disable_progress_bar()
