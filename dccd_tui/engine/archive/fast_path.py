"""The archive phase of one Binance backfill: files first, holes asked of REST, then REST.

Why it exists: `Backfill.run` calls `run_archive` once, after the listing probe and before its
window loop. Whole ended months and days of the missing ranges are downloaded (on the archive
client's own bounded pool), verified and parsed in parallel and consumed in order. For each
file:

- a 404: the archive lacks it; its range stays missing and the window loop fetches it by REST;
- a file that fails verification or the REST page checks, after `max_retries` retries with
  backoff, or that the host did not deliver (an HTTP error, a timeout: said as such), or that
  is refused for not being what its URL says (`checks`: its size, member name or close times;
  not retried): nothing from it is stored; its range stays missing and goes to REST too;
- an unexpected error (a bug, MemoryError) is an engine error (`incidents`): logged, counted,
  and the file's range, or the rest of the phase if it struck outside a file, goes to REST;
  the job does not fail for it;
- otherwise every hole of the file (a slot without a row) is asked of REST, on the exchange's
  own fetch threads and rate gate. An archive file may be short (maintenance, a lost day), so
  its word alone never makes a gap: the store receives the file's candles plus whatever REST
  has in the holes, with the file's whole range as covered, and the store records as a gap
  only the slots that neither had. A hole whose REST request failed stays missing.

The window loop then re-plans from the store's coverage, so today, the partial days and
anything the archive did not deliver are fetched exactly as without the archive. The result is
the store a REST-only run would have built.

Futures (issue 20): the same phase serves the four candle kinds of Binance USD-M and COIN-M and
their funding events, each series from its own files (`sources.ArchiveSource`: files are known
by their full path, the four kinds sharing their names, and each file's rows are checked to be
of its kind: `csv_frame`). A funding series reads monthly files only; its holes are the
stretches where the interval the file states says an event is missing (`funding_csv`), and a
funding file makes no exchange gap (events are not on a grid).

The job is seen only through `BackfillPort` (port.py): its state, store, retries, fetch threads
and wake-ups, never backfill.py itself.
"""

from __future__ import annotations

from collections import deque
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from ..errors import Cancelled, PermanentError, StoreError, TransientError
from ..fmt import fmt_ms, fmt_plural, safe_text
from ..incidents import note_engine_error
from ..models import Window
from ..state import Status
from .checks import RefusedFile
from .csv_frame import parse_archive_csv
from .download import ArchiveClient, ArchiveUnreachable
from .funding_csv import funding_holes, parse_funding_csv
from .layout import ArchiveFile, split_missing
from .sources import ArchiveSource, source_for

if TYPE_CHECKING:
    import polars as pl

    from ..plan import Plan
    from .port import BackfillPort


def holes(frame: pl.DataFrame, start: int, end: int, span_ms: int) -> list[tuple[int, int]]:
    """The ``[a, b)`` runs of slots in ``[start, end)`` without a row in `frame` (sorted ts)."""
    import polars as pl

    if frame.height == 0:
        return [(start, end)] if end > start else []
    ts = frame["ts"].dt.epoch("ms")
    edges = pl.concat(
        [pl.Series([start - span_ms], dtype=pl.Int64), ts, pl.Series([end], dtype=pl.Int64)]
    )
    step = edges.diff().slice(1)
    idx = (step > span_ms).arg_true()
    return [(int(edges[i]) + span_ms, int(edges[i + 1])) for i in idx.to_list()]


def hole_windows(found: list[tuple[int, int]], window_ms: int) -> list[Window]:
    """REST windows that cover the holes: one page per hole, or one for several holes that
    fit in one page together (a page answers every slot between them too), a long hole cut
    into pages."""
    out: list[Window] = []
    for a, b in found:
        if out and b - out[-1].start <= window_ms:
            out[-1] = Window(out[-1].start, b)
            continue
        t = a
        while t < b:
            out.append(Window(t, min(b, t + window_ms)))
            t = out[-1].end
    return out


class _Done:
    """One file, downloaded and parsed (or not), waiting for the REST answers on its holes."""

    def __init__(self, f: ArchiveFile, frame, holes_: list, futures: list, size: int):
        self.file = f
        self.frame = frame
        self.holes = holes_
        self.futures = futures
        self.size = size


def run_archive(job: BackfillPort, plan: Plan, client: ArchiveClient) -> Plan | None:
    """Serve what the archive can of `plan`; return the re-made plan for the window loop, or
    None when the job ended here (cancelled, a permanent error, the store failed: the job's
    state says which)."""
    state = job.state
    source = source_for(job.adapter, job.series, job.symbol)
    if source is None:  # a kind or interval the archive does not serve: all of it by REST
        return plan
    split = split_missing(plan.missing, job.clock_ms(), daily=not source.funding)
    if not split.files:
        return plan
    n_month = sum(f.kind == "monthly" for f in split.files)
    state.set_total(len(split.files) + len(plan.windows))
    state.add_log(
        f"archive: {n_month} monthly and "
        f"{fmt_plural(len(split.files) - n_month, 'daily file')} "
        f"from {safe_text(client.base_url, 200)}, each checked against its "
        f"SHA-256; REST for the rest"
    )
    try:
        stats = _Stats()
        _Pipeline(job, split.files, client, source, stats).run()
    except Cancelled:
        job.abort()
        state.add_log(f"cancelled; {state.snapshot().candles:,} candles written are kept")
        state.set_status(Status.CANCELLED)
        return None
    except PermanentError as exc:
        job.abort()
        reason = safe_text(exc, 500)
        state.add_log(f"failed: {reason}")
        state.set_status(Status.FAILED, reason)
        return None
    except StoreError as exc:
        job.abort()
        reason = safe_text(exc, 500)
        state.add_log(f"failed: {reason}")
        state.set_status(Status.FAILED, reason)
        return None
    except Exception as exc:  # a bug, MemoryError: what the phase did not store goes to REST
        stats.errors += 1
        text = note_engine_error("the archive phase", exc)
        state.add_log(f"archive: {text}; what it did not store goes to REST")
    state.add_log(stats.summary())
    plan = job.replan()
    state.set_left(len(plan.windows))
    return plan


class _Stats:
    def __init__(self) -> None:
        self.stored = self.absent = self.failed = self.holes = self.hole_fail = 0
        self.unreachable = self.refused = self.errors = 0
        self.bytes = 0

    def summary(self) -> str:
        text = (
            f"archive: {fmt_plural(self.stored, 'file')} stored "
            f"({self.bytes / 1e6:,.1f} MB of zips), "
            f"{fmt_plural(self.holes, 'hole')} asked of REST"
        )
        if self.hole_fail:
            text += f" ({self.hole_fail} failed, fetched again below)"
        if self.absent:
            text += f"; {fmt_plural(self.absent, 'file')} not in the archive"
        if self.unreachable:
            text += f"; {fmt_plural(self.unreachable, 'file')} not downloaded (archive host error)"
        if self.failed:
            text += f"; {fmt_plural(self.failed, 'file')} failed verification, not stored"
        if self.refused:
            text += f"; {fmt_plural(self.refused, 'file')} refused, not what its URL says"
        if self.errors:
            text += f"; {fmt_plural(self.errors, 'engine error')}"
        if self.absent or self.failed or self.unreachable or self.refused or self.errors:
            text += ": their ranges go to REST"
        return text


def label(source: ArchiveSource, f: ArchiveFile) -> str:
    """How the log names a file: its name (spot), or its dataset and name (futures: the four
    candle kinds share their names, ``markPriceKlines/BTCUSDT-1m-2024-01.zip``)."""
    name = source.name(f)
    return f"{source.dataset}/{name}" if source.futures else name


def _download(job: BackfillPort, client: ArchiveClient, f: ArchiveFile, source: ArchiveSource):
    """Download, verify and parse one file (retried); None when the archive lacks it."""
    what = f"archive: {label(source, f)}"

    def attempt():
        got = client.fetch_csv(f, source, cancel=job.aborted)
        if got is None:
            return None
        csv, size = got
        if source.funding:
            frame = parse_funding_csv(csv, f.start, f.end, what)
        else:
            kind = source.kind if source.futures else None
            frame = parse_archive_csv(csv, source.span, f.start, f.end, what, kind)
        return frame, size

    return job.retrying(f"archive {label(source, f)}", attempt)


class _Pipeline:
    """Downloads run `2 * parallel` files ahead; files are stored in order once the REST
    answers on their holes are in.

    The REST checks of the holes share the exchange's rate budget and are what takes longest,
    so a downloaded file has its holes submitted before anything else is done, and the store
    writes run on a thread of their own (one at a time, in order): the rate gate stays busy
    from the first file to the last. At most `ahead` files wait for their holes, and two for
    the store, which bounds the memory.
    """

    def __init__(
        self,
        job: BackfillPort,
        files: list[ArchiveFile],
        client: ArchiveClient,
        source: ArchiveSource,
        stats: _Stats,
    ):
        self.job, self.files, self.client = job, files, client
        self.source, self.stats = source, stats
        self.span_ms = job.series.span * 1000
        self.ahead = max(2, 2 * client.parallel)
        self.downloads: deque = deque()
        self.finishing: deque[_Done] = deque()
        self.writes: deque = deque()
        self.idx = 0

    def top_up(self) -> None:
        while self.idx < len(self.files) and len(self.downloads) < self.ahead:
            f = self.files[self.idx]
            future = self.client.submit(_download, self.job, self.client, f, self.source)
            self.job.wake_on(future)
            self.downloads.append((f, future))
            self.idx += 1

    def collect_writes(self, block: bool) -> None:
        """Finished writes (all of them with `block`); a StoreError ends the job."""
        while self.writes and (block or self.writes[0].done()):
            self.writes.popleft().result()

    def run(self) -> None:
        writer = ThreadPoolExecutor(max_workers=1, thread_name_prefix="archive-write")
        try:
            self._loop(writer)
            self.collect_writes(True)
        finally:
            for w in self.writes:  # a write in progress ends (it is atomic) before the job
                w.exception()
            writer.shutdown(wait=True)

    def _loop(self, writer: ThreadPoolExecutor) -> None:
        job, downloads, finishing, writes = self.job, self.downloads, self.finishing, self.writes
        self.top_up()
        while downloads or finishing:
            if job.stop.is_set():
                raise Cancelled()
            self.collect_writes(False)
            # 1. every download that is in (in order), while few files wait for their holes
            moved = False
            while downloads and downloads[0][1].done() and len(finishing) < self.ahead:
                f, future = downloads.popleft()
                item = _received(job, f, future, self.source, self.span_ms, self.stats)
                if item is not None:
                    finishing.append(item)
                self.top_up()
                moved = True
            # 2. the oldest file whose holes are answered goes to the store
            if finishing and len(writes) < 2 and all(fut.done() for _, fut in finishing[0].futures):
                writes.append(writer.submit(_store, job, finishing.popleft(), self.stats))
                job.wake_on(writes[-1])
                continue
            if moved:
                continue
            # 3. nothing to do: wait for the next download, the oldest file's holes, a write
            waiting = [fut for _, fut in finishing[0].futures] if finishing else []
            if downloads and len(finishing) < self.ahead:
                waiting.append(downloads[0][1])
            if writes:
                waiting.append(writes[0])
            # Sleep until one of those still running ends (each wakes the job, as does a stop)
            job.wait_for_any(waiting)


def _received(
    job: BackfillPort,
    f: ArchiveFile,
    future,
    source: ArchiveSource,
    span_ms: int,
    stats: _Stats,
) -> _Done | None:
    """A finished download: log a file not used, or submit the REST checks of its holes."""
    from ..plan import window_ms_of

    name = label(source, f)
    try:
        got = future.result()
    except ArchiveUnreachable as exc:
        stats.unreachable += 1
        job.state.note_window(f.end)
        job.state.add_log(
            f"archive: {name} not downloaded: {safe_text(exc, 300)}; its range goes to REST"
        )
        return None
    except TransientError as exc:
        stats.failed += 1
        job.state.note_window(f.end)
        job.state.add_log(
            f"archive: {name} not stored: {safe_text(exc, 300)}; its range goes to REST"
        )
        return None
    except RefusedFile as exc:
        stats.refused += 1
        job.state.note_window(f.end)
        job.state.add_log(
            f"archive: {name} refused ({exc.reason}): {safe_text(exc, 300)}; its range goes to REST"
        )
        return None
    except (Cancelled, PermanentError, StoreError):
        raise
    except Exception as exc:  # a bug, MemoryError: an engine error, the range goes to REST
        stats.errors += 1
        job.state.note_window(f.end)
        text = note_engine_error(f"archive file {name}", exc)
        job.state.add_log(f"archive: {text}; its range goes to REST")
        return None
    if got is None:
        stats.absent += 1
        job.state.note_window(f.end)
        return None
    frame, size = got
    stats.bytes += size
    if source.funding:
        found = funding_holes(frame, f.start, f.end)
    else:
        found = holes(frame, f.start, f.end, span_ms)
    window_ms = window_ms_of(job.adapter, job.series)
    futures = [(w, job.fetch_later(w)) for w in hole_windows(found, window_ms)]
    stats.holes += len(found)
    return _Done(f, frame, found, futures, size)


def _store(job: BackfillPort, item: _Done, stats: _Stats) -> None:
    """The file's candles + what REST has in its holes, covered over the file's range minus
    the holes REST could not answer."""
    import polars as pl

    parts = [item.frame]
    failed: list[tuple[int, int]] = []
    for w, fut in item.futures:
        try:
            page = fut.result()
        except TransientError as exc:  # PermanentError, Cancelled: the job ends (run_archive)
            stats.hole_fail += 1
            failed.append((w.start, w.end))
            job.state.add_log(
                f"archive: REST check of the hole {fmt_ms(w.start)} -> "
                f"{fmt_ms(w.end)} failed: {safe_text(exc, 200)}; fetched again "
                "below"
            )
            continue
        if page.height:  # only the holes: the file's own rows stand where it has them
            ts = page["ts"].dt.epoch("ms")
            inside = pl.Series([False] * page.height)
            for a, b in item.holes:
                if a < w.end and b > w.start:
                    inside = inside | ts.is_between(a, b, closed="left")
            parts.append(page.filter(inside))
    frame = pl.concat(parts, how="vertical").sort("ts") if len(parts) > 1 else item.frame
    covered = _subtract([(item.file.start, item.file.end)], failed)
    new = job.store.write(frame, covered)
    if job.series.is_funding:  # events are not on a grid: never a gap
        gaps = 0
    else:
        if frame.height:
            job.note_first_candle(int(frame["ts"].dt.epoch("ms")[0]))
        gaps = job.exchange_gaps(covered, frame.height)
    job.state.note_written(new, gaps)
    job.state.note_covered(sum(e - s for s, e in covered))
    job.state.note_window(item.file.end, candles=frame.height)
    stats.stored += 1


def _subtract(ranges: list[tuple[int, int]], cut: list[tuple[int, int]]) -> list[tuple[int, int]]:
    out = list(ranges)
    for a, b in cut:
        nxt = []
        for s, e in out:
            if b <= s or a >= e:
                nxt.append((s, e))
                continue
            if s < a:
                nxt.append((s, a))
            if b < e:
                nxt.append((b, e))
        out = nxt
    return out
