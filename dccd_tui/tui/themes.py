"""Colour themes: `themes/*.toml` files turned into Textual `Theme`s, and job-state colours.

Textual has no theme-file loader, so this module reads each file, checks every key and colour,
and returns the themes it could build together with one message per file it could not (the app
reports them in a notification and starts anyway). A file holds the fields of
`textual.theme.Theme` at the top level and the app's own colours in `[variables]`:

    name = "dccd-dark"
    primary = "#3d9be9"
    dark = true
    [variables]
    job-running = "#4fc3f7"

The job-state colours (`$job-running`, `$job-failed`, ...) and the coverage strip's colours
(`$coverage-stored`, `$coverage-gap`, `$coverage-missing`, `$coverage-failed`) have defaults
derived from the theme's semantic colours, so every built-in Textual theme works too; a theme
file overrides them.
"""

from __future__ import annotations

import sys
import tomllib
from dataclasses import fields
from pathlib import Path

from rich.color import Color as RichColor
from rich.style import Style
from textual.color import Color, ColorParseError
from textual.theme import Theme

import dccd_tui

JOB_STATES = (
    "idle",
    "queued",
    "planned",
    "running",
    "done",
    "failed",
    "cancelled",
    "live",
    "late",
)
"""Every job status has a theme variable `job-<status>`; `late` is a live series further behind
than the engine's `LAG_WARNING_S` (dccd_tui/engine/state.py)."""

JOB_VARIABLES = tuple(f"job-{s}" for s in JOB_STATES) + ("job-bar-back",)

COVERAGE_VARIABLES = ("coverage-stored", "coverage-gap", "coverage-missing", "coverage-failed")
"""The colours of the coverage strip: stored, exchange-side gap, missing, failed."""

# Where a job colour comes from when the theme does not set it: a generated theme variable.
_FALLBACK = {
    "job-idle": "foreground-muted",
    "job-queued": "foreground",
    "job-planned": "accent",
    "job-running": "primary",
    "job-done": "success",
    "job-failed": "error",
    "job-cancelled": "warning",
    "job-live": "success",  # kept current: as done
    "job-late": "warning",  # live, but further behind than it should be
    "job-bar-back": "panel",
    "coverage-stored": "success",
    "coverage-gap": "warning",
    "coverage-missing": "foreground-muted",
    "coverage-failed": "error",
}

DEFAULT_THEME = "dccd-dark"
"""Used when neither `--theme` nor `[settings] theme` names one (and the file loaded)."""

_THEME_FIELDS = {f.name for f in fields(Theme)}
_COLOR_FIELDS = (
    "primary",
    "secondary",
    "warning",
    "error",
    "success",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)


class ThemeFileError(ValueError):
    """A theme file that cannot be used; the message names the file and the problem."""


def theme_dirs(config_path: Path | None) -> list[Path]:
    """Theme folders in load order: the package's own `themes/`, then the one beside the config.

    Later folders win when two files define the same theme name, so a user can override a
    shipped theme by copying it next to their config.toml.
    """
    # A source checkout or editable install has themes/ beside the package; a regular install
    # puts them in <prefix>/share/dccd-tui/themes (pyproject data-files).
    dirs = [
        Path(sys.prefix) / "share" / "dccd-tui" / "themes",
        Path(dccd_tui.__file__).resolve().parent.parent / "themes",
    ]
    if config_path is not None:
        local = Path(config_path).resolve().parent / "themes"
        if local not in dirs:
            dirs.append(local)
    return [d for d in dirs if d.is_dir()]


def load_theme_file(path: Path) -> Theme:
    """Read one theme file, or raise ThemeFileError naming the file and the problem."""
    name = path.name
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise ThemeFileError(f"{name}: cannot be read ({exc})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ThemeFileError(f"{name}: invalid TOML: {exc}") from None
    for key in data:
        if key not in _THEME_FIELDS:
            raise ThemeFileError(
                f"{name}: unknown key {key!r} (allowed: {', '.join(sorted(_THEME_FIELDS))})"
            )
    theme_name = data.get("name")
    if not isinstance(theme_name, str) or not theme_name.strip():
        raise ThemeFileError(f"{name}: key 'name' is missing (a theme name such as \"my-dark\")")
    if "primary" not in data:
        raise ThemeFileError(f"{name}: key 'primary' is missing (a colour such as \"#3d9be9\")")
    for key in _COLOR_FIELDS:
        if key in data:
            _check_colour(name, key, data[key])
    for key in ("dark", "ansi"):
        if key in data and not isinstance(data[key], bool):
            raise ThemeFileError(f"{name}: key {key!r} must be true or false, not {data[key]!r}")
    for key in ("luminosity_spread", "text_alpha"):
        if key in data and (isinstance(data[key], bool) or not isinstance(data[key], (int, float))):
            raise ThemeFileError(f"{name}: key {key!r} must be a number, not {data[key]!r}")
    variables = data.get("variables", {})
    if not isinstance(variables, dict):
        raise ThemeFileError(f'{name}: [variables] must be a table of name = "colour"')
    for key, value in variables.items():
        if not isinstance(value, str):
            raise ThemeFileError(f"{name}: [variables] {key!r} must be a string, not {value!r}")
        if key.startswith("job-"):
            if key not in JOB_VARIABLES:
                raise ThemeFileError(
                    f"{name}: [variables] unknown job colour {key!r} "
                    f"(known: {', '.join(JOB_VARIABLES)})"
                )
            _check_colour(name, f"[variables] {key}", value)
        if key.startswith("coverage-"):
            if key not in COVERAGE_VARIABLES:
                raise ThemeFileError(
                    f"{name}: [variables] unknown coverage colour {key!r} "
                    f"(known: {', '.join(COVERAGE_VARIABLES)})"
                )
            _check_colour(name, f"[variables] {key}", value)
    theme = Theme(**data)
    try:
        theme.to_color_system().generate()
    except Exception as exc:  # a value Textual's colour system rejects
        raise ThemeFileError(f"{name}: {exc}") from None
    return theme


def _check_colour(file: str, key: str, value: object) -> None:
    if not isinstance(value, str):
        raise ThemeFileError(f"{file}: key {key!r} must be a colour string, not {value!r}")
    try:
        Color.parse(value)
    except ColorParseError:
        raise ThemeFileError(
            f'{file}: key {key!r}: {value!r} is not a colour (e.g. "#3d9be9" or "ansi_blue")'
        ) from None


def load_themes(dirs: list[Path]) -> tuple[list[Theme], list[str]]:
    """Every `*.toml` in `dirs` as a Theme, plus one error message per file that failed."""
    themes: list[Theme] = []
    errors: list[str] = []
    for folder in dirs:
        for path in sorted(folder.glob("*.toml")):
            try:
                themes.append(load_theme_file(path))
            except ThemeFileError as exc:
                errors.append(f"{path.parent.name}/{exc}")
    return themes, errors


def job_variable_defaults(theme: Theme) -> dict[str, str]:
    """Defaults for the job colours under `theme`: its own semantic colours."""
    generated = theme.to_color_system().generate()
    return {
        var: generated.get(source, generated["foreground"]) for var, source in _FALLBACK.items()
    }


def resolve_colour(value: str, background: str | None) -> RichColor | None:
    """A theme variable's value as a Rich colour (alpha blended over the background)."""
    try:
        colour = Color.parse(value)
    except ColorParseError:
        return None
    if colour.a == 0:
        return None
    if colour.a < 1 and colour.ansi is None and background:
        try:
            back = Color.parse(background)
        except ColorParseError:
            back = None
        if back is not None and back.ansi is None:
            colour = back + colour
    return colour.rich_color


def job_styles(variables: dict[str, str]) -> dict[str, Style]:
    """Rich styles for job-state text, keyed `job-<status>` and `job-bar-back`, from theme vars."""
    background = variables.get("background")
    styles: dict[str, Style] = {}
    for var in JOB_VARIABLES + COVERAGE_VARIABLES:
        colour = resolve_colour(variables.get(var, ""), background)
        styles[var] = Style(color=colour) if colour is not None else Style()
    if styles["job-bar-back"] == Style():
        styles["job-bar-back"] = Style(dim=True)
    return styles
