"""The walls of the house, checked over the real import graph of every module.

Layers, top to bottom: the CLI (`cli`, `commands`) and the TUI (`tui`), then the engine
process's host (`daemon`: the socket server around the runner), `demo` and `config`, then the
engine link (`link`: what both ends of the engine socket share), then the engine's front door
(`dccd_tui.engine`) and its rooms; the sandbox stands apart.

- The engine never imports the UI (textual, rich, `dccd_tui.tui`), nor `dccd_tui.config`,
  `dccd_tui.commands`, `dccd_tui.cli`, `dccd_tui.demo`, `dccd_tui.daemon` or `dccd_tui.link`: it
  takes its inputs as engine types.
- The sandbox never imports the engine (it must not share a bug with the code it tests).
- Everything above the engine imports it only through its front door, `dccd_tui.engine`.

- No import cycle at run time (`test_no_import_cycle_at_run_time`): the graph of the imports
  that run (function-level ones included, those under `if TYPE_CHECKING:` left out) has no
  cycle. import-linter's contracts are layers and
  bans; they say nothing of a cycle inside one layer.
- Declared seams: the archive phase sees its backfill only through `BackfillPort`
  (engine/archive/port.py), and the leaf widgets (tui/widgets/) never reach for the app.

`test_import_graph` reads every module with `ast` (function-level imports included), so it needs
nothing installed; `test_import_contracts` runs the same walls as import-linter contracts
(`[tool.importlinter]` in pyproject.toml) when import-linter is installed (the `dev` extra).
"""

from __future__ import annotations

import ast
import gc
import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "dccd_tui"

ENGINE_MUST_NOT_IMPORT = (
    "textual",
    "rich",
    "dccd_tui.tui",
    "dccd_tui.config",
    "dccd_tui.commands",
    "dccd_tui.cli",
    "dccd_tui.demo",
    "dccd_tui.daemon",
    "dccd_tui.link",
)
SANDBOX_MUST_NOT_IMPORT = ("dccd_tui.engine", "dccd_tui.config", "dccd_tui.tui")
ABOVE_THE_ENGINE = (
    "dccd_tui.tui",
    "dccd_tui.commands",
    "dccd_tui.cli",
    "dccd_tui.config",
    "dccd_tui.demo",
    "dccd_tui.daemon",
    "dccd_tui.link",
    "dccd_tui.__main__",
)


def parse(source: str, filename: str = "<unknown>") -> ast.Module:
    """`ast.parse` with the cyclic collector paused: a syntax tree holds no reference cycle (a
    node knows its children, never its parent), so reference counting frees it, while the
    hundreds of thousands of nodes of the package's 180 modules set off full collections that
    took 70 % of the parse (0.9 s of CPU, 0.27 s without them, each time the graph is read)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        return ast.parse(source, filename)
    finally:
        if enabled:
            gc.enable()


# The fields that hold statements: an import is a statement, so the walks below never go into
# an expression (most of a tree's nodes), only into bodies, branches, handlers and cases.
BODIES = ("body", "handlers", "orelse", "finalbody", "cases")


def statements(node: ast.AST):
    """Every statement under `node`, depth first in source order."""
    for field in BODIES:
        children = getattr(node, field, None)
        if not isinstance(children, list):  # a lambda's or an `x if c else y`'s: expressions
            continue
        for child in children:
            if isinstance(child, ast.stmt):
                yield child
            yield from statements(child)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module name) of every import in a file, relative ones resolved."""
    name = module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    out = []
    for node in statements(parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            if node.module is None or target in ("dccd_tui", "dccd_tui.engine"):
                # `from . import x` imports the module x; `from ..engine import Name` a name
                out.extend((node.lineno, f"{target}.{alias.name}") for alias in node.names)
            else:
                out.append((node.lineno, target))
    return out


def under(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def all_imports() -> list[tuple[str, int, str]]:
    out = []
    for path in sorted(PACKAGE.rglob("*.py")):
        out.extend((module_name(path), line, target) for line, target in imports_of(path))
    return out


def test_the_graph_is_read() -> None:
    """The checks below would pass on an empty graph: make sure they see the real one."""
    found = {(src, target) for src, _line, target in all_imports()}
    assert ("dccd_tui.engine.runner", "dccd_tui.engine.store") in found
    assert ("dccd_tui.tui.app", "dccd_tui.engine.make_runner") in found
    assert ("dccd_tui.config", "dccd_tui.engine.JobSpec") in found


def test_import_graph() -> None:
    front_door_names = None
    bad = []
    for src, line, target in all_imports():
        where = f"{src}:{line} imports {target}"
        if under(src, ("dccd_tui.engine",)) and under(target, ENGINE_MUST_NOT_IMPORT):
            bad.append(f"{where}: the engine must not import the layers above it or the UI")
        if under(src, ("dccd_tui.sandbox",)) and under(target, SANDBOX_MUST_NOT_IMPORT):
            bad.append(f"{where}: the sandbox must not import the engine")
        if under(src, ABOVE_THE_ENGINE) and under(target, ("dccd_tui.engine",)):
            if front_door_names is None:
                import dccd_tui.engine as front_door

                front_door_names = set(front_door.__all__)
            name = target[len("dccd_tui.engine.") :]
            if name not in front_door_names:
                bad.append(f"{where}: go through the front door (`dccd_tui.engine`)")
    assert not bad, "\n".join(bad)


def test_engine_loads_no_ui_and_single_machine_loads_no_cluster_package() -> None:
    """In a fresh interpreter, importing the engine's rooms loads neither textual nor the TUI;
    then, without `[cluster] scheduler`, neither the engine, nor the engine process, nor the
    app loads Dask or obstore (the `[cluster]` extra is optional: pyproject.toml). One
    interpreter answers both, in that order: the second import set holds the first, so the
    first answer is taken before the rest is imported."""
    code = (
        "import sys\n"
        "import dccd_tui.engine.runner, dccd_tui.engine.backfill, dccd_tui.engine.store\n"
        "import dccd_tui.engine.exchanges, dccd_tui.engine.http, dccd_tui.engine.inventory\n"
        "bad = [m for m in sys.modules if m.split('.')[0] == 'textual'"
        " or m.startswith(('dccd_tui.tui', 'dccd_tui.config', 'dccd_tui.commands'))]\n"
        "print('ui:' + ','.join(bad))\n"
        "import dccd_tui.engine, dccd_tui.engine.runner, dccd_tui.cli, dccd_tui.tui.app\n"
        "import dccd_tui.daemon.__main__\n"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed', 'obstore')]\n"
        "print('cluster:' + ','.join(bad))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.splitlines() == ["ui:", "cluster:"]


@pytest.mark.skipif(
    importlib.util.find_spec("importlinter") is None,
    reason="import-linter is a dev tool (pip install -e '.[dev]')",
)
def test_import_contracts() -> None:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    code = (
        "import sys; from importlinter.cli import lint_imports; "
        "sys.exit(lint_imports(config_filename='pyproject.toml'))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=env
    )
    assert out.returncode == 0, out.stdout + out.stderr


def test_front_door_exports_what_it_lists() -> None:
    import dccd_tui.engine as front_door

    assert sorted(front_door.__all__) == sorted(front_door._HOMES)
    for name in front_door.__all__:
        assert getattr(front_door, name) is not None, name


# --- declared seams ---------------------------------------------------------------------------


def private_members_used(source: str) -> list[tuple[int, str]]:
    """(line, `x._name`) of every private member read or written on an object other than
    `self` or `cls` (dunders are fine)."""
    out = []
    for node in ast.walk(parse(source)):
        if not isinstance(node, ast.Attribute) or not node.attr.startswith("_"):
            continue
        if node.attr.startswith("__") and node.attr.endswith("__"):
            continue
        if isinstance(node.value, ast.Name) and node.value.id in ("self", "cls"):
            continue
        out.append((node.lineno, f"{ast.unparse(node.value)}.{node.attr}"))
    return sorted(out)


def test_the_archive_phase_sees_its_backfill_only_through_the_port() -> None:
    """engine/archive/ never imports backfill.py (the job is a `BackfillPort`, port.py) and
    touches no private member of another object; mypy checks `Backfill` against the port."""
    bad = []
    for path in sorted((PACKAGE / "engine" / "archive").glob("*.py")):
        for line, target in imports_of(path):
            if under(target, ("dccd_tui.engine.backfill",)):
                bad.append(f"{path.name}:{line} imports {target}")
        used = private_members_used(path.read_text(encoding="utf-8"))
        bad.extend(f"{path.name}:{line} uses {what}" for line, what in used)
    assert not bad, "\n".join(bad)
    # The check sees what it looks for (the fast path used to read and write these):
    planted = "def f(job, self):\n    job._abort.set()\n    self.job._wake_up(self._x)\n"
    assert private_members_used(planted) == [(2, "job._abort"), (3, "self.job._wake_up")]


def app_names() -> set[str]:
    """What `DccdApp` adds to Textual's `App`: the methods it defines and the fields it sets."""
    from textual.app import App

    tree = parse((PACKAGE / "tui" / "app.py").read_text(encoding="utf-8"))
    (cls,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "DccdApp"]
    names = set()
    for node in ast.walk(cls):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            names.add(node.name)
        elif (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
        ):
            names.add(node.attr)
    return {name for name in names if not hasattr(App, name)}


def app_reaches(source: str, own: set[str]) -> list[tuple[int, str]]:
    """(line, what) of every `<x>.app.<name>` or `getattr(<x>.app, "<name>")` of a name in
    `own` (what the dccd app adds to Textual's)."""
    out = []
    for node in ast.walk(parse(source)):
        if (
            isinstance(node, ast.Attribute)
            and node.attr in own
            and isinstance(node.value, ast.Attribute)
            and node.value.attr == "app"
        ):
            out.append((node.lineno, ast.unparse(node)))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr")
            and len(node.args) >= 2
            and isinstance(node.args[0], ast.Attribute)
            and node.args[0].attr == "app"
            and isinstance(node.args[1], ast.Constant)
            and node.args[1].value in own
        ):
            out.append((node.lineno, ast.unparse(node)))
    return sorted(out)


def test_leaf_widgets_never_reach_for_the_app() -> None:
    """tui/widgets/ imports nothing of the app or its screens, and reads nothing the dccd app
    adds to Textual's `App` (its runner, its job styles, ...): a widget is handed what it needs
    (`CoverageView` takes its source and styles)."""
    own = app_names()
    assert {"runner", "job_styles", "start_jobs"} <= own  # the check sees what it looks for
    planted = "x = self.app.runner.coverage(1)\ny = getattr(self.app, 'job_styles', {})\n"
    assert [line for line, _ in app_reaches(planted, own)] == [1, 2]
    app_side = ("dccd_tui.tui.app", "dccd_tui.tui.screens", "dccd_tui.tui.engine_watch")
    bad = []
    for path in sorted((PACKAGE / "tui" / "widgets").glob("*.py")):
        for line, target in imports_of(path):
            if under(target, app_side):
                bad.append(f"{path.name}:{line} imports {target}")
        reached = app_reaches(path.read_text(encoding="utf-8"), own)
        bad.extend(f"{path.name}:{line} reads {what}" for line, what in reached)
    assert not bad, "\n".join(bad)


# --- no import cycle at run time --------------------------------------------------------------


def module_paths() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def is_type_checking(test: ast.expr) -> bool:
    """`if TYPE_CHECKING:` or `if typing.TYPE_CHECKING:`"""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def runtime_nodes(node: ast.AST):
    """Every statement under `node` that can run: the body of an `if TYPE_CHECKING:` is left
    out (its `else:` is kept), function and class bodies are in."""
    for field in BODIES:
        children = getattr(node, field, None)
        if not isinstance(children, list):
            continue
        for child in children:
            if isinstance(child, ast.If) and is_type_checking(child.test):
                for stmt in child.orelse:
                    yield stmt
                    yield from runtime_nodes(stmt)
                continue
            if isinstance(child, ast.stmt):
                yield child
            yield from runtime_nodes(child)


def runtime_imports(source: str, name: str, is_package: bool, modules) -> list[tuple[int, str]]:
    """(line, module) of every import of a dccd_tui module that runs when `name` is imported
    or its functions are called. `from p import x` is the module p.x when there is one (a
    package's own submodule, or a sibling reached through the package), else p: the names of
    p's __init__; `import a.b` is a.b."""
    package = name if is_package else name.rpartition(".")[0]

    def known(target: str) -> str | None:
        while target and target not in modules:
            target = target.rpartition(".")[0]
        return target or None

    out = []
    for node in runtime_nodes(parse(source)):
        targets: list[str] = []
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for alias in node.names:
                sub = f"{target}.{alias.name}"
                targets.append(sub if sub in modules else target)
        for target in targets:
            if under(target, ("dccd_tui",)):
                found = known(target)
                if found is not None and found != name:
                    out.append((node.lineno, found))
    return out


def import_graph() -> dict[str, dict[str, int]]:
    """module -> {module it imports at run time: the first line that does}"""
    modules = module_paths()
    graph: dict[str, dict[str, int]] = {}
    for name, path in modules.items():
        edges = graph.setdefault(name, {})
        source = path.read_text(encoding="utf-8")
        for line, target in runtime_imports(source, name, path.name == "__init__.py", modules):
            edges.setdefault(target, line)
    return graph


def cycles(graph: dict[str, dict[str, int]]) -> list[tuple[str, ...]]:
    """The shortest cycle through each module that is on one, each once, from its smallest
    module name on: every strongly connected part of the graph shows up."""
    found = set()
    for start in sorted(graph):
        # breadth first from start's imports back to start: the shortest way round
        paths = {t: [start, t] for t in graph[start]}
        queue = list(paths)
        while queue and start not in paths:
            here = queue.pop(0)
            for nxt in sorted(graph.get(here, {})):
                if nxt not in paths:
                    paths[nxt] = paths[here] + [nxt]
                    queue.append(nxt)
        if start in paths:
            ring = paths[start][:-1]
            i = ring.index(min(ring))
            found.add(tuple(ring[i:] + ring[:i]))
    return sorted(found)


def chain(graph: dict[str, dict[str, int]], cycle: tuple[str, ...]) -> str:
    """`a:12 -> b:40 -> a`: each module, with the line where it imports the next."""
    ring = list(cycle) + [cycle[0]]
    steps = [f"{a}:{graph[a][b]}" for a, b in zip(ring, ring[1:], strict=False)]
    return " -> ".join([*steps, ring[-1]])


def test_no_import_cycle_at_run_time() -> None:
    """No module imports, at run time, one that imports it back (directly or through others):
    function-level imports count, imports under `if TYPE_CHECKING:` do not. `lint-imports`
    cannot say this (its contracts are layers), so it is checked here."""
    graph = import_graph()
    found = cycles(graph)
    assert not found, "import cycles:\n" + "\n".join(chain(graph, c) for c in found)


def test_the_cycle_check_reads_imports_as_python_runs_them() -> None:
    """The graph above on a made-up package: what it must count and what it must not."""
    modules = {"dccd_tui.p", "dccd_tui.p.a", "dccd_tui.p.b", "dccd_tui.p.b.c", "dccd_tui.q"}
    source = (
        "from typing import TYPE_CHECKING\n"
        "import typing\n"
        "from . import b\n"  # 3: the submodule p.b
        "from .b import name\n"  # 4: p.b (a name of it)
        "from .b import c\n"  # 5: the submodule p.b.c
        "from dccd_tui.p import name2\n"  # 6: a name of p's __init__: p itself
        "import dccd_tui.q\n"  # 7
        "import os, dccd_tui.p.b.c\n"  # 8: outside modules are left out
        "if TYPE_CHECKING:\n"
        "    from dccd_tui import q\n"  # not at run time
        "else:\n"
        "    from .. import q\n"  # 12: at run time
        "if typing.TYPE_CHECKING:\n"
        "    import dccd_tui.p.b\n"
        "class K:\n"
        "    if TYPE_CHECKING:\n"
        "        from . import b\n"
        "    def f(self):\n"
        "        from .b.c import x\n"  # 19: function-level: counts
        "        return x\n"
    )
    found = runtime_imports(source, "dccd_tui.p.a", False, modules)
    assert found == [
        (3, "dccd_tui.p.b"),
        (4, "dccd_tui.p.b"),
        (5, "dccd_tui.p.b.c"),
        (6, "dccd_tui.p"),
        (7, "dccd_tui.q"),
        (8, "dccd_tui.p.b.c"),
        (12, "dccd_tui.q"),
        (19, "dccd_tui.p.b.c"),
    ]
    # a package's __init__ importing its submodule, which imports a sibling through the
    # package: a cycle; and the shortest one through each module is named once
    graph = {
        "dccd_tui.p": {"dccd_tui.p.a": 1},
        "dccd_tui.p.a": {"dccd_tui.p": 3, "dccd_tui.q": 4},
        "dccd_tui.q": {"dccd_tui.q.r": 1},
        "dccd_tui.q.r": {"dccd_tui.q": 2},
        "dccd_tui.s": {"dccd_tui.p": 1},
    }
    assert cycles(graph) == [("dccd_tui.p", "dccd_tui.p.a"), ("dccd_tui.q", "dccd_tui.q.r")]
    assert chain(graph, ("dccd_tui.p", "dccd_tui.p.a")) == (
        "dccd_tui.p:1 -> dccd_tui.p.a:3 -> dccd_tui.p"
    )
