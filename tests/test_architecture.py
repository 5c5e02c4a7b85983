"""The wall between the engine and the UI, checked in a fresh interpreter."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ENGINE = Path(__file__).parent.parent / "dccd_tui" / "engine"


def test_engine_imports_no_ui():
    # (httpx itself imports rich for its own command line, so rich is checked in the sources.)
    code = (
        "import sys\n"
        "import dccd_tui.engine.runner, dccd_tui.engine.backfill, dccd_tui.engine.store\n"
        "import dccd_tui.engine.exchanges, dccd_tui.engine.http, dccd_tui.config\n"
        "bad = [m for m in sys.modules if m.split('.')[0] == 'textual'"
        " or m.startswith('dccd_tui.tui')]\n"
        "print(','.join(bad))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""


def test_engine_sources_never_name_the_ui():
    for path in ENGINE.rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")):
                assert "textual" not in stripped and "rich" not in stripped.split()[1], (path, line)
                assert "dccd_tui.tui" not in stripped and ".tui" not in stripped.split()[1], (path, line)


def test_sandbox_is_independent_of_the_engine():
    root = Path(__file__).parent.parent / "dccd_tui" / "sandbox"
    for path in root.rglob("*.py"):
        for line in path.read_text(encoding="utf-8").splitlines():
            stripped = line.strip()
            if stripped.startswith(("import ", "from ")):
                assert "engine" not in stripped and "dccd_tui.config" not in stripped, (path, line)
