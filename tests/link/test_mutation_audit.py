"""Tests for the bugs bench/mutation_audit.py planted in dccd_tui/link and the suite missed
(issue 18, item 7). Each names the mutant it catches.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

from dccd_tui.link.client import EngineClient
from dccd_tui.link.connect import replace_old_engine
from dccd_tui.link.errors import LinkError, VersionMismatch
from dccd_tui.link.place import SocketPlaceError, engine_place, fallback_dir


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


def test_the_fallback_socket_is_named_by_the_resolved_folder(tmp_path: Path, monkeypatch):
    """`link-fallback-name-unresolved`: a data folder too deep for its socket path, reached by
    a symbolic link or a relative path, has one socket: the one its resolved path names."""
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    link = tmp_path / "link"
    link.symlink_to(deep)
    monkeypatch.chdir(tmp_path)
    places = [engine_place(p) for p in (deep, link, Path("link"), deep / ".." / deep.name)]
    assert places[0].socket.parent == fallback_dir()
    assert {p.socket for p in places} == {places[0].socket}


def test_a_socket_made_by_another_user_is_never_connected_to(tmp_path: Path):
    """`link-socket-owner-unchecked`: the client checks who made the socket before it
    connects (the engine checks the peer; the client must not talk to a stranger either)."""
    folder = tmp_path / "sock"
    folder.mkdir(mode=0o700)
    path = folder / "engine.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        listener.bind(str(path))
        listener.listen(1)
        os.chown(path, 65534, 65534)
        with pytest.raises(SocketPlaceError, match="made by uid 65534"):
            EngineClient(path, timeout=2).connect()
    finally:
        listener.close()
