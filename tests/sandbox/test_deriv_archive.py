"""The sandbox's Binance archive for futures (issue 20): USD-M and COIN-M klines, mark, index and
premium files built from the series REST serves, under the same file names; monthly funding files
whose calc_time is a few ms after the funding time; which files exist; the other_kind fault."""

from __future__ import annotations

import hashlib
import io
import zipfile
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from .deriv_common import DAY, box, rows_of

BASE = "/data/futures/{m}/{freq}/{ds}/{sym}/{iv}/{sym}-{iv}-{period}.zip"


@pytest.fixture(scope="module")
def sb():
    with box() as b:
        yield b


@pytest.fixture
def host(sb):
    sb.archive.clear_faults()
    with httpx.Client(base_url=sb.archive_url(), timeout=20) as client:
        yield client
    sb.archive.clear_faults()


def fetch(host, path: str) -> tuple[str, list[list[str]]]:
    body = host.get(path).raise_for_status().content
    digest, name = host.get(path + ".CHECKSUM").raise_for_status().text.split()
    assert digest == hashlib.sha256(body).hexdigest() and name == path.rsplit("/", 1)[1]
    zf = zipfile.ZipFile(io.BytesIO(body))
    (info,) = zf.infolist()
    lines = zf.read(info).decode().splitlines()
    return info.filename, [line.split(",") for line in lines if line[0].isdigit()]


def parse(rows, kind) -> list[tuple]:
    out = []
    for r in rows:
        assert len(r) == 12 and int(r[6]) == int(r[0]) + 3_599_999  # milliseconds
        prices = tuple(float(x) for x in r[1:5])
        if kind == "candles":
            out.append((int(r[0]), *prices, float(r[5]), float(r[7]), int(r[8])))
        else:
            assert r[5] == r[7] == "0"
            out.append((int(r[0]), *prices, None, None, None))
    return out


CASES = [
    ("um", "klines", "BTCUSDT", "binanceusdm", "BTC/USDT:USDT", "candles"),
    ("um", "markPriceKlines", "BTCUSDT", "binanceusdm", "BTC/USDT:USDT", "mark"),
    ("um", "indexPriceKlines", "BTCUSDT", "binanceusdm", "BTC/USDT:USDT", "index"),
    ("um", "premiumIndexKlines", "BTCUSDT", "binanceusdm", "BTC/USDT:USDT", "premium"),
    ("cm", "klines", "BTCUSD_PERP", "binancecoinm", "BTC/USD:BTC", "candles"),
    ("cm", "indexPriceKlines", "BTCUSD", "binancecoinm", "BTC/USD:BTC", "index"),
]


@pytest.mark.parametrize(("m", "ds", "sym", "venue", "unified", "kind"), CASES)
def test_files_hold_what_rest_serves(sb, host, m, ds, sym, venue, unified, kind):
    name, rows = fetch(
        host, BASE.format(m=m, freq="monthly", ds=ds, sym=sym, iv="1h", period="2025-10")
    )
    assert name == f"{sym}-1h-2025-10.csv"  # the same name for every kind
    lo = 1_759_276_800_000  # 2025-10-01
    truth = sb.ground_truth(venue, unified, 3600, lo, lo + 31 * DAY, kind=kind)
    assert parse(rows, kind) == rows_of(truth)
    day = BASE.format(m=m, freq="daily", ds=ds, sym=sym, iv="1h", period="2025-10-07")
    _, rows = fetch(host, day)
    assert parse(rows, kind) == rows_of(truth.filter(truth["ts"] // DAY == lo // DAY + 6))


def test_which_files_exist(host):
    ok = BASE.format(
        m="um", freq="monthly", ds="markPriceKlines", sym="BTCUSDT", iv="1m", period="2019-10"
    )
    assert host.get(ok).status_code == 200
    for period, sym, ds, iv in (
        ("2026-11", "BTCUSDT", "klines", "1m"),  # the month has not ended
        ("2019-08", "BTCUSDT", "klines", "1m"),  # before the listing
        ("2025-03", "LTCUSDT", "klines", "1h"),  # after the delisting
        ("2025-01", "BTCUSD_PERP", "klines", "1h"),  # a COIN-M symbol under um
        ("2025-01", "BTCUSDT", "klines", "1s"),
    ):
        path = BASE.format(m="um", freq="monthly", ds=ds, sym=sym, iv=iv, period=period)
        assert host.get(path).status_code == 404, path
    cm_mark = BASE.format(
        m="cm", freq="monthly", ds="markPriceKlines", sym="BTCUSD", iv="1h", period="2025-01"
    )
    assert host.get(cm_mark).status_code == 404  # mark files are named for the contract


@pytest.mark.parametrize(
    ("m", "sym", "venue", "unified"),
    [
        ("um", "BTCUSDT", "binanceusdm", "BTC/USDT:USDT"),
        ("cm", "BTCUSD_PERP", "binancecoinm", "BTC/USD:BTC"),
    ],
)
def test_funding_files_are_a_few_ms_late(sb, host, m, sym, venue, unified):
    change = sb.perps(venue)[unified]["change_ms"]  # the month the interval changed
    first = datetime.fromtimestamp(change / 1000, UTC).replace(day=1)
    following = (first + timedelta(days=32)).replace(day=1)
    month = first.strftime("%Y-%m")
    path = f"/data/futures/{m}/monthly/fundingRate/{sym}/{sym}-fundingRate-{month}.zip"
    name, rows = fetch(host, path)
    assert name == f"{sym}-fundingRate-{month}.csv"
    truth = sb.funding_truth(
        venue, unified, int(first.timestamp() * 1000), int(following.timestamp() * 1000)
    )
    got = [(int(r[0]), float(r[1]), float(r[2])) for r in rows]
    assert len(got) == len(truth) > 0
    for (calc, hours, rate), (ts, t_rate, t_hours, _m) in zip(got, rows_of(truth), strict=True):
        assert 1 <= calc - ts <= 12 and hours == t_hours and rate == t_rate
    assert {h for _c, h, _r in got} == set(map(float, sb.perps(venue)[unified]["intervals"]))


def test_other_kind_serves_klines_under_a_mark_name(sb, host):
    sb.archive.add_fault("other_kind", "2025-09")
    path = BASE.format(
        m="um", freq="monthly", ds="markPriceKlines", sym="BTCUSDT", iv="1h", period="2025-09"
    )
    name, rows = fetch(host, path)  # the checksum matches: only the content tells
    assert name == "BTCUSDT-1h-2025-09.csv"
    assert all(r[5] != "0" for r in rows)  # volumes: klines rows
