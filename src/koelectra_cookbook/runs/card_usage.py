"""The model card's Use section: a pipeline call on the first text of the task's own evaluation file, and for a
model of one text, how to read a long one as the model was trained to (data.long_text).

A sentence-pair model's usage example passes `{"text": ..., "text_pair": ...}` to the pipeline (the encoding it
was trained on: [CLS] a [SEP] b [SEP], with token_type_ids); a regression model's card says the pipeline returns
its one output as it is (transformers applies no function to a `problem_type: regression` model's logits).
The pipeline reads a text whole (and fails past the model's position table): the examples pass
`truncation=True, max_length=` the run's max_seq_len, what training read; the long-text part shows the windows or
the head and tail with the tokenizer and the model, as predict.py reads them.
"""

from __future__ import annotations

import json

EXAMPLE_CHARACTERS = 200  # a long first text is cut in the usage example


def example_literal(text: str) -> str:
    """`text` as a Python string literal (a JSON string is one), a long text cut."""
    if len(text) > EXAMPLE_CHARACTERS:
        text = text[:EXAMPLE_CHARACTERS] + "…"
    return json.dumps(text, ensure_ascii=False)


def usage_example(model_ref: str, text: str, multi_label: bool, pair: str | None = None,
                  regression: bool = False, long_text=None) -> list[str]:
    """A pipeline call on the first row of the task's own evaluation file (both texts of a pair), cut at the
    max_seq_len the model was trained with."""
    quoted = example_literal(text)
    cut = f", truncation=True, max_length={long_text.max_seq_len}" if long_text is not None else ""
    if pair is not None:  # the pipeline encodes a {"text", "text_pair"} dict as one pair
        quoted = f'{{"text": {quoted}, "text_pair": {example_literal(pair)}}}'
    if regression:
        return [
            "The pipeline applies no function to a regression model's output (`problem_type: regression`): the",
            "`score` it returns is the predicted score itself, under the one label `score`. A list of "
            + ("pairs (each a dict of both texts)" if pair is not None else "texts") + " in, one result per row out:",
            "",
            "```python",
            "from transformers import pipeline",
            "",
            f"predict = pipeline(\"text-classification\", model=\"{model_ref}\")",
            f"result = predict([{quoted}]{cut})[0]  # {{\"label\": \"score\", \"score\": the predicted score}}",
            "print(result[\"score\"])",
            "```",
        ]
    if not multi_label:
        lines = ["```python", "from transformers import pipeline", "",
                 f"classify = pipeline(\"text-classification\", model=\"{model_ref}\")",
                 f"print(classify({quoted}{cut}))", "```"]
        if pair is not None:
            lines = ["Both texts go in as one dict; the pipeline returns the most probable label and its "
                     "probability:", "", *lines]
        return lines
    return [
        "Every label has its own probability; a label applies when its probability reaches the label's decision",
        "threshold, tuned on the dev split and saved in `config.json` (`thresholds`, in label-id order):",
        "",
        "```python",
        "from transformers import pipeline",
        "",
        f"classify = pipeline(\"text-classification\", model=\"{model_ref}\", function_to_apply=\"sigmoid\", "
        f"top_k=None)",
        "config = classify.model.config",
        f"scores = classify([{quoted}]{cut})[0]  # a list of texts in, one list of label scores per text out",
        "labels = [s[\"label\"] for s in scores if s[\"score\"] >= config.thresholds[config.label2id[s[\"label\"]]]]",
        "print(scores, labels)",
        "```",
    ]



def long_text_section(model_ref: str, text: str, data, multi_label: bool, regression: bool) -> list[str]:
    """For a model of one text: how it read texts longer than max_seq_len, and code that reads a long text the same
    way with the tokenizer and the model (the pipeline above keeps only a text's start)."""
    settings, report = data.long_text, (data.cut or {}).get("train")
    if settings is None or report is None or data.train.pairs is not None:
        return []
    length, (before, after) = settings.max_seq_len, data.special_tokens
    room = length - len(before) - len(after)
    longer = (f"{report['longer_than_max_seq_len']} of the {report['texts']} training texts "
              f"({report['share_longer']:.1%}) were longer than {length} tokens")
    if settings.mode == "truncate":
        if not report["longer_than_max_seq_len"]:
            return []
        return ["### Long texts", "", f"{longer}: this model read their first {room} tokens (`data.long_text: "
                f"truncate`), as the example above does.", ""]
    lines = ["### Long texts", ""]
    cut = f" (cut here to its first {EXAMPLE_CHARACTERS} characters)" if len(text) > EXAMPLE_CHARACTERS else ""
    code = ["```python", "import torch", "from transformers import AutoModelForSequenceClassification, AutoTokenizer",
            "", f"tokenizer = AutoTokenizer.from_pretrained(\"{model_ref}\")",
            f"model = AutoModelForSequenceClassification.from_pretrained(\"{model_ref}\").eval()",
            f"# the first evaluation text{cut}: give a whole document", f"text = {example_literal(text)}"]
    if settings.mode == "windows":
        how = "the max" if settings.combine == "max" else "the mean"
        lines.append(f"{longer}; this model read every text whole, in windows of {length} tokens each sharing "
                     f"{settings.overlap} with the one before, and took {how} of the windows' logits as the text's "
                     f"(`data.long_text: windows`, what `predict.py` does). The pipeline above reads the first "
                     f"window only. The whole text:")
        code += [f"windows = tokenizer(text, truncation=True, max_length={length}, stride={settings.overlap}, "
                 f"return_overflowing_tokens=True,", "                    padding=True, return_tensors=\"pt\")",
                 "with torch.no_grad():",
                 "    logits = model(input_ids=windows[\"input_ids\"],",
                 "                   attention_mask=windows[\"attention_mask\"]).logits",
                 "document = logits.max(0).values" if settings.combine == "max" else "document = logits.mean(0)"]
    else:
        tail = room - settings.head_tokens
        lines.append(f"{longer}; this model read the first {settings.head_tokens} and the last {tail} tokens of "
                     f"each (`data.long_text: head_tail`, what `predict.py` does). The pipeline above reads the "
                     f"start only. The head and tail:")
        code += ["ids = tokenizer(text, add_special_tokens=False)[\"input_ids\"]",
                 f"if len(ids) > {room}:", f"    ids = ids[:{settings.head_tokens}] + ids[len(ids) - {tail}:]",
                 f"ids = tokenizer.convert_tokens_to_ids({before!r}) + ids + "
                 f"tokenizer.convert_tokens_to_ids({after!r})",
                 "with torch.no_grad():", "    document = model(input_ids=torch.tensor([ids])).logits[0]"]
    if regression:
        code.append("print(float(document[0]))  # the predicted score")
    elif multi_label:
        code += ["probabilities = document.sigmoid()",
                 "print([model.config.id2label[i] for i, p in enumerate(probabilities) if p >= "
                 "model.config.thresholds[i]])"]
    else:
        code += ["probabilities = document.softmax(-1)",
                 "print(model.config.id2label[int(probabilities.argmax())], float(probabilities.max()))"]
    return [*lines, "", *code, "```", ""]
