"""The venues whose archive keys config accepts are the engine's archive roots, one list.

config/exchanges.py listed the archive venues a second time next to engine/archive/sources.py
`ROOTS`: a venue added to one and not the other would take `archive = true` and never use it,
or have an archive the config refuses. The config now reads the engine's list; a venue taken out
of `ROOTS` is refused in both places config takes archive keys.
"""

from __future__ import annotations

import pytest

from dccd_tui.config import ConfigError, save_config
from dccd_tui.config.exchanges import archive_venues
from dccd_tui.engine.archive import sources


def _config(tmp_path, exchange_table: dict, job: dict):
    job = {"exchange": "binancecoinm", "pairs": ["BTC/USD:BTC"], "span": "1h", **job}
    data = {
        "settings": {"data_path": "data"},
        "exchanges": {"binancecoinm": exchange_table},
        "histo_jobs": [job],
    }
    return save_config(tmp_path / "config.toml", data)


def test_config_takes_the_engines_archive_venues(tmp_path, monkeypatch):
    assert archive_venues() == tuple(sources.ROOTS)
    config = _config(tmp_path, {"archive": True}, {"archive": True})
    assert config.exchanges["binancecoinm"].archive
    monkeypatch.delitem(sources.ROOTS, "binancecoinm")
    assert "binancecoinm" not in archive_venues()
    with pytest.raises(ConfigError, match=r"\[exchanges.binancecoinm\].*only binance, binanceusdm"):
        _config(tmp_path, {"archive": True}, {})
    with pytest.raises(ConfigError, match=r"archive.*only binance, binanceusdm have"):
        _config(tmp_path, {}, {"archive": True})
    assert not _config(tmp_path, {}, {}).exchanges["binancecoinm"].archive
