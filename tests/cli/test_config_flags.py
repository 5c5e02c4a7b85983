"""`--demo` and `--config` before or after the command (issue 19, item 4): never one of them
dropped silently, and messages that name a command name the flags that reach the same engine.

On main, `dccd-tui --demo validate` checked ./config.toml: the subcommand's own `--demo`
(default False) was copied over the one given before it.
"""

from __future__ import annotations

import pytest

from dccd_tui.cli import main
from dccd_tui.commands.attach import detached_message
from dccd_tui.link.place import reach_command


@pytest.mark.parametrize("argv", [["--demo", "validate"], ["validate", "--demo"]])
def test_demo_before_or_after_the_command_checks_the_demo_config(argv, tmp_path, capsys):
    assert main(argv) == 0  # DCCD_TUI_DEMO_DIR is tmp_path/demo
    assert capsys.readouterr().out.startswith(str(tmp_path / "demo" / "config.toml") + ": OK")


def test_config_before_the_command_is_kept(tmp_path, capsys):
    cfg = tmp_path / "other.toml"
    cfg.write_text('[settings]\ndata_path = "d"\n', encoding="utf-8")
    assert main(["--config", str(cfg), "validate"]) == 0
    assert capsys.readouterr().out.startswith(f"{cfg}: OK")


def test_two_configs_are_refused(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--config", "a.toml", "validate", "--config", "b.toml"])
    assert exc.value.code == 2
    assert "--config names two files (a.toml, b.toml): give one" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["--demo", "validate", "--config", "a.toml"],
        ["--config", "a.toml", "status", "--demo"],
        ["engine", "--demo", "stop", "--config", "a.toml"],
    ],
)
def test_demo_with_a_config_is_refused(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert "--demo runs the demo's own config, and --config names a.toml" in (
        capsys.readouterr().err
    )


def test_the_same_config_twice_is_one(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "c.toml").write_text('[settings]\ndata_path = "d"\n', encoding="utf-8")
    assert main(["--config", "c.toml", "validate", "--config", str(tmp_path / "c.toml")]) == 0


def test_commands_named_in_messages_carry_the_flags(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert reach_command("status", tmp_path / "config.toml", False) == "dccd-tui status"
    assert reach_command("status", tmp_path / "x y.toml", False) == (
        f"dccd-tui --config '{tmp_path / 'x y.toml'}' status"
    )
    text = detached_message(2, 123, tmp_path / "demo.toml", demo=True)
    assert text == (
        "detached: 2 jobs keep running in the engine (pid 123). Run dccd-tui --demo again to "
        "attach; dccd-tui --demo status to look."
    )


def test_an_unreachable_engine_is_told_with_the_flags_that_stop_it(tmp_path):
    """An engine whose pid file names a socket that does not answer: the message names the
    command that stops it, `--config` included (on main: a bare `dccd-tui engine stop`, which
    reads ./config.toml)."""
    import os

    from dccd_tui.link.errors import EngineUnreachable
    from dccd_tui.link.place import engine_place, pid_file_text, prepare
    from dccd_tui.link.spawn import engine_socket

    place = engine_place(tmp_path / "data")
    prepare(place, create=True)
    elsewhere = place.folder / "elsewhere.sock"  # this process stands in for the engine
    place.pid_file.write_text(pid_file_text(os.getpid(), elsewhere), encoding="utf-8")
    stop = reach_command("engine stop", tmp_path / "my.toml", False)
    with pytest.raises(EngineUnreachable) as info:
        engine_socket(place, stop_command=stop)
    assert f"Stop it with `dccd-tui --config {tmp_path / 'my.toml'} engine stop`" in str(info.value)
