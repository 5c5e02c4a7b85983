"""``python -m dccd_tui.daemon --config FILE``: run the engine of FILE's data folder.

In the foreground by default (Ctrl-C stops it, cancelling jobs after they flush). `dccd-tui`
starts it detached through dccd_tui/link/spawn.py, with `--log-file` so that its output goes
to a size-bounded file in the data folder. Exit codes: 0 stopped, 2 config error or the folder
is in use / unsafe.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import threading
from pathlib import Path

from ..priority import lower_priority


def _base_url(text: str) -> tuple[str, str]:
    name, sep, url = text.partition("=")
    if not sep or not url:
        raise argparse.ArgumentTypeError("expected EXCHANGE=URL")
    return name.strip().lower(), url.strip()


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m dccd_tui.daemon", description=__doc__)
    p.add_argument("--config", type=Path, required=True, help="config file")
    p.add_argument(
        "--base-url",
        type=_base_url,
        action="append",
        default=[],
        metavar="EXCHANGE=URL",
        help="point an exchange at another server (tests)",
    )
    p.add_argument(
        "--sandbox",
        action="store_true",
        help="start the sandbox exchange in its own process and use it (the demo)",
    )
    p.add_argument(
        "--log-file",
        type=Path,
        default=None,
        help="send output to this file, rotated at 1 MiB (detached engines)",
    )
    p.add_argument(
        "--start-live",
        action="store_true",
        help="start the config's live = true jobs at once (a service run by systemd: docs/live.md)",
    )
    p.add_argument(
        "--idle-exit",
        type=float,
        default=None,
        metavar="SECONDS",
        help="override [settings] engine_idle_exit (0: never)",
    )
    return p


def _redirect(log_file: Path) -> None:
    from .server import rotate_log

    log_file.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    os.close(fd)
    rotate_log(log_file)


ENGINE_NICE = 5


def _yield_cpu() -> None:
    """The engine is a background worker: when the machine is short of CPU, the terminals
    attached to it go first (dccd_tui/priority.py says how). Its downloads wait on the
    exchanges' rate budgets far more than on the CPU, so this costs them little.

    It is called once the socket listens, not at start: until then the app that started the
    engine waits for it, and the start-up is on the path of the first frame.

    Measured with bench/ui.py (50 jobs, 2 cores shared with the sandbox): key to screen p99
    94-231 ms with the nice value only; 45-87 ms with the session lowered too; 45-65 ms with
    SCHED_BATCH as well."""
    lower_priority(ENGINE_NICE)


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.log_file is not None:
        _redirect(args.log_file)
    logging.basicConfig(
        stream=sys.stderr, level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s"
    )
    log = logging.getLogger("dccd_tui.engine")
    # One line per HTTP request would fill the bounded log with nothing the user needs.
    logging.getLogger("httpx").setLevel(logging.WARNING)
    logging.getLogger("httpcore").setLevel(logging.WARNING)
    # A detached engine outlives the terminal that started it: the hang-up is not for it.
    signal.signal(signal.SIGHUP, signal.SIG_IGN)

    from ..config import ConfigError, load_config
    from ..engine import StoreError, make_runner
    from .server import EngineServer, EngineStartError

    config_path = args.config.expanduser().resolve()
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        log.error("%s", exc)
        print(f"dccd-tui engine: {exc}", file=sys.stderr)
        return 2
    base_urls = dict(args.base_url)
    sandbox = None
    if args.sandbox:
        from ..demo import start_sandbox

        sandbox, urls = start_sandbox()
        base_urls = {**urls, **base_urls}
        log.info("sandbox exchange in process %d", sandbox.pid)
    runner = make_runner(config, base_urls=base_urls)
    try:
        runner.open()
    except (StoreError, OSError) as exc:  # OSError: the cluster's scheduler cannot be reached
        log.error("%s", exc)
        print(f"dccd-tui engine: {exc}", file=sys.stderr)
        if sandbox is not None:
            sandbox.stop()
        return 2
    if runner.store.migrated:  # a store of an earlier version was moved (once)
        log.info("%s", runner.store.migrated)
    idle = (
        args.idle_exit
        if args.idle_exit is not None
        else getattr(config.settings, "engine_idle_exit", 600.0)
    )
    server = EngineServer(
        runner,
        config_path,
        load_config=load_config,
        idle_exit=idle,
        log_file=args.log_file,
        on_stop=sandbox.stop if sandbox is not None else None,
    )
    try:
        server.bind()
    except (EngineStartError, OSError) as exc:
        log.error("%s", exc)
        print(f"dccd-tui engine: {exc}", file=sys.stderr)
        runner.close()
        if sandbox is not None:
            sandbox.stop()
        return 2
    signal.signal(signal.SIGTERM, lambda *_: server.stop("it was sent SIGTERM"))
    signal.signal(signal.SIGINT, lambda *_: server.stop("it was interrupted (Ctrl-C)"))
    _yield_cpu()
    if args.start_live:  # after a reboot nothing runs by itself unless asked (issue 21)
        live = [key for key, spec in runner.specs.items() if spec.live]
        if live:
            runner.start(live)
            from ..engine import fmt_plural

            log.info("started %s of the config", fmt_plural(len(live), "live job"))
    server.serve_forever()
    return 0


def _leave(code: int) -> None:
    """Exit once every thread but the exchange fetch workers has ended.

    When `main` returns, the engine has stopped: the runner closed, its jobs cancelled and
    flushed. A fetch worker may still be blocked reading from an exchange that stopped
    answering, and concurrent.futures joins its workers at exit: the process lingered until
    that read timed out (request_timeout, 20 s by default) and `dccd-tui engine stop`, which
    waits for the process to be gone, with it. Nothing waits for that answer any more; any
    other thread still running (one that writes) is waited for, as a normal exit would."""
    from ..engine import FETCH_THREADS

    for thread in threading.enumerate():
        if thread is threading.current_thread() or thread.daemon:
            continue
        if not thread.name.startswith(FETCH_THREADS):
            thread.join()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    _leave(main())
