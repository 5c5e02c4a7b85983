"""The folder lock: one dccd-tui process at a time per data folder (``<data_path>/.dccd-tui.lock``).

Two data folders can share one store: ``candles/`` (or ``funding/``) may be a symlink to the same
folder. The lock therefore also takes ``<resolved dataset>/.dccd-tui.lock`` of each dataset, on
the folder the files really live in, so that two processes never write the same files whatever
path led them there.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path

from ..errors import StoreError
from . import files
from .kinds import CANDLES_DIR, FUNDING_DIR

LOCK_NAME = ".dccd-tui.lock"


class StoreBusy(StoreError):
    """Another process holds the data folder (or the store folder it resolves to)."""


class StoreLock:
    """An exclusive ``flock`` on ``<data_path>/.dccd-tui.lock``: one process per data folder.

    The kernel drops the lock when the holding process dies, so a killed process never leaves a
    stale lock behind. The file holds the holder's pid, host and start time for the message that
    a second process gets. Use it as a context manager; `release()` is idempotent.
    """

    def __init__(self, path: Path, fd: int, more: tuple[int, ...] = ()):
        self.path = path
        self._fd: int | None = fd
        self._more = more  # the lock on the resolved store folder

    @property
    def held(self) -> bool:
        return self._fd is not None

    def release(self) -> None:
        import fcntl

        fd, self._fd = self._fd, None
        if fd is None:
            return
        for each in (*self._more, fd):
            try:
                os.ftruncate(each, 0)  # the holder's details go with the lock
            except OSError:
                pass
            try:
                fcntl.flock(each, fcntl.LOCK_UN)
            finally:
                os.close(each)

    def __enter__(self) -> StoreLock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def __del__(self) -> None:  # pragma: no cover - best effort
        try:
            self.release()
        except Exception:
            pass


def _holder_text(fd: int) -> str:
    try:
        raw = os.pread(fd, 4096, 0)
        info = json.loads(raw.decode("utf-8"))
        pid = int(info["pid"])
        since = str(info.get("since", "?"))
        host = str(info.get("host", ""))
    except Exception:
        return "pid unknown"
    where = f" on host {host}" if host and host != socket.gethostname() else ""
    return f"pid {pid}{where}, since {since}"


def lock_holder(data_path: Path) -> str | None:
    """Who holds the data folder `data_path` ("pid 123, since ..."), or None when nobody does.

    For a process about to start another on the folder (dccd_tui/link/spawn.py): it asks without
    writing, and holds a shared lock for an instant only when nobody holds the folder.
    """
    import fcntl

    try:
        fd = os.open(data_path / LOCK_NAME, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0))
    except OSError:  # no lock file: nobody ever took the folder (or it cannot be read)
        return None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return _holder_text(fd)
        except OSError:
            return None
        fcntl.flock(fd, fcntl.LOCK_UN)
        return None
    finally:
        os.close(fd)


def take_lock(data_path: Path) -> StoreLock:
    """Take the data folder `data_path` for this process, or raise StoreError saying who has it
    (`StoreBusy` when another process does).

    Creates the data folder and its dataset folders (``candles``, ``funding``) if needed.
    The returned lock is already held; use it in a ``with`` block (or call `release()`).
    """
    try:
        data_path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the data folder {data_path}: {files.reason(exc)}") from exc
    fd = _flock(data_path / LOCK_NAME, f"data folder {data_path}")
    more: list[int] = []
    try:
        for name in (CANDLES_DIR, FUNDING_DIR):
            dataset = data_path / name
            try:
                dataset.mkdir(exist_ok=True)
                real = dataset.resolve(strict=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the folder {dataset}: {files.reason(exc)}"
                ) from exc
            if real == data_path.resolve():  # the dataset is the data folder itself
                continue
            more.append(
                _flock(real / LOCK_NAME, f"store folder {real} (the {name} folder of {data_path})")
            )
    except BaseException:
        for each in (*more, fd):
            _unlock(each)
        raise
    return StoreLock(data_path / LOCK_NAME, fd, tuple(more))


def state_lock(folder: Path) -> StoreLock:
    """The flock of a store's local state folder (a store on object storage: its engine's
    socket, pid file and logs live there, root.py), taken like a data folder's, so that
    `lock_holder` answers for it; StoreBusy names the holder."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the state folder {folder}: {files.reason(exc)}") from exc
    return StoreLock(folder / LOCK_NAME, _flock(folder / LOCK_NAME, f"state folder {folder}"))


def _unlock(fd: int) -> None:
    import fcntl

    try:
        os.ftruncate(fd, 0)
        fcntl.flock(fd, fcntl.LOCK_UN)
    except OSError:
        pass
    finally:
        os.close(fd)


def _flock(path: Path, what: str) -> int:
    """An fd holding an exclusive flock on `path`, with this process's details written in it."""
    import fcntl

    data_path = path.parent
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
    except OSError as exc:
        raise StoreError(
            f"cannot write in the data folder {data_path} ({path}): {files.reason(exc)}"
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder_text(fd)
        os.close(fd)
        raise StoreBusy(
            f"{what} is in use by another dccd-tui ({holder}); "
            "wait for it to finish or stop it, or use another data folder"
        ) from None
    except OSError as exc:
        os.close(fd)
        raise StoreError(f"cannot lock {path}: {files.reason(exc)}") from exc
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": files.utc_now().isoformat(timespec="seconds"),
    }
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(info) + "\n").encode("utf-8"), 0)
    except OSError as exc:
        fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)
        raise files.os_error("write", path, exc) from exc
    return fd
