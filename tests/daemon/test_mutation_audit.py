"""Tests for the bugs bench/mutation_audit.py planted in dccd_tui/daemon and the suite missed
(issue 18, item 7). Each names the mutant it catches.

Real engines served by a thread of this process (tests/engine_helpers.py `engines.serve`, or an
`EngineServer` built here when a test needs its own `stall_limit`), real sockets and clients. No
job runs and no exchange is asked: the configs point at no sandbox.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
from pathlib import Path

import pytest

from dccd_tui.config import load_config, save_config
from dccd_tui.daemon.connection import SEND_BOUND
from dccd_tui.daemon.server import EngineServer
from dccd_tui.engine import Runner
from dccd_tui.link.errors import LinkError
from dccd_tui.link.messages import PROTOCOL_VERSION

from ..engine_helpers import wait_for

JOBS = [
    {
        "exchange": "binance",
        "pairs": ["BTC/USDT", "ETH/USDT"],
        "span": "1m",
        "start": "2024-01-01",
        "end": "2024-02-01",
    }
]


def _config(folder: Path, data: str = "data"):
    return save_config(
        folder / "config.toml", {"settings": {"data_path": data}, "histo_jobs": JOBS}
    )


def _server(engines) -> EngineServer:
    """The `EngineServer` of the last engine `engines.serve` started."""
    return engines.served[-1][0]


def test_store_reads_give_back_their_place_in_the_queue(tmp_path, engines):
    """`daemon-readers-leak`: at most 16 store reads wait at once, so each must leave the
    queue when answered; else the 17th read, and every one after, is refused as busy."""
    place = engines.serve(_config(tmp_path))
    client = engines.client(place)
    for _ in range(20):
        assert client.request("inventory")["ok"] is True
    client.close()


def test_an_update_carries_only_the_rows_that_changed(tmp_path, engines):
    """`daemon-rows-resent`: after the full first update, a push sends the rows that changed
    and no other; resending every row would cost each client every row at its rate."""
    place = engines.serve(_config(tmp_path))
    server = _server(engines)
    client = engines.client(place)
    updates: list[dict] = []
    client.on_update = updates.append
    client.request("subscribe", hz=0.2, history=0)
    assert wait_for(lambda: len(server._conns) == 1, 5)
    (conn,) = server._conns
    conn.push()
    conn.push()
    client.request("status")  # after every update queued before its reply
    with_rows = [u for u in updates if u["rows"]]
    assert len(with_rows) == 1 and len(with_rows[0]["rows"]) == 2
    key = next(iter(server.runner.states))
    server.runner.states[key].add_log("a line")  # its row changes (its log_seq), the other not
    conn.push()
    client.request("status")
    assert list(updates[-1]["rows"]) == [key] and updates[-1]["logs"][key][1][0].endswith("a line")
    client.close()


def test_a_reload_that_moves_the_data_folder_is_refused(tmp_path, engines):
    """`daemon-reload-other-folder`: an engine serves the folder it locked; a config.toml
    edited to point elsewhere is refused on reload, and the engine keeps its config."""
    config = _config(tmp_path)
    place = engines.serve(config)
    client = engines.client(place)
    _config(tmp_path, data="elsewhere")
    with pytest.raises(LinkError, match="its data_path changed"):
        client.request("reload")
    assert _server(engines).runner.config.settings.data_path == config.settings.data_path
    client.close()


def test_a_client_that_asks_and_never_reads_is_let_go_past_the_send_bound(tmp_path):
    """`daemon-send-bound`: the replies waiting for a client that never reads are bounded
    (`SEND_BOUND`): past it the client is disconnected at once, whatever the stall limit (an
    hour here), and the engine's memory does not grow with what it asks."""
    config = _config(tmp_path)
    server = EngineServer(Runner(config), config.path, load_config=load_config, stall_limit=3600)
    server.bind()
    serving = threading.Thread(target=server.serve_forever, name="engine", daemon=True)
    serving.start()
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(str(server.place.socket))
        sock.sendall(json.dumps({"op": "hello", "protocol": PROTOCOL_VERSION}).encode() + b"\n")
        assert wait_for(lambda: len(server._conns) == 1, 5)
        (conn,) = server._conns
        assert wait_for(lambda: conn.hello, 5)
        status = json.dumps({"op": "status"}).encode() + b"\n"
        one = len(json.dumps(server.ops.status(conn, None, 1)))  # a reply's size, about
        try:
            sock.sendall(status * (2 * SEND_BOUND // one))
        except (BrokenPipeError, ConnectionResetError):
            pass  # let go while it was still asking: what is awaited
        assert wait_for(lambda: conn.closed.is_set() and server.client_count() == 0, 30)
        assert conn.backlog() == 0
    finally:
        sock.close()
        server.stop()
        serving.join(10)


def test_the_socket_is_born_private(tmp_path, engines):
    """`daemon-socket-mode`: the socket file is 0600 from its birth (the folder is private
    too, but a socket in a folder made by hand, or a folder opened later, stays closed)."""
    place = engines.serve(_config(tmp_path))
    assert stat.S_IMODE(os.stat(place.socket).st_mode) == 0o600


def test_a_client_is_told_why_the_engine_stopped(tmp_path, engines):
    """`daemon-no-goodbye`: at a stop every client gets a goodbye saying why, which the app
    shows; without it a client can only say the connection closed."""
    place = engines.serve(_config(tmp_path))
    client = engines.client(place)
    _server(engines).stop("it was asked to, by this test")
    assert wait_for(lambda: client.gone is not None, 10)
    assert client.bye == client.gone == "it was asked to, by this test"
    client.close()


def test_overrides_naming_no_job_are_refused(tmp_path, engines):
    """`daemon-overrides-unchecked`: a `start` whose overrides name a job the engine does not
    have is refused, not run with the override silently dropped."""
    place = engines.serve(_config(tmp_path))
    client = engines.client(place)
    override = {"binance NOPE/USDT candles 1m": {"start": 0, "end": 60_000}}
    with pytest.raises(LinkError, match="^unknown job in overrides: binance NOPE/USDT candles 1m$"):
        client.request("start", keys=[], overrides=override)
    assert not any(_server(engines).runner.is_active(k) for k in _server(engines).runner.keys())
    client.close()
