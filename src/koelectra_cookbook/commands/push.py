"""`python -m koelectra_cookbook.commands.push RUN_DIR REPO_ID [--public]`: upload a finished run's model folder
to the Hugging Face Hub (runs/push.py does the upload; `--push-to-hub` on the training scripts does the same once
the run is saved)."""

from __future__ import annotations

from pathlib import Path

from koelectra_cookbook.commands.shell import ArgumentParser, exit_status, path_argument
from koelectra_cookbook.runs.push import check_repo_id, push_run


def main(argv: list[str] | None = None) -> int:
    parser = ArgumentParser(prog="python -m koelectra_cookbook.commands.push", description=__doc__.split("\n\n")[0])
    parser.add_argument("run_dir", type=lambda text: Path(path_argument(text)), metavar="RUN_DIR")
    parser.add_argument("repo_id", type=check_repo_id, metavar="REPO_ID", help="owner/name on the Hub")
    parser.add_argument("--public", action="store_true", help="create the repository public (default: private)")

    def body() -> None:
        args = parser.parse_args(argv)
        print(f"uploaded: {push_run(args.run_dir, args.repo_id, private=not args.public)}")

    return exit_status(body, lambda: "interrupted; nothing of the run was changed")


if __name__ == "__main__":
    raise SystemExit(main())
