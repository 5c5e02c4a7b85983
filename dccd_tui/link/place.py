"""Where the engine of a data folder listens, and the ownership checks on that place.

One engine serves one data folder, so the folder names the socket: `<data>/.engine/engine.sock`,
inside a private folder (mode 0700) as tmux keeps its sockets. A Unix socket path is limited to
about 104-108 bytes (`sun_path`); when the data folder's path is too long for that, the socket
goes to `$XDG_RUNTIME_DIR` (or a 0700 folder under /tmp named by the uid), named by a hash of the
resolved data folder. The engine's log file and pid file always stay in `<data>/.engine/`.

A folder or socket owned by another user, or a folder others can enter, is refused with a
message: the file mode is checked here, the peer's credentials by the engine (SO_PEERCRED).
"""

from __future__ import annotations

import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

MAX_SOCKET_PATH = 100  # bytes; below every platform's sun_path limit
ENGINE_DIR = ".engine"


class SocketPlaceError(RuntimeError):
    """The socket's folder or file is unsafe (wrong owner or mode) or cannot be made."""


@dataclass(frozen=True)
class EnginePlace:
    data_path: Path  # the resolved data folder
    folder: Path  # <data>/.engine: log and pid file (and the socket when it fits)
    socket: Path  # the socket path (in `folder`, or in the runtime folder)

    @property
    def log_file(self) -> Path:
        return self.folder / "engine.log"

    @property
    def pid_file(self) -> Path:
        return self.folder / "engine.pid"


def engine_place(data_path: Path) -> EnginePlace:
    data = Path(data_path).expanduser().resolve()
    folder = data / ENGINE_DIR
    sock = folder / "engine.sock"
    if len(os.fsencode(sock)) > MAX_SOCKET_PATH:
        digest = hashlib.sha256(os.fsencode(data)).hexdigest()[:16]
        sock = _runtime_dir() / f"dccd-tui-{digest}.sock"
    return EnginePlace(data, folder, sock)


def _runtime_dir() -> Path:
    runtime = os.environ.get("XDG_RUNTIME_DIR")
    if runtime and Path(runtime).is_dir():
        return Path(runtime)
    return Path(tempfile.gettempdir()) / f"dccd-tui-{os.getuid()}"


def check_private_dir(folder: Path, *, create: bool) -> None:
    """The folder must be ours and closed to others (0700); made so when `create`."""
    if create:
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise SocketPlaceError(f"cannot create {folder}: {exc.strerror}") from None
    try:
        st = folder.stat()
    except FileNotFoundError:
        return
    if st.st_uid != os.getuid():
        raise SocketPlaceError(
            f"{folder} belongs to uid {st.st_uid}, not to you (uid {os.getuid()}): refusing to "
            "use an engine folder of another user"
        )
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise SocketPlaceError(
            f"{folder} has mode {stat.S_IMODE(st.st_mode):04o}; the engine folder must be "
            f"private (0700). Fix it with: chmod 700 {folder}"
        )


def check_socket_owner(sock: Path) -> None:
    """A socket file made by another user is never connected to."""
    try:
        st = sock.lstat()
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(st.st_mode):
        raise SocketPlaceError(f"{sock} exists and is not a socket; remove it")
    if st.st_uid != os.getuid():
        raise SocketPlaceError(
            f"{sock} was made by uid {st.st_uid}, not by you (uid {os.getuid()}): refusing it"
        )


def prepare(place: EnginePlace, *, create: bool) -> None:
    """Check (and with `create`, make) the private folders of `place`."""
    check_private_dir(place.folder, create=create)
    if place.socket.parent != place.folder:
        check_private_dir(place.socket.parent, create=create)
    check_socket_owner(place.socket)
