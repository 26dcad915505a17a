"""app.py: serve the web page of a saved model (app/page.py builds it, app/server.py serves it)."""

from __future__ import annotations

import argparse
import atexit
import gc
import os
import sys
import time
from pathlib import Path

from koelectra_cookbook.app import page
from koelectra_cookbook.app.server import start_server
from koelectra_cookbook.commands.shell import ArgumentParser, exit_status, path_argument, quiet_libraries
from koelectra_cookbook.errors import UserError

STOP_WAIT_S = 1.0  # after Ctrl-C, the most the script waits for the server's requests to end (the rest are dropped)


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(description=page.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", type=lambda text: Path(path_argument(text)), required=True,
                        help="a saved model directory (RUN_DIR/model)")
    parser.add_argument("--host", type=path_argument, default="127.0.0.1",
                        help="the address to listen on (default 127.0.0.1: this machine only; 0.0.0.0: every "
                             "network this machine is on)")
    parser.add_argument("--port", type=int, default=7860, help="the port to listen on (default 7860)")
    parser.add_argument("--max-upload-mb", type=int, default=5, help="largest file the page accepts (default 5)")
    parser.add_argument("--max-upload-rows", type=int, default=10_000,
                        help="most texts (or text pairs) in one uploaded file (default 10000; use predict.py for more)")
    quiet_libraries()
    server = None

    def serve() -> None:
        nonlocal server
        args = parser.parse_args(argv)
        if args.max_upload_mb < 1 or args.max_upload_rows < 1:
            raise UserError("--max-upload-mb and --max-upload-rows must be at least 1")
        server = start_server(args.model, args.host, args.port, args.max_upload_mb * 2**20,
                              args.max_upload_rows)
        # What is loaded by now (Gradio, torch, the model: half a million objects) lives until the process ends.
        # Frozen, the garbage collector no longer walks it, neither while serving nor at Ctrl-C (the collection
        # after an interrupt and the interpreter's own at exit took 4 to 10 s on a busy 2-core machine; under 1 s
        # frozen). The garbage of the start is collected first, so nothing it leaves is kept for good.
        gc.collect()
        gc.freeze()
        print(f"serving {args.model} at {server.url} (Ctrl-C stops it)", flush=True)
        while True:  # the server runs in its own threads; this one waits for Ctrl-C or SIGTERM
            time.sleep(1)

    def interrupted() -> str:
        if server is None:
            return "interrupted before the page was served; nothing was started"
        return f"stopped serving {server.url}"

    status = 2
    try:
        status = exit_status(serve, interrupted)
        return status
    finally:
        if server is not None:
            server.close(wait=STOP_WAIT_S)
            if status == 130:
                atexit.register(end_now_if_busy, server, status)


def end_now_if_busy(server, status: int) -> None:
    """At the process's exit after Ctrl-C (the last exit handler registered runs first): if a server thread is
    still classifying (a large uploaded file), end the process at once. Waiting would take as long as the
    prediction, and the interpreter's normal exit under a running torch computation aborts (SIGABRT, "terminate
    called without an active exception"). A process that goes on (main() called from Python) is left alone
    until it exits, by which time the thread has long finished."""
    if server.busy():
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(status)
