"""A web page for a trained model: `python app.py --model RUN_DIR/model [--port 7860] [--host 127.0.0.1]`.

A Gradio page with a text box whose label probabilities are shown as a Gradio `Label` and a bar chart, a file
upload (txt/CSV/TSV/JSON(L)) answered with the predictions CSV that predict.py would write, and the model's
task, labels and metrics beside them. The text classification is also the API endpoint `/classify`:
`gradio_client.Client(url).predict("정말 재밌다", api_name="/classify")` returns
`{"label": ..., "confidences": [{"label": ..., "confidence": ...}, ...]}`. Without gradio_client it is two HTTP
requests, which the page's footer shows for its own address: a POST answered with `{"event_id": "..."}`,

    curl -s -X POST http://127.0.0.1:7860/gradio_api/call/classify -H 'Content-Type: application/json' -d '{"data": ["정말 재밌다"]}'

then a GET of that id, which streams `event: complete` and `data: [{"label": ..., "confidences": [...]}]`:

    curl -s -N http://127.0.0.1:7860/gradio_api/call/classify/EVENT_ID

The page listens on 127.0.0.1 (this machine only) unless --host says otherwise; Ctrl-C stops it within a second
or two (requests still running get no answer). Gradio is an optional extra: `pip install -e ".[app]"`.
"""

from __future__ import annotations

import codecs
import contextlib
import errno
import html
import os
import socket
import tempfile
import threading
from pathlib import Path

from koelectra_cookbook.app.panel import summary_markdown
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.files.tables import write_table
from koelectra_cookbook.inference.inputs import read_texts
from koelectra_cookbook.inference.predictor import Predictor

TABLE_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl")
WILDCARD_HOSTS = ("0.0.0.0", "::", "[::]", "")  # every address of the machine: none to put in a URL
MAX_TEXT_CHARS = 20_000  # one text; the model reads its first max_seq_len tokens anyway
EXAMPLE_TEXT = "정말 재밌는 영화였다"


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

    def __init__(self, blocks, page: "ModelPage"):
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


class ModelPage:
    """The page and what its events call. One model serves every visitor; a lock lets one batch through it at a
    time (the tokenizer is not meant to be used from two threads at once). `gradio` is the module, imported by
    `import_gradio` only once a page is asked for, so a missing extra is an error line and not an ImportError."""

    def __init__(self, gradio, predictor: Predictor, model_dir: Path, max_upload_bytes: int, max_upload_rows: int,
                 url: str = "http://127.0.0.1:7860", wildcard: bool = False):
        self.gr = gradio
        self.url = url  # where the page is served, for the footer's curl commands
        self.wildcard = wildcard  # listening on every address of the machine: `url` names localhost
        self.predictor = predictor
        self.model_dir = model_dir
        self.max_upload_bytes = max_upload_bytes
        self.max_upload_rows = max_upload_rows
        self.lock = threading.Lock()
        self.in_use = False  # a batch is in the model now (`busy`)
        self.closed = False  # the server stopped: no batch starts any more
        # The predictions CSVs are written in here (Gradio then copies what it serves into its own cache);
        # removed when the server stops (a file a request cut short by Ctrl-C still writes there is left behind).
        self.work_dir = tempfile.TemporaryDirectory(prefix="koelectra-app-", ignore_cleanup_errors=True)

    def close(self) -> None:
        self.closed = True
        self.work_dir.cleanup()

    @contextlib.contextmanager
    def model_in_use(self):
        """The model, for one batch at a time. Marked while in use (`RunningServer.busy`), and refused once the
        page is closed, so that no batch starts while the process exits after Ctrl-C."""
        with self.lock:
            if self.closed:
                raise self.refusal("the page is stopping; reload it once the server is back")
            self.in_use = True
            try:
                yield self.predictor
            finally:
                self.in_use = False

    def build(self):
        gr, predictor = self.gr, self.predictor
        # Gradio keeps every upload and every file it serves in its cache folder: files older than an hour are
        # removed every hour, so a page left running does not fill the disk with strangers' files.
        with gr.Blocks(title="Korean text classification", analytics_enabled=False,
                       delete_cache=(3600, 3600)) as blocks:
            gr.Markdown("## Korean text classification")
            with gr.Row():
                with gr.Column(scale=3):
                    text = gr.Textbox(label="text", lines=3, placeholder="정말 재밌는 영화였어요")
                    button = gr.Button("classify", variant="primary")
                    probabilities = gr.Label(label="probabilities", num_top_classes=len(predictor.label_names),
                                             show_heading=not predictor.multi_label)
                    above = gr.Markdown(visible=predictor.multi_label)
                    # The chart carries its own title; a label box over the picture would hide it.
                    chart = gr.Image(label="probability per label", show_label=False, type="pil", format="png",
                                     interactive=False)
                with gr.Column(scale=2):
                    gr.Markdown(summary_markdown(self.model_dir, predictor.label_names, predictor.thresholds,
                                                 predictor.multi_label))
            with gr.Accordion("classify a file", open=False):
                gr.Markdown("A .txt file (one text a line) or a CSV, TSV, JSON or JSONL file with a text column; "
                            "the predictions come back as the CSV `predict.py` writes.")
                with gr.Row():
                    upload = gr.File(label="file", file_types=[".txt", *TABLE_SUFFIXES])
                    with gr.Column():
                        column = gr.Textbox(label="text column (CSV, TSV, JSON)", placeholder="document")
                        encoding = gr.Textbox(label="encoding", value="utf-8")
                        file_button = gr.Button("predict the file")
                predictions = gr.File(label="predictions CSV", interactive=False)
            gr.Markdown(api_markdown(self.url, self.wildcard))

            classified = gr.on([button.click, text.submit], self.classify, inputs=text, outputs=probabilities,
                               api_name="classify")
            classified.success(self.chart, inputs=text, outputs=[chart, above], api_visibility="private")
            file_button.click(self.predict_file, inputs=[upload, column, encoding], outputs=predictions,
                              api_name="predict_file")
        return blocks

    def refusal(self, message: str):
        """The message a visitor sees for what they gave (a blank text, a file that cannot be read). Shown as
        text, not HTML (a file's column names are in it), and not logged as a server error with a traceback."""
        return self.gr.Error(html.escape(message, quote=False), print_exception=False)

    def probabilities_of(self, text: str):
        """One text's probability per label, in label-id order."""
        if not isinstance(text, str) or not text.strip():
            raise self.refusal("type a text to classify")
        if len(text) > MAX_TEXT_CHARS:
            raise self.refusal(f"the text has {len(text)} characters; give at most {MAX_TEXT_CHARS}")
        with self.model_in_use() as predictor:
            return predictor.probabilities([text])[0]

    def classify(self, text: str) -> dict[str, float]:
        """The `/classify` endpoint: {label: probability} for the Label component."""
        row = self.probabilities_of(text)
        return {name: float(p) for name, p in zip(self.predictor.label_names, row)}

    def chart(self, text: str):
        """The bar chart and, for a multi-label model, the line naming the labels above their thresholds. Drawn
        from the text again, not from the Label's value, which the browser sends back and could have altered."""
        from koelectra_cookbook.app.chart import probability_chart

        predictor = self.predictor
        row = self.probabilities_of(text)
        if not predictor.multi_label:
            return probability_chart(predictor.label_names, row), ""
        above = [name for name, p, t in zip(predictor.label_names, row, predictor.thresholds) if p >= t]
        line = "**above threshold**: " + (", ".join(above) if above else "none")
        return probability_chart(predictor.label_names, row, predictor.thresholds), line

    def predict_file(self, upload: str | None, text_column: str, encoding: str) -> str:
        """The predictions CSV of an uploaded file, read and written by predict.py's own functions."""
        if upload is None:
            raise self.refusal("choose a file first")
        path = Path(upload)
        try:
            if path.stat().st_size > self.max_upload_bytes:
                raise UserError(f"{path}: larger than {self.max_upload_bytes / 2**20:g} MB")
            encoding = (encoding or "utf-8").strip()
            try:
                codecs.lookup(encoding)
            except LookupError:
                raise UserError(f"--encoding {encoding!r} is not an encoding Python knows") from None
            # A .txt file is one text a line whatever the column box says; a table needs the column.
            column = (text_column or "").strip() or None
            texts = read_texts(path, column if path.suffix.lower() in TABLE_SUFFIXES else None, encoding)
            if len(texts) > self.max_upload_rows:
                raise UserError(f"{path}: {len(texts)} texts; the page classifies at most {self.max_upload_rows} "
                                f"at a time (use predict.py for more)")
            with self.model_in_use() as predictor:
                columns = predictor.table(texts)
            output = Path(tempfile.mkdtemp(dir=self.work_dir.name)) / "predictions.csv"
            write_table(columns, output)
        except (UserError, OSError) as exc:
            raise self.refusal(page_message(str(exc), path)) from None
        return str(output)


def api_markdown(url: str, wildcard: bool = False) -> str:
    """The page's footer: its `/classify` endpoint called with curl, as Gradio's HTTP API takes it (a POST that
    queues the text and answers its event id, then a GET of that id that streams the result as server-sent
    events), and with gradio_client. `wildcard`: the page listens on every address, `url` names `localhost`."""
    call = f"{url}/gradio_api/call/classify"
    post = f"""curl -s -X POST {call} -H 'Content-Type: application/json' -d '{{"data": ["{EXAMPLE_TEXT}"]}}'"""
    elsewhere = " From another machine, put this machine's address in place of `localhost`." if wildcard else ""
    return "\n".join([
        "### API",
        "",
        f"The classification is also the HTTP endpoint `/classify`.{elsewhere} A POST queues a text and answers "
        "its event id; a GET of that id streams the result, `event: complete` then `data: [...]` (`event: error` "
        "and the message for a refused text):",
        "",
        "```bash",
        post,
        '# {"event_id":"..."}',
        f"curl -s -N {call}/$EVENT_ID        # the id the POST answered",
        "# event: complete",
        '# data: [{"label": "...", "confidences": [{"label": "...", "confidence": ...}, ...]}]',
        "",
        "# the two in one line",
        f"""curl -s -N {call}/$({post} | awk -F'"' '{{print $4}}')""",
        "```",
        "",
        f'From Python: `gradio_client.Client("{url}/").predict("{EXAMPLE_TEXT}", api_name="/classify")`. Every '
        "endpoint, the file upload's `/predict_file` too, is described under *Use via API* at the bottom of the "
        "page.",
    ])


def page_message(message: str, upload: Path) -> str:
    """A predict.py error message worded for the page: the upload's own name instead of its path on the server
    (which a visitor has no use for), and the page's boxes instead of predict.py's options."""
    message = message.replace(f"--input {upload}", upload.name).replace(str(upload), upload.name)
    message = message.replace("give --text-column", "give the text column")
    message = message.replace("pass --encoding", "set the encoding to").replace("--encoding", "encoding")
    return message

