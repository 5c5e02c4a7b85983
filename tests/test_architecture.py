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

`test_import_graph` reads every module with `ast` (function-level imports included), so it needs
nothing installed; `test_import_contracts` runs the same walls as import-linter contracts
(`[tool.importlinter]` in pyproject.toml) when import-linter is installed (the `dev` extra).
"""

from __future__ import annotations

import ast
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
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
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
    assert ("dccd_tui.tui.app", "dccd_tui.engine.Runner") in found
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


def test_engine_loads_no_ui() -> None:
    """In a fresh interpreter, importing the engine's rooms loads neither textual nor the TUI."""
    code = (
        "import sys\n"
        "import dccd_tui.engine.runner, dccd_tui.engine.backfill, dccd_tui.engine.store\n"
        "import dccd_tui.engine.exchanges, dccd_tui.engine.http, dccd_tui.engine.inventory\n"
        "bad = [m for m in sys.modules if m.split('.')[0] == 'textual'"
        " or m.startswith(('dccd_tui.tui', 'dccd_tui.config', 'dccd_tui.commands'))]\n"
        "print(','.join(bad))\n"
    )
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == ""


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
