"""Where the engine of a data folder listens, and the ownership checks on that place.

One engine serves one data folder, so the folder names the socket: `<data>/.engine/engine.sock`,
inside a private folder (mode 0700) as tmux keeps its sockets. A Unix socket path is limited to
about 104-108 bytes (`sun_path`); when the data folder's path is too long for that, the socket
goes to `/tmp/dccd-tui-<uid>/`, named by a hash of the resolved data folder. The engine's log
file and pid file always stay in `<data>/.engine/`.

The place is a function of the resolved data folder and the user id only. Never of the
caller's environment (`$XDG_RUNTIME_DIR`, `$TMPDIR`): an engine started from one shell must be
found from any other, or `status` says "no engine" while one runs and a second engine is
started beside it. The pid file names the socket its engine listens on, so a client that finds
no socket where it expects one can still tell that an engine runs, and where
(dccd_tui/link/spawn.py, `running_engine`).

A folder that is a symbolic link, owned by another user, or open to others is refused with a
message naming it, as tmux refuses its socket folder: a symlink in /tmp may have been planted by
another user (`lstat`, never `stat`, which follows it). The peer's credentials are checked by
the engine (SO_PEERCRED).
"""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path

MAX_SOCKET_PATH = 100  # bytes; below every platform's sun_path limit
ENGINE_DIR = ".engine"
#: Where sockets too long for their data folder go: `/tmp`, fixed. `tempfile.gettempdir()`
#: reads $TMPDIR, which would make the place depend on the caller's environment again.
FALLBACK_ROOT = Path("/tmp")


def reach_command(words: str, config_path: os.PathLike[str] | str | None, demo: bool) -> str:
    """`dccd-tui <words>` with the flags that reach the same engine from the same folder:
    `--demo` for the demo's, `--config FILE` unless FILE is ./config.toml (the default). A
    message that names a command must name one that works when pasted."""
    import shlex

    if demo:
        flags = "--demo "
    elif config_path is not None and Path(config_path).resolve() != Path("config.toml").resolve():
        flags = f"--config {shlex.quote(os.fspath(config_path))} "
    else:
        flags = ""
    return f"dccd-tui {flags}{words}"


class SocketPlaceError(RuntimeError):
    """The socket's folder or file is unsafe (wrong owner or mode) or cannot be made."""


@dataclass(frozen=True)
class EnginePlace:
    data_path: Path  # the resolved data folder
    folder: Path  # <data>/.engine: log and pid file (and the socket when it fits)
    socket: Path  # the socket path (in `folder`, or in the fallback folder)

    @property
    def log_file(self) -> Path:
        return self.folder / "engine.log"

    @property
    def pid_file(self) -> Path:
        return self.folder / "engine.pid"


def fallback_dir(uid: int | None = None) -> Path:
    """The per-user folder of the sockets whose data folder's path is too long."""
    return FALLBACK_ROOT / f"dccd-tui-{os.getuid() if uid is None else uid}"


def engine_place(data_path: Path, uid: int | None = None) -> EnginePlace:
    """The place of the engine serving `data_path` for `uid` (this process's by default)."""
    data = Path(data_path).expanduser().resolve()
    folder = data / ENGINE_DIR
    sock = folder / "engine.sock"
    if len(os.fsencode(sock)) > MAX_SOCKET_PATH:
        digest = hashlib.sha256(os.fsencode(data)).hexdigest()[:16]
        sock = fallback_dir(uid) / f"dccd-tui-{digest}.sock"
    return EnginePlace(data, folder, sock)


# --- the pid file -------------------------------------------------------------------------------


def pid_file_text(pid: int, sock: Path) -> str:
    """What the engine writes in its pid file: its pid, then the socket it listens on."""
    return f"{pid}\n{os.fsdecode(sock)}\n"


def read_pid_file(place: EnginePlace) -> tuple[int, Path | None] | None:
    """(pid, socket) from the pid file; the socket is None in a pid file of a version that
    wrote the pid only. None when there is no pid file or it holds no pid."""
    try:
        lines = place.pid_file.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return None
    try:
        pid = int(lines[0].strip())
    except (IndexError, ValueError):
        return None
    sock = Path(lines[1]) if len(lines) > 1 and lines[1].strip() else None
    return pid, sock


# --- the checks ---------------------------------------------------------------------------------


def check_private_dir(folder: Path, *, create: bool) -> None:
    """The folder must be a real folder (not a link), ours, and closed to others (0700);
    made so when `create`."""
    if create:
        try:
            folder.parent.mkdir(parents=True, exist_ok=True)
            os.mkdir(folder, 0o700)
        except FileExistsError:
            pass  # checked below, whatever it is
        except OSError as exc:
            raise SocketPlaceError(f"cannot create {folder}: {exc.strerror or exc}") from None
    try:
        # O_NOFOLLOW: a link is never opened through; fstat then describes the folder opened.
        fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    except FileNotFoundError:
        return
    except OSError:
        st = _lstat(folder)
        if st is None:
            return
        if stat.S_ISLNK(st.st_mode):
            try:
                target = os.readlink(folder)
            except OSError:
                target = "?"
            raise SocketPlaceError(
                f"{folder} is a symbolic link (to {target}), owned by uid "
                f"{st.st_uid}: refusing it as the engine's folder, since another user may have "
                f"planted it. Remove it (rm {folder}) and start again"
            ) from None
        raise SocketPlaceError(f"{folder} is not a folder; remove it and start again") from None
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    if st.st_uid != os.getuid():
        raise SocketPlaceError(
            f"{folder} belongs to uid {st.st_uid}, not to you (uid {os.getuid()}): refusing to "
            "use an engine folder of another user"
        )
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise SocketPlaceError(
            f"{folder} has mode {stat.S_IMODE(st.st_mode):04o}; the engine folder must be "
            f"private (0700), not open to others. Fix it with: chmod 700 {folder}"
        )


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except FileNotFoundError:
        return None


def check_socket_owner(sock: Path) -> None:
    """A socket file made by another user is never connected to."""
    st = _lstat(sock)
    if st is None:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise SocketPlaceError(f"{sock} exists and is not a socket; remove it")
    if st.st_uid != os.getuid():
        raise SocketPlaceError(
            f"{sock} was made by uid {st.st_uid}, not by you (uid {os.getuid()}): refusing it"
        )


def check_socket_place(sock: Path, place: EnginePlace, *, create: bool) -> None:
    """The folder of `sock` (when it is not `place.folder`, checked apart) and `sock` itself."""
    if sock.parent != place.folder:
        check_private_dir(sock.parent, create=create)
    check_socket_owner(sock)


def prepare(place: EnginePlace, *, create: bool) -> None:
    """Check (and with `create`, make) the private folders of `place`."""
    check_private_dir(place.folder, create=create)
    check_socket_place(place.socket, place, create=create)
