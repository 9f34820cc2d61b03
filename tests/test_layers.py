"""The package's import layers, enforced.

Every import in `rupu/` (module level, inside functions, under TYPE_CHECKING) is an arrow from one
module to another. An arrow may point down the layer list or stay within a layer; it may never point
up, and the arrows must not close a cycle, neither between modules nor between packages. An import
inside a function must say why with a `# lazy: <reason>` comment on its line or above its run of
imports, or the module says it once for all of them with a top-level `# lazy imports: <reason>` line
(the CLI modules do). Start-up time is the only accepted reason: `rupu --help` must stay fast.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

import networkx as nx

RUPU = Path(__file__).resolve().parent.parent / "rupu"

# Top first. A top-level module or package not listed here fails the test: a new one needs a layer.
LAYERS: tuple[frozenset[str], ...] = (
    frozenset({"testing"}),  # test doubles: nothing in rupu imports them
    frozenset({"__main__"}),
    frozenset({"__init__"}),  # `from rupu import ...`: re-exports the Python API
    frozenset({"cli"}),
    frozenset({"api", "pictures"}),
    frozenset({"distributed"}),  # the Ray executor: a UnitDispatcher above the engine's seam
    frozenset({"workflows"}),
    frozenset({"agents"}),
    frozenset({"routing", "catalog", "tools"}),
    frozenset({"providers", "auth"}),
    frozenset(
        {
            "config",
            "messages",
            "errors",
            "paths",
            "strict",
            "yamldoc",
            "redact",
            "atomicfile",
            "textfiles",
            "filemodes",
            "openfiles",
            "schemas",
            "transcripts",
            "version",
            "modeldata",
            "trust",
            "clock",
            "sessions",
        }
    ),
)

LAZY_MARKER = re.compile(r"#\s*lazy:\s*\S")
MODULE_LAZY_MARKER = re.compile(r"^# lazy imports:\s*\S", re.MULTILINE)


@dataclass(frozen=True)
class Arrow:
    source: str  # dotted module name
    target: str
    path: Path
    line: int
    in_function: bool


def module_name(root: Path, package: str, path: Path) -> str:
    parts = [package, *path.relative_to(root).with_suffix("").parts]
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def _resolve(
    node: ast.Import | ast.ImportFrom, source: str, is_package: bool, modules: set[str]
) -> list[str]:
    """The modules of `modules` that `node` imports (a name that is a submodule counts as one)."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            base = source.split(".")
            base = base[: len(base) - node.level + (1 if is_package else 0)]
            prefix = ".".join([*base, *([node.module] if node.module else [])])
        else:
            prefix = node.module or ""
        names = [f"{prefix}.{alias.name}" for alias in node.names]
        names = [name if name in modules else prefix for name in names]
    targets = []
    for name in names:
        found = name
        while found and found not in modules:
            found = found.rpartition(".")[0]
        if found:
            targets.append(found)
    return targets


def _marked(lines: list[str], lineno: int) -> bool:
    """`# lazy:` on the import's line, or on the line above the run of imports it belongs to."""
    index = lineno - 1
    if LAZY_MARKER.search(lines[index]):
        return True
    index -= 1
    while index >= 0 and lines[index].lstrip().startswith(("from ", "import ")):
        index -= 1
    return index >= 0 and LAZY_MARKER.search(lines[index]) is not None


def collect_arrows(root: Path, package: str) -> tuple[set[str], list[Arrow], list[str]]:
    """Every module under `root`, every import arrow between them, and unmarked lazy imports."""
    files = {module_name(root, package, path): path for path in sorted(root.rglob("*.py"))}
    modules = set(files)
    arrows: list[Arrow] = []
    unmarked: list[str] = []
    for source, path in files.items():
        text = path.read_text(encoding="utf-8")
        lines = text.splitlines()
        module_marked = MODULE_LAZY_MARKER.search(text) is not None
        tree = ast.parse(text, filename=str(path))
        functions = [
            node
            for node in ast.walk(tree)
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
        ]
        in_function = {
            id(node)
            for function in functions
            for node in ast.walk(function)
            if isinstance(node, ast.Import | ast.ImportFrom)
        }
        for node in ast.walk(tree):
            if not isinstance(node, ast.Import | ast.ImportFrom):
                continue
            targets = _resolve(node, source, path.name == "__init__.py", modules)
            lazy = id(node) in in_function
            if lazy and targets and not module_marked and not _marked(lines, node.lineno):
                unmarked.append(f"{path}:{node.lineno}: import inside a function without `# lazy:`")
            arrows.extend(Arrow(source, t, path, node.lineno, lazy) for t in targets if t != source)
    return modules, arrows, unmarked


def top_level(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def layer_of(module: str, layers: tuple[frozenset[str], ...]) -> int | None:
    name = top_level(module)
    for index, layer in enumerate(layers):
        if name in layer:
            return index
    return None


def check(root: Path, package: str, layers: tuple[frozenset[str], ...] = LAYERS) -> list[str]:
    """Every layering problem in the package at `root`, one line each (empty when clean)."""
    modules, arrows, problems = collect_arrows(root, package)
    problems += [
        f"{module}: not in any layer (add its top-level name to LAYERS)"
        for module in sorted(modules)
        if layer_of(module, layers) is None
    ]
    for arrow in arrows:
        source, target = layer_of(arrow.source, layers), layer_of(arrow.target, layers)
        if source is not None and target is not None and target < source:
            problems.append(
                f"{arrow.path}:{arrow.line}: upward import {arrow.source} -> {arrow.target}"
            )
    module_graph: nx.DiGraph[str] = nx.DiGraph()
    module_graph.add_edges_from((a.source, a.target) for a in arrows)
    problems += [f"module cycle: {' -> '.join(c)}" for c in nx.simple_cycles(module_graph)]
    package_graph: nx.DiGraph[str] = nx.DiGraph()
    package_graph.add_edges_from(
        (top_level(a.source), top_level(a.target))
        for a in arrows
        if top_level(a.source) != top_level(a.target)
    )
    problems += [f"package cycle: {' -> '.join(c)}" for c in nx.simple_cycles(package_graph)]
    return problems


def test_rupu_imports_point_down_and_never_cycle() -> None:
    problems = check(RUPU, "rupu")
    assert problems == [], "\n".join(problems)


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


TOY_LAYERS = (frozenset({"cli"}), frozenset({"agents"}), frozenset({"config"}))


def test_a_clean_toy_package_passes(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "__init__.py": "",
            "config.py": "X = 1\n",
            "agents/__init__.py": "",
            "agents/spec.py": "from toy.config import X\n",
            "agents/loop.py": "from . import spec\nfrom .spec import X\n",
            "cli/__init__.py": (
                "def main() -> None:\n    # lazy: keeps --help fast\n    import toy.agents.loop\n"
            ),
        },
    )
    assert check(tmp_path, "toy", ((frozenset({"__init__"}), *TOY_LAYERS))) == []


def test_a_deliberate_upward_import_is_caught(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "config.py": "from toy.agents.spec import Spec\n",
            "agents/__init__.py": "",
            "agents/spec.py": "class Spec: ...\n",
        },
    )
    problems = check(tmp_path, "toy", TOY_LAYERS)
    assert any("upward import toy.config -> toy.agents.spec" in p for p in problems), problems


def test_upward_imports_are_caught_inside_functions_and_type_checking(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "config.py": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from toy.agents import spec\n"
                "def f() -> None:\n    # lazy: start-up\n    from toy.cli import main\n"
            ),
            "agents/__init__.py": "",
            "agents/spec.py": "",
            "cli.py": "def main() -> None: ...\n",
        },
    )
    problems = check(tmp_path, "toy", TOY_LAYERS)
    assert any("upward import toy.config -> toy.agents.spec" in p for p in problems), problems


def test_cycles_and_unmarked_lazy_imports_are_caught(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "agents/__init__.py": "",
            "agents/spec.py": "from toy.agents import loop\n",
            "agents/loop.py": "def run() -> None:\n    from toy.agents import spec\n",
        },
    )
    problems = check(tmp_path, "toy", TOY_LAYERS)
    assert any(p.startswith("module cycle:") for p in problems), problems
    assert any("without `# lazy:`" in p for p in problems), problems


def test_cycles_between_packages_of_one_layer_are_caught(tmp_path: Path) -> None:
    _write(
        tmp_path,
        {
            "a/__init__.py": "",
            "a/x.py": "import toy.b.y\n",
            "b/__init__.py": "",
            "b/y.py": "",
            "b/z.py": "from toy.a import x\n",
        },
    )
    problems = check(tmp_path, "toy", (frozenset({"a", "b"}),))
    assert [p for p in problems if p.startswith("package cycle:")], problems
