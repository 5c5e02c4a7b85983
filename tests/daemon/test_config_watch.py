"""Every attached client sees config changes (issue 19, item 3): the engine follows config.toml
with `r`'s checks and tells every client in one line.

On main a second client never saw a row added in the first until it pressed `r`, and a file
edited by hand was not noticed at all: the engine had no watch and pushed no `config` event
(these tests fail there at the import of dccd_tui.daemon.config_watch).
"""

from __future__ import annotations

import copy
import queue

import pytest

from dccd_tui.config import load_config, save_config
from dccd_tui.daemon.config_watch import SETTLE, ConfigWatch
from dccd_tui.engine.models import Series
from dccd_tui.engine.runner import Runner
from dccd_tui.link.messages import Start
from dccd_tui.sandbox import Sandbox, SandboxSettings

from ..helpers import FAST, PINNED_NOW, make_config

BTC = Series("bybit", "BTC/USDT", 3600)
ETH = Series("bybit", "ETH/USDT", 3600)
SOL = Series("bybit", "SOL/USDT", 3600)
JOB = {"exchange": "bybit", "pairs": ["BTC/USDT"], "span": "1h", "start": "2024-01-01",
       "end": "2024-01-02"}  # fmt: skip


def with_pairs(config, *pairs):
    raw = copy.deepcopy(config.raw)
    raw["histo_jobs"][0]["pairs"] = list(pairs)
    return raw


def listen(runner):
    events = queue.Queue()
    runner.on_config = events.put
    return events


def test_a_file_edited_by_hand_reaches_every_client(tmp_path, sandbox, engines):
    config = make_config(tmp_path, sandbox, [JOB], rps=FAST)
    place = engines.serve(config)
    first, second = engines.runner(place, config), engines.runner(place, config)
    heard = [listen(first), listen(second)]
    config.path.write_text(
        config.path.read_text().replace('["BTC/USDT"]', '["BTC/USDT", "ETH/USDT", "SOL/USDT"]')
    )
    for events in heard:
        event = events.get(timeout=20)
        assert event.reloaded and event.text == "config.toml reloaded: 2 series added, 0 removed"
        assert event.added == [ETH.key, SOL.key]
    # a client follows by reading the file (what the app does: engine_watch.config_changed)
    second.follow_config(load_config(config.path))
    assert second.keys() == [BTC.key, ETH.key, SOL.key]
    # a broken file: the last good config stays, every client is told why, once
    config.path.write_text(config.path.read_text().replace('span = "1h"', 'span = "7x"'))
    for events in heard:
        event = events.get(timeout=20)
        assert not event.reloaded
        assert event.text.startswith("config.toml changed but was not reloaded: config.toml:")
        assert event.text.endswith("the last good config stays in use")
    status = engines.client(place).request("status")
    assert sorted(status["jobs"]) == sorted([BTC.key, ETH.key, SOL.key])
    # a changed data_path is refused
    save_config(
        config.path, {**config.raw, "settings": {**config.raw["settings"], "data_path": "x"}}
    )
    event = heard[0].get(timeout=20)
    assert not event.reloaded and "its data_path changed" in event.text
    for runner in (first, second):
        runner.close()


def test_a_clients_reload_reaches_the_others_only(tmp_path, sandbox, engines):
    config = make_config(tmp_path, sandbox, [JOB], rps=FAST)
    place = engines.serve(config)
    saver, other = engines.runner(place, config), engines.runner(place, config)
    mine, theirs = listen(saver), listen(other)
    new = save_config(config.path, with_pairs(config, "ETH/USDT"))  # a form save: file + reload
    assert saver.set_config(new) == ([ETH.key], [BTC.key])
    event = theirs.get(timeout=20)
    assert event.reloaded and event.text == "config.toml reloaded: 1 series added, 1 removed"
    assert (event.added, event.removed) == ([ETH.key], [BTC.key])
    # the engine's watch sees the same content it runs: no second word to anyone. The next
    # word each client hears is about the next change (a hand edit), not that save again.
    save_config(config.path, with_pairs(config, "ETH/USDT", "SOL/USDT"))
    for events in (mine, theirs):
        event = events.get(timeout=20)
        assert event.text == "config.toml reloaded: 1 series added, 0 removed"
        assert event.added == [SOL.key]
    assert mine.empty() and theirs.empty()
    saver.close()
    other.close()


@pytest.fixture
def slow_sandbox():
    """Answers of 1.5 s: the job runs for some seconds, past the watch's settling time (the
    test cancels it once it has its answer)."""
    with Sandbox(SandboxSettings(seed=7, budgets=FAST, now_ms=PINNED_NOW, latency=1.5)) as sb:
        yield sb


def test_a_file_that_removes_a_running_job_asks_for_r(tmp_path, slow_sandbox, engines):
    jobs = [{**JOB, "pairs": ["BTC/USDT", "ETH/USDT"], "span": "1m", "end": "2024-01-11"}]
    config = make_config(tmp_path, slow_sandbox, jobs, rps=FAST)
    place = engines.serve(config)
    runner = engines.runner(place, config)
    events = listen(runner)
    key = Series("bybit", "BTC/USDT", 60).key
    client = engines.client(place)
    assert client.call(Start((key,), {}), lambda r: r["started"]) == [key]
    save_config(config.path, with_pairs(config, "ETH/USDT"))
    event = events.get(timeout=20)
    assert not event.reloaded
    assert event.text == (
        "config.toml changed: it no longer has 1 running job (bybit BTC/USDT 1m); press r to "
        "reload (it asks before cancelling them)"
    )
    assert client.request("status")["jobs"][key]["status"] in ("queued", "running")
    client.request("cancel", keys=None)
    client.close()
    runner.close()


def test_a_half_written_file_is_read_once_it_settles(tmp_path, sandbox):
    config = make_config(tmp_path, sandbox, [JOB], rps=FAST)
    runner = Runner(config, now=PINNED_NOW)
    told: list[dict] = []
    now = [0.0]
    watch = ConfigWatch(
        runner,
        config.path,
        config.settings.data_path.resolve(),
        load_config=load_config,
        broadcast=lambda message, skip: told.append(message),
        clock=lambda: now[0],
    )
    full = config.path.read_text().replace('["BTC/USDT"]', '["BTC/USDT", "ETH/USDT"]')
    config.path.write_text(full[: len(full) // 2])  # an editor that writes in two pieces
    watch.poll()
    now[0] = SETTLE * 0.6
    config.path.write_text(full)
    watch.poll()
    now[0] = SETTLE * 1.2  # the half file would have settled by now, the whole one not yet
    watch.poll()
    assert told == []
    now[0] = SETTLE * 1.7
    watch.poll()
    assert [m["text"] for m in told] == ["config.toml reloaded: 1 series added, 0 removed"]
    assert runner.keys() == [BTC.key, ETH.key]
    now[0] = SETTLE * 5
    watch.poll()
    assert len(told) == 1  # taken once
    runner.close()
