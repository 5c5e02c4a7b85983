"""Text from outside reaches the terminal visibly escaped (issue 11, item 7): control characters
as ``\\xNN``, bidirectional overrides and isolates as ``\\uNNNN``, in the formatting helpers and in
what `validate` and `inventory` print (real config files, a real store folder)."""

from __future__ import annotations

import pytest

from dccd_tui.cli import main
from dccd_tui.engine.fmt import clean_text, safe_text

BIDI = [
    "\u202a",
    "\u202b",
    "\u202c",
    "\u202d",
    "\u202e",
    "\u2066",
    "\u2067",
    "\u2068",
    "\u2069",
    "\u200e",
    "\u200f",
    "\u061c",
]


@pytest.mark.parametrize("char", BIDI)
def test_bidi_controls_are_neutralised(char):
    for fn in (safe_text, clean_text):
        out = fn(f"a{char}b")
        assert char not in out and out == f"a\\u{ord(char):04x}b"


def test_control_characters_are_visible_not_spaces():
    assert safe_text("a\x1b[31mb\x07") == "a\\x1b[31mb\\x07"
    assert clean_text("a\x1b[31mb\x07 c") == "a\\x1b[31mb\\x07 c"
    assert clean_text("one\r\n\ttwo\n") == "one two"  # one line: breaks become one space
    assert safe_text("one\ntwo") == "one\ntwo"  # a multi-line note keeps its lines
    assert clean_text("x" * 400 + "\x1b").endswith("...")  # cut before escaping, never mid-escape


def hostile_config(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        '[settings]\ndata_path = "da\\u001b]2;x\\u0007\\u202eta"\n\n'
        '[[histo_jobs]]\nexchange = "binance"\npairs = ["BTC/USDT"]\nspan = "1h"\n'
        'start = "2024-01-01"\nend = "2024-01-02"\n'
    )
    return path


@pytest.mark.parametrize("argv", [["validate"], ["inventory"]])
def test_cli_output_shows_escapes_and_overrides_visibly(tmp_path, capsys, argv):
    path = hostile_config(tmp_path)
    assert main([*argv, "--config", str(path)]) == 0
    out = capsys.readouterr().out
    for raw in ("\x1b", "\x07", "\u202e"):
        assert raw not in out
    assert "da\\x1b]2;x\\x07\\u202eta" in out
