"""The package doors of docs/architecture.md, read from the source with ``ast`` (nothing is imported).

Two checks over every module of ``synthreid/``:

- forbidden imports: each layer may import only the layers listed for it in ``ALLOWED``. Every
  import counts, also one inside a function (a lazy import is still a door);
- no import cycle among synthreid modules. Only module-level imports count here (also those
  under ``if``/``try`` at module level, e.g. ``if TYPE_CHECKING``): an import inside a function
  runs after every module involved has finished loading, so it cannot deadlock a partial module.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# Shared leaf modules every layer may use: errors, file writing, the dataset folder, plots...
CORE = "core"
CORE_MODULES = {
    "synthreid",
    "synthreid.errors",
    "synthreid.fsutil",
    "synthreid.dataset",
    "synthreid.paths",
    "synthreid.plots",
    "synthreid.weights",
    "synthreid.runfolder",
    "synthreid.cliutil",
    "synthreid.assets",
}
# Application modules above every package: the console script and what only it uses.
APP_MODULES = {"synthreid.cli", "synthreid.demo", "synthreid.catalog_names", "synthreid.importer"}
PACKAGES = ("render", "refine", "benchmark", "workers", "integrations", "study")

# layer -> layers it may import (itself always included).
ALLOWED: dict[str, set[str]] = {
    CORE: set(),
    "render": {CORE},
    "refine": {CORE},
    "benchmark": {CORE},
    "integrations": {CORE, "benchmark"},
    # the worker runs render tasks, and refine/benchmark only as gpu tasks: typed payloads run
    # in a child process, so it imports neither
    "workers": {CORE, "render"},
    # a study drives render (through `synthreid render`'s embedded farm), refine and benchmark
    # in-process; catalog:NAME datasets via the app's resolver
    "study": {CORE, "render", "refine", "benchmark", "workers", "app"},
    "app": {CORE, "render", "refine", "benchmark", "workers", "integrations", "study"},
}
# module -> why it may cross a door (kept short and explained)
EXCEPTIONS: dict[tuple[str, str], str] = {
    # the gpu child process *is* a `synthreid ...` command line run under the worker
    ("synthreid.workers.child", "synthreid.cli"): "the gpu task's child runs the console script",
}


@dataclass(frozen=True)
class Import:
    target: str  # a synthreid module (or package) name
    line: int
    module_level: bool


def module_name(path: Path, root: Path = ROOT) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def all_modules(root: Path = ROOT) -> dict[str, Path]:
    return {module_name(p, root): p for p in sorted((root / "synthreid").rglob("*.py"))}


def layer(mod: str) -> str:
    if mod in CORE_MODULES:
        return CORE
    if mod in APP_MODULES:
        return "app"
    parts = mod.split(".")
    if len(parts) >= 2 and parts[1] in PACKAGES:
        return parts[1]
    raise AssertionError(f"{mod}: not assigned to a layer; add it to CORE_MODULES, APP_MODULES or PACKAGES")


def _resolve(name: str, modules: dict[str, Path]) -> str:
    """The longest existing module prefix of a dotted name (``a.b.func`` -> ``a.b``)."""
    while name not in modules and "." in name:
        name = name.rsplit(".", 1)[0]
    return name


def imports_of(mod: str, path: Path, modules: dict[str, Path]) -> list[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    package = mod if path.name == "__init__.py" else mod.rsplit(".", 1)[0]
    out: list[Import] = []

    def visit(node: ast.AST, top: bool) -> None:
        for child in ast.iter_child_nodes(node):
            inner = top and not isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda)
            if isinstance(child, ast.Import):
                names = [a.name for a in child.names]
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    up = package.split(".")[: len(package.split(".")) - (child.level - 1)]
                    base = ".".join([*up, base] if base else up)
                # `from pkg import sub` imports the submodule pkg.sub when there is one
                names = [f"{base}.{a.name}" if f"{base}.{a.name}" in modules else base for a in child.names]
            else:
                visit(child, inner)
                continue
            for n in names:
                if n == "synthreid" or n.startswith("synthreid."):
                    out.append(Import(_resolve(n, modules), child.lineno, top))

    visit(tree, True)
    return out


def import_graph(root: Path = ROOT) -> dict[str, list[Import]]:
    modules = all_modules(root)
    return {m: imports_of(m, p, modules) for m, p in modules.items()}


def forbidden(graph: dict[str, list[Import]]) -> list[str]:
    bad = []
    for mod, imps in graph.items():
        src = layer(mod)
        for imp in imps:
            dst = layer(imp.target)
            if dst == src or dst in ALLOWED[src] or (mod, imp.target) in EXCEPTIONS:
                continue
            bad.append(f"{mod}:{imp.line} imports {imp.target} ({src} -> {dst} is not allowed)")
    return bad


def cycles(graph: dict[str, list[Import]]) -> list[list[str]]:
    """Strongly connected components of more than one module (or a module importing itself)."""
    edges = {
        m: sorted({i.target for i in imps if i.module_level and i.target in graph})
        for m, imps in graph.items()
    }
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def strong(v: str) -> None:  # Tarjan
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1 or v in edges[v]:
                found.append(sorted(comp))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return found


def test_every_module_has_a_layer():
    for mod in all_modules():
        layer(mod)


def test_no_forbidden_imports():
    bad = forbidden(import_graph())
    assert not bad, "imports that cross a package door (docs/architecture.md):\n" + "\n".join(bad)


def test_no_import_cycles():
    found = cycles(import_graph())
    assert not found, "module-level import cycles:\n" + "\n".join(" <-> ".join(c) for c in found)


def test_no_cycles_even_through_lazy_imports_in_workers_refine_benchmark():
    """Stricter where nothing needs a lazy import to break a circle: in these packages an import
    inside a function is there to defer a heavy dependency (torch, psycopg2), never to dodge a cycle."""
    graph = {
        m: [Import(i.target, i.line, True) for i in imps]
        for m, imps in import_graph().items()
        if layer(m) in ("workers", "refine", "benchmark")
    }
    found = cycles(graph)
    assert not found, "import cycles (counting imports inside functions):\n" + "\n".join(
        " <-> ".join(c) for c in found
    )


# ---- the checks themselves can fail --------------------------------------------------------------
@pytest.fixture
def fake(tmp_path):
    """A throw-away synthreid tree: {relative path: source} -> its import graph."""
    base = {
        "__init__.py": "",
        "errors.py": "",
        "render/__init__.py": "",
        "workers/__init__.py": "",
        "benchmark/__init__.py": "",
    }

    def make(files: dict[str, str]) -> dict[str, list[Import]]:
        for rel, text in {**base, **files}.items():
            p = tmp_path / "synthreid" / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            p.write_text(text)
        return import_graph(tmp_path)

    return make


def test_render_importing_workers_is_caught_even_inside_a_function(fake):
    graph = fake({"render/x.py": "def f():\n    from synthreid.workers import y\n", "workers/y.py": ""})
    assert forbidden(graph) == [
        "synthreid.render.x:2 imports synthreid.workers.y (render -> workers is not allowed)"
    ]


def test_benchmark_importing_the_cli_is_caught(fake):
    graph = fake({"benchmark/runs.py": "from synthreid import cli\n", "cli.py": ""})
    assert forbidden(graph) == [
        "synthreid.benchmark.runs:1 imports synthreid.cli (benchmark -> app is not allowed)"
    ]


def test_workers_may_import_render(fake):
    graph = fake(
        {"workers/t.py": "from ..render import plan\n", "render/plan.py": "from synthreid.errors import E\n"}
    )
    assert forbidden(graph) == []
    assert [i.target for i in graph["synthreid.workers.t"]] == ["synthreid.render.plan"]


def test_a_module_level_cycle_is_caught_but_a_lazy_import_is_not(fake):
    graph = fake(
        {
            "workers/a.py": "from synthreid.workers.b import f\n",
            "workers/b.py": "try:\n    import synthreid.workers.c\nexcept ImportError:\n    pass\n",
            "workers/c.py": "from . import a\n",
            "workers/d.py": "from synthreid.workers import e\n",
            "workers/e.py": "def g():\n    from synthreid.workers import d\n",
        }
    )
    assert cycles(graph) == [["synthreid.workers.a", "synthreid.workers.b", "synthreid.workers.c"]]
