"""The app's per-user state: the theme picked in the palette, and which config bytes it wrote.

A UI preference changes as the user clicks around; it does not belong in config.toml, which is the
user's own description of the jobs. It lives in
`$XDG_STATE_HOME/dccd-tui/state.toml` (default `~/.local/state/dccd-tui/state.toml`):

    theme = "dccd-light"              # the palette's last choice

    [written_configs]                 # config file -> sha256 of the bytes the app last wrote
    "/home/me/dccd/config.toml" = "9f2c..."

`written_configs` is how config/edit.py knows whether the config on disk is the user's version
(to keep as `.bak`) or one the app already wrote.

The file is written atomically. A broken state file (bad TOML, wrong types) is reported once per
process and otherwise ignored: the app runs on its defaults. The next write moves the broken file
aside to `state.toml.broken` first, so nothing is lost without a trace.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .atomic_file import write_atomic

STATE_NAME = "state.toml"
_HEADER = "dccd-tui per-user state, written by the app (safe to delete)"
_reported: set[Path] = set()


def state_path() -> Path:
    """Where the state file lives (XDG: a relative $XDG_STATE_HOME is ignored, as the spec says)."""
    base = os.environ.get("XDG_STATE_HOME", "")
    root = Path(base) if base and os.path.isabs(base) else Path.home() / ".local" / "state"
    return root / "dccd-tui" / STATE_NAME


@dataclass
class UserState:
    theme: str | None = None
    written_configs: dict[str, str] = field(default_factory=dict)


def _parse(path: Path) -> UserState:
    """Read the state file; raise ValueError with a message naming the file and key."""
    try:
        data = tomllib.loads(path.read_bytes().decode("utf-8-sig"))
    except UnicodeDecodeError:
        raise ValueError(f"{path}: is not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: invalid TOML: {exc}") from None
    state = UserState()
    theme = data.get("theme")
    if theme is not None and not isinstance(theme, str):
        raise ValueError(f"{path}: key 'theme': expected a theme name, got {theme!r}")
    state.theme = theme or None
    written = data.get("written_configs", {})
    if not isinstance(written, dict) or not all(isinstance(v, str) for v in written.values()):
        raise ValueError(f"{path}: [written_configs] must map file paths to sha256 strings")
    state.written_configs = dict(written)
    return state


def load_state(path: Path | None = None) -> tuple[UserState, str | None]:
    """The state (defaults when missing or broken) and, the first time only, what is wrong."""
    path = path or state_path()
    try:
        return _parse(path), None
    except FileNotFoundError:
        return UserState(), None
    except OSError as exc:
        problem = f"{path}: cannot be read ({exc.strerror or exc})"
    except ValueError as exc:
        problem = str(exc)
    if path in _reported:
        return UserState(), None
    _reported.add(path)
    return UserState(), f"{problem}; ignored (defaults used)"


def _dump(state: UserState) -> bytes:
    import tomlkit  # only to write: reading is tomllib, and every start reads (~9 ms less)

    doc = tomlkit.document()
    doc.add(tomlkit.comment(_HEADER))
    if state.theme:
        doc["theme"] = state.theme
    if state.written_configs:
        table = tomlkit.table()
        for key in sorted(state.written_configs):
            table[key] = state.written_configs[key]
        doc["written_configs"] = table
    return doc.as_string().encode("utf-8")


def update_state(
    path: Path | None = None, *, theme: str | None = None, written: tuple[Path, str] | None = None
) -> None:
    """Change the theme and/or record the sha256 of a config the app wrote. Raises OSError."""
    path = path or state_path()
    try:
        state = _parse(path)
    except FileNotFoundError:
        state = UserState()
    except ValueError:
        # Broken: keep it for the curious, start afresh (it was already reported on load).
        state = UserState()
        try:
            os.replace(path, path.with_name(path.name + ".broken"))
        except OSError:
            pass
    if theme is not None:
        state.theme = theme
    if written is not None:
        state.written_configs[str(written[0])] = written[1]
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, _dump(state))


def reset_reported() -> None:
    """Forget which broken state files were reported (tests: each starts afresh)."""
    _reported.clear()
