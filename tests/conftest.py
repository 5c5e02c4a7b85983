"""Shared fixtures: a clean environment for Textual, and a sandbox exchange on loopback."""

from __future__ import annotations

import os

import pytest

# Snapshots change under NO_COLOR or TEXTUAL_THEME (textual-notes.md): remove them before any
# App is constructed, whatever the developer's shell has.
os.environ.pop("NO_COLOR", None)
os.environ.pop("TEXTUAL_THEME", None)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch, tmp_path):
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.delenv("TEXTUAL_THEME", raising=False)
    monkeypatch.setenv("DCCD_TUI_DEMO_DIR", str(tmp_path / "demo"))
    # The per-user state file (theme, user_state.py): a developer's own must never leak in.
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / "state"))
    from dccd_tui.user_state import reset_reported

    reset_reported()
