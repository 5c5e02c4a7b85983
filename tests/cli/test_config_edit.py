"""Editing config.toml in place (config/edit.py), the per-user state file (user_state.py) and
the small config rules of issue 12: BOM, `~` in data_path, `[settings] notify`."""

from __future__ import annotations

import difflib
import os
import tomllib
from pathlib import Path

import pytest

from dccd_tui.config import ConfigError, load_config, save_config
from dccd_tui.config.edit import ConfigChangedError, add_entry, edit_pairs, remove_entry
from dccd_tui.user_state import load_state, state_path, update_state

SHIPPED = Path(__file__).parents[2] / "config.toml"


def shipped(tmp_path: Path, mode: int = 0o644) -> Path:
    path = tmp_path / "config.toml"
    path.write_bytes(SHIPPED.read_bytes())
    path.chmod(mode)
    return path


def changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.ndiff(before.splitlines(), after.splitlines())
        if line.startswith(("- ", "+ "))
    ]


# --- in-place edits ---------------------------------------------------------------------


def test_edit_pairs_changes_one_line_and_keeps_mode(tmp_path):
    path = shipped(tmp_path)
    before = path.read_text(encoding="utf-8")
    cfg = load_config(path)
    new = edit_pairs(path, 2, ["BTC/USDT", "ETH/USDT", "SOL/USDT"], based_on=cfg.raw)
    after = path.read_text(encoding="utf-8")
    assert changed_lines(before, after) == [
        '- pairs = ["BTC/USDT", "ETH/USDT"]',
        '+ pairs = ["BTC/USDT", "ETH/USDT", "SOL/USDT"]',
    ]
    assert path.stat().st_mode & 0o777 == 0o644
    assert "bybit SOL/USDT candles 1m" in {j.key for j in new.jobs}
    assert load_config(path).raw == new.raw
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_other_modes_are_kept_too(tmp_path):
    path = shipped(tmp_path, mode=0o640)
    edit_pairs(path, 0, ["BTC/USDT"])
    assert path.stat().st_mode & 0o777 == 0o640


def test_add_entry_appends_one_block_and_keeps_every_comment(tmp_path):
    path = shipped(tmp_path)
    before = path.read_text(encoding="utf-8")
    add_entry(
        path,
        {"exchange": "okx", "pairs": ["SOL/USDT"], "span": "1d", "start": "2023-01-01 00:00:00"},
        based_on=load_config(path).raw,
    )
    after = path.read_text(encoding="utf-8")
    assert after.startswith(before)
    assert after[len(before) :] == (
        '\n[[histo_jobs]]\nexchange = "okx"\npairs = ["SOL/USDT"]\n'
        'span = "1d"\nstart = "2023-01-01 00:00:00"\n'
    )
    assert len(load_config(path).raw["histo_jobs"]) == 11


def test_remove_entry_removes_just_that_block(tmp_path):
    path = shipped(tmp_path)
    before = path.read_text(encoding="utf-8")
    remove_entry(path, 1, based_on=load_config(path).raw)
    removed = changed_lines(before, path.read_text(encoding="utf-8"))
    assert all(line.startswith("- ") for line in removed)
    assert '- span = "1h"' in removed and len(removed) == 6  # header, 4 keys, blank line


def test_whole_data_save_keeps_comments_of_an_existing_file(tmp_path):
    path = shipped(tmp_path)
    data = load_config(path).raw
    data["settings"]["max_parallel"] = 3
    save_config(path, data)
    text = path.read_text(encoding="utf-8")
    assert "max_parallel = 3            # jobs running at once; the rest wait as queued" in text
    assert text.count("#") == SHIPPED.read_text(encoding="utf-8").count("#")


def test_invalid_edit_is_refused_before_writing(tmp_path):
    path = shipped(tmp_path)
    before = path.read_bytes()
    with pytest.raises(ConfigError) as info:
        edit_pairs(path, 0, ["BTCUSDT"])
    assert "config.toml" in str(info.value) and "pairs" in str(info.value)
    assert path.read_bytes() == before
    assert not path.with_name("config.toml.bak").exists()


def test_a_config_changed_on_disk_is_not_overwritten(tmp_path):
    path = shipped(tmp_path)
    loaded = load_config(path).raw
    edited = path.read_text(encoding="utf-8").replace(
        'span = "1h"\nstart = "2020', 'span = "1d"\nstart = "2020'
    )
    path.write_text(edited, encoding="utf-8")
    with pytest.raises(ConfigChangedError) as info:
        edit_pairs(path, 0, ["BTC/USDT"], based_on=loaded)
    assert "changed on disk" in str(info.value) and "config.toml" in str(info.value)
    assert path.read_text(encoding="utf-8") == edited


def test_a_comment_edited_meanwhile_is_kept(tmp_path):
    path = shipped(tmp_path)
    loaded = load_config(path).raw
    text = path.read_text(encoding="utf-8") + "# my own note\n"
    path.write_text(text, encoding="utf-8")
    edit_pairs(path, 0, ["BTC/USDT"], based_on=loaded)
    assert path.read_text(encoding="utf-8").endswith("# my own note\n")


def test_symlinked_config_stays_a_symlink(tmp_path):
    real = shipped(tmp_path)
    link = tmp_path / "link.toml"
    link.symlink_to(real)
    edit_pairs(link, 0, ["BTC/USDT"])
    assert link.is_symlink()
    assert load_config(real).raw["histo_jobs"][0]["pairs"] == ["BTC/USDT"]


# --- the .bak rule ----------------------------------------------------------------------


def test_bak_holds_the_users_version_after_two_saves(tmp_path):
    path = shipped(tmp_path)
    original = path.read_bytes()
    edit_pairs(path, 0, ["BTC/USDT"], based_on=load_config(path).raw)
    edit_pairs(path, 0, ["ETH/USDT"], based_on=load_config(path).raw)
    bak = path.with_name("config.toml.bak")
    assert bak.read_bytes() == original
    assert bak.stat().st_mode & 0o777 == 0o644


def test_a_hand_edit_between_saves_becomes_the_bak(tmp_path):
    path = shipped(tmp_path)
    edit_pairs(path, 0, ["BTC/USDT"])
    hand = path.read_text(encoding="utf-8").replace("max_parallel = 6", "max_parallel = 5")
    path.write_text(hand, encoding="utf-8")
    edit_pairs(path, 0, ["ETH/USDT"])
    assert path.with_name("config.toml.bak").read_text(encoding="utf-8") == hand


# --- BOM, ~, notify ---------------------------------------------------------------------


def test_bom_is_accepted_and_kept_on_save(tmp_path):
    path = tmp_path / "config.toml"
    path.write_bytes(b"\xef\xbb\xbf" + SHIPPED.read_bytes())
    cfg = load_config(path)
    assert len(cfg.raw["histo_jobs"]) == 10
    edit_pairs(path, 0, ["BTC/USDT"], based_on=cfg.raw)
    raw = path.read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf") and not raw.startswith(b"\xef\xbb\xbf" * 2)
    assert load_config(path).raw["histo_jobs"][0]["pairs"] == ["BTC/USDT"]


def test_tilde_in_data_path_is_the_home_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = tmp_path / "config.toml"
    path.write_text('[settings]\ndata_path = "~/candles"\n', encoding="utf-8")
    assert load_config(path).settings.data_path == tmp_path / "home" / "candles"


@pytest.mark.parametrize(
    ("text", "expected"), [("", True), ("notify = true", True), ("notify = false", False)]
)
def test_notify_setting(tmp_path, text, expected):
    path = tmp_path / "config.toml"
    path.write_text(f"[settings]\n{text}\n", encoding="utf-8")
    assert load_config(path).settings.notify is expected


@pytest.mark.parametrize("value", ['"no"', "0", "1"])
def test_notify_must_be_a_bool(tmp_path, value):
    path = tmp_path / "config.toml"
    path.write_text(f"[settings]\nnotify = {value}\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(
        "config.toml: [settings]: key 'notify': expected true or false"
    )


# --- the per-user state file ------------------------------------------------------------


def test_state_file_round_trip_under_xdg_state_home(tmp_path):
    assert state_path() == tmp_path / "state" / "dccd-tui" / "state.toml"  # conftest's
    assert load_state() == (load_state()[0], None) and load_state()[0].theme is None
    update_state(theme="dccd-light")
    update_state(written=(tmp_path / "config.toml", "ab" * 32))
    state, problem = load_state()
    assert problem is None
    assert state.theme == "dccd-light"
    assert state.written_configs == {str(tmp_path / "config.toml"): "ab" * 32}
    assert tomllib.loads(state_path().read_text(encoding="utf-8"))["theme"] == "dccd-light"
    assert not [p for p in state_path().parent.iterdir() if p.name.endswith(".tmp")]


def test_relative_xdg_state_home_is_ignored(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_STATE_HOME", "relative/dir")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert state_path() == tmp_path / ".local" / "state" / "dccd-tui" / "state.toml"


@pytest.mark.parametrize("text", ["theme = [", "theme = 3", "written_configs = 1"])
def test_broken_state_file_is_reported_once_and_ignored(text):
    path = state_path()
    path.parent.mkdir(parents=True)
    path.write_text(text, encoding="utf-8")
    state, problem = load_state()
    assert state.theme is None
    assert problem is not None and str(path) in problem and "ignored" in problem
    assert load_state()[1] is None  # once
    update_state(theme="dccd-dark")  # the broken file is moved aside, not lost
    assert path.with_name("state.toml.broken").read_text(encoding="utf-8") == text
    assert load_state()[0].theme == "dccd-dark"


async def test_broken_state_file_is_shown_once_and_the_app_starts(tmp_path):
    from dccd_tui.tui.app import DccdApp
    from tests.tui.fake_runner import FakeRunner

    path = state_path()
    path.parent.mkdir(parents=True)
    path.write_text("theme = [", encoding="utf-8")
    config = load_config(shipped(tmp_path))
    app = DccdApp(config, runner_factory=FakeRunner.factory())
    async with app.run_test(notifications=True) as pilot:
        await pilot.pause()
        assert app.theme == "dccd-dark"
        shown = [n.message for n in app._notifications if "state.toml" in n.message]
        assert len(shown) == 1 and "invalid TOML" in shown[0]


def test_unwritable_state_does_not_stop_a_config_save(tmp_path):
    path = shipped(tmp_path)
    state_dir = state_path().parent
    state_dir.parent.mkdir(parents=True)
    state_dir.write_text("not a folder")  # the state folder cannot be created
    edit_pairs(path, 0, ["BTC/USDT"])
    assert load_config(path).raw["histo_jobs"][0]["pairs"] == ["BTC/USDT"]
    assert os.path.exists(path.with_name("config.toml.bak"))


def test_add_entry_before_a_following_table_keeps_one_blank_line_each(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(
        '[[histo_jobs]]\nexchange = "okx"\npairs = ["ETH/USDT"]\nspan = "1h"\n\n'
        "[exchanges.okx]\nrequests_per_second = 3  # mine\n",
        encoding="utf-8",
    )
    add_entry(path, {"exchange": "okx", "pairs": ["BTC/USDT"], "span": "1d"})
    assert path.read_text(encoding="utf-8") == (
        '[[histo_jobs]]\nexchange = "okx"\npairs = ["ETH/USDT"]\nspan = "1h"\n\n'
        '[[histo_jobs]]\nexchange = "okx"\npairs = ["BTC/USDT"]\nspan = "1d"\n\n'
        "[exchanges.okx]\nrequests_per_second = 3  # mine\n"
    )


def test_new_file_is_written_with_the_usual_mode(tmp_path):
    path = tmp_path / "new.toml"
    old = os.umask(0o022)
    try:
        save_config(
            path,
            {
                "settings": {"data_path": "d"},
                "histo_jobs": [{"exchange": "okx", "pairs": ["BTC/USDT"], "span": "1h"}],
            },
        )
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o644
    assert path.read_text(encoding="utf-8") == (
        '[settings]\ndata_path = "d"\n\n'
        '[[histo_jobs]]\nexchange = "okx"\npairs = ["BTC/USDT"]\nspan = "1h"\n'
    )


def test_tomlkit_is_loaded_only_to_write(tmp_path):
    """Reading the config and starting the app's modules load no tomlkit (start-up time,
    bench/startup.py); the writer (config/edit.py) and tomlkit come with the first save."""
    import subprocess
    import sys

    path = shipped(tmp_path)
    code = (
        "import sys\n"
        "import dccd_tui.cli, dccd_tui.tui.app\n"
        "from dccd_tui.config import load_config, save_config\n"
        f"config = load_config({str(path)!r})\n"
        "print(sorted(m for m in ('tomlkit', 'dccd_tui.config.edit') if m in sys.modules))\n"
        "save_config(config.path, config.raw)\n"
        "print(sorted(m for m in ('tomlkit', 'dccd_tui.config.edit') if m in sys.modules))\n"
    )
    root = str(Path(__file__).parents[2])
    env = dict(os.environ, PYTHONPATH=root + os.pathsep + os.environ.get("PYTHONPATH", ""))
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=True
    )
    assert out.stdout.splitlines() == ["[]", "['dccd_tui.config.edit', 'tomlkit']"]
