"""Edit config.toml in place: keep the user's comments, key order, formatting and file mode.

config.toml is the user's file. The app changes it in two ways only, both from the pair form:
the pairs (and kinds) of one `[[histo_jobs]]` entry (`edit_pairs`, or `remove_entry` when none
is left) and a new entry (`add_entry`). Each edit parses the file with tomlkit, changes just
those values in the document and writes it back, so adding a pair changes one line.
`write_config` brings a whole file to given data the same way (used for new files: the demo,
tests, benchmarks).

Every edit is validated with `validate` (load.py) before anything is written, and the write is
atomic (atomic_file.py: temp file in the same folder, fsync, `os.replace`), keeping the file's
mode (a 0644 file stays 0644) and, through a symlink, the link. A UTF-8 byte-order mark at the
start of the file is kept.

Changed on disk. The targeted edits take `based_on`, the data the caller's view was loaded from.
The file is read again when saving; when its data differs (the user edited a value or an entry
meanwhile) the edit is refused with `ConfigChangedError` instead of replacing their edit. An edit
that changes only comments or spacing is not a conflict: the app's change is applied to the
file as it is now, so such edits are kept as well.

The `.bak` rule. Before a write, the file on disk is copied to `config.toml.bak` unless it is
byte for byte the file the app itself wrote last (its sha256 is kept in the per-user state
file, user_state.py). So the `.bak` always holds the last version the *user* wrote: two saves
from the app in a row keep the original, and a hand edit between two saves becomes the new
`.bak`. If the state file cannot be read or written, the app copies (the safe side).
"""

from __future__ import annotations

import copy
import difflib
import hashlib
import os
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import tomlkit
from tomlkit.exceptions import TOMLKitError
from tomlkit.items import AoT, Array, InlineTable, Table
from tomlkit.toml_document import TOMLDocument

from ..atomic_file import real_target, write_atomic
from ..engine import Config
from ..user_state import load_state, update_state
from .checks import ConfigError
from .jobs import JOB_KEYS
from .load import validate

BOM = b"\xef\xbb\xbf"


class ConfigChangedError(ConfigError):
    """config.toml was changed on disk since the app loaded it; the edit was not written."""


def split_bom(raw: bytes) -> tuple[bytes, str]:
    """(the byte-order mark or b"", the text after it). Raises ConfigError on non-UTF-8."""
    bom = BOM if raw.startswith(BOM) else b""
    return bom, raw[len(bom) :].decode("utf-8")


def _digest(raw: bytes) -> str:
    return hashlib.sha256(raw).hexdigest()


# --- bringing a tomlkit document to given data, changing as little as possible ------------


def _plain(value: Any) -> Any:
    """Data as tomllib gives it (tuples as lists), for comparisons."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def _unwrap(item: Any) -> Any:
    return item.unwrap() if hasattr(item, "unwrap") else item


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _sync_table(target: Any, data: dict[str, Any]) -> None:
    for key in [k for k in target if k not in data]:
        del target[key]
    for key, value in data.items():
        if key not in target:
            target[key] = value
            continue
        old = target[key]
        if isinstance(value, dict) and isinstance(old, (Table, InlineTable, TOMLDocument)):
            _sync_table(old, value)
        elif isinstance(value, list) and isinstance(old, AoT):
            if value:
                _sync_aot(old, value)
            else:
                del target[key]  # an empty array of tables has no [[...]] form
        elif isinstance(value, list) and isinstance(old, Array):
            _sync_array(old, value)
        elif not _same(_unwrap(old), value):
            target[key] = value  # tomlkit keeps the old value's trailing comment


def _key(value: Any) -> str:
    return repr(_plain(value))


def _sync_array(arr: Array, values: list[Any]) -> None:
    """Edit `arr` in place into `values`: unchanged items (and their comments) stay."""
    old = [_key(_unwrap(v)) for v in arr]
    new = [_key(v) for v in values]
    ops = difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in reversed(ops):  # from the end, so indices stay valid
        if tag == "equal":
            continue
        common = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        for k in range(common):
            if not _same(_unwrap(arr[i1 + k]), values[j1 + k]):
                arr[i1 + k] = values[j1 + k]
        for i in range(i2 - 1, i1 + common - 1, -1):
            del arr[i]
        for k, j in enumerate(range(j1 + common, j2)):
            arr.insert(i1 + common + k, values[j])


def _new_table(value: dict[str, Any]) -> Table:
    table = tomlkit.table()
    for key in JOB_KEYS:
        if key in value:
            table[key] = value[key]
    for key, item in value.items():
        if key not in table:
            table[key] = item
    return table


def _sync_aot(aot: AoT, values: list[dict[str, Any]]) -> None:
    old = [_key(_unwrap(t)) for t in aot]
    new = [_key(v) for v in values]
    ops = difflib.SequenceMatcher(a=old, b=new, autojunk=False).get_opcodes()
    for tag, i1, i2, j1, j2 in reversed(ops):
        if tag == "equal":
            continue
        common = min(i2 - i1, j2 - j1) if tag == "replace" else 0
        for k in range(common):
            _sync_table(aot[i1 + k], values[j1 + k])
        for i in range(i2 - 1, i1 + common - 1, -1):
            del aot[i]
        for k, j in enumerate(range(j1 + common, j2)):
            at = i1 + common + k
            table = _new_table(values[j])
            if at == len(aot):
                # One blank line between entries: the last one already ends with it when more
                # of the file follows; then the new entry takes it over, for what follows.
                if len(aot) and aot[-1].as_string().endswith("\n\n"):
                    table.add(tomlkit.nl())
                elif len(aot):
                    aot[-1].add(tomlkit.nl())
                aot.append(table)
            else:
                table.add(tomlkit.nl())
                aot.insert(at, table)


# --- reading and writing ------------------------------------------------------------------


def _read(path: Path) -> bytes | None:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _parse(path: Path, raw: bytes) -> tuple[bytes, TOMLDocument, dict[str, Any]]:
    try:
        bom, text = split_bom(raw)
    except UnicodeDecodeError:
        raise ConfigError(f"{path.name}: is not UTF-8 text") from None
    try:
        return bom, tomlkit.parse(text), tomllib.loads(text)
    except (TOMLKitError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path.name}: invalid TOML: {exc}") from None


def _render_new(data: dict[str, Any]) -> str:
    """A new file: settings, store (object storage), cluster, exchanges, any other table, then
    one [[histo_jobs]] block per entry."""
    doc = tomlkit.document()
    first = ("settings", "store", "cluster", "exchanges")
    rest = [key for key in data if key not in first and key != "histo_jobs"]
    for key in (*first, *rest):
        if key in data:
            doc[key] = data[key]
            doc.add(tomlkit.nl())
    if data.get("histo_jobs"):
        aot = tomlkit.aot()
        for entry in data["histo_jobs"]:
            aot.append(_new_table(entry))
        doc["histo_jobs"] = aot
    return doc.as_string()


def _write(path: Path, old: bytes | None, new: bytes) -> None:
    """Write `new` over `path` (atomic, mode kept), keeping the user's version as `.bak`."""
    target = real_target(path)
    state, _ = load_state()
    try:
        ours = old is not None and state.written_configs.get(str(target)) == _digest(old)
        if old is not None and old != new and not ours:
            write_atomic(
                target.with_name(target.name + ".bak"), old, mode=os.stat(target).st_mode & 0o7777
            )
        write_atomic(target, new)
    except OSError as exc:
        raise ConfigError(
            f"{path}: could not be saved ({exc.strerror or exc}); the old file is unchanged"
        ) from None
    try:
        update_state(written=(target, _digest(new)))
    except OSError:
        pass  # then the next save keeps this version as .bak: the safe side


def _apply(
    path: str | os.PathLike,
    change: Callable[[dict[str, Any]], dict[str, Any]],
    *,
    based_on: dict[str, Any] | None,
) -> Config:
    path = Path(path)
    raw = _read(path)
    if raw is None:
        if based_on is not None:
            raise ConfigChangedError(f"{path}: was removed since it was loaded; not saved")
        data = _plain(change({}))
        config = validate(data, path)
        _write(path, None, _render_new(data).encode("utf-8"))
        return config
    bom, doc, current = _parse(path, raw)
    if based_on is not None and current != _plain(based_on):
        raise ConfigChangedError(
            f"{path.name} was changed on disk since it was loaded; not saved, so those changes "
            "stay. Reload it (Reload config in the palette) and make the edit again."
        )
    data = _plain(change(copy.deepcopy(current)))
    config = validate(data, path)
    _sync_table(doc, data)
    text = doc.as_string()
    if tomllib.loads(text) != data:  # a tomlkit surprise must never reach the user's file
        raise ConfigError(f"{path.name}: the edit could not be applied in place; not saved")
    _write(path, raw, bom + text.encode("utf-8"))
    return config


def write_config(path: str | os.PathLike, data: dict[str, Any]) -> Config:
    """Validate `data` and make the file hold it, in place when it exists (comments stay)."""
    return _apply(path, lambda _current: copy.deepcopy(data), based_on=None)


def _entry(data: dict[str, Any], index: int, path: Path) -> dict[str, Any]:
    jobs = data.get("histo_jobs")
    if not isinstance(jobs, list) or not 0 <= index < len(jobs):
        raise ConfigChangedError(f"{path.name}: has no [[histo_jobs]] #{index + 1}; not saved")
    return jobs[index]


def edit_pairs(
    path: str | os.PathLike,
    index: int,
    pairs: list[str],
    *,
    kinds: list[str] | None = None,
    based_on: dict[str, Any] | None = None,
) -> Config:
    """Set the pairs of [[histo_jobs]] entry `index` (0-based), and its `kinds` when given."""

    def change(data: dict[str, Any]) -> dict[str, Any]:
        table = _entry(data, index, Path(path))
        table["pairs"] = list(pairs)
        if kinds is not None:
            table["kinds"] = list(kinds)
        return data

    return _apply(path, change, based_on=based_on)


def remove_entry(
    path: str | os.PathLike, index: int, *, based_on: dict[str, Any] | None = None
) -> Config:
    """Remove [[histo_jobs]] entry `index` (0-based); the others stay as written."""

    def change(data: dict[str, Any]) -> dict[str, Any]:
        _entry(data, index, Path(path))
        del data["histo_jobs"][index]
        return data

    return _apply(path, change, based_on=based_on)


def add_entry(
    path: str | os.PathLike, entry: dict[str, Any], *, based_on: dict[str, Any] | None = None
) -> Config:
    """Append a [[histo_jobs]] entry after the others."""

    def change(data: dict[str, Any]) -> dict[str, Any]:
        data.setdefault("histo_jobs", []).append(dict(entry))
        return data

    return _apply(path, change, based_on=based_on)
