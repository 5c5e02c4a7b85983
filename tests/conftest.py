"""Shared fixtures: a clean environment for Textual, and a sandbox exchange on loopback."""

from __future__ import annotations

import gc
import os
import sys

# The suite writes its bytecode (__pycache__, git-ignored) even where PYTHONDONTWRITEBYTECODE is
# set, as it is on the CI machine: otherwise every pytest process (the two lanes, each xdist
# worker) compiled and assertion-rewrote the 78 test modules again, and every engine process a
# test starts compiled the package again (3.7 s of a 6.2 s collection in a fresh clone). Set
# before the package and the test modules are imported; the engine processes then read what
# this process wrote.
sys.dont_write_bytecode = False

import pytest  # noqa: E402

from dccd_tui.sandbox import Sandbox, SandboxSettings  # noqa: E402

from .helpers import FAST, KRAKEN_BURST, PINNED_NOW  # noqa: E402

# Snapshots change under NO_COLOR or TEXTUAL_THEME (docs/design/textual-notes.md): remove them
# before any App is constructed, whatever the developer's shell has.
os.environ.pop("NO_COLOR", None)
os.environ.pop("TEXTUAL_THEME", None)


def pytest_configure(config):
    """pytest ends each session with five full collections of the heap, to surface the
    unraisable exceptions of objects freed late (_pytest/unraisableexception.py). After the
    Pilot tests (their apps unfreeze the heap, tui/app.py) each pass took about 0.25 s of CPU,
    1 s per process and five processes per run (four workers and the serial lane). One pass
    frees and reports what the five did, unless a finalizer makes garbage that needs another
    pass. The key is pytest's own (pinned <9); without it the default stays."""
    try:
        from _pytest.unraisableexception import gc_collect_iterations_key
    except ImportError:  # another pytest: its default
        return
    config.stash[gc_collect_iterations_key] = 1


@pytest.hookimpl(trylast=True)
def pytest_sessionstart(session):
    """Under pytest-xdist, syrupy's end-of-session search for unused snapshots (which every
    snapshot test's snap_compare feeds) is wasted and slow: each process sees only its share
    of the snapshots used, so the controller, which runs no test, counts all 32 unused, and
    for each it walks every test run building a location of paths, twice (syrupy/report.py).
    It printed nothing and cost the controller 6.8 s and each worker 2 to 5 s after the last
    test of the parallel lane. There it reports none; the serial lane, one process, keeps the
    search."""
    if not (
        hasattr(session.config, "workerinput") or session.config.getoption("numprocesses", None)
    ):
        return
    try:
        from syrupy.data import SnapshotCollections
        from syrupy.report import SnapshotReport
    except ImportError:  # another syrupy: its own search
        return
    if isinstance(SnapshotReport.__dict__.get("unused"), property):
        SnapshotReport.unused = property(lambda self: SnapshotCollections())  # type: ignore[assignment,method-assign]


def pytest_collection_finish(session):
    """What importing and collecting made (modules, classes, the collected tests) lives until
    the session ends: frozen (gc.freeze), it is left out of every later full collection, which
    rescanned it each time (the archive and demo-range tests spent 7.4 s in the collector, 2.9 s
    with this; 2 to 4 % of their CPU). An app's unmount unfreezes it (tui/app.py): the Pilot
    tests, collected last, lose only the gain."""
    gc.collect()
    gc.freeze()


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TEXTUAL_THEME", raising=False)
    # The CLI fits its text to $COLUMNS when set (commands/inventory.py), and pytest-xdist's
    # workers run with COLUMNS and LINES set (80x24 when pytest has no terminal): a test gets
    # what a pipe gets, in either lane, unless it sets a width itself.
    monkeypatch.delenv("COLUMNS", raising=False)
    monkeypatch.delenv("LINES", raising=False)
    monkeypatch.setenv("DCCD_TUI_DEMO_DIR", str(tmp_path / "demo"))
    # The per-user state file (theme, user_state.py): a developer's own must never leak in.
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    from dccd_tui.user_state import reset_reported

    reset_reported()


@pytest.fixture
def sandbox_budgets() -> dict[str, float]:
    """The sandbox's budgets; a test module overrides this fixture to change them."""
    return FAST


@pytest.fixture
def sandbox(sandbox_budgets):
    """The sandbox exchange (all five APIs) on loopback, seed 7, its clock pinned to
    PINNED_NOW (tests/helpers.py), stopped after the test."""
    settings = SandboxSettings(
        seed=7, budgets=sandbox_budgets, now_ms=PINNED_NOW, kraken_burst=KRAKEN_BURST
    )
    with Sandbox(settings) as sb:
        yield sb


@pytest.fixture
def engines():
    """Engine processes a test starts (tests/engine_helpers.py); killed after it, whatever
    happened."""
    from .engine_helpers import Engines

    e = Engines()
    yield e
    e.stop_all()


@pytest.fixture(autouse=True)
def _no_engine_errors():
    """Fail any test that leaves an engine error behind (dccd_tui/engine/incidents.py): the
    engine survives some (the archive phase hands the range to REST), so nothing else would
    fail. A test that causes one on purpose takes it (`take_engine_errors`) and checks it."""
    from dccd_tui.engine.incidents import take_engine_errors

    take_engine_errors()
    yield
    left = take_engine_errors()
    assert not left, f"engine errors: {left}"
