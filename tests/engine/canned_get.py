"""A fake of the engine's `get(path, params)` for the derivatives adapters' offline tests.

Why it exists: the adapter tests drive `fetch_window` / `fetch_funding` against answers written
from the venues' docs. Like the real HTTP layer, every answer goes through the adapter's own
`raise_for_error` before the adapter sees it, and every call is recorded so that tests can check
the parameters sent per kind and count the requests a paging walk makes.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from dccd_tui.engine.exchanges.base import Exchange

Handler = Callable[[str, dict[str, str]], Any]


class CannedGet:
    """Serves `handler(path, params)`: a JSON-able value (HTTP 200), or ``(status, body)`` /
    ``(status, body, headers)`` with body as str or bytes."""

    def __init__(self, adapter: Exchange, handler: Handler) -> None:
        self.adapter = adapter
        self.handler = handler
        self.calls: list[tuple[str, dict[str, str]]] = []

    def __call__(self, path: str, params: Mapping[str, str]) -> bytes:
        params = dict(params)
        assert all(isinstance(v, str) for v in params.values()), params
        self.calls.append((path, params))
        answer = self.handler(path, params)
        if isinstance(answer, tuple):
            status, body = answer[0], answer[1]
            headers = answer[2] if len(answer) > 2 else {}
        else:
            status, body, headers = 200, json.dumps(answer), {}
        if isinstance(body, str):
            body = body.encode()
        self.adapter.raise_for_error(status, body, headers)
        return body
