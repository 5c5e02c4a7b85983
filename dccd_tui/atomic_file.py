"""Replace a small file atomically, keeping its permission bits.

Both config.toml (config/edit.py) and the per-user state file (user_state.py) are written this
way: the new bytes go to a temp file in the same folder, are fsynced, get the old file's mode
(a new file gets the usual 0666 minus umask, not mkstemp's 0600), and then `os.replace` swaps
them in. A reader sees the old file or the new one, never half of one; a failed write (a full
disk) leaves the old file untouched and no temp file behind.
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path


def current_umask() -> int:
    """The process umask, read without changing it where /proc allows (os.umask is racy)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def real_target(path: Path) -> Path:
    """The file a write to `path` must replace: through a symlink, not the link itself."""
    return Path(os.path.realpath(path))


def write_atomic(path: Path, data: bytes, *, mode: int | None = None) -> None:
    """Write `data` to `path` atomically. `mode`: permission bits (default: the old file's).

    Raises OSError; the old file is then unchanged and the temp file removed.
    """
    path = real_target(path)
    folder = path.parent
    owner: tuple[int, int] | None = None
    if mode is None:
        try:
            st = os.stat(path)
            mode = stat.S_IMODE(st.st_mode)
            owner = (st.st_uid, st.st_gid)
        except FileNotFoundError:
            mode = 0o666 & ~current_umask()
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        if owner is not None and hasattr(os, "chown"):
            st = os.stat(tmp)
            if (st.st_uid, st.st_gid) != owner:
                try:
                    os.chown(tmp, *owner)  # keeps a shared file's group where we may set it
                except OSError:
                    pass
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    try:
        dirfd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(dirfd)
        finally:
            os.close(dirfd)
    except OSError:
        pass  # the rename is done; a folder that cannot be fsynced (some filesystems) is fine
