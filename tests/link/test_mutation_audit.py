"""Tests for the bugs bench/mutation_audit.py planted in dccd_tui/link and the suite missed
(issue 18, item 7). Each names the mutant it catches.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from dccd_tui.link.connect import replace_old_engine
from dccd_tui.link.errors import LinkError, VersionMismatch
from dccd_tui.link.place import engine_place


def test_an_engine_of_another_version_running_jobs_is_never_replaced(tmp_path: Path):
    """`link-replace-busy-engine`: an engine of another version that runs jobs is left alone
    whatever the user would answer: the question is not even asked (its jobs would be
    cancelled), and the error says to let them finish."""
    asked: list[str] = []

    def ask(question: str) -> bool:
        asked.append(question)
        return True

    info = {"pid": 1, "engine": "0.0.1", "protocol": 1, "active": 2}
    with pytest.raises(LinkError, match="running 2 jobs: let them finish"):
        replace_old_engine(VersionMismatch("mismatch", info), engine_place(tmp_path), ask)
    assert asked == []
