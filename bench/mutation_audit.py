"""A mutation audit of the archive, store, daemon and link code: planted bugs, one at a time.

Why it exists: issue 18 (item 7) found that the suite caught 9 of 20 bugs planted by hand in
recent code. This script makes such an audit repeatable: `MUTANTS` lists bugs a person could
write (an off-by-one at a bound, an inverted condition, a dropped fsync, a missing check, a
lost handler, a skipped cleanup), each as an exact snippet of a file under dccd_tui/ and its
replacement, with the few tests that exercise that code. For each one the script plants the
bug in a copy of the repository and runs those tests there; a mutant is *caught* when they fail
(or hang: "timeout", caught too), *missed* when they pass.

How it runs:
- The repository's dccd_tui/, tests/, pyproject.toml, config.toml and themes/ are copied once
  into a temporary folder; each mutant patches one file there, runs
  ``python -m pytest -x -q -p no:cacheprovider -m "not serial" <tests>`` with the copy as the
  working folder and first on PYTHONPATH, then restores the file. Engines that tests spawn
  (``python -m dccd_tui.daemon``, dccd_tui/link/spawn.py) import the copy too: the mutant
  `daemon-sigterm-handler` lives in code only a spawned engine runs. The real tree is never
  written.
- A mutant whose snippet is not found exactly once in the real tree is reported "stale" (the
  code moved on: update the list) and not run. A mutant judged equivalent (no behaviour
  changes) says why, is still run, and is left out of the score.
- Serial tests (wall time, latency: ``-m serial``) are never run here.
- A caught mutant's first failing test is run once more without the mutant: it must pass
  there, else the machine (its load, another run's files) failed it, not the bug, and the
  mutant is reported "flaky" and left out of the score (`--no-confirm` skips this).
- Score: caught (timeouts included) / (mutants run - equivalent - flaky).

    python bench/mutation_audit.py                 # every mutant, ~15-20 min on 2 loaded cores
    python bench/mutation_audit.py --list          # the mutants and their tests, nothing run
    python bench/mutation_audit.py --only store-fsync-file,link-pid-file-socket
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPIED = ("dccd_tui", "tests", "themes", "pyproject.toml", "config.toml")
TIMEOUT = 150.0  # seconds per mutant: a hang counts as caught ("timeout")

# Test files and node ids, shortened.
TA = "tests/engine/test_archive.py"
TC = "tests/engine/test_archive_checks.py"
TS = "tests/store/test_storage.py"
TP = "tests/store/test_planted_bugs.py"
TB = "tests/store/test_files_behind_our_back.py"
TL = "tests/store/test_lock_edges.py"
DP = "tests/daemon/test_planted_bugs.py"
DE = "tests/daemon/test_engine_audit.py"
DX = "tests/daemon/test_engine_process.py"
DD = "tests/daemon/test_dispatch.py"
DS = "tests/daemon/test_slow_client.py"
DC = "tests/daemon/test_coverage_op.py"
LF = "tests/link/test_framing.py"
LD = "tests/link/test_framing_depth.py"
LM = "tests/link/test_messages.py"
LP = "tests/link/test_place.py"
# The tests written for what an earlier run of this audit found missed.
AA = "tests/engine/test_archive_audit.py"
SA = "tests/store/test_mutation_audit.py"
DA = "tests/daemon/test_mutation_audit.py"
LA = "tests/link/test_mutation_audit.py"


@dataclass(frozen=True)
class Mutant:
    id: str
    area: str  # archive, store, daemon, link; "sanity": a bug issue 18 lists as once missed
    file: str  # under dccd_tui/
    old: str  # occurs exactly once in the file
    new: str
    what: str
    tests: tuple[str, ...]
    equivalent: str = ""  # why the mutant changes no behaviour (left out of the score)


def m(id, area, file, old, new, what, *tests, equivalent=""):
    return Mutant(id, area, file, old, new, what, tuple(tests), equivalent)


ARCH = "dccd_tui/engine/archive/"
STORE = "dccd_tui/engine/store/"

MUTANTS: list[Mutant] = [
    # --- archive --------------------------------------------------------------------------------
    m(
        "archive-member-symbol-only",
        "archive",
        ARCH + "checks.py",
        "    if info.filename != want:",
        '    if info.filename.split("-")[0] != want.split("-")[0]:',
        "the member name is compared on its symbol only (interval and date unchecked)",
        f"{TC}::test_the_member_must_be_named_for_the_urls_symbol_interval_and_date",
        f"{TC}::test_another_pairs_file_is_refused_on_its_member_name",
    ),
    m(
        "archive-declared-size-at-cap",
        "archive",
        ARCH + "checks.py",
        "    if info.file_size > cap:",
        "    if info.file_size >= cap:",
        "a CSV declaring exactly its cap is refused (off by one)",
        f"{TC}::test_the_declared_size_is_checked_before_inflating_and_the_actual_one_while",
        f"{TC}::test_size_caps_follow_the_files_slots",
        f"{AA}::test_a_csv_of_exactly_its_cap_is_taken",
    ),
    m(
        "archive-inflate-trusts-declared",
        "archive",
        ARCH + "checks.py",
        "            if size > cap or size > info.file_size:",
        "            if size > cap:",
        "inflating stops at the cap only, not at the size the member declared",
        f"{TC}::test_the_declared_size_is_checked_before_inflating_and_the_actual_one_while",
        equivalent="zipfile never reads past a member's declared size (ZipExtFile keeps `_left`, "
        "then fails the CRC check)",
    ),
    m(
        "archive-slots-unit",
        "archive",
        ARCH + "checks.py",
        "    return (f.end - f.start) // (SPANS[interval] * 1000)",
        "    return (f.end - f.start) // SPANS[interval]",
        "a file's slots counted in seconds, not ms: every cap 1000x too big",
        f"{TC}::test_size_caps_follow_the_files_slots",
        f"{TC}::test_a_zip_bomb_is_refused_before_it_is_inflated",
    ),
    m(
        "archive-close-time-unit",
        "archive",
        ARCH + "csv_frame.py",
        "    _check_close(typed, span * 1000 * (1000 if us else 1), what, header)",
        "    _check_close(typed, span * 1000, what, header)",
        "close times of a microsecond file checked in milliseconds",
        f"{TA}::test_csv_header_and_time_unit_are_detected_per_file",
        f"{TC}::test_every_close_time_is_its_open_time_plus_the_span_in_the_files_unit",
    ),
    m(
        "archive-close-time-order-only",
        "archive",
        ARCH + "csv_frame.py",
        'pl.col("close_time") != pl.col("ts") + (span - 1)',
        'pl.col("close_time") < pl.col("ts")',
        "close times checked only to follow their open times (another interval passes)",
        f"{TC}::test_every_close_time_is_its_open_time_plus_the_span_in_the_files_unit",
        f"{TC}::test_a_file_of_another_interval_is_refused_on_its_close_times",
    ),
    m(
        "archive-row-inside-closed-both",
        "archive",
        ARCH + "csv_frame.py",
        'col("ts").is_between(start, end, closed="left")',
        'col("ts").is_between(start, end, closed="both")',
        "a row at the first slot after the file's range is accepted",
        f"{TA}::test_csv_checks_as_for_a_rest_page",
        f"{AA}::test_a_row_at_the_first_slot_after_the_file_is_outside_it",
    ),
    m(
        "archive-duplicate-rows",
        "archive",
        ARCH + "csv_frame.py",
        '    if frame["ts"].n_unique() != frame.height:',
        '    if frame["ts"].n_unique() > frame.height:',
        "duplicate open times in a file go unnoticed",
        f"{TA}::test_csv_checks_as_for_a_rest_page",
    ),
    m(
        "archive-checksum-file-name",
        "archive",
        ARCH + "download.py",
        "    if named != name:",
        "    if not named.endswith('.zip'):",
        "a .CHECKSUM naming another zip is accepted",
        f"{TA}::test_verify_zip_checks_hash_name_and_zip",
    ),
    m(
        "archive-timeout-as-verification",
        "archive",
        ARCH + "download.py",
        "        except httpx.TimeoutException as exc:\n            raise ArchiveUnreachable(",
        "        except httpx.TimeoutException as exc:\n            raise TransientError(",
        'a timeout of the archive host reported as "failed verification"',
        f"{TC}::test_archive_host_errors_are_named_as_such",
    ),
    m(
        "archive-status-only-5xx",
        "archive",
        ARCH + "download.py",
        "                if resp.status_code != 200:",
        "                if resp.status_code >= 500:",
        "a 403/429 answer's body is taken as the file (then fails as a bad zip, not a host error)",
        f"{TC}::test_archive_host_errors_are_named_as_such",
        f"{AA}::test_any_answer_but_200_and_404_is_the_hosts_failure",
    ),
    m(
        "archive-stream-cap-dropped",
        "archive",
        ARCH + "download.py",
        "                    if size > limit:",
        "                    if False:",
        "a body without Content-Length is read past its cap",
        f"{TC}::test_a_zip_bomb_as_a_daily_file_is_refused_on_its_download_size",
        f"{TC}::test_size_caps_follow_the_files_slots",
        f"{AA}::test_a_body_without_content_length_is_cut_at_its_cap",
    ),
    m(
        "archive-first-slot-hole",
        "archive",
        ARCH + "fast_path.py",
        "[pl.Series([start - span_ms], dtype=pl.Int64), ts,",
        "[pl.Series([start], dtype=pl.Int64), ts,",
        "a hole at a file's first slot is not asked of REST",
        f"{TC}::test_a_one_slot_hole_is_found_anywhere_in_a_file",
    ),
    m(
        "archive-hole-window-bound",
        "archive",
        ARCH + "fast_path.py",
        "        if out and b - out[-1].start <= window_ms:",
        "        if out and b - out[-1].start < window_ms:",
        "two holes that fill exactly one page are asked in two requests",
        f"{TA}::test_holes_close_together_share_one_rest_request_1h",
        f"{AA}::test_holes_that_fill_exactly_one_page_take_one_request",
    ),
    m(
        "archive-failed-hole-covered",
        "archive",
        ARCH + "fast_path.py",
        "    covered = _subtract([(item.file.start, item.file.end)], failed)",
        "    covered = [(item.file.start, item.file.end)]",
        "a hole whose REST check failed is recorded as covered (a gap for ever)",
        f"{TC}::test_a_file_short_by_one_slot_has_that_slot_asked_of_rest",
        f"{TA}::test_a_short_month_is_completed_by_rest_and_makes_no_false_gap",
        f"{AA}::test_a_hole_rest_could_not_answer_stays_missing",
    ),
    m(
        "archive-partial-day-as-file",
        "archive",
        ARCH + "layout.py",
        "        if t == day0 and day1 <= hi and day1 <= today:",
        "        if day1 <= hi and day1 <= today:",
        "a day partly outside the range is fetched as a whole daily file",
        f"{TA}::test_split_of_a_plan",
    ),
    m(
        "archive-budget-not-released",
        "archive",
        ARCH + "download.py",
        "        try:\n            return fn(*args)\n"
        "        finally:\n            self.budget.release()",
        "        return fn(*args)",
        "a finished download never gives its memory back",
        f"{TC}::test_files_in_flight_wait_for_the_memory_budget",
    ),
    m(
        "archive-budget-shrink-equal",
        "archive",
        ARCH + "budget.py",
        "        if amount >= held:\n            return",
        "        if amount > held:\n            return",
        "shrinking to exactly what is held gives back 0 bytes instead of returning",
        f"{TC}::test_the_memory_budget_waits_shrinks_and_cancels",
        equivalent="at amount == held it gives back held - amount = 0 and holds the same",
    ),
    # --- store ----------------------------------------------------------------------------------
    m(
        "store-merge-adjacent",
        "store",
        STORE + "ranges.py",
        "        if out and start <= out[-1][1]:",
        "        if out and start < out[-1][1]:",
        "adjacent covered ranges are kept apart",
        TS,
    ),
    m(
        "store-holes-bisect-left",
        "store",
        STORE + "ranges.py",
        "    i = bisect.bisect_right(coverage, start, key=lambda r: r[1])",
        "    i = bisect.bisect_left(coverage, start, key=lambda r: r[1])",
        "the holes' binary search starts at a range ending exactly at `start`",
        TS,
        equivalent="a range ending at `start` adds no hole and does not move `cur`",
    ),
    m(
        "store-gap-includes-candle",
        "store",
        STORE + "ranges.py",
        "            starts = (sub.gather(pos - 1) + span_ms).to_list()",
        "            starts = sub.gather(pos - 1).to_list()",
        "an inner gap starts at the candle before it, not the slot after",
        TS,
        TP,
    ),
    m(
        "store-failed-reasons-merged",
        "store",
        STORE + "ranges.py",
        "        if out and out[-1][2] == reason and s <= out[-1][1]:",
        "        if out and s <= out[-1][1]:",
        "adjacent failed windows lose their own reasons",
        TP,
    ),
    m(
        "store-fsync-file",
        "store",
        STORE + "files.py",
        "        fh.flush()\n        os.fsync(fh.fileno())",
        "        fh.flush()",
        "a new file is renamed into place without an fsync",
        TP,
    ),
    m(
        "store-fsync-folder",
        "store",
        STORE + "files.py",
        "        raise\n    try:\n        fsync_dir(path.parent)",
        "        raise\n    try:\n        pass",
        "the folder is not fsynced after the rename",
        TP,
    ),
    m(
        "store-temp-left-on-failure",
        "store",
        STORE + "files.py",
        "        try:\n            os.unlink(tmp)\n        except OSError:\n            pass",
        "        pass",
        "a failed write leaves its temp file behind",
        TS,
    ),
    m(
        "store-live-temp-removed",
        "store",
        STORE + "files.py",
        "        if pid == os.getpid() or _pid_alive(pid):",
        "        if pid == os.getpid():",
        "the temp file of another live writer is deleted",
        TP,
        TS,
    ),
    m(
        "store-duplicate-keeps-first",
        "store",
        STORE + "files.py",
        'frame.unique(subset="ts", keep="last", maintain_order=True)',
        'frame.unique(subset="ts", keep="first", maintain_order=True)',
        "of two rows of one ts in a frame the first is kept, not the last",
        TS,
    ),
    m(
        "store-same-ts-not-rewritten",
        "store",
        STORE + "series.py",
        "                if same.equals(part):\n                    return 0",
        "                return 0",
        "candles fetched again with new values are not written when every ts is stored",
        TS,
    ),
    m(
        "store-old-gaps-kept",
        "store",
        STORE + "series.py",
        "gaps_now = merge_ranges(subtract_ranges(old_gaps, ranges) + found)",
        "gaps_now = merge_ranges(old_gaps + found)",
        "a range written again keeps its old gaps though candles now fill them",
        TS,
        TP,
        SA,
    ),
    m(
        "store-failed-not-cleared",
        "store",
        STORE + "series.py",
        "failed_now.extend((a, b, reason) for a, b in holes(covered_now, s, e))",
        "failed_now.append((s, e, reason))",
        "failed windows stay failed once covered",
        TS,
    ),
    m(
        "store-resign-mtime-only",
        "store",
        STORE + "reconcile.py",
        "            if known is not None and (st.st_size, st.st_mtime_ns) == known[:2]:",
        "            if known is not None and st.st_mtime_ns == known[1]:",
        "a month file replaced with its old mtime kept (cp -p, rsync -t) is trusted unread",
        TB,
        TP,
        SA,
    ),
    m(
        "store-manifest-reversed-range",
        "store",
        STORE + "manifest.py",
        "            and all(map(is_int, item))\n            and item[0] < item[1]\n        ):\n"
        '            raise Unreadable(f"bad covered range {item!r}")',
        "            and all(map(is_int, item))\n        ):\n"
        '            raise Unreadable(f"bad covered range {item!r}")',
        "a manifest's covered range that ends before it starts is accepted",
        TS,
        TP,
    ),
    m(
        "store-lock-shared",
        "store",
        STORE + "lock.py",
        "        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)",
        "        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)",
        "the folder lock is taken shared: two processes hold it",
        TS,
    ),
    m(
        "store-lock-no-store-folder",
        "store",
        STORE + "lock.py",
        "        if real == data_path.resolve():",
        "        if real.is_dir():",
        "the resolved candles folder (shared by two data folders) is not locked",
        TL,
    ),
    m(
        "store-quarantine-one-counter",
        "store",
        STORE + "quarantine.py",
        "    while dest.exists():",
        "    if dest.exists():",
        "a third file moved aside in one second overwrites the second",
        TS,
    ),
    m(
        "store-escape-unchecked",
        "store",
        STORE + "folder.py",
        "        if not folder.resolve().is_relative_to(root):",
        "        if not folder.is_relative_to(root):",
        "a series folder is checked before symlinks are resolved",
        TS,
    ),
    # --- daemon ---------------------------------------------------------------------------------
    m(
        "daemon-sigterm-handler",
        "daemon",
        "dccd_tui/daemon/__main__.py",
        '    signal.signal(signal.SIGTERM, lambda *_: server.stop("it was sent SIGTERM"))\n',
        "",
        "SIGTERM kills the engine without its shutdown (code only a spawned engine runs)",
        f"{DE}::test_idle_exit_0_reaches_the_engine_and_sigterm_stops_it_cleanly",
    ),
    m(
        "daemon-any-uid",
        "daemon",
        "dccd_tui/daemon/server.py",
        "lambda uid: uid is None or uid == os.getuid()",
        "lambda uid: True",
        "the peer's uid is not checked",
        f"{DX}::test_a_peer_of_another_uid_is_refused_by_its_credentials",
        f"{DP}::test_the_peer_check_is_on_the_uid_not_the_gid",
    ),
    m(
        "daemon-socket-mode",
        "daemon",
        "dccd_tui/daemon/server.py",
        "        old = os.umask(0o177)  # the socket file is born 0600",
        "        old = os.umask(0o111)  # the socket file is born 0600",
        "the socket file is born 0666 (open to every user who can reach its folder)",
        f"{LP}::test_the_engine_writes_its_pid_and_socket_and_removes_them",
        f"{LP}::test_the_fallback_folder_is_made_private",
        f"{DA}::test_the_socket_is_born_private",
    ),
    m(
        "daemon-no-goodbye",
        "daemon",
        "dccd_tui/daemon/server.py",
        '            conn.send({"op": "bye", "reason": self.stop_reason})\n',
        "",
        "the clients are not told why the engine stopped",
        f"{DP}::test_a_handed_over_backfill_exits_1_when_the_engine_stops_under_it",
        f"{DE}::test_idle_exit_0_reaches_the_engine_and_sigterm_stops_it_cleanly",
        f"{DA}::test_a_client_is_told_why_the_engine_stopped",
    ),
    m(
        "daemon-folder-move-unseen",
        "daemon",
        "dccd_tui/daemon/server.py",
        "        if socket_id == self._socket_id and folder_id == self._folder_id:",
        "        if socket_id == self._socket_id:",
        "an engine whose data folder moves away runs on unseen",
        f"{DE}::test_an_engine_whose_data_folder_moves_away_stops_though_its_socket_stays",
    ),
    m(
        "daemon-pid-file-of-another",
        "daemon",
        "dccd_tui/daemon/server.py",
        "        if written is not None and written[0] == os.getpid():",
        "        if written is not None:",
        "an engine leaving removes the pid file of the engine that replaced it",
        f"{DE}::test_an_engine_leaving_removes_only_its_own_socket_and_pid_file",
    ),
    m(
        "daemon-no-hello-needed",
        "daemon",
        "dccd_tui/daemon/connection.py",
        "if not (isinstance(op, str) and op in WITHOUT_HELLO) and not self.hello:",
        "if not (isinstance(op, str) and op in WITHOUT_HELLO) and self.hello is None:",
        "requests are served before a hello",
        f"{LF}::test_only_hello_and_stop_are_heard_before_hello",
        f"{DP}::test_a_hello_of_another_protocol_leaves_the_connection_ungreeted",
    ),
    m(
        "daemon-send-bound",
        "daemon",
        "dccd_tui/daemon/connection.py",
        "        if queued > SEND_BOUND:",
        "        if queued > SEND_BOUND * 64:",
        "a client that asks and never reads may pile up 512 MiB in the engine",
        f"{DS}::test_a_client_that_takes_nothing_is_disconnected_and_the_others_go_on",
        f"{DS}::test_a_client_behind_gets_the_latest_rows_and_a_count_of_the_lines_it_missed",
        f"{DA}::test_a_client_that_asks_and_never_reads_is_let_go_past_the_send_bound",
    ),
    m(
        "daemon-skipped-count",
        "daemon",
        "dccd_tui/daemon/connection.py",
        "skipped[key] = new_seq - seq - min(len(lines), HISTORY_LINES)",
        "skipped[key] = new_seq - seq - len(lines)",
        "lines cut to HISTORY_LINES are not counted as skipped",
        f"{DS}::test_a_client_behind_gets_the_latest_rows_and_a_count_of_the_lines_it_missed",
    ),
    m(
        "daemon-rows-resent",
        "daemon",
        "dccd_tui/daemon/connection.py",
        "                rows[key] = row\n                self.sent[key] = row",
        "                rows[key] = row",
        "every update resends every row (nothing remembered as sent)",
        f"{DS}::test_a_client_behind_gets_the_latest_rows_and_a_count_of_the_lines_it_missed",
        f"{DE}::test_a_reload_that_removes_a_job_tells_a_subscriber",
        f"{DA}::test_an_update_carries_only_the_rows_that_changed",
    ),
    m(
        "daemon-log-first-lines",
        "daemon",
        "dccd_tui/daemon/ops.py",
        "lines[-req.limit :]",
        "lines[: req.limit]",
        "the log op answers the first lines, not the last",
        f"{DE}::test_the_log_op_answers_the_last_lines_and_status_counts_the_clients",
    ),
    m(
        "daemon-overrides-unchecked",
        "daemon",
        "dccd_tui/daemon/ops.py",
        '        self._known(overrides, "job in overrides")\n',
        "",
        "overrides naming unknown jobs are silently ignored",
        DD,
        f"{DA}::test_overrides_naming_no_job_are_refused",
    ),
    m(
        "daemon-reload-other-folder",
        "daemon",
        "dccd_tui/daemon/ops.py",
        "        if config.settings.data_path.resolve() != self.setup.place.data_path:",
        "        if False:",
        "a reload may move the engine to another data folder",
        f"{DX}::test_reload_through_the_engine_adds_jobs_and_refuses_a_broken_config",
        f"{DE}::test_a_reload_that_removes_a_job_tells_a_subscriber",
        f"{DA}::test_a_reload_that_moves_the_data_folder_is_refused",
    ),
    m(
        "daemon-readers-leak",
        "daemon",
        "dccd_tui/daemon/ops.py",
        "            finally:\n                with _waiting_lock:\n"
        "                    _waiting[0] -= 1",
        "            finally:\n                pass",
        "each store read keeps its waiting slot: after 16 the engine is busy for ever",
        DC,
        f"{DA}::test_store_reads_give_back_their_place_in_the_queue",
    ),
    m(
        "daemon-reload-keeps-removed-running",
        "daemon",
        "dccd_tui/daemon/ops.py",
        "        runner.cancel([k for k in runner.keys() if k not in keep])\n",
        "",
        "jobs a reload removes are not cancelled",
        f"{DE}::test_a_reload_that_removes_a_job_tells_a_subscriber",
        f"{DX}::test_reload_through_the_engine_adds_jobs_and_refuses_a_broken_config",
        equivalent="Runner.set_config cancels a job its new config removes itself "
        "(dccd_tui/engine/runner.py); the engine's runner is always a Runner",
    ),
    # --- link -----------------------------------------------------------------------------------
    m(
        "link-encode-at-limit",
        "link",
        "dccd_tui/link/framing.py",
        "    if len(data) > MAX_MESSAGE:",
        "    if len(data) >= MAX_MESSAGE:",
        "a message of exactly the limit is refused",
        f"{LF}::test_a_message_of_exactly_the_limit_travels_and_one_byte_more_is_refused",
    ),
    m(
        "link-reader-newline-uncounted",
        "link",
        "dccd_tui/link/framing.py",
        "            if len(line) + 1 > self.limit:",
        "            if len(line) > self.limit:",
        "the line reader lets a line one byte over the limit through",
        f"{LF}::test_the_line_reader_takes_a_line_of_exactly_its_limit_and_refuses_one_byte_more",
    ),
    m(
        "link-reader-tail-as-line",
        "link",
        "dccd_tui/link/framing.py",
        "                self._skipping = False\n                continue",
        "                self._skipping = False",
        "the tail of an oversized line is read as a message",
        f"{LF}::test_an_oversized_line_arriving_in_pieces_is_skipped_to_its_end",
    ),
    m(
        "link-depth-escaped-quote",
        "link",
        "dccd_tui/link/framing.py",
        """.replace(b'\\\\"', b"")""",
        "",
        "an escaped quote ends a string in the depth scan",
        LD,
    ),
    m(
        "link-depth-prefilter",
        "link",
        "dccd_tui/link/framing.py",
        '    if line.count(b"{") + line.count(b"[") <= MAX_DEPTH:',
        '    if line.count(b"{") + line.count(b"[") < MAX_DEPTH:',
        "a line of exactly MAX_DEPTH openers is scanned rather than passed",
        LD,
        equivalent="MAX_DEPTH openers nest at most MAX_DEPTH deep: the scan passes them too",
    ),
    m(
        "link-overrides-empty-range",
        "link",
        "dccd_tui/link/messages.py",
        "        if end is not None and end <= start:",
        "        if end is not None and end < start:",
        "an override whose end equals its start is taken",
        f"{LF}::test_the_request_shapes_hold_their_bounds",
        f"{LM}::test_a_malformed_request_is_refused_naming_its_field",
    ),
    m(
        "link-log-limit-floor",
        "link",
        "dccd_tui/link/messages.py",
        "        return cls(key, since, max(1, min(limit, MAX_LOG_LIMIT)))",
        "        return cls(key, since, min(limit, MAX_LOG_LIMIT))",
        "a log limit of 0 answers every line",
        f"{LF}::test_the_request_shapes_hold_their_bounds",
    ),
    m(
        "link-socket-path-at-limit",
        "link",
        "dccd_tui/link/place.py",
        "    if len(os.fsencode(sock)) > MAX_SOCKET_PATH:",
        "    if len(os.fsencode(sock)) >= MAX_SOCKET_PATH:",
        "a socket path of exactly the limit falls back",
        f"{LP}::test_a_socket_path_of_exactly_the_limit_stays_in_the_folder_and_a_byte_more_falls_back",
    ),
    m(
        "link-fallback-name-unresolved",
        "link",
        "dccd_tui/link/place.py",
        "        digest = hashlib.sha256(os.fsencode(data)).hexdigest()[:16]",
        "        digest = hashlib.sha256(os.fsencode(data_path)).hexdigest()[:16]",
        "the fallback socket is named by the data path as spelled, not resolved",
        f"{LP}::test_the_place_depends_on_the_data_folder_and_the_uid_only",
        f"{LA}::test_the_fallback_socket_is_named_by_the_resolved_folder",
    ),
    m(
        "link-folder-group-open",
        "link",
        "dccd_tui/link/place.py",
        "    if stat.S_IMODE(st.st_mode) & 0o077:",
        "    if stat.S_IMODE(st.st_mode) & 0o007:",
        "an engine folder open to its group is accepted",
        f"{LP}::test_a_fallback_folder_open_to_others_is_refused",
    ),
    m(
        "link-folder-link-followed",
        "link",
        "dccd_tui/link/place.py",
        "        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)",
        "        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)",
        "a symlink planted as the fallback folder is followed",
        f"{LP}::test_a_planted_symlink_as_the_fallback_folder_is_refused",
    ),
    m(
        "link-pid-file-socket",
        "link",
        "dccd_tui/link/place.py",
        "    sock = Path(lines[1]) if len(lines) > 1 and lines[1].strip() else None",
        "    sock = Path(lines[1]) if len(lines) > 2 and lines[1].strip() else None",
        "the socket named in the pid file is never read",
        f"{LP}::test_an_engine_listening_elsewhere_is_found_by_its_pid_file",
    ),
    m(
        "link-pid-reused",
        "link",
        "dccd_tui/link/spawn.py",
        "    if pid <= 0 or not pid_alive(pid) or not _is_dccd(pid):",
        "    if pid <= 0 or not pid_alive(pid):",
        "a pid file naming a pid reused by another program is taken for a live engine",
        f"{LP}::test_a_stale_pid_file_is_no_engine",
    ),
    m(
        "link-socket-owner-unchecked",
        "link",
        "dccd_tui/link/client.py",
        "        check_socket_owner(self.socket_path)\n",
        "",
        "the client connects to a socket made by another user",
        f"{DX}::test_a_peer_of_another_uid_is_refused_by_its_credentials",
        f"{LA}::test_a_socket_made_by_another_user_is_never_connected_to",
    ),
    m(
        "link-goodbye-unread",
        "link",
        "dccd_tui/link/client.py",
        '                    if message.get("op") == "bye":',
        '                    if message.get("op") == "goodbye":',
        "the engine's goodbye (why it stopped) is not read",
        f"{DP}::test_a_handed_over_backfill_exits_1_when_the_engine_stops_under_it",
        f"{DE}::test_idle_exit_0_reaches_the_engine_and_sigterm_stops_it_cleanly",
        f"{DA}::test_a_client_is_told_why_the_engine_stopped",
    ),
    m(
        "link-replace-busy-engine",
        "link",
        "dccd_tui/link/connect.py",
        '    if info.get("active"):',
        '    if info.get("active") and ask is None:',
        "an engine of another version with running jobs is replaced when the user says yes",
        f"{DX}::test_a_version_mismatch_is_explained_and_stop_still_works",
        f"{DX}::test_a_client_meeting_an_engine_of_another_version_says_so",
        LA,
    ),
    m(
        "link-folder-held-ignored",
        "link",
        "dccd_tui/link/spawn.py",
        "    while (holder := lock_holder(place.data_path)) is not None:",
        "    while (holder := lock_holder(place.data_path)) is not None and False:",
        "an engine is started on a folder another process holds",
        "tests/daemon/test_folder_held.py",
    ),
    # --- sanity: bugs issue 18 lists as once missed, tested since ---------------------------------
    m(
        "sanity-checksum-case",
        "sanity",
        ARCH + "download.py",
        "m.group(1).decode().lower()",
        "m.group(1).decode()",
        "an upper-case hex checksum is refused",
        f"{TC}::test_verify_zip_takes_an_upper_case_checksum",
    ),
    m(
        "sanity-bom-header",
        "sanity",
        ARCH + "csv_frame.py",
        '.removeprefix(b"\\xef\\xbb\\xbf")',
        "",
        "a BOM before a first row of numbers makes it a header (the row is lost)",
        f"{TC}::test_a_bom_before_a_first_row_of_numbers_is_not_a_header",
    ),
    m(
        "sanity-one-slot-hole",
        "sanity",
        ARCH + "fast_path.py",
        "    idx = (step > span_ms).arg_true()",
        "    idx = (step > 2 * span_ms).arg_true()",
        "a file short by one slot has no hole asked of REST",
        f"{TC}::test_a_one_slot_hole_is_found_anywhere_in_a_file",
    ),
    m(
        "sanity-peer-gid",
        "sanity",
        "dccd_tui/daemon/server.py",
        "    return uid\n",
        "    return _gid\n",
        "the peer check reads the gid",
        f"{DP}::test_the_peer_check_is_on_the_uid_not_the_gid",
    ),
    m(
        "sanity-hello-greets",
        "sanity",
        "dccd_tui/daemon/ops.py",
        "        info = self.info().to_wire()\n        if req.protocol != PROTOCOL_VERSION:",
        "        info = self.info().to_wire()\n        conn.hello = True\n"
        "        if req.protocol != PROTOCOL_VERSION:",
        "a hello of another protocol still greets the connection",
        f"{DP}::test_a_hello_of_another_protocol_leaves_the_connection_ungreeted",
    ),
]


# --- running ------------------------------------------------------------------------------------


def stale(mutant: Mutant) -> str:
    """Why the mutant cannot be planted in the real tree ("" when it can)."""
    path = ROOT / mutant.file
    if not path.is_file():
        return f"{mutant.file} does not exist"
    count = path.read_text(encoding="utf-8").count(mutant.old)
    return "" if count == 1 else f"its snippet occurs {count} times in {mutant.file}"


def make_copy() -> Path:
    work = Path(tempfile.mkdtemp(prefix="dccd-mutation-"))
    skip = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
    for name in COPIED:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, work / name, ignore=skip)
        elif src.exists():
            shutil.copy2(src, work / name)
    return work


def child_env(work: Path) -> dict[str, str]:
    env = dict(os.environ)
    for name in ("NO_COLOR", "TEXTUAL_THEME", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER"):
        env.pop(name, None)
    env["PYTHONPATH"] = str(work)
    env["PYTHONDONTWRITEBYTECODE"] = "1"  # a stale .pyc of the same size and second never wins
    return env


def pytest_cmd(tests: tuple[str, ...], workers: int = 0) -> list[str]:
    cmd = [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider"]
    cmd += ["-m", "not serial"]
    if workers:
        cmd += ["-n", str(workers)]
    return cmd + list(tests)


def run_tests(work: Path, tests: tuple[str, ...], timeout: float, workers: int = 0):
    """(outcome, seconds, last lines): "passed", "failed", "timeout" or "error <rc>"."""
    t0 = time.monotonic()
    proc = subprocess.Popen(
        pytest_cmd(tests, workers),
        cwd=work,
        env=child_env(work),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,  # the tests' own children go with it on a timeout
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
        out, _ = proc.communicate()
        return "timeout", time.monotonic() - t0, out.decode("utf-8", "replace")
    took = time.monotonic() - t0
    text = out.decode("utf-8", "replace")
    outcome = {0: "passed", 1: "failed"}.get(proc.returncode, f"error {proc.returncode}")
    return outcome, took, text


def failed_tests(text: str) -> list[str]:
    """The node ids of the tests pytest's summary says failed (or errored)."""
    out = []
    for line in text.splitlines():
        if line.startswith(("FAILED ", "ERROR ")):
            out.append(line.split(" ", 1)[1].split(" - ", 1)[0].strip())
    return out


def check_import(work: Path) -> None:
    """The copy, not the tree (nor the editable install), is what `import dccd_tui` finds."""
    out = subprocess.run(
        [sys.executable, "-c", "import dccd_tui; print(dccd_tui.__file__)"],
        cwd=work,
        env=child_env(work),
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    if not Path(out).resolve().is_relative_to(work.resolve()):
        raise SystemExit(f"the copy is not what python imports: {out}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--only", default="", help="comma-separated mutant ids")
    p.add_argument("--list", action="store_true", help="list the mutants, run nothing")
    p.add_argument(
        "--tests",
        default="",
        help="comma-separated test paths run for every chosen mutant instead of its own "
        "(to check that one test catches a mutant)",
    )
    p.add_argument("--timeout", type=float, default=TIMEOUT, help="seconds per mutant")
    p.add_argument(
        "--baseline",
        action="store_true",
        help="first run every selected test unmutated (they must pass)",
    )
    p.add_argument(
        "--baseline-only", action="store_true", help="run the baseline (unmutated) and stop"
    )
    p.add_argument(
        "--no-confirm",
        dest="confirm",
        action="store_false",
        help="do not re-run a caught mutant's failing test unmutated (it must pass there)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="print the tail of each run")
    args = p.parse_args(argv)

    ids = [i for i in args.only.split(",") if i]
    known = {mu.id for mu in MUTANTS}
    if len(known) != len(MUTANTS):
        raise SystemExit("two mutants share an id")
    unknown = [i for i in ids if i not in known]
    if unknown:
        raise SystemExit(f"unknown mutant ids: {', '.join(unknown)}")
    chosen = [mu for mu in MUTANTS if not ids or mu.id in ids]

    if args.list:
        for mu in chosen:
            eq = f"  [equivalent: {mu.equivalent}]" if mu.equivalent else ""
            why = stale(mu)
            flag = f"  [STALE: {why}]" if why else ""
            print(f"{mu.id:38} {mu.area:8} {mu.file}{flag}\n    {mu.what}{eq}")
            for t in mu.tests:
                print(f"      {t}")
        areas: dict[str, int] = {}
        for mu in chosen:
            areas[mu.area] = areas.get(mu.area, 0) + 1
        print(f"{len(chosen)} mutants: " + ", ".join(f"{a} {n}" for a, n in areas.items()))
        return 0

    t_start = time.monotonic()
    work = make_copy()
    results: list[tuple[Mutant, str, float]] = []
    try:
        check_import(work)
        if args.baseline or args.baseline_only:
            union = tuple(t for t in args.tests.split(",") if t) or tuple(
                dict.fromkeys(t for mu in chosen for t in mu.tests)
            )
            outcome, took, text = run_tests(work, union, args.timeout * 4, workers=2)
            print(f"baseline (unmutated, {len(union)} selections, -n 2): {outcome} in {took:.0f} s")
            if outcome != "passed":
                print(text[-3000:])
                return 2
            if args.baseline_only:
                return 0
        for n, mu in enumerate(chosen, 1):
            why = stale(mu)
            if why:
                results.append((mu, "stale", 0.0))
                print(f"[{n}/{len(chosen)}] {mu.id}: stale ({why})", flush=True)
                continue
            target = work / mu.file
            original = target.read_text(encoding="utf-8")
            target.write_text(original.replace(mu.old, mu.new, 1), encoding="utf-8")
            try:
                tests = tuple(t for t in args.tests.split(",") if t) or mu.tests
                outcome, took, text = run_tests(work, tests, args.timeout)
            finally:
                target.write_text(original, encoding="utf-8")
            verdict = {"failed": "caught", "passed": "missed", "timeout": "timeout"}.get(
                outcome, outcome
            )
            failing = failed_tests(text)
            if verdict == "caught" and args.confirm and failing:
                # The test that failed must pass without the mutant: else the machine (load,
                # another run's files) failed it, not the bug, and nothing was caught.
                again, _, _ = run_tests(work, tuple(failing[:1]), args.timeout)
                if again != "passed":
                    verdict = "flaky"
                    text += f"\n{failing[0]} fails without the mutant too ({again})"
            results.append((mu, verdict, took))
            print(f"[{n}/{len(chosen)}] {mu.id}: {verdict} ({took:.0f} s)", flush=True)
            if failing and verdict != "missed":
                print(f"    failed: {failing[0]}")
            if args.verbose or verdict.startswith("error") or verdict == "flaky":
                print("    " + "\n    ".join(text.strip().splitlines()[-6:]))
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print()
    print(f"{'id':38} {'area':8} {'file':34} {'result':8} description")
    for mu, verdict, _took in results:
        shown = f"{verdict} (equivalent)" if mu.equivalent else verdict
        short = mu.file.removeprefix("dccd_tui/")
        print(f"{mu.id:38} {mu.area:8} {short:34} {shown:8} {mu.what}")
    scored = [(mu, v) for mu, v, _ in results if not mu.equivalent and v != "stale"]
    errors = [mu.id for mu, v in scored if v.startswith("error") or v == "flaky"]
    scored = [(mu, v) for mu, v in scored if not (v.startswith("error") or v == "flaky")]
    caught = sum(v in ("caught", "timeout") for _, v in scored)
    print()
    for area in ("archive", "store", "daemon", "link", "sanity"):
        got = [v for mu, v in scored if mu.area == area]
        if got:
            ok = sum(v in ("caught", "timeout") for v in got)
            print(f"  {area:8} {ok}/{len(got)}")
    n_eq = sum(1 for mu, _, _ in results if mu.equivalent)
    n_stale = sum(1 for _, v, _ in results if v == "stale")
    score = caught / len(scored) if scored else 0.0
    print(
        f"score: {caught}/{len(scored)} caught = {score:.0%} "
        f"({n_eq} equivalent and {n_stale} stale left out"
        + (f"; errors or flaky, left out: {', '.join(errors)}" if errors else "")
        + f"); {time.monotonic() - t_start:.0f} s"
    )
    missed = [mu.id for mu, v in scored if v == "missed"]
    if missed:
        print("missed: " + ", ".join(missed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
