"""The documentation's promises that can be checked: docs/reference/config.md lists every config key with the
default its dataclass gives, docs/reference/cli.md every argument of every script, the README stays short, no
page names a /tmp/ path, and every relative link (and its #anchor) leads somewhere.

Each check is a function returning the problems it finds, so the last test can feed it a broken copy and see it
complain: a check that cannot fail proves nothing."""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import subprocess
import sys
import typing
from pathlib import Path

import pytest

from koelectra_cookbook.commands.arguments import TRAINER_ALIASES, yaml_value
from koelectra_cookbook.config.schema import Config

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
DOCS = ROOT / "docs"
CONFIG_MD = DOCS / "reference" / "config.md"
CLI_MD = DOCS / "reference" / "cli.md"
README_MAX_LINES = 200
TINY = "python -m koelectra_cookbook.classifier.tiny"


def pages() -> list[Path]:
    return [README, *sorted(DOCS.rglob("*.md"))]


# --- markdown, as far as the checks need it ---------------------------------------------------------------

FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
CODE_SPAN = re.compile(r"`[^`\n]*`")
LINK = re.compile(r"!?\[(?:[^\[\]\n]|\[[^\]\n]*\])*\]\(([^()\s]+)(?:\s+\"[^\"]*\")?\)")
SEPARATOR = re.compile(r"^\|(\s*:?-+:?\s*\|)+\s*$")


def prose_lines(text: str) -> list[str]:
    """The lines of `text`, with those of fenced code blocks blanked (their numbering kept)."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
            lines.append("")
        else:
            lines.append("" if fenced else line)
    return lines


def headings(text: str) -> list[tuple[int, int, str]]:
    """(line index, level, text) of each ATX heading outside code blocks."""
    found = []
    for index, line in enumerate(prose_lines(text)):
        match = HEADING.match(line)
        if match:
            found.append((index, len(match.group(1)), match.group(2)))
    return found


def github_anchor(heading: str) -> str:
    """GitHub's anchor for a heading: its text as rendered (links by their text), lowercased, punctuation other
    than - and _ removed, spaces turned into -."""
    rendered = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)
    return re.sub(r"[^\w\- ]", "", rendered.strip().lower()).replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every anchor of a page; a repeated heading gets -1, -2, ... as on GitHub."""
    seen: dict[str, int] = {}
    result = set()
    for _, _, heading in headings(text):
        slug = github_anchor(heading)
        result.add(slug if slug not in seen else f"{slug}-{seen[slug]}")
        seen[slug] = seen.get(slug, 0) + 1
    return result


def cells(line: str) -> list[str]:
    """A table row's cells, `\\|` read as a pipe inside a cell."""
    parts = re.split(r"(?<!\\)\|", line.strip())
    return [part.strip().replace("\\|", "|") for part in parts[1:-1]]


def tables(lines: list[str]) -> list[tuple[int, list[str], list[list[str]]]]:
    """(line index, header, rows) of each table among `lines` (prose lines: code blocks already blanked)."""
    found, index = [], 0
    while index < len(lines) - 1:
        if lines[index].lstrip().startswith("|") and SEPARATOR.match(lines[index + 1].strip()):
            start, header, rows = index, cells(lines[index]), []
            index += 2
            while index < len(lines) and lines[index].lstrip().startswith("|"):
                rows.append(cells(lines[index]))
                index += 1
            found.append((start, header, rows))
        else:
            index += 1
    return found


def code(cell: str) -> str | None:
    """The text of a cell that is one code span, else None."""
    match = re.fullmatch(r"`([^`]*)`", cell.strip())
    return match.group(1) if match else None


# --- (a) every config key, with its default -----------------------------------------------------------------

def config_keys() -> dict[str, tuple[str, str]]:
    """Every config key -> (its default as YAML, its help line), walked as `config_help()` walks the dataclasses
    (`--help-config`), plus the top-level keys (`task`) that it leaves out."""
    keys = {}
    top = {knob.name: knob for knob in dataclasses.fields(Config)}
    for name, section in typing.get_type_hints(Config).items():
        if not dataclasses.is_dataclass(section):
            keys[name] = (yaml_value(top[name].default), top[name].metadata.get("help", ""))
            continue
        for knob in dataclasses.fields(section):
            keys[f"{name}.{knob.name}"] = (yaml_value(knob.default), knob.metadata.get("help", ""))
    return keys


def config_doc_problems(text: str, expected: dict[str, tuple[str, str]]) -> list[str]:
    """What config.md gets wrong: keys missing, listed twice or unknown, defaults that are not the dataclass's,
    a description that does not start with the key's help line."""
    problems, listed = [], {}
    for start, header, rows in tables(prose_lines(text)):
        if [h.lower() for h in header[:3]] != ["key", "default", "what it does"]:
            continue
        for offset, row in enumerate(rows):
            where = f"config.md line {start + 3 + offset}"
            key, default = code(row[0]), code(row[1]) if len(row) > 1 else None
            if key is None or default is None:
                problems.append(f"{where}: key and default must each be one `code` span: {row[:2]}")
                continue
            if key in listed:
                problems.append(f"{where}: {key} is listed twice")
            listed[key] = True
            if key not in expected:
                problems.append(f"{where}: {key} is not a config key")
                continue
            if default != expected[key][0]:
                problems.append(f"{where}: {key} defaults to {expected[key][0]!r}, not {default!r}")
            description, help_line = row[2] if len(row) > 2 else "", expected[key][1]
            if help_line and not description.startswith(help_line):
                problems.append(f"{where}: {key}'s description should start with its help line {help_line!r}")
    problems += [f"config.md: {key} is not listed" for key in expected if key not in listed]
    return problems


def test_config_reference_lists_every_key_with_its_default():
    assert config_doc_problems(CONFIG_MD.read_text(encoding="utf-8"), config_keys()) == []


# --- (b) the README stays short ------------------------------------------------------------------------------

def readme_problems(text: str) -> list[str]:
    count = len(text.splitlines())
    return [f"README.md has {count} lines, more than {README_MAX_LINES}"] if count > README_MAX_LINES else []


def test_the_readme_is_at_most_200_lines():
    assert readme_problems(README.read_text(encoding="utf-8")) == []


# --- (c) no /tmp/ paths ------------------------------------------------------------------------------------

def tmp_path_problems(name: str, text: str) -> list[str]:
    return [f"{name}:{number}: {line.strip()}" for number, line in enumerate(text.splitlines(), 1) if "/tmp/" in line]


def test_no_page_names_a_tmp_path():
    problems = []
    for page in pages():
        if (DOCS / "history") not in page.parents:
            problems += tmp_path_problems(str(page.relative_to(ROOT)), page.read_text(encoding="utf-8"))
    assert problems == []


# --- (d) relative links and their anchors -------------------------------------------------------------------

def link_problems(page: Path, root: Path = ROOT) -> list[str]:
    """Relative links of `page` that lead nowhere: a missing file, or a heading a .md file does not have (pages
    named relative to `root`)."""
    problems = []
    text = page.read_text(encoding="utf-8")
    for number, line in enumerate(prose_lines(text), 1):
        for target in LINK.findall(CODE_SPAN.sub("code", line)):
            if re.match(r"[a-zA-Z][a-zA-Z0-9+.-]*:", target):  # https:, mailto: ...
                continue
            path, _, anchor = target.partition("#")
            destination = (page.parent / path).resolve() if path else page
            where = f"{page.relative_to(root)}:{number}: ({target})"
            if not destination.exists():
                problems.append(f"{where}: no such file")
            elif anchor and destination.suffix == ".md" and destination.is_file() \
                    and anchor not in anchors(destination.read_text(encoding="utf-8")):
                problems.append(f"{where}: no heading with the anchor #{anchor} in {destination.name}")
    return problems


def test_every_relative_link_leads_to_a_file_and_heading():
    assert [problem for page in pages() for problem in link_problems(page)] == []


# --- (e) every argument of every script ---------------------------------------------------------------------

# Run in a fresh interpreter (the scripts quiet the libraries and install signal handlers): each command's main()
# is called until it builds its parser and asks it to parse, and the parser is taken there.
CAPTURE_PARSERS = r"""
import argparse, importlib, json

class Captured(Exception):
    pass

def capture(self, args=None, namespace=None):
    raise Captured(self)

argparse.ArgumentParser.parse_args = capture

def arguments(parser):
    options, positionals = [], []
    for action in parser._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if action.option_strings:
            options.extend(action.option_strings)
        else:
            positionals.append(action.metavar or action.dest)
    return {"options": options, "positionals": positionals}

def training(level):
    return lambda: importlib.import_module("koelectra_cookbook.commands.train").main(level, "", [])

def command(module):
    return lambda: importlib.import_module(module).main([])

from koelectra_cookbook.config.levels import LEVELS

commands = {level.script: training(level.name) for level in LEVELS.values()}
commands.update({
    "predict.py": command("koelectra_cookbook.commands.predict"),
    "evaluate.py": command("koelectra_cookbook.commands.evaluate"),
    "app.py": command("koelectra_cookbook.commands.app"),
    "serve.py": command("koelectra_cookbook.commands.serve"),
    "sweep.py": command("koelectra_cookbook.commands.sweep"),
    "audit.py": command("koelectra_cookbook.commands.audit"),
    "compare.py": command("koelectra_cookbook.commands.compare"),
    "python -m koelectra_cookbook.commands.push": command("koelectra_cookbook.commands.push"),
})
found = {}
for script, call in commands.items():
    try:
        call()
        found[script] = {"error": "its main() returned without parsing arguments"}
    except Captured as captured:
        found[script] = arguments(captured.args[0])
    except BaseException as exc:
        found[script] = {"error": f"{type(exc).__name__}: {exc}"}
print(json.dumps(found))
"""


@pytest.fixture(scope="module")
def parsers() -> dict[str, dict]:
    """Each documented command -> {"options": [...], "positionals": [...]} from its real parser, or {"error"}."""
    done = subprocess.run([sys.executable, "-c", CAPTURE_PARSERS], cwd=ROOT, capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    found = json.loads(done.stdout.strip().splitlines()[-1])
    found[TINY] = tiny_arguments()
    return found


def tiny_arguments() -> dict:
    """The tiny-model builder's parser (here: the test session has imported torch for its fixtures already)."""
    from koelectra_cookbook.classifier import tiny

    class Captured(Exception):
        pass

    def capture(self, args=None, namespace=None):
        raise Captured(self)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(argparse.ArgumentParser, "parse_args", capture)
        try:
            tiny.main()
        except Captured as captured:
            parser = captured.args[0]
        else:
            return {"error": "tiny.main() returned without parsing arguments"}
    return {"options": [o for a in parser._actions if not isinstance(a, argparse._HelpAction)
                        for o in a.option_strings],
            "positionals": [a.metavar or a.dest for a in parser._actions if not a.option_strings]}


def sections(text: str) -> list[tuple[int, str, list[str]]]:
    """(level, heading, lines under it up to the next heading of its level or above) of every heading."""
    lines, found = prose_lines(text), headings(text)
    result = []
    for position, (index, level, heading) in enumerate(found):
        end = next((i for i, lvl, _ in found[position + 1:] if lvl <= level), len(lines))
        result.append((level, heading, lines[index + 1:end]))
    return result


def documented_arguments(section_lines: list[str], by_anchor: dict[str, list[str]], follow: bool = True
                         ) -> dict[str, list[str]]:
    """Argument -> its row of the section's argument tables (first header cell `argument`): the first word of
    each code span in a row's first cell, and, through a link to a heading of the same page, that heading's
    arguments."""
    found: dict[str, list[str]] = {}
    for _, header, rows in tables(section_lines):
        if not header or header[0].lower() != "argument":
            continue
        for row in rows:
            for span in re.findall(r"`([^`]+)`", row[0]):
                found[span.split()[0]] = [header, row]
            for anchor in re.findall(r"\]\(#([^)]+)\)", row[0]) if follow else []:
                found.update(documented_arguments(by_anchor.get(anchor, []), by_anchor, follow=False))
    return found


def cli_doc_problems(text: str, parsers: dict[str, dict], scripts: list[str]) -> list[str]:
    """What cli.md gets wrong: a script without its section, an argument a parser has that its section does not
    document, one documented that no parser of the section has, a row saying `all` for an argument some script
    of the section lacks, a Trainer name mapped to the wrong key."""
    problems = []
    all_sections = sections(text)
    by_anchor = {github_anchor(heading): lines for _, heading, lines in all_sections}
    covered: set[str] = set()
    for level, heading, lines in all_sections:
        if level != 2:
            continue
        named = [script for script in parsers if script in heading.replace("`", "")]
        if not named:
            continue
        covered.update(named)
        documented = documented_arguments(lines, by_anchor)
        known: dict[str, set[str]] = {}
        for script in named:
            if "error" in parsers[script]:
                problems.append(f"{script}: its parser could not be built: {parsers[script]['error']}")
                continue
            for argument in parsers[script]["options"] + parsers[script]["positionals"]:
                known.setdefault(argument, set()).add(script)
                if argument not in documented:
                    problems.append(f"cli.md, {heading}: {script}'s {argument} is not documented")
        for argument, (header, row) in documented.items():
            if known and argument not in known:
                problems.append(f"cli.md, {heading}: {argument} is documented, but no parser of the section has it")
            scripts_cell = row[header.index("scripts")] if "scripts" in header and len(row) > 1 else ""
            if scripts_cell == "all" and argument in known and known[argument] != set(named) - {
                    s for s in named if "error" in parsers[s]}:
                problems.append(f"cli.md, {heading}: {argument} is said to be for all, but only "
                                f"{sorted(known[argument])} have it")
    for script in scripts:
        if script not in parsers:
            problems.append(f"{script}: a script at the top of the repository that this test does not know")
        elif script not in covered:
            problems.append(f"cli.md: no section (## heading naming it) for {script}")
    problems += [f"cli.md: no section for {script}" for script in parsers if script not in covered]
    aliases = {**{flag: f"{key}=" for flag, key in TRAINER_ALIASES.items()},
               "--fp16": "train.mixed_precision=fp16", "--bf16": "train.mixed_precision=bf16"}
    rows = {span.split()[0]: row for _, header, table_rows in tables(prose_lines(text))
            if [h.lower() for h in header[:2]] == ["argument", "same as"] for row in table_rows
            for span in re.findall(r"`([^`]+)`", row[0])}
    for flag, setting in aliases.items():
        if flag in rows and setting not in " ".join(rows[flag][1:]):
            problems.append(f"cli.md: {flag} should say it sets {setting}")
    return problems


def top_level_scripts() -> list[str]:
    return sorted(path.name for path in ROOT.glob("*.py"))


def test_cli_reference_documents_every_argument_of_every_script(parsers):
    assert cli_doc_problems(CLI_MD.read_text(encoding="utf-8"), parsers, top_level_scripts()) == []


# --- the checks themselves can fail ----------------------------------------------------------------------------

def test_each_check_fails_on_a_broken_copy(tmp_path, parsers):
    config_text, expected = CONFIG_MD.read_text(encoding="utf-8"), config_keys()
    broken_default = config_text.replace("| `train.epochs` | `3` |", "| `train.epochs` | `4` |")
    missing_row = "\n".join(line for line in config_text.splitlines() if not line.startswith("| `train.seed`"))
    unknown_key = config_text.replace("| `train.epochs` |", "| `train.epochz` |")
    edited_help = config_text.replace("passes over the training data", "passes over the data")
    for broken in (broken_default, missing_row, unknown_key, edited_help):
        assert broken != config_text and config_doc_problems(broken, expected)

    assert readme_problems("line\n" * (README_MAX_LINES + 1)) and not readme_problems("line\n" * README_MAX_LINES)
    assert tmp_path_problems("page.md", "built in /tmp/model") and not tmp_path_problems("page.md", "/tmpfoo/")

    (tmp_path / "other.md").write_text("# A heading, here\n\n## Twice\n\n## Twice\n", encoding="utf-8")
    page = tmp_path / "page.md"
    good = "[a](other.md#a-heading-here) [b](other.md#twice-1) [c](#local) [d](https://x.org/nope)\n\n# Local\n"
    page.write_text(good, encoding="utf-8")
    assert link_problems(page, tmp_path) == []
    for bad in ("[a](missing.md)", "[a](other.md#no-such-heading)", "[a](#nowhere)", "[a](other.md#twice-2)"):
        page.write_text(f"{bad}\n\n# Local\n", encoding="utf-8")
        assert link_problems(page, tmp_path), bad
    page.write_text("`[a](missing.md)`\n\n```\n[a](missing.md)\n```\n", encoding="utf-8")
    assert link_problems(page, tmp_path) == []  # code is not a link

    cli_text, scripts = CLI_MD.read_text(encoding="utf-8"), top_level_scripts()
    no_top_k = "\n".join(line for line in cli_text.splitlines() if not line.startswith("| `--top-k"))
    invented = cli_text.replace("| `--top-k K` |", "| `--top-k K`, `--nope` |")
    wrong_alias = cli_text.replace("`--set train.seed=VALUE`", "`--set train.epochs=VALUE`")
    resume_for_all = cli_text.replace("| `--resume RUN_DIR` | intermediate, expert, multi-label |",
                                      "| `--resume RUN_DIR` | all |")
    no_section = cli_text.replace("## app.py", "## The web page")
    for broken in (no_top_k, invented, wrong_alias, resume_for_all, no_section):
        assert broken != cli_text and cli_doc_problems(broken, parsers, scripts)
    assert cli_doc_problems(cli_text, parsers, scripts + ["new_script.py"])
