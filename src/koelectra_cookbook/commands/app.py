"""app.py: serve the web page of a saved model (app/page.py builds it)."""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from koelectra_cookbook.app import page
from koelectra_cookbook.app.page import start_server
from koelectra_cookbook.commands.shell import ArgumentParser, exit_status, path_argument, quiet_libraries
from koelectra_cookbook.errors import UserError


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
                        help="most texts in one uploaded file (default 10000; use predict.py for more)")
    quiet_libraries()
    server = None

    def serve() -> None:
        nonlocal server
        args = parser.parse_args(argv)
        if args.max_upload_mb < 1 or args.max_upload_rows < 1:
            raise UserError("--max-upload-mb and --max-upload-rows must be at least 1")
        server = start_server(args.model, args.host, args.port, args.max_upload_mb * 2**20,
                              args.max_upload_rows)
        print(f"serving {args.model} at {server.url} (Ctrl-C stops it)", flush=True)
        while True:  # the server runs in its own threads; this one waits for Ctrl-C or SIGTERM
            time.sleep(1)

    try:
        return exit_status(serve, lambda: "stopped")
    finally:
        if server is not None:
            server.close()
