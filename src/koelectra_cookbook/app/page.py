"""A web page for a trained model: `python app.py --model RUN_DIR/model [--port 7860] [--host 127.0.0.1]`.

A Gradio page with a text box whose label probabilities are shown as a Gradio `Label` and a bar chart, a file
upload (txt/CSV/TSV/JSON(L)) answered with the predictions CSV that predict.py would write, and the model's
task, labels and metrics beside them. A sentence-pair model (KorNLI, KorSTS) gets two text boxes, the first and
the second text, and its upload reads two columns (or a tab between the two texts of a line); a regression model
shows its predicted score, a number, instead of the probabilities. The text classification is also the API
endpoint `/classify`:
`gradio_client.Client(url).predict("정말 재밌다", api_name="/classify")` returns
`{"label": ..., "confidences": [{"label": ..., "confidence": ...}, ...]}`. Without gradio_client it is two HTTP
requests, which the page's footer shows for its own address: a POST answered with `{"event_id": "..."}`,

    curl -s -X POST http://127.0.0.1:7860/gradio_api/call/classify -H 'Content-Type: application/json' -d '{"data": ["정말 재밌다"]}'

then a GET of that id, which streams `event: complete` and `data: [{"label": ..., "confidences": [...]}]`:

    curl -s -N http://127.0.0.1:7860/gradio_api/call/classify/EVENT_ID

For a sentence-pair model the data are the two texts, `{"data": ["first text", "second text"]}`; a regression
model's result is its score, `data: [3.41...]`.

The page listens on 127.0.0.1 (this machine only) unless --host says otherwise; Ctrl-C stops it within a second
or two (requests still running get no answer). Gradio is an optional extra: `pip install -e ".[app]"`.
"""

from __future__ import annotations

import codecs
import contextlib
import html
import tempfile
import threading
from pathlib import Path

from koelectra_cookbook.app.panel import summary_markdown
from koelectra_cookbook.errors import UserError
from koelectra_cookbook.files.tables import write_table
from koelectra_cookbook.inference.inputs import read_pairs, read_texts
from koelectra_cookbook.inference.predictor import Predictor

TABLE_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl")
# One text: a model that reads long texts whole (data.long_text: windows) reads 100,000 characters of Korean as
# some 400 windows of 128 tokens, batched; a longer text is a file for predict.py.
MAX_TEXT_CHARS = 100_000
EXAMPLE_TEXT = "정말 재밌는 영화였다"
EXAMPLE_PAIR = ("한 남자가 기타를 치고 있다", "남자가 악기를 연주하고 있다")


class ModelPage:
    """The page and what its events call. One model serves every visitor; a lock lets one batch through it at a
    time (the tokenizer is not meant to be used from two threads at once). `gradio` is the module, imported by
    `server.import_gradio` only once a page is asked for, so a missing extra is an error line and not an ImportError."""

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
        """The model, for one batch at a time. Marked while in use (`server.RunningServer.busy`), and refused once the
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
        pair, regression = predictor.sentence_pair, predictor.regression
        title = page_title(pair, regression)
        # Gradio keeps every upload and every file it serves in its cache folder: files older than an hour are
        # removed every hour, so a page left running does not fill the disk with strangers' files.
        with gr.Blocks(title=title, analytics_enabled=False, delete_cache=(3600, 3600)) as blocks:
            gr.Markdown(f"## {title}")
            with gr.Row():
                with gr.Column(scale=3):
                    if pair:
                        texts = [gr.Textbox(label="first text", lines=2, placeholder=EXAMPLE_PAIR[0]),
                                 gr.Textbox(label="second text", lines=2, placeholder=EXAMPLE_PAIR[1])]
                    else:
                        texts = [gr.Textbox(label="text", lines=3, placeholder="정말 재밌는 영화였어요")]
                    button = gr.Button("score" if regression else "classify", variant="primary")
                    if regression:  # one number: no classes to list or chart
                        result = gr.Number(label="predicted score", interactive=False)
                    else:
                        result = gr.Label(label="probabilities", num_top_classes=len(predictor.label_names),
                                          show_heading=not predictor.multi_label)
                        above = gr.Markdown(visible=predictor.multi_label)
                        # The chart carries its own title; a label box over the picture would hide it.
                        chart = gr.Image(label="probability per label", show_label=False, type="pil",
                                         format="png", interactive=False)
                with gr.Column(scale=2):
                    gr.Markdown(summary_markdown(self.model_dir, predictor.label_names, predictor.thresholds,
                                                 predictor.multi_label, regression=regression,
                                                 sentence_pair=pair, long_text=predictor.long_text))
            with gr.Accordion("score a file" if regression else "classify a file", open=False):
                if pair:
                    gr.Markdown("A .txt file (two texts a line, separated by a tab) or a CSV, TSV, JSON or JSONL "
                                "file with a column for each text; the predictions come back as the CSV "
                                "`predict.py` writes.")
                else:
                    gr.Markdown("A .txt file (one text a line) or a CSV, TSV, JSON or JSONL file with a text "
                                "column; the predictions come back as the CSV `predict.py` writes.")
                with gr.Row():
                    upload = gr.File(label="file", file_types=[".txt", *TABLE_SUFFIXES])
                    with gr.Column():
                        if pair:
                            columns = [gr.Textbox(label="first text column (CSV, TSV, JSON)", placeholder="sentence1"),
                                       gr.Textbox(label="second text column", placeholder="sentence2")]
                        else:
                            columns = [gr.Textbox(label="text column (CSV, TSV, JSON)", placeholder="document")]
                        encoding = gr.Textbox(label="encoding", value="utf-8")
                        options = [gr.Checkbox(label="no quoting: a quote is a plain character (KorNLI, KorSTS "
                                                     "files)", value=False)] if pair else []
                        file_button = gr.Button("predict the file")
                predictions = gr.File(label="predictions CSV", interactive=False)
            gr.Markdown(api_markdown(self.url, self.wildcard, sentence_pair=pair, regression=regression))

            triggers = [button.click, *(box.submit for box in texts)]
            classified = gr.on(triggers, self.classify, inputs=texts, outputs=result, api_name="classify")
            if not regression:
                classified.success(self.chart, inputs=texts, outputs=[chart, above], api_visibility="private")
            file_button.click(self.predict_pair_file if pair else self.predict_file,
                              inputs=[upload, *columns, encoding, *options], outputs=predictions,
                              api_name="predict_file")
        self.count_the_values(blocks)
        return blocks

    def count_the_values(self, blocks) -> None:
        """A call with too few values in its data (one text for a pair model's `/classify`, as the footer of a
        single-text page has it) is a message, not Gradio's traceback in the server log and `"error": null` for
        the caller. Gradio checks the count before the function runs (Blocks.validate_inputs; more values than
        inputs it ignores); where a Gradio version has no such check, nothing is changed."""
        validate = getattr(blocks, "validate_inputs", None)
        if validate is None:
            return

        def validate_inputs(block_fn, inputs):
            try:
                return validate(block_fn, inputs)
            except ValueError:
                wanted, name = len(getattr(block_fn, "inputs", ())), getattr(block_fn, "api_name", None)
                if name == "classify" and self.predictor.sentence_pair:
                    message = ('this model compares two texts: give both, {"data": ["first text", "second '
                               'text"]}')
                else:
                    message = f"/{name}: give {wanted} value{'s' if wanted != 1 else ''} in data (got {len(inputs)})"
                raise self.refusal(message) from None

        blocks.validate_inputs = validate_inputs

    def refusal(self, message: str):
        """The message a visitor sees for what they gave (a blank text, a file that cannot be read). Shown as
        text, not HTML (a file's column names are in it), and not logged as a server error with a traceback."""
        return self.gr.Error(html.escape(message, quote=False), print_exception=False)

    def checked(self, text, which: str, blank: str) -> str:
        """`text` if it is one the model can take, else the refusal with `blank` or the limit on its length."""
        if not isinstance(text, str) or not text.strip():
            raise self.refusal(blank)
        if len(text) > MAX_TEXT_CHARS:
            raise self.refusal(f"the {which} has {len(text)} characters; give at most {MAX_TEXT_CHARS}")
        return text

    def probabilities_of(self, text: str, text_pair: str | None = None):
        """One text's (or, for a sentence-pair model, one pair's) probability per label, in label-id order; a
        regression model's row is its one score."""
        predictor = self.predictor
        if not predictor.sentence_pair:
            text = self.checked(text, "text", "type a text to score" if predictor.regression
                                else "type a text to classify")
            with self.model_in_use() as predictor:
                return predictor.probabilities([text])[0]
        text = self.checked(text, "first text", "type the first text")
        text_pair = self.checked(text_pair, "second text", "type the second text too: the model reads two texts")
        with self.model_in_use() as predictor:
            return predictor.probabilities([text], [text_pair])[0]

    def classify(self, text: str, text_pair: str | None = None) -> dict[str, float] | float:
        """The `/classify` endpoint: {label: probability} for the Label component, or a regression model's
        predicted score. A sentence-pair model's page sends both texts."""
        row = self.probabilities_of(text, text_pair)
        if self.predictor.regression:
            return float(row[0])
        return {name: float(p) for name, p in zip(self.predictor.label_names, row)}

    def chart(self, text: str, text_pair: str | None = None):
        """The bar chart and, for a multi-label model, the line naming the labels above their thresholds. Drawn
        from the text again, not from the Label's value, which the browser sends back and could have altered."""
        from koelectra_cookbook.app.chart import probability_chart

        predictor = self.predictor
        row = self.probabilities_of(text, text_pair)
        if not predictor.multi_label:
            return probability_chart(predictor.label_names, row), ""
        above = [name for name, p, t in zip(predictor.label_names, row, predictor.thresholds) if p >= t]
        line = "**above threshold**: " + (", ".join(above) if above else "none")
        return probability_chart(predictor.label_names, row, predictor.thresholds), line

    def predict_file(self, upload: str | None, text_column: str, encoding: str) -> str:
        """The predictions CSV of an uploaded file, read and written by predict.py's own functions."""
        return self.predict_upload(upload, encoding, text_column)

    def predict_pair_file(self, upload: str | None, text_column: str, pair_column: str, encoding: str,
                          no_quoting: bool = False) -> str:
        """A sentence-pair model's upload: two named columns of a table, or a .txt file of two tab-separated
        texts a line; `no_quoting` as predict.py's --no-quoting."""
        return self.predict_upload(upload, encoding, text_column, pair_column, quoting=not no_quoting, pair=True)

    def predict_upload(self, upload: str | None, encoding: str, text_column: str, pair_column: str = "",
                       quoting: bool = True, pair: bool = False) -> str:
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
            # A .txt file is one text (or, for a pair model, two texts and a tab) a line whatever the column boxes
            # say; a table needs its column (both columns).
            table = path.suffix.lower() in TABLE_SUFFIXES
            column = (text_column or "").strip() or None
            pairs = None
            if not pair:
                texts = read_texts(path, column if table else None, encoding,
                                   no_quoting_option="read it with predict.py --no-quoting")
            elif not table:
                texts, pairs = read_pairs(path, None, None, encoding)
            else:
                second = (pair_column or "").strip() or None
                if column is None or second is None:
                    raise UserError(f"{path}: give both text columns for a {path.suffix} file (the model reads two "
                                    f"texts a row: the first and the second text column)")
                texts, pairs = read_pairs(path, column, second, encoding, quoting,
                                          no_quoting_option="tick 'no quoting'")
            if len(texts) > self.max_upload_rows:
                kind = "pairs" if pair else "texts"
                raise UserError(f"{path}: {len(texts)} {kind}; the page classifies at most {self.max_upload_rows} "
                                f"at a time (use predict.py for more)")
            with self.model_in_use() as predictor:
                columns = predictor.table(texts) if pairs is None else predictor.table(texts, pairs=pairs)
            output = Path(tempfile.mkdtemp(dir=self.work_dir.name)) / "predictions.csv"
            write_table(columns, output)
        except (UserError, OSError) as exc:
            raise self.refusal(page_message(str(exc), path)) from None
        return str(output)


def page_title(sentence_pair: bool = False, regression: bool = False) -> str:
    subject = "sentence-pair" if sentence_pair else "text"
    return f"Korean {subject} {'scoring' if regression else 'classification'}"


def api_markdown(url: str, wildcard: bool = False, sentence_pair: bool = False, regression: bool = False) -> str:
    """The page's footer: its `/classify` endpoint called with curl, as Gradio's HTTP API takes it (a POST that
    queues the text and answers its event id, then a GET of that id that streams the result as server-sent
    events), and with gradio_client. `wildcard`: the page listens on every address, `url` names `localhost`.
    A sentence-pair model's data are its two texts; a regression model's result is a number."""
    call = f"{url}/gradio_api/call/classify"
    example = list(EXAMPLE_PAIR) if sentence_pair else [EXAMPLE_TEXT]
    data = ", ".join(f'"{text}"' for text in example)
    post = f"""curl -s -X POST {call} -H 'Content-Type: application/json' -d '{{"data": [{data}]}}'"""
    elsewhere = " From another machine, put this machine's address in place of `localhost`." if wildcard else ""
    what = "score" if regression else "classification"
    given = "the two texts, the first then the second," if sentence_pair else "a text"
    result = ("# data: [2.87...]                   # the predicted score" if regression else
              '# data: [{"label": "...", "confidences": [{"label": "...", "confidence": ...}, ...]}]')
    return "\n".join([
        "### API",
        "",
        f"The {what} is also the HTTP endpoint `/classify`.{elsewhere} A POST queues {given} and answers "
        "its event id; a GET of that id streams the result, `event: complete` then `data: [...]` (`event: error` "
        "and the message for a refused text):",
        "",
        "```bash",
        post,
        '# {"event_id":"..."}',
        f"curl -s -N {call}/$EVENT_ID        # the id the POST answered",
        "# event: complete",
        result,
        "",
        "# the two in one line",
        f"""curl -s -N {call}/$({post} | awk -F'"' '{{print $4}}')""",
        "```",
        "",
        f'From Python: `gradio_client.Client("{url}/").predict({data}, api_name="/classify")`. Every '
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
