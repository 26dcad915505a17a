"""pretrain.py: continued pretraining over the ladder's loop. The demo adapts the tiny ELECTRA on the bundled
corpus, leaves a run folder of its own kind, and its model/ fine-tunes with every training script unchanged."""

from __future__ import annotations

import csv
import json

import pytest

from koelectra_cookbook.commands.train import main
from koelectra_cookbook.paths import SAMPLES_DIR


@pytest.fixture(scope="module")
def pretrained(tmp_path_factory, tiny_model_dir):
    root = tmp_path_factory.mktemp("pretraining")
    status = main("pretraining", "", ["--demo", "--output-dir", str(root / "runs"), "--set",
                                      f"model.name_or_path={tiny_model_dir}", "--set", f"data.cache_dir={root / 'c'}",
                                      "--set", "train.epochs=3", "--set", "train.log_every=2", "--set", "train.eval_every=5"])
    assert status == 0
    return next((root / "runs" / "corpus").iterdir())


def rows(path) -> list[dict]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_the_demo_leaves_an_adapted_encoder_its_generator_and_held_out_metrics(pretrained):
    assert {"model", "generator", "metrics.csv", "train_log.csv", "results.json", "config.yaml",
            "run.json"} <= {p.name for p in pretrained.iterdir()}
    evaluations = rows(pretrained / "metrics.csv")
    assert [int(row["step"]) for row in evaluations] == [5, 10, 15]  # 5 steps an epoch, 3 epochs
    for name in ("generator_accuracy", "discriminator_accuracy", "generator_loss", "discriminator_loss"):
        assert all(0 <= float(row[name]) < 20 for row in evaluations), name
    results = json.loads((pretrained / "results.json").read_text())
    assert results["eval"]["replaced_share"] > 0 and "best_step" in results
    config = json.loads((pretrained / "model" / "config.json").read_text())
    assert config["architectures"] == ["ElectraForPreTraining"]
    assert json.loads((pretrained / "generator" / "config.json").read_text())["architectures"] == ["ElectraForMaskedLM"]
    card = (pretrained / "model" / "README.md").read_text(encoding="utf-8")
    assert "continued pretraining" in card and "corpus.txt" in card and str(SAMPLES_DIR) not in card


def test_its_model_fine_tunes_with_a_training_script_unchanged(pretrained, tmp_path, capsys):
    status = main("expert", "", ["--task", "nsmc", "--demo", "--output-dir", str(tmp_path / "runs"), "--set",
                                 f"model.name_or_path={pretrained / 'model'}", "--set", "train.max_steps=4",
                                 "--set", f"data.cache_dir={tmp_path / 'c'}"])
    assert status == 0
    run = next((tmp_path / "runs" / "nsmc").iterdir())
    assert json.loads((run / "results.json").read_text())["eval"]["accuracy"] >= 0
    card = (run / "model" / "README.md").read_text(encoding="utf-8")
    assert "adapted beforehand by continued pretraining (`pretrain.py`" in card and "corpus.txt" in card
    assert "adapted_by" not in json.loads((run / "model" / "config.json").read_text())  # the card's, not the model's
    # a fine-tuning run is not resumed as pretraining, nor the reverse: one error line each, nothing changed
    for level, other in (("pretraining", run), ("expert", pretrained)):
        before = sorted(p.name for p in other.iterdir())
        capsys.readouterr()
        assert main(level, "", ["--resume", str(other)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ") and "run, and this script continues" in err[0], err
        assert sorted(p.name for p in other.iterdir()) == before


@pytest.mark.parametrize("extra, message", [
    (["--set", "data.dev_split=0"], "data.dev_split must be above 0 for pretraining"),
    (["--set", "pretrain.mask_prob=1.5"], "pretrain.mask_prob must be in (0, 1)"),
    (["--set", "model.add_tokens=[ㅋㅋ]"], "model.add_tokens is not supported by pretrain.py"),
])
def test_bad_pretraining_settings_are_one_error_line(tmp_path, capsys, tiny_model_dir, extra, message):
    status = main("pretraining", "", ["--demo", "--output-dir", str(tmp_path / "runs"), "--set",
                                      f"model.name_or_path={tiny_model_dir}", "--set",
                                      f"data.cache_dir={tmp_path / 'c'}", *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


def test_an_empty_corpus_is_one_error_line(tmp_path, capsys, tiny_model_dir):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "corpus.txt").write_text("\n  \n\n", encoding="utf-8")
    status = main("pretraining", "", ["--output-dir", str(tmp_path / "runs"), "--set",
                                      f"model.name_or_path={tiny_model_dir}", "--set", f"data.dir={tmp_path / 'data'}",
                                      "--set", f"data.cache_dir={tmp_path / 'c'}"])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and "no text (every line is empty)" in err[0], err


def test_a_killed_pretraining_run_resumes_to_the_uninterrupted_result(tmp_path, tiny_model_dir, capsys):
    """SIGKILL once a checkpoint is written, then `pretrain.py --resume`: the same metrics, loss lines, results
    and weights as the run left alone (masks are drawn from the random state the checkpoints keep)."""
    import signal
    import subprocess
    import sys
    import time

    from koelectra_cookbook.paths import PROJECT_ROOT

    def command(root):
        return [sys.executable, str(PROJECT_ROOT / "pretrain.py"), "--demo", "--output-dir", str(root / "runs"),
                "--set", f"model.name_or_path={tiny_model_dir}", "--set", f"data.cache_dir={tmp_path / 'c'}",
                "--set", "train.max_steps=24", "--set", "train.eval_every=4", "--set", "train.log_every=2",
                "--set", "train.keep_checkpoints=true"]

    def outcome(run):
        results = json.loads((run / "results.json").read_text())
        for timing in ("train_runtime_s", "train_samples_per_s"):
            results.pop(timing)
        return (results, (run / "metrics.csv").read_text(), (run / "train_log.csv").read_text(),
                (run / "model" / "model.safetensors").read_bytes())

    from koelectra_cookbook.commands.train import main

    # The run left alone and the resume run in this process (only the killed one needs a process of its own).
    assert main("pretraining", "", command(tmp_path / "alone")[2:]) == 0
    alone = outcome(next((tmp_path / "alone" / "runs" / "corpus").iterdir()))
    killed = tmp_path / "killed"
    process = subprocess.Popen(command(killed), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    while not list(killed.glob("runs/corpus/*/checkpoints/step-00000004")):  # the phase: its first checkpoint
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    run = next((killed / "runs" / "corpus").iterdir())
    assert not (run / "results.json").exists()  # killed while training
    capsys.readouterr()
    assert main("pretraining", "", ["--resume", str(run)]) == 0
    assert "resumed from step-" in capsys.readouterr().out
    assert outcome(run) == alone


def another_vocabulary(tmp_path, tiny_model_dir) -> str:
    """A generator folder whose vocabulary is not the tiny discriminator's."""
    from transformers import ElectraForMaskedLM, ElectraForPreTraining

    from koelectra_cookbook.pretraining.replaced_tokens import generator_config

    config = generator_config(ElectraForPreTraining.from_pretrained(tiny_model_dir).config, 0.5)
    config.vocab_size += 10
    ElectraForMaskedLM(config).save_pretrained(tmp_path / "generator")
    return str(tmp_path / "generator")


@pytest.mark.parametrize("case", ["a generator of another vocabulary", "a text column that does not exist",
                                  "blocks beyond the position table"])
def test_bad_pretraining_inputs_are_one_error_line(tmp_path, capsys, tiny_model_dir, case):
    extra = {
        "a generator of another vocabulary": lambda: ["--set", f"pretrain.generator={another_vocabulary(tmp_path, tiny_model_dir)}"],
        "a text column that does not exist": lambda: [
            "--set", f"data.dir={tmp_path}", "--set", "data.train_file=texts.csv", "--set", "data.text_column=text"]
        if (tmp_path / "texts.csv").write_text("body\n좋은 영화\n", encoding="utf-8") else [],
        "blocks beyond the position table": lambda: ["--set", "model.max_seq_len=4096"],
    }[case]()
    expected = {"a generator of another vocabulary": "the generator's vocabulary (2010 tokens) is not the "
                                                     "discriminator's (2000)",
                "a text column that does not exist": "texts.csv:1: no column 'text'",
                "blocks beyond the position table": "model.max_seq_len 4096 is more than"}[case]
    capsys.readouterr()  # what building the case printed
    status = main("pretraining", "", ["--demo", "--output-dir", str(tmp_path / "runs"), "--set",
                                      f"model.name_or_path={tiny_model_dir}", "--set",
                                      f"data.cache_dir={tmp_path / 'c'}", *extra])
    err = capsys.readouterr().err.strip().splitlines()
    assert status == 2 and len(err) == 1 and err[0].startswith("error: ") and expected in err[0], err
    assert not (tmp_path / "runs").exists()


def test_masked_language_modelling_leaves_an_encoder_with_its_head_and_no_generator(tmp_path, tiny_model_dir,
                                                                                    capsys):
    """pretrain.objective: masked_lm on the ELECTRA discriminator (its masked-LM head starts new, with a note):
    model/ holds the encoder and its head, no generator/, the held-out loss falls from the start's, and it
    fine-tunes; the fine-tuned card names the objective."""
    status = main("pretraining", "", ["--demo", "--output-dir", str(tmp_path / "runs"), "--set",
                                      f"model.name_or_path={tiny_model_dir}", "--set", f"data.cache_dir={tmp_path / 'c'}",
                                      "--set", "pretrain.objective=masked_lm", "--set", "train.max_steps=10"])
    out = capsys.readouterr().out
    assert status == 0
    assert "checkpoint has no weights for generator_lm_head, generator_predictions (the objective's head)" in out
    run = next((tmp_path / "runs" / "corpus").iterdir())
    assert not (run / "generator").exists()
    assert json.loads((run / "model" / "config.json").read_text())["architectures"] == ["ElectraForMaskedLM"]
    results = json.loads((run / "results.json").read_text())
    assert set(results["eval"]) == {"loss", "masked_accuracy"}
    assert results["eval"]["loss"] < results["held_out_at_start"]["loss"]
    assert "held out before training: loss" in out and "(lower)" in out
    assert "held out at the last evaluation: masked_accuracy" in out
    assert "pretrain.objective=masked_lm   (to continue pretraining)" in out
    assert main("expert", "", ["--task", "nsmc", "--demo", "--output-dir", str(tmp_path / "tuned"), "--set",
                               f"model.name_or_path={run / 'model'}", "--set", "train.max_steps=2",
                               "--set", f"data.cache_dir={tmp_path / 'c'}"]) == 0
    tuned = next((tmp_path / "tuned" / "nsmc").iterdir())
    assert "masked-language modelling" in (tuned / "model" / "README.md").read_text(encoding="utf-8")


def test_a_task_pretrains_on_its_training_texts_only(tmp_path, tiny_model_dir, capsys):
    """--task nsmc: the training file's text column, its labels and the evaluation file never read (a missing
    evaluation file is no matter), written into a cache folder that does not exist yet."""
    status = main("pretraining", "", ["--task", "nsmc", "--demo", "--output-dir", str(tmp_path / "runs"), "--set",
                                      f"model.name_or_path={tiny_model_dir}", "--set",
                                      f"data.cache_dir={tmp_path / 'new' / 'cache'}", "--set", "train.max_steps=4",
                                      "--set", "data.eval_file=nowhere.tsv"])
    out = capsys.readouterr().out
    assert status == 0, out
    assert "from ratings_train.txt (document)" in out
    run = next((tmp_path / "runs" / "nsmc").iterdir())
    card = (run / "model" / "README.md").read_text(encoding="utf-8")
    assert "ratings_train.txt (document)" in card and "| held-out metric | at the start | at the end |" in card


def test_masked_language_modelling_takes_an_encoder_that_is_not_electra(tmp_path, tiny_model_dir):
    """A (tiny) BERT with its masked-LM head, as KLUE's BERT would be: pretrained, then fine-tuned."""
    import shutil

    from transformers import BertConfig, BertForMaskedLM

    bert = tmp_path / "bert"
    shutil.copytree(tiny_model_dir, bert)
    (bert / "model.safetensors").unlink()
    BertForMaskedLM(BertConfig(vocab_size=2000, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                               intermediate_size=64)).save_pretrained(bert)
    assert main("pretraining", "", ["--demo", "--output-dir", str(tmp_path / "runs"), "--set",
                                    f"model.name_or_path={bert}", "--set", f"data.cache_dir={tmp_path / 'c'}",
                                    "--set", "pretrain.objective=masked_lm", "--set", "train.max_steps=3"]) == 0
    run = next((tmp_path / "runs" / "corpus").iterdir())
    assert json.loads((run / "model" / "config.json").read_text())["architectures"] == ["BertForMaskedLM"]
    assert main("expert", "", ["--task", "nsmc", "--demo", "--output-dir", str(tmp_path / "tuned"), "--set",
                               f"model.name_or_path={run / 'model'}", "--set", "train.max_steps=2",
                               "--set", f"data.cache_dir={tmp_path / 'c'}"]) == 0


def test_a_run_says_whether_its_accuracies_are_beyond_what_token_frequencies_give(pretrained):
    """A falling loss may only mean the model has learned token frequencies: the verdict compares the held-out
    accuracies with their floors (every token called original; always the most frequent token)."""
    from koelectra_cookbook.pretraining.floors import context_verdict

    results = json.loads((pretrained / "results.json").read_text())
    assert 0 < results["held_out_most_frequent_token_share"] < 1
    rtd = {"discriminator_accuracy": 0.90, "replaced_share": 0.14, "generator_accuracy": 0.2}
    assert "beyond what frequencies give, the encoder has learned from context" in context_verdict(rtd, 0.09)
    assert "NOT beyond" in context_verdict({**rtd, "discriminator_accuracy": 0.862}, 0.09)
    assert "NOT beyond" in context_verdict({"masked_accuracy": 0.095}, 0.09)
    assert "NOT beyond" not in context_verdict({"masked_accuracy": 0.2}, 0.09)


def test_a_users_own_text_files_described_in_a_few_yaml_lines(tmp_path, tiny_model_dir, capsys):
    """The guide's YAML: two text files of blank-line-separated documents; the corpus line names both, and its
    train.max_steps decides how long it trains."""
    import yaml

    notes = tmp_path / "notes"
    notes.mkdir()
    for year in (2023, 2024):
        documents = [f"{year}년 {i}번째 기록입니다. 환자는 두통을 호소했다.\n다음 날 증상이 나아졌다." for i in range(60)]
        (notes / f"notes-{year}.txt").write_text("\n\n".join(documents) + "\n", encoding="utf-8")
    config = {"task": "clinic-notes", "model": {"name_or_path": str(tiny_model_dir), "max_seq_len": 64},
              "data": {"dir": str(notes), "train_file": ["notes-2023.txt", "notes-2024.txt"],
                       "cache_dir": str(tmp_path / "c")},
              "pretrain": {"documents": "paragraphs"}, "train": {"max_steps": 9, "epochs": 1000, "learning_rate": 1e-3}}
    (tmp_path / "mine.yaml").write_text(yaml.safe_dump(config, allow_unicode=True), encoding="utf-8")
    assert main("pretraining", "", ["--config", str(tmp_path / "mine.yaml"), "--output-dir", str(tmp_path / "runs")]) == 0
    out = capsys.readouterr().out
    assert "from notes-2023.txt, notes-2024.txt;" in out
    # the guide's epochs: 1000 lets max_steps decide: 9 steps, more than the default 3 passes over 2 batches
    assert "9 optimizer steps" in out and "step 9 (epoch 4.50)" in out
    assert (next((tmp_path / "runs" / "clinic-notes").iterdir()) / "model" / "model.safetensors").is_file()
