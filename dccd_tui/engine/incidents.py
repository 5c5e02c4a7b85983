"""Engine errors: failures that are the engine's own fault (a bug, memory exhausted), counted.

Why it exists: some phases survive such a failure instead of failing the job (the archive phase
hands the file's range to REST: `archive/fast_path.py`), so nothing would fail where anyone
looks. Each one is therefore logged at ERROR level on the ``dccd_tui.engine`` logger (the engine
process writes it to its log, with the traceback), said in the job's log as an "engine error",
and counted here, in this process; the test suite fails any test that leaves one behind
(tests/conftest.py).
"""

from __future__ import annotations

import logging
import threading

from .fmt import safe_text

log = logging.getLogger("dccd_tui.engine")

_lock = threading.Lock()
_errors: list[str] = []
_count = 0
_KEPT = 100  # the texts kept (the first ones); the count goes on


def note_engine_error(where: str, exc: BaseException) -> str:
    """Log and count one engine error raised while doing `where`; the one line that says it."""
    text = f"engine error in {where}: {type(exc).__name__}: {safe_text(exc, 300)}"
    global _count
    with _lock:
        _count += 1
        if len(_errors) < _KEPT:
            _errors.append(text)
    try:
        log.error("%s", text, exc_info=exc)
    except Exception:  # a handler failing (out of memory again) must not hide the first error
        pass
    return text


def engine_error_count() -> int:
    """How many engine errors this process noted since the last `take_engine_errors`."""
    with _lock:
        return _count


def take_engine_errors() -> list[str]:
    """The engine errors noted so far (the first `_KEPT` texts), forgotten once returned."""
    global _count
    with _lock:
        out = list(_errors)
        _errors.clear()
        _count = 0
        return out
