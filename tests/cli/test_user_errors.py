"""No traceback for a user mistake (issue 11, item 6): a NUL byte in `data_path`, and a
reader that closes the pipe (`dccd-tui backfill | head -1`) while a backfill runs.

Real processes (`python -m dccd_tui`), a real closed pipe, the sandbox over HTTP, real Parquet.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from dccd_tui.cli import main

from ..helpers import make_config, ms, stored

ROOT = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(ROOT)}


def nul_config(tmp_path: Path) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(
        '[settings]\ndata_path = "da\\u0000ta"\n\n[[histo_jobs]]\n'
        'exchange = "binance"\npairs = ["BTC/USDT"]\nspan = "1h"\n'
        'start = "2024-01-01"\nend = "2024-01-02"\n'
    )
    return path


@pytest.mark.parametrize(
    "argv",
    [["validate"], ["backfill"], ["backfill", "--dry-run"], ["inventory"], ["inventory", "--json"]],
)
def test_a_nul_byte_in_data_path_is_a_config_error(tmp_path, capsys, argv):
    path = nul_config(tmp_path)
    assert main([*argv, "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert "config.toml" in err and "data_path" in err and "NUL" in err
    assert "\x00" not in err


def test_a_nul_byte_in_data_path_gives_no_traceback_in_a_real_process(tmp_path):
    path = nul_config(tmp_path)
    proc = subprocess.run(
        [sys.executable, "-m", "dccd_tui", "backfill", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=ENV,
    )
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "data_path" in proc.stderr


@pytest.fixture
def sandbox_budgets():
    return {name: 1000.0 for name in ("binance", "bybit", "okx", "coinbase", "kraken")}


def test_a_closed_stdout_keeps_the_run_going_and_its_data(tmp_path, sandbox):
    """The reader reads one line and goes away; the backfill finishes every window, quietly."""
    config = make_config(
        tmp_path,
        sandbox,
        [
            {
                "exchange": "binance",
                "pairs": ["BTC/USDT"],
                "span": "1m",
                "start": "2024-01-01",
                "end": "2024-01-06",
            },
        ],
        rps={"binance": 10.0},
    )  # 8 windows at 10 a second: about 0.8 s of run (progress every 0.1 s) after the close
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "dccd_tui",
            "backfill",
            "--config",
            str(config.path),
            "--progress-every",
            "0.1",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=ENV,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()
    assert first
    proc.stdout.close()  # `| head -1`
    _, err = proc.communicate(timeout=120)
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()
    assert proc.returncode == 0
    truth = sandbox.ground_truth("binance", "BTC/USDT", 60, ms("2024-01-01"), ms("2024-01-06"))
    assert stored(config.settings.data_path).height == truth.height


@pytest.mark.parametrize("argv", [["validate"], ["inventory"], ["backfill", "--dry-run"]])
def test_a_closed_stdout_ends_other_commands_quietly(tmp_path, sandbox, argv):
    jobs = [
        {
            "exchange": "binance",
            "pairs": [f"P{i}/USDT"],
            "span": "1h",
            "start": "2024-01-01",
            "end": "2024-01-02",
        }
        for i in range(300)
    ]
    config = make_config(tmp_path, sandbox, jobs)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dccd_tui", *argv, "--config", str(config.path)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=ROOT,
        env=ENV,
    )
    assert proc.stdout is not None
    assert proc.stdout.readline()
    proc.stdout.close()
    _, err = proc.communicate(timeout=120)
    assert b"Traceback" not in err and b"BrokenPipe" not in err, err.decode()
    assert proc.returncode == 0
