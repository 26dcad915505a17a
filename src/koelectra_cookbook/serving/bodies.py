"""The request bodies the server takes and the answers it gives, in the shapes clients already speak:

- `POST /`, the Hugging Face inference API's text classification (what `InferenceClient.text_classification`
  sends): `{"inputs": TEXT | {"text", "text_pair"} | [...], "parameters": {"top_k", "function_to_apply"}}`, answered
  with one list of `{"label", "score"}` per input, highest score first.
- `POST /predict`, text-embeddings-inference's body: `{"inputs": TEXT | [TEXT, TEXT] | [[TEXT], [TEXT, TEXT], ...],
  "truncate", "raw_scores"}`: a list of two strings is one pair, a batch is a list of lists; a single input is
  answered with one flat list, a batch with a list per input.

Every field is checked (strict types, no unknown keys); nothing in a body is a path, a pickle or code."""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field


class Refused(Exception):
    """A request the server answers with a 4xx/5xx status and `{"error": ..., "error_type": ...}`."""

    def __init__(self, status: int, message: str, error_type: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.error_type, self.headers = status, message, error_type, headers or {}


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class TextPair(Strict):
    text: str
    text_pair: str


class Parameters(Strict):
    top_k: int | None = Field(default=None, ge=1, description="the k highest-scoring labels (default: all)")
    function_to_apply: Literal["softmax", "sigmoid", "none"] | None = Field(
        default=None, description="default: the model's own (softmax; sigmoid for multi-label; none for a score)")


class InferenceRequest(Strict):
    """POST /: the Hugging Face inference API's text-classification body."""
    inputs: str | TextPair | list[str | TextPair] = Field(examples=["정말 재미있는 영화였어요"])
    parameters: Parameters | None = None


class PredictRequest(Strict):
    """POST /predict: text-embeddings-inference's body (`parameters` as on POST / is taken too)."""
    inputs: str | list[str] | list[list[str]] | TextPair | list[TextPair] = Field(
        examples=["정말 재미있는 영화였어요", [["재미있어요"], ["지루했어요"]]])
    truncate: bool = Field(default=False, description="taken for TEI's clients; a long text is always read as "
                                                      "the model was trained to read it (GET /info: long_text)")
    raw_scores: bool = Field(default=False, description="the logits instead of probabilities")
    parameters: Parameters | None = None


class Label(BaseModel):
    label: str
    score: float
    above_threshold: bool | None = Field(default=None, description="multi-label: whether the probability reaches "
                                                                   "the label's tuned threshold")


@dataclasses.dataclass
class Question:
    """What a request asks, whichever body it came in: texts (and second texts), and how to answer."""
    texts: list[str]
    pairs: list[str] | None
    batched: bool  # answered with a list per input (else: one flat list)
    top_k: int | None
    function: str | None


def from_inference_request(body: InferenceRequest, sentence_pair: bool, max_inputs: int) -> Question:
    items = body.inputs if isinstance(body.inputs, list) else [body.inputs]
    parameters = body.parameters or Parameters()
    texts, pairs = rows_of([(i.text, i.text_pair) if isinstance(i, TextPair) else (i,) for i in items],
                           sentence_pair, max_inputs)
    return Question(texts, pairs, True, parameters.top_k, parameters.function_to_apply)


def from_predict_request(body: PredictRequest, sentence_pair: bool, max_inputs: int) -> Question:
    inputs = body.inputs
    if isinstance(inputs, str):
        items, batched = [(inputs,)], False
    elif isinstance(inputs, TextPair):
        items, batched = [(inputs.text, inputs.text_pair)], False
    elif inputs and all(isinstance(i, str) for i in inputs):  # TEI: ["a"] one text, ["a", "b"] one pair
        if len(inputs) > 2:
            raise Refused(422, f"inputs: a list of {len(inputs)} strings; one text is a string, a pair is "
                               f"[TEXT, TEXT], a batch is a list of those: [[TEXT], [TEXT], ...]", "validation")
        items, batched = [tuple(inputs)], False
    else:
        items, batched = [], True
        for number, item in enumerate(inputs):
            if isinstance(item, TextPair):
                items.append((item.text, item.text_pair))
            elif isinstance(item, list) and len(item) in (1, 2):
                items.append(tuple(item))
            else:
                raise Refused(422, f"inputs[{number}]: each input of a batch is [TEXT] or [TEXT, TEXT_PAIR]",
                              "validation")
    parameters = body.parameters or Parameters()
    function = "none" if body.raw_scores else parameters.function_to_apply
    texts, pairs = rows_of(items, sentence_pair, max_inputs)
    return Question(texts, pairs, batched, parameters.top_k, function)


def rows_of(items: list[tuple[str, ...]], sentence_pair: bool, max_inputs: int) -> tuple[list[str], list[str] | None]:
    """(texts, second texts or None) of a request's inputs, each checked against the model."""
    if not items:
        raise Refused(422, "inputs: no text to classify", "validation")
    if len(items) > max_inputs:
        raise Refused(413, f"inputs: {len(items)} texts in one request, more than the {max_inputs} this server "
                           f"takes (--max-client-batch-size); send them in several requests", "validation")
    for number, item in enumerate(items):
        where = "inputs" if len(items) == 1 else f"inputs[{number}]"
        if sentence_pair and len(item) != 2:
            raise Refused(422, f"{where}: this model compares two texts: give a pair "
                               '({"text": ..., "text_pair": ...})', "validation")
        if not sentence_pair and len(item) != 1:
            raise Refused(422, f"{where}: this model classifies one text; it takes no second text", "validation")
        if any(not text.strip() for text in item):
            raise Refused(422, f"{where}: an empty text (nothing to classify)", "validation")
    texts = [item[0] for item in items]
    return texts, ([item[1] for item in items] if sentence_pair else None)


def answers(scores: np.ndarray, question: Question, label_names: list[str], thresholds: np.ndarray | None,
            multi_label: bool) -> list:
    """Each input's labels with their scores, highest first (`top_k` of them), in the shape the request asked."""
    per_input = []
    for row in scores:
        order = np.argsort(-row, kind="stable")[: question.top_k]
        labels = []
        for index in order:
            label = {"label": label_names[index], "score": float(row[index])}
            if multi_label and question.function in (None, "sigmoid"):
                label["above_threshold"] = bool(row[index] >= thresholds[index])
            labels.append(label)
        per_input.append(labels)
    return per_input if question.batched else per_input[0]
