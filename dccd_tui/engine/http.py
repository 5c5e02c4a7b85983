"""HTTP for one exchange: a shared httpx client with timeouts, the rate gate, and classification.

Every request goes through `ExchangeClient.get`: it reserves a slot from the exchange's shared
gate, sends the request with a timeout (the seed had none, so a stalled socket hung a job for
ever), and hands the answer to the adapter's `raise_for_error`, so the caller sees data or a
classified error. It does not retry: the backfill loop decides that per window. A rate-limit
answer pauses the whole exchange's gate before it is raised. A body is read as it streams in
and abandoned past `max_body_bytes` (TransientError naming the size), and a redirect is never
followed: it is a PermanentError naming its status and Location.

Windows are fetched on a pool of threads per exchange (`submit`), so one job keeps several
requests in flight and the job thread, which only waits on futures, notices a cancel at once
even while a socket is stalled; the abandoned request ends at its timeout on its own.
"""

from __future__ import annotations

import functools
import ssl
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor

import httpx

from .errors import Cancelled, PermanentError, RateLimitError, TransientError
from .exchanges._common import clean_text
from .exchanges.base import Exchange
from .ratelimit import GateRegistry, RateGate


def make_timeout(seconds: float = 20.0) -> httpx.Timeout:
    """Every request has a deadline: a stalled socket is abandoned after `seconds` of silence."""
    return httpx.Timeout(connect=min(5.0, seconds), read=seconds, write=seconds, pool=seconds + 10)


DEFAULT_TIMEOUT = make_timeout()
#: The largest answer body read, per request (a page of 1,000 candles is ~150 kB): a bigger one
#: is abandoned as it streams in, so a runaway answer cannot take the process's memory with it.
MAX_BODY_BYTES = 32 << 20
USER_AGENT = "dccd-tui/0.1 (+historical candle backfill)"
FETCH_THREADS = "fetch-"
"""The names of a client's fetch threads begin so (the engine process leaves without waiting
for them: dccd_tui/daemon/__main__.py `_leave`)."""


@functools.cache
def tls_context() -> ssl.SSLContext:
    """httpx's default TLS context (verifying, certifi's CAs), made once per process and shared
    by every client: making one reads the CA bundle, tens of milliseconds of CPU, which each
    client (five per runner, one per archive download) paid again."""
    return httpx.create_ssl_context()


def make_transport(connections: int, source_address: str | None = None) -> httpx.HTTPTransport:
    """The connection pool of a client: `connections` at most, TLS verified (never turned off),
    and with `source_address` every connection leaving from that local IP, the address a venue
    counts its budget by (a cluster worker's, docs/cluster.md); None: the system's choice."""
    return httpx.HTTPTransport(
        verify=tls_context(),
        limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        local_address=source_address,
    )


class ExchangeClient:
    """Rate-gated, timed, classified GETs against one exchange's base URL."""

    def __init__(
        self,
        adapter: Exchange,
        base_url: str,
        rps: float,
        gates: GateRegistry,
        *,
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        max_in_flight: int = 32,
        max_body_bytes: int | None = None,
        source_address: str | None = None,
    ):
        self.adapter = adapter
        self.source_address = source_address
        self.max_body_bytes = MAX_BODY_BYTES if max_body_bytes is None else max_body_bytes
        self.base_url = base_url.rstrip("/")
        self.rps = rps
        self.gates = gates
        self._http = httpx.Client(
            transport=make_transport(max_in_flight, source_address),
            timeout=timeout,
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=False,
        )
        self._pool = ThreadPoolExecutor(
            max_workers=max_in_flight, thread_name_prefix=f"{FETCH_THREADS}{adapter.name}"
        )
        self._lock = threading.Lock()
        self.requests = 0
        self.rate_limited = 0
        #: The ``Date`` header of the newest answer: the venue's clock to the second, for a
        #: venue with no time endpoint (venue_clock.py).
        self.last_date: str | None = None
        #: Answers kept for every job of the venue (`Exchange.shared_answer_seconds`): request
        #: -> (monotonic expiry, body); one lock per request, so that jobs asking at once wait
        #: for the first one's answer instead of sending copies of it.
        self._shared: dict[tuple, tuple[float, bytes]] = {}
        self._shared_locks: dict[tuple, threading.Lock] = {}

    def gate(self, symbol: str, suffix: str = "") -> RateGate:
        """The gate a request draws on: the venue's main budget (per pair on Kraken), or the
        budget `suffix` names (`Exchange.gate_rates`, e.g. Binance USD-M's ``"funding"``)."""
        pair = symbol if self.adapter.rate_limit_per_pair else ""
        if not suffix:
            return self.gates.get(self.adapter.name, self.rps, pair)
        return self.gates.get(self.adapter.name, self.adapter.gate_rates[suffix], pair, suffix)

    def get(
        self,
        path: str,
        params: Mapping[str, str],
        *,
        symbol: str = "",
        cancel: threading.Event | None = None,
        on_request=None,
    ) -> bytes:
        """One gated GET; returns the body of a data answer or raises a classified error. A
        request whose answer the adapter says is shared (a venue's contract list) is sent once
        per `Exchange.shared_answer_seconds` for every job of the venue."""
        keep = self.adapter.shared_answer_seconds(path, params)
        if keep > 0:
            return self._shared_get(path, params, keep, symbol, cancel, on_request)
        return self._gated_get(path, params, symbol, cancel, on_request)

    def _shared_get(self, path, params, keep: float, symbol, cancel, on_request) -> bytes:
        """The kept answer while it is fresh; else one request, the others waiting for it (an
        error is not kept: the next caller asks again)."""
        key = (path, tuple(sorted(params.items())))
        with self._lock:
            lock = self._shared_locks.setdefault(key, threading.Lock())
        while not lock.acquire(timeout=0.05):  # a cancel is seen while another job asks
            if cancel is not None and cancel.is_set():
                raise Cancelled()
        try:
            with self._lock:
                kept = self._shared.get(key)
            if kept is not None and kept[0] > time.monotonic():
                return kept[1]
            body = self._gated_get(path, params, symbol, cancel, on_request)
            with self._lock:
                self._shared[key] = (time.monotonic() + keep, body)
            return body
        finally:
            lock.release()

    def _gated_get(self, path, params, symbol, cancel, on_request) -> bytes:
        # The adapter says which budget the request draws on and what it weighs there (Binance
        # futures: request weight by `limit`); spot venues answer ("", 1.0).
        suffix, cost = self.adapter.request_cost(path, params)
        gate = self.gate(symbol, suffix)
        gate.acquire(cancel, cost)
        if on_request is not None:
            on_request()
        try:
            return self._send(path, dict(params))
        except RateLimitError as exc:
            with self._lock:
                self.rate_limited += 1
            pause = exc.retry_after if exc.retry_after is not None else 5.0
            self.gates.pause_exchange(self.adapter.name, pause)
            raise

    def _send(self, path: str, params: dict[str, str]) -> bytes:
        with self._lock:
            self.requests += 1
        url = self.base_url + path
        try:
            with self._http.stream("GET", url, params=params) as resp:
                body = self._read(resp, path)
        except httpx.TimeoutException as exc:
            raise TransientError(
                f"{self.adapter.name}: timeout ({type(exc).__name__}) on {path}"
            ) from None
        except httpx.TransportError as exc:
            raise TransientError(
                f"{self.adapter.name}: connection error on {path}: {exc}"
            ) from None
        except httpx.HTTPError as exc:  # decoding problems etc.
            raise TransientError(f"{self.adapter.name}: HTTP error on {path}: {exc}") from None
        self.last_date = resp.headers.get("Date") or self.last_date
        if 300 <= resp.status_code < 400:
            # Following a redirect could silently send the job to another host: say where it
            # pointed and stop (a changed base_url is for the user to confirm in the config).
            where = clean_text(resp.headers.get("Location") or "<no Location>", 200)
            raise PermanentError(
                f"{self.adapter.name}: redirect {resp.status_code} to {where} "
                f"on {path} (redirects are not followed; check base_url)",
                status=resp.status_code,
            )
        self.adapter.raise_for_error(resp.status_code, body, resp.headers)
        return body

    def _read(self, resp: httpx.Response, path: str) -> bytes:
        """The body of `resp`, or TransientError as soon as it grows past `max_body_bytes`."""
        cap = self.max_body_bytes
        declared = resp.headers.get("Content-Length")
        if declared is not None and declared.strip().isdigit() and int(declared) > cap:
            raise self._too_big(path, f"{int(declared):,} bytes announced")
        chunks: list[bytes] = []
        size = 0
        for chunk in resp.iter_bytes():
            size += len(chunk)
            if size > cap:
                raise self._too_big(path, f"more than {size:,} bytes received")
            chunks.append(chunk)
        return b"".join(chunks)

    def _too_big(self, path: str, what: str) -> TransientError:
        return TransientError(
            f"{self.adapter.name}: answer too large on {path}: {what}, "
            f"over the cap of {self.max_body_bytes:,} bytes (abandoned)"
        )

    def submit(self, fn, *args) -> Future:
        """Run `fn(*args)` on this exchange's fetch threads (used for whole windows)."""
        return self._pool.submit(fn, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._http.close()
