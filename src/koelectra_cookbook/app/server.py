"""Serving the page (page.py builds it): the address checked before the model loads, Gradio imported only when a
page is asked for, the server started in background threads and stopped within a second of Ctrl-C."""

from __future__ import annotations

import errno
import os
import socket
import threading
from pathlib import Path

from koelectra_cookbook.app.page import ModelPage
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.inference.predictor import Predictor

WILDCARD_HOSTS = ("0.0.0.0", "::", "[::]", "")  # every address of the machine: none to put in a URL


def start_server(model_dir: Path, host: str, port: int, max_upload_bytes: int = 5 * 2**20,
                 max_upload_rows: int = 10_000) -> "RunningServer":
    """Check the address, load the model, build the page and start serving it in background threads."""
    gradio = import_gradio()
    check_address(host, port)
    predictor = Predictor(model_dir)  # refuses a folder that is not a fine-tuned classifier, with an error: line
    page = ModelPage(gradio, predictor, Path(model_dir), max_upload_bytes, max_upload_rows, page_url(host, port),
                     wildcard=host in WILDCARD_HOSTS)
    blocks = page.build()
    try:
        blocks.launch(server_name=host, server_port=port, prevent_thread_lock=True, share=False, quiet=True,
                      ssr_mode=False, max_file_size=max_upload_bytes)
    except OSError as exc:  # the port was taken between our check and Gradio's
        page.close()
        raise UserError(f"--host {host} --port {port}: cannot listen there ({' '.join(str(exc).split())[:200]})") \
            from None
    return RunningServer(blocks, page)


class RunningServer:
    """A page being served: `url` is where, `close()` stops the server and removes the page's files."""

    def __init__(self, blocks, page: ModelPage):
        self.blocks = blocks
        self.page = page
        self.url = blocks.local_url

    def close(self, wait: float | None = None) -> None:
        """Stop serving and remove the page's files. Gradio stops uvicorn, which lets the requests still running
        finish (a file being classified; a result stream a client keeps open never does), and gives it up to 5
        seconds. `wait`: how many seconds of that to wait for at most (Ctrl-C gives 1); the server's threads are
        daemon threads, which end with the process."""
        closing = threading.Thread(target=self.blocks.close, kwargs={"verbose": False}, daemon=True,
                                   name="close-page")  # verbose: the script says itself that the page stopped
        closing.start()
        closing.join(wait)
        self.page.close()

    def busy(self) -> bool:
        """Whether a server thread is in the model now (classifying a large file takes a while)."""
        return self.page.in_use


def page_url(host: str, port: int) -> str:
    """The page's address as the footer's curl commands give it: Gradio's own (`local_url`) for an address of
    this machine; `localhost` for a wildcard, where a visitor from elsewhere puts the machine's own name."""
    if host in WILDCARD_HOSTS:
        host = "localhost"
    elif ":" in host and not host.startswith("["):
        host = f"[{host}]"  # an IPv6 address, as a URL writes it
    return f"http://{host}:{port}"


def import_gradio():
    """Gradio, or the one-line error naming the extra that installs it."""
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # a local demo does not report its use anywhere
    try:
        import gradio
    except ImportError:
        raise UserError('the web page needs Gradio, an optional extra: pip install -e ".[app]"') from None
    return gradio


def check_address(host: str, port: int) -> None:
    """Refuse a port out of range, a host that names no address of this machine and an address already in use,
    before the model loads, each with its own message."""
    if not 1 <= port <= 65535:
        raise UserError(f"--port {port}: give a port from 1 to 65535")
    try:
        family, kind, _, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        reason = exc.strerror if isinstance(exc, socket.gaierror) else "not a valid host name"
        raise UserError(f"--host {host!r}: not an address or a host name this machine can resolve ({reason})") \
            from None
    with socket.socket(family, kind) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the server does: a closed port is free
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                why = "the port is in use; stop what uses it or give another --port"
            elif exc.errno == errno.EACCES:
                why = "permission denied; ports below 1024 need privileges, give a --port of 1024 or more"
            elif exc.errno == errno.EADDRNOTAVAIL:
                why = "not an address of this machine; give one of its own, 127.0.0.1 or 0.0.0.0"
            else:
                why = exc.strerror or str(exc)
            raise UserError(f"--host {host} --port {port}: cannot listen there ({why})") from None
