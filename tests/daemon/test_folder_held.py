"""No second engine on a folder another process still holds (dccd_tui/link/spawn.py).

An engine whose socket is gone may still hold its data folder (stopping, or hung); so may a
headless `backfill`. Starting an engine there (the app's "Restart engine", `dccd-tui`) waits a
moment for the folder, then refuses, naming the pid that holds it, and starts nothing.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dccd_tui.config import save_config
from dccd_tui.link import spawn
from dccd_tui.link.errors import LinkError
from dccd_tui.link.place import engine_place

from ..engine_helpers import pid_alive

ROOT = Path(__file__).resolve().parents[2]
JOBS = [
    {"exchange": "binance", "pairs": ["BTC/USDT"], "span": "1m", "start": "2024-01-01"},
]
HOLDER = """
import sys, time
from pathlib import Path
from dccd_tui.engine.store import Store
lock = Store(Path(sys.argv[1])).lock()
print("locked", flush=True)
sys.stdin.readline()  # held until told (or until the test ends)
time.sleep(float(sys.argv[2]))
"""


def _hold(data: Path, linger: float = 0.0) -> subprocess.Popen[str]:
    """A process holding `data`'s lock until a line comes on its stdin (then `linger` s)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(data), str(linger)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert proc.stdout is not None and proc.stdout.readline().strip() == "locked"
    return proc


def _config(tmp_path: Path):
    return save_config(
        tmp_path / "config.toml", {"settings": {"data_path": "data"}, "histo_jobs": JOBS}
    )


def test_no_engine_is_started_on_a_folder_another_process_holds(tmp_path, engines, monkeypatch):
    config = _config(tmp_path)
    place = engine_place(config.settings.data_path)
    holder = _hold(place.data_path)
    monkeypatch.setattr(spawn, "FOLDER_WAIT", 0.5)
    try:
        with pytest.raises(LinkError) as info:
            spawn.attach(config.path, config.settings.data_path)
        text = str(info.value)
        assert f"in use by another dccd-tui (pid {holder.pid}, since " in text
        assert "no engine was started" in text
        # nothing was started: no engine wrote its log, and no engine answers
        assert not place.log_file.exists() or place.log_file.read_text() == ""
        assert not place.socket.exists()
    finally:
        holder.kill()
        holder.wait(10)
    # once the folder is free, an engine starts
    client, spawned = spawn.attach(config.path, config.settings.data_path)
    engines.places.append(place)
    assert client is not None and spawned
    assert pid_alive(engines.pid(place))
    client.close()


def test_an_engine_start_waits_for_a_folder_that_is_being_let_go(tmp_path, engines, monkeypatch):
    """The app's restart right after the old engine lost its socket, while it still flushes."""
    config = _config(tmp_path)
    place = engine_place(config.settings.data_path)
    holder = _hold(place.data_path, linger=0.5)
    monkeypatch.setattr(spawn, "FOLDER_WAIT", 15.0)
    try:
        assert holder.stdin is not None
        holder.stdin.write("go\n")  # it lets the folder go in 0.5 s
        holder.stdin.flush()
        client, spawned = spawn.attach(config.path, config.settings.data_path)
        engines.places.append(place)
        assert holder.poll() is not None  # the engine started after the holder ended
    finally:
        holder.kill()
        holder.wait(10)
    assert client is not None and spawned
    assert client.info["pid"] == engines.pid(place)
    client.close()
