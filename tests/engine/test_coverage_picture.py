"""`CoveragePicture` and the inventory reports on the wire: what the engine's `coverage` and
`inventory` ops send (dccd_tui/daemon/ops.py) must come back as what was computed, over the
store of tests/coverage_store.py (stored, gap, missing and failed ranges)."""

from __future__ import annotations

import json

from dccd_tui.engine.coverage_picture import coverage_picture
from dccd_tui.engine.inventory import (
    coverage_strip,
    inventory_since,
    series_report,
    version_token,
)
from dccd_tui.engine.models import Series
from dccd_tui.link.wire import picture_from_wire, picture_to_wire, report_from_wire, report_to_wire

from .. import coverage_store as cs

BTC = Series("binance", "BTC/USDT", 60)


def test_a_picture_survives_json_and_says_what_the_report_says(tmp_path):
    config = cs.write_config(tmp_path)
    store = cs.build_store(config.settings.data_path)
    start, end = cs.ms(2024, 1, 1), cs.NOW
    picture = coverage_picture(store, BTC, start, end, 40, 40)
    report = series_report(store, BTC, start, end)
    strip = coverage_strip(report, 40)
    assert picture.states == strip.states and picture.unit == strip.unit
    assert {"stored", "gap", "missing", "failed"} <= set(picture.states)
    assert picture.coverage_pct == report.coverage_pct and picture.complete is False
    assert picture.closes is not None and len(picture.closes) == (40 // len(strip)) * len(strip)
    again = picture_from_wire(json.loads(json.dumps(picture_to_wire(picture))))
    assert again == picture
    # the version is the manifest's: asked with it, nothing is read
    assert picture.version == version_token(store, BTC) is not None
    same = coverage_picture(store, BTC, start, end, 40, 40, since=picture.version)
    assert same.unchanged and same.states == []


def test_a_store_that_cannot_be_read_gives_a_picture_with_the_reason(tmp_path):
    config = cs.write_config(tmp_path)
    store = cs.build_store(config.settings.data_path)
    picture = coverage_picture(store, Series("bad/name", "BTC/USDT", 60), 0, 10**9, 10, 10)
    assert picture.error is not None and "bad/name" in picture.error
    assert picture.states == [] and picture.closes is None


def test_inventory_reports_survive_the_wire_and_only_changed_ones_come_again(tmp_path):
    config = cs.write_config(tmp_path)
    store = cs.build_store(config.settings.data_path)
    order, reports = inventory_since(config, store, cs.NOW)
    assert len(order) == len(reports) >= 3
    for report in reports:
        wired = report_from_wire(json.loads(json.dumps(report_to_wire(report))))
        assert wired == report
        assert wired.to_dict() == report.to_dict()
    since = {r.series.key: r.version for r in reports}
    assert inventory_since(config, store, cs.NOW, since) == (order, [])
    store.series(BTC).write(
        cs.candles(cs.ms(2024, 1, 20), cs.ms(2024, 1, 21), cs.MIN),
        [(cs.ms(2024, 1, 20), cs.ms(2024, 1, 21))],
    )
    again, changed = inventory_since(config, store, cs.NOW, since)
    assert again == order and [r.series for r in changed] == [BTC]
