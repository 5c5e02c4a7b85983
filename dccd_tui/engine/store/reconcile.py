"""Opening a series and keeping its coverage manifest true to the files: `ManifestSync`, the
part of `SeriesStore` (dccd_tui/engine/store/series.py) that loads, saves and reconciles the
manifest, signs month files and moves unreadable ones aside.

Why it exists: "coverage follows the files" is the subtle half of the store (a month whose file
is gone, replaced or unreadable leaves the coverage and is fetched again; an older manifest is
signed on first open), so it is kept apart from the reading and writing of candles. It is a
mixin: `SeriesStore` owns the state declared below, sets it in its ``__init__`` and inherits
these methods. Locks as in series.py: ``_file_lock`` before ``_state_lock``, never after.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path

from ..models import Series
from . import files
from .files import (
    FileInfo,
    Unreadable,
    os_error,
    read_footer,
    stat_sig,
)
from .manifest import MANIFEST_NAME, FileSign, manifest_bytes, parse_manifest
from .objects import LocalObjects, local_etag
from .quarantine import move_aside
from .ranges import Failed, Range, holes, subtract_range, subtract_ranges

log = logging.getLogger("dccd_tui.store")


class ManifestSync:
    """The manifest half of `SeriesStore`: open, load, save, reconcile, sign, quarantine."""

    # Set by SeriesStore.__init__ (see there for what each holds).
    series: Series
    kind: str
    _period: files.Period
    _objects: LocalObjects
    folder: Path
    read_only: bool
    quarantined: list[str]
    _file_lock: threading.RLock
    _state_lock: threading.RLock
    _opened: bool
    _covered: list[Range]
    _failed: list[Failed]
    _gaps: list[Range] | None
    _horizon: list[Range]
    _manifest_sig: tuple[int, int, int] | None
    _infos: dict[str, FileInfo]
    _signs: dict[str, FileSign] | None
    _reported: set[str]

    @property
    def manifest_path(self) -> Path:
        return self.folder / MANIFEST_NAME

    # ---- opening and the manifest ------------------------------------------------------------

    def _sync(self) -> None:
        """Open on first use; later, reload the manifest if another process replaced it."""
        if self._opened:
            sig = self._stat_manifest()
            if sig == self._manifest_sig:
                return  # fast path: one stat, no lock
        with self._file_lock, self._state_lock:
            if not self._opened:
                self._open()
            elif self._stat_manifest() != self._manifest_sig:
                self._load_manifest()
                self._reconcile()

    def _open(self) -> None:
        self._load_manifest()
        if self.folder.is_dir():
            if not self.read_only:
                files.remove_stale_temps(self.folder)
            for _year, _month, path in self._month_files():
                self._info(path)  # reads the footer; quarantines what cannot be read
        self._reconcile()
        self._opened = True

    def _reconcile(self) -> None:
        """Drop from the coverage every month whose data file was removed or replaced behind
        the store's back (caller holds both locks); sign files not signed yet.

        A signed file whose size and mtime still match is trusted (one stat). One that changed
        is kept if its footer still holds at least what was signed (rows, first and last ts):
        a copy of the folder, or our own write that a crash kept out of the manifest. An
        unsigned month (an older manifest) with no file is dropped unless its covered part is
        all exchange-side gaps.
        """
        if not self._covered:
            return
        signs = dict(self._signs or {})
        dropped: list[tuple[int, int, str]] = []
        resigned = self._signs is None
        period = self._period
        if self._signs is None:  # an older manifest: every covered month, once
            present = {path.name: path for _y, _m, path in self._month_files()}
            months = _months_of(self._covered, period)
        else:  # every month holding data was signed when written: one stat each
            present = {name: self.folder / name for name in signs}
            months = sorted(_month_of_name(name, period) for name in signs)
        for year, month in months:
            name = period.name((year, month))
            lo, hi = period.range((year, month))
            if holes(self._covered, lo, hi) == [(lo, hi)]:  # nothing covered there
                continue
            path = present.get(name)
            known = signs.get(name)
            if path is None:
                inside = [(max(a, lo), min(b, hi)) for a, b in self._covered if a < hi and b > lo]
                if known is None and (
                    self._gaps is None or not subtract_ranges(inside, self._gaps)
                ):
                    continue  # nothing signed there and nothing but exchange-side gaps
                signs.pop(name, None)
                dropped.append((lo, hi, f"{self.folder / name} is missing"))
                continue
            try:
                st = os.stat(path)
            except FileNotFoundError:
                signs.pop(name, None)
                dropped.append((lo, hi, f"{self.folder / name} is missing"))
                continue
            except OSError as exc:
                raise os_error("read", path, exc) from exc
            if known is not None and (st.st_size, st.st_mtime_ns) == known[:2]:
                continue
            info = self._info(path)
            if info is None:  # quarantined (its month already left the coverage) or vanished
                signs.pop(name, None)
                continue
            if known is None or _holds(info, known):
                signs[name] = _sign(info)
                resigned = True
                continue
            signs.pop(name, None)
            why = f"{path} was replaced ({info.rows:,} candles where {known[2]:,} were written)"
            dropped.append((lo, hi, why))
        if not dropped and not resigned:
            return
        covered, gaps = self._covered, self._gaps
        for lo, hi, why in dropped:
            covered = subtract_range(covered, lo, hi)
            if gaps is not None:
                gaps = subtract_range(gaps, lo, hi)
            self._report(
                f"{self.series}: {why}; {period.label(period.of(lo))} leaves the coverage "
                "and will be downloaded again"
            )
        failed = [f for f in self._failed if holes(covered, f[0], f[1])]
        self._signs = signs
        self._save_manifest(covered, failed, gaps)

    def _stat_manifest(self) -> tuple[int, int, int] | None:
        try:
            return stat_sig(os.stat(self.manifest_path))
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise os_error("read", self.manifest_path, exc) from exc

    def _load_manifest(self) -> None:
        path = self.manifest_path
        try:
            with open(path, "rb") as fh:
                sig = stat_sig(os.fstat(fh.fileno()))
                raw = fh.read()
        except FileNotFoundError:
            self._covered, self._failed, self._manifest_sig = [], [], None
            self._gaps, self._horizon = [], []
            return
        except OSError as exc:
            raise os_error("read", path, exc) from exc
        try:
            covered, failed, gaps, signs, horizon = parse_manifest(
                self.series, raw, self._period.pattern
            )
        except Unreadable as exc:
            self._covered, self._failed, self._manifest_sig = [], [], None
            self._gaps, self._horizon = [], []
            self._signs = {}
            self._quarantine(
                path,
                str(exc),
                "coverage starts again from empty: every range will be checked again "
                "(the data files are kept and merged with new data)",
            )
            return
        self._covered, self._failed, self._manifest_sig = covered, failed, sig
        self._gaps = gaps
        self._signs = signs
        self._horizon = horizon

    def _save_manifest(
        self, covered: list[Range], failed: list[Failed], gaps: list[Range] | None = None
    ) -> None:
        """Atomically write the manifest, then adopt it as the state (caller holds both locks).
        `gaps` None keeps the current ones.

        If the write fails the state is left as it was, so memory never claims more than disk.
        """
        if gaps is None:
            gaps = self._gaps
        if self.read_only:  # memory only: what the files say, nothing written
            self._covered, self._failed, self._gaps = covered, failed, gaps
            return
        data = manifest_bytes(self.series, covered, failed, gaps, self._signs or {}, self._horizon)
        # The manifest is where a write becomes visible: replaced only if it is still the one
        # this store read or wrote last (objects.py; None: it must not exist).
        seen = None if self._manifest_sig is None else local_etag(self._manifest_sig)
        self._objects.put_if_match(MANIFEST_NAME, data, seen)
        self._covered, self._failed, self._gaps = covered, failed, gaps
        self._manifest_sig = self._stat_manifest()

    def _report(self, msg: str) -> None:
        if msg in self._reported:  # read-only: the same file is found again on every read
            return
        self._reported.add(msg)
        log.warning(msg)
        self.quarantined.append(msg)

    def _quarantine(self, path: Path, reason: str, consequence: str) -> None:
        if self.read_only:
            self._report(
                f"{self.series}: {path} could not be read ({reason}); left in place "
                "(another dccd-tui holds the data folder: it is moved aside by the "
                "next run that takes the folder)"
            )
            return
        self.quarantined.append(move_aside(path, reason, consequence, self.series))

    def _month_files(self) -> list[tuple[int, int, Path]]:
        """(year, month, path) of every data file, oldest first (month 0: a yearly file)."""
        return [(k[0], k[1], path) for k, path in self._period.files(self.folder)]

    # ---- month-file footers and quarantine ---------------------------------------------------

    def _info(self, path: Path) -> FileInfo | None:
        """Footer info of a month file (cached by stat); None if it vanished or was quarantined."""
        for _attempt in range(3):
            try:
                sig = stat_sig(os.stat(path))
            except FileNotFoundError:
                return None
            except OSError as exc:
                raise os_error("read", path, exc) from exc
            cached = self._infos.get(path.name)
            if cached is not None and cached.sig == sig:
                return cached
            try:
                info = read_footer(path, self.kind)
            except FileNotFoundError:
                return None
            except Unreadable as exc:
                if self._quarantine_month(path, sig, str(exc)):
                    return None
                continue  # the file changed under us: look again
            except OSError as exc:
                raise os_error("read", path, exc) from exc
            self._infos[path.name] = info
            return info
        return None

    def _quarantine_month(self, path: Path, sig: tuple[int, int, int], reason: str) -> bool:
        """Move an unreadable month file aside and drop its month from the coverage.

        Returns False (and does nothing) if the file changed since it was found unreadable,
        e.g. a writer just replaced it with a good one.
        """
        with self._file_lock, self._state_lock:
            try:
                now = stat_sig(os.stat(path))
            except FileNotFoundError:
                return True
            if now != sig:
                return False
            key = self._period.key_of_name(path.name)
            assert key is not None
            label = self._period.label(key)
            self._quarantine(path, reason, f"{label} will be downloaded again")
            self._infos.pop(path.name, None)
            if self._signs is not None:
                self._signs.pop(path.name, None)
            lo, hi = self._period.range(key)
            if holes(self._covered, lo, hi) != [(lo, hi)]:  # some of it was covered
                # Memory drops the month at once (its candles are gone whatever happens next);
                # the manifest follows.
                self._covered = subtract_range(self._covered, lo, hi)
                if self._gaps is not None:
                    self._gaps = subtract_range(self._gaps, lo, hi)
                self._save_manifest(self._covered, self._failed)
            return True


def _months_of(ranges: Sequence[Range], period: files.Period) -> list[tuple[int, int]]:
    """The key of every file period (month, or year) that `ranges` touch, oldest first."""
    out: list[tuple[int, int]] = []
    for start, end in ranges:
        key = period.of(start)
        while period.range(key)[0] < end:
            if not out or out[-1] < key:
                out.append(key)
            key = period.next(key)
    return out


def _month_of_name(name: str, period: files.Period) -> tuple[int, int]:
    key = period.key_of_name(name)
    assert key is not None  # manifest.parse_manifest checks every signed name
    return key


def _sign(info: FileInfo) -> FileSign:
    return (info.size, info.sig[0], info.rows, info.first_ts, info.last_ts)


def _holds(info: FileInfo, known: FileSign) -> bool:
    """Whether a month file still holds at least what was signed: as many rows or more, and
    the signed first and last ts within its own."""
    _size, _mtime, rows, first, last = known
    if info.rows < rows:
        return False
    if first is not None and (info.first_ts is None or info.first_ts > first):
        return False
    return not (last is not None and (info.last_ts is None or info.last_ts < last))
