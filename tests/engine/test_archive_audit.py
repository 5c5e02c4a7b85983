"""Tests for the bugs bench/mutation_audit.py planted in dccd_tui/engine/archive and the suite
missed (issue 18, item 7). Each names the mutant it catches.

The archive host's answers that the sandbox does not make (a 403, a 429, a body sent without a
Content-Length) come from a small real HTTP server on loopback, run by this module.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from dccd_tui.engine.archive.checks import RefusedFile
from dccd_tui.engine.archive.csv_frame import parse_archive_csv
from dccd_tui.engine.archive.download import ArchiveClient, ArchiveUnreachable, verify_zip
from dccd_tui.engine.archive.fast_path import hole_windows
from dccd_tui.engine.errors import TransientError
from dccd_tui.engine.models import Series, Window
from dccd_tui.sandbox import Sandbox, SandboxSettings

from ..helpers import ms, stored
from .test_archive import FAST, NOW, config_for, run
from .test_archive_checks import DEC, NAME, ROW, _sum, _zip

ROWS = b"1733011200000,1,1,1,1,1,1733011259999,1,1,1,1,0\n" * 2_000  # 96,000 bytes


class _Host(BaseHTTPRequestHandler):
    """/403, /429: those statuses; /unsized: 300,000 bytes with no Content-Length (the end of
    the body is the end of the connection, as HTTP/1.0 allows)."""

    def do_GET(self) -> None:  # noqa: N802 - the name http.server calls
        if self.path in ("/403", "/429"):
            body = b"Forbidden" if self.path == "/403" else b"Too Many Requests"
            self.send_response(int(self.path[1:]))
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        self.send_response(200)
        self.end_headers()
        for _ in range(30):
            self.wfile.write(b"x" * 10_000)

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def host() -> Iterator[ArchiveClient]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Host)
    # a short poll: shutdown() waits for one (0.5 s by default)
    serving = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    serving.start()
    client = ArchiveClient(f"http://127.0.0.1:{server.server_address[1]}", parallel=1, timeout=5)
    yield client
    client.close()
    server.shutdown()
    server.server_close()


def test_a_csv_of_exactly_its_cap_is_taken():
    """`archive-declared-size-at-cap`: the cap is the most such a file can hold, so a CSV of
    exactly that many bytes is a file that can be, and is taken; one byte more is refused."""
    body = _zip("BTCUSDT-1m-2024-12.csv", ROWS)
    assert verify_zip(body, _sum(body, NAME), NAME, len(ROWS)) == ROWS
    with pytest.raises(RefusedFile, match="declares 96,000 bytes"):
        verify_zip(body, _sum(body, NAME), NAME, len(ROWS) - 1)


@pytest.mark.parametrize("status", [403, 429])
def test_any_answer_but_200_and_404_is_the_hosts_failure(host, status):
    """`archive-status-only-5xx`: a 403 or a 429 is the host refusing, not a file: its error
    page is never taken as the zip (which then "failed verification")."""
    with pytest.raises(ArchiveUnreachable, match=f"HTTP {status} on /{status}"):
        host.get(f"/{status}", 1_000_000)


def test_a_body_without_content_length_is_cut_at_its_cap(host):
    """`archive-stream-cap-dropped`: with no Content-Length to refuse it on, a body is counted
    as it arrives and refused past the cap, not read whole."""
    with pytest.raises(RefusedFile, match="more than 100,000 bytes") as err:
        host.get("/unsized", 100_000)
    assert err.value.reason == "size cap"
    assert len(host.get("/unsized", 300_000) or b"") == 300_000  # at its cap: taken


def test_holes_that_fill_exactly_one_page_take_one_request():
    """`archive-hole-window-bound`: two holes spanning exactly one page's worth of slots are
    checked by one request (a page answers every slot between them too)."""
    page = 1000 * 60_000
    assert hole_windows([(0, 60_000), (page - 60_000, page)], page) == [Window(0, page)]
    assert hole_windows([(0, 60_000), (page, page + 60_000)], page) == [
        Window(0, 60_000),
        Window(page, page + 60_000),
    ]


def test_a_row_at_the_first_slot_after_the_file_is_outside_it():
    """`archive-row-inside-closed-both`: a file covers ``[start, end)``; a row opening at `end`
    (the next day's first minute) belongs to another file and makes this one untrusted."""
    lo = ms("2024-12-02")
    hi = lo + 86_400_000
    rows = [(lo, lo + 59_999), (hi - 60_000, hi - 1)]
    ok = "".join(ROW.format(t=t, c=c) for t, c in rows)
    assert parse_archive_csv(ok.encode(), 60, lo, hi, "f").height == 2
    past = ok + ROW.format(t=hi, c=hi + 59_999)
    with pytest.raises(TransientError, match="row 3 has an open time outside"):
        parse_archive_csv(past.encode(), 60, lo, hi, "f")


@pytest.fixture
def sb():
    with Sandbox(SandboxSettings(seed=7, budgets=FAST, now_ms=NOW)) as sandbox:
        yield sandbox


def test_a_hole_rest_could_not_answer_stays_missing(tmp_path, sb):
    """`archive-failed-hole-covered`: a file short by one slot, and REST failing: the page that
    checks the file's holes (the slot and the exchange's own gaps, in one page of 1h candles)
    failed, so its window stays missing (the next run fetches it) and no gap is recorded on
    the file's word alone; the file's candles are stored."""
    sb.archive.add_fault("short_one", "2024-12")
    sb.faults.add("binance", "http_500", rate=1.0)
    job = {"max_retries": 0, "span": "1h"}
    runner = run(config_for(tmp_path, sb, start=DEC[0], end=DEC[1], job_extra=job))
    series = runner.store.series(Series("binance", "BTC/USDT", 3600))
    lo, hi = map(ms, DEC)
    one = (ms("2024-12-02 06:00"), ms("2024-12-02 07:00"))
    found = sorted([one, *sb.gaps("binance", "BTC/USDT", 3600, lo, hi)])
    assert len(found) > 2
    assert series.missing_intervals(lo, hi) == [(found[0][0], found[-1][1])]
    assert series.gaps() == []
    truth = sb.ground_truth("binance", "BTC/USDT", 3600, lo, hi)
    assert stored(tmp_path / "data").height == truth.height - 1
