"""Text from outside is shown visibly escaped (issue 11, item 7): an exchange's error message with
terminal escapes and bidirectional overrides, in the log pane, the detail line, the job table and
the notification. The real app (Pilot) against a real HTTP server on loopback.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from dccd_tui.config import save_config
from dccd_tui.engine.state import Status
from dccd_tui.tui.app import DccdApp
from dccd_tui.tui.widgets import JobLog

RAW = ("\x1b", "\x07", "\u202e", "\u2066", "\u200f")


class _Hostile(BaseHTTPRequestHandler):
    """An 'exchange' whose error message carries escapes and a right-to-left override."""

    BODY = json.dumps(
        {"code": -1121, "msg": "bad \x1b]2;PWNED\x07 symbol \u202eTDSU\u2066x\u2069\u200f"}
    ).encode()

    def do_GET(self):
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(self.BODY)))
        self.end_headers()
        self.wfile.write(self.BODY)

    def log_message(self, *args):
        pass


def visible(text: str) -> bool:
    """Every hostile character shown as its escape, none raw."""
    return not any(c in text for c in RAW) and all(
        e in text for e in ("\\x1b", "\\x07", "\\u202e", "\\u2066", "\\u200f")
    )


async def test_escapes_and_bidi_overrides_are_shown_as_visible_escapes(tmp_path):
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hostile)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        config = save_config(
            tmp_path / "config.toml",
            {
                "settings": {"data_path": "data"},
                "exchanges": {
                    "binance": {
                        "base_url": f"http://127.0.0.1:{server.server_address[1]}",
                        "requests_per_second": 100,
                    }
                },
                "histo_jobs": [
                    {
                        "exchange": "binance",
                        "pairs": ["BTC/USDT"],
                        "span": "1m",
                        "start": "2024-03-01",
                        "end": "2024-03-02",
                    }
                ],
            },
        )
        app = DccdApp(config, theme_folders=[])
        async with app.run_test(size=(160, 30), notifications=True) as pilot:
            key = app.runner.keys()[0]
            await pilot.press("s")
            deadline = time.monotonic() + 10
            while app.runner.is_active(key) and time.monotonic() < deadline:
                await pilot.pause(0.05)
            await pilot.pause(0.3)
            assert app.runner.states[key].snapshot().status is Status.FAILED
            app.screen.tick()
            await pilot.pause()
            shown = "\n".join(app.screen.query_one(JobLog).lines)
            assert visible(shown), shown
            detail = str(app.screen.query_one("#detail").render())
            assert visible(detail), detail
            messages = [n.message for n in app._notifications]
            assert not any(c in m for m in messages for c in RAW), messages
            failed = [m for m in messages if "failed:" in m]  # the job's reason, not the run's end
            assert failed and all(visible(m) for m in failed), failed
    finally:
        server.shutdown()
        server.server_close()
