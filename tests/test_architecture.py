"""The layout docs/reference/architecture.md describes, checked against the code.

- Every import of the package (absolute or relative, at the top of a file or inside a function) points to the
  importer's own layer or a lower one, in the order of the page's `## Layers` block.
- No two modules import each other in a circle (imports that run when a module is imported).
- Every package and module under src/koelectra_cookbook has exactly one layer (a new package must be added to
  the page), and every name the page lists exists.
- The modules of the `## Torch-free modules` block import, all together, in a fresh interpreter, without torch,
  transformers, accelerate, scikit-learn, pandas or matplotlib.
- The top-level scripts stay thin: a few lines each, importing only `koelectra_cookbook.entry` (or `commands`).

Nothing here imports the package in this process, so the whole file takes about a second.
"""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "koelectra_cookbook"
SOURCE = ROOT / "src"
PACKAGE_DIR = SOURCE / PACKAGE
PAGE = ROOT / "docs" / "reference" / "architecture.md"
HEAVY = ("torch", "transformers", "accelerate", "sklearn", "pandas", "matplotlib")
SCRIPT_LINES = 20  # "about 15 lines each" in the design guide; a docstring of a few usage lines included


# --- reading the page --------------------------------------------------------------------------------------------


def fenced_block(heading: str) -> list[str]:
    """The non-empty lines of the first ```text block in the section under `heading` of the page."""
    lines = PAGE.read_text(encoding="utf-8").splitlines()
    assert heading in lines, f"{PAGE.relative_to(ROOT)} has no heading {heading!r}"
    section = lines[lines.index(heading) + 1:]
    section = section[:next((i for i, line in enumerate(section) if line.startswith("## ")), len(section))]
    assert "```text" in section, f"{PAGE.relative_to(ROOT)}: no ```text block under {heading!r}"
    start = section.index("```text") + 1
    end = section.index("```", start)
    return [line.strip() for line in section[start:end] if line.strip()]


def layer_lines() -> list[list[str]]:
    """The `## Layers` block: one layer a line, lowest first, its packages/modules separated by spaces."""
    return [line.split() for line in fenced_block("## Layers")]


def layer_of_names() -> dict[str, int]:
    return {name: index for index, names in enumerate(layer_lines()) for name in names}


# --- reading the code --------------------------------------------------------------------------------------------


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SOURCE).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def source_files() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE_DIR.rglob("*.py"))}


def is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


class ImportCollector(ast.NodeVisitor):
    """Every import of the package in one module: (target module, line, runs when the module is imported).
    Inside a function or under `if TYPE_CHECKING:` an import does not run at import time."""

    def __init__(self, module: str, is_package: bool, known: set[str]):
        self.package = module if is_package else module.rpartition(".")[0]
        self.known = known
        self.found: list[tuple[str, int, bool]] = []
        self.deferred = 0

    def _function(self, node) -> None:
        self.deferred += 1
        self.generic_visit(node)
        self.deferred -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_If(self, node: ast.If) -> None:
        if is_type_checking(node.test):
            self.deferred += 1
            for child in node.body:
                self.visit(child)
            self.deferred -= 1
            for child in node.orelse:
                self.visit(child)
        else:
            self.generic_visit(node)

    def _add(self, target: str, node: ast.stmt) -> None:
        if target == PACKAGE or target.startswith(PACKAGE + "."):
            self.found.append((target, node.lineno, not self.deferred))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(alias.name, node)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            parts = self.package.split(".")
            base = ".".join(parts[:len(parts) - (node.level - 1)] + ([node.module] if node.module else []))
        else:
            base = node.module or ""
        for alias in node.names:  # `from pkg import module` imports the module; `from module import name` the module
            candidate = f"{base}.{alias.name}"
            self._add(candidate if candidate in self.known else base, node)


def imports() -> dict[str, list[tuple[str, int, bool]]]:
    files = source_files()
    known = set(files)
    found = {}
    for module, path in files.items():
        collector = ImportCollector(module, path.name == "__init__.py", known)
        collector.visit(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        found[module] = collector.found
    return found


def short(module: str) -> str:
    return module.removeprefix(PACKAGE + ".")


def layer_of(module: str, layers: dict[str, int]) -> int | None:
    """The layer of the longest listed name that is `module` or a package above it."""
    parts = short(module).split(".")
    for length in range(len(parts), 0, -1):
        name = ".".join(parts[:length])
        if name in layers:
            return layers[name]
    return None


# --- the tests ---------------------------------------------------------------------------------------------------


def test_every_import_points_to_its_own_layer_or_a_lower_one():
    layers = layer_of_names()
    names = layer_lines()
    offenders = []
    for module, found in imports().items():
        if module == PACKAGE:
            offenders += [f"{PACKAGE} (the package root) -> {short(t)} (line {line})" for t, line, _ in found]
            continue
        own = layer_of(module, layers)
        for target, line, _ in found:
            theirs = layer_of(target, layers)
            if own is not None and theirs is not None and theirs > own:
                offenders.append(f"{short(module)} -> {short(target)} (line {line}: layer "
                                 f"{' '.join(names[own])!r} imports layer {' '.join(names[theirs])!r})")
    offenders = list(dict.fromkeys(offenders))  # `from m import a, b`: one line, not one per name
    assert not offenders, "imports pointing up a layer:\n  " + "\n  ".join(offenders)


def find_cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle for each group of modules that import each other in a circle (Tarjan's strongly connected
    components, then a shortest path back to the start within the group)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph.get(node, ())):
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, ()):
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    cycles = []
    for group in groups:
        start = min(group)
        paths = {start: [start]}
        frontier = [start]
        cycle = None
        while frontier and cycle is None:
            following = []
            for node in frontier:
                for other in sorted(graph.get(node, ())):
                    if other == start:
                        cycle = paths[node] + [start]
                        break
                    if other in group and other not in paths:
                        paths[other] = paths[node] + [other]
                        following.append(other)
                if cycle:
                    break
            frontier = following
        cycles.append(cycle)
    return cycles


def test_no_two_modules_import_each_other_in_a_circle():
    found = imports()
    graph = {module: {target for target, _, at_import in targets if at_import and target in found and target != PACKAGE}
             for module, targets in found.items()}
    cycles = find_cycles(graph)
    assert not cycles, "import cycles (imports that run at import time):\n  " + "\n  ".join(
        " -> ".join(short(m) for m in cycle) for cycle in cycles)


def test_every_package_and_module_has_exactly_one_layer():
    listed = [name for names in layer_lines() for name in names]
    twice = sorted({name for name in listed if listed.count(name) > 1})
    assert not twice, f"{PAGE.relative_to(ROOT)} lists these in more than one layer (or twice): {twice}"
    modules = {short(m) for m in source_files() if m != PACKAGE}
    stale = [name for name in listed if name not in modules]
    assert not stale, f"{PAGE.relative_to(ROOT)} lists what src/{PACKAGE} does not have: {stale}"
    layers = layer_of_names()
    unplaced = sorted(m for m in modules if layer_of(m, layers) is None)
    assert not unplaced, (f"no layer for {unplaced}: add each new package or module to the `## Layers` block of "
                          f"{PAGE.relative_to(ROOT)}")


def heavy_modules_loaded_by(modules: list[str]) -> dict[str, list[str]]:
    """Importing `modules` in this order, in one fresh interpreter on this checkout: for each module whose import
    loaded one of HEAVY, the heavy libraries it loaded first (a library a module before it loaded is not counted
    again). Empty when none of them loads."""
    code = ("import importlib, json, sys\n"
            "found = {}\n"
            f"for name in {modules!r}:\n"
            "    before = set(sys.modules)\n"
            "    importlib.import_module(name)\n"
            f"    new = [m for m in {HEAVY!r} if m in sys.modules and m not in before]\n"
            "    if new:\n"
            "        found[name] = new\n"
            "print(json.dumps(found))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SOURCE), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env,
                          timeout=120)
    assert done.returncode == 0, f"importing {modules} failed:\n{done.stderr[-3000:]}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_torch_free_modules_import_without_the_heavy_libraries():
    listed = fenced_block("## Torch-free modules")
    modules = {short(m) for m in source_files()}
    unknown = [name for name in listed if name not in modules]
    assert not unknown, f"{PAGE.relative_to(ROOT)} lists torch-free modules that do not exist: {unknown}"
    loaded = heavy_modules_loaded_by([f"{PACKAGE}.{name}" for name in listed])
    assert not loaded, "torch-free modules that load a heavy library (module: what it loaded first): " + ", ".join(
        f"{short(name)}: {found}" for name, found in loaded.items())


def scripts() -> list[Path]:
    return sorted(ROOT.glob("*.py"))


def test_the_top_level_scripts_are_thin():
    names = {path.name for path in scripts()}
    expected = {"predict.py", "app.py", "sweep.py", "compare.py"}
    assert expected <= names and any(name.startswith("train_") for name in names), sorted(names)
    problems = []
    for path in scripts():
        text = path.read_text(encoding="utf-8")
        lines = len(text.splitlines())
        if lines > SCRIPT_LINES:
            problems.append(f"{path.name}: {lines} lines (at most {SCRIPT_LINES}; the work belongs in commands/)")
        for node in ast.walk(ast.parse(text, filename=path.name)):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                targets = [f"{base}.{alias.name}" if base == PACKAGE else base for alias in node.names]
            else:
                continue
            for target in targets:
                allowed = target in ("sys", "__future__", f"{PACKAGE}.entry") or target.startswith(
                    f"{PACKAGE}.commands")
                if not allowed:
                    problems.append(f"{path.name}:{node.lineno} imports {target} (only {PACKAGE}.entry or "
                                    f"{PACKAGE}.commands, and sys)")
    assert not problems, "top-level scripts that are not thin:\n  " + "\n  ".join(problems)


def test_the_page_has_the_sections_the_readme_links_to():
    lines = PAGE.read_text(encoding="utf-8").splitlines()
    assert "## Trainer hooks in the order they run" in lines  # README.md#trainer-hooks-in-the-order-they-run
    assert "## Data flow" in lines
