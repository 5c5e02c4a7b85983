"""One vocabulary (issue 12, item 9): one duration format, agreed plurals, one word per idea.

The table, the detail line, the log, the CLI and the README all format durations with
`fmt_duration` (an ETA with its coarse twin `fmt_eta`) and counts with `fmt_plural`; a scan of
the package's source keeps the old forms ("1 requests", "window(s)", "105s") from coming back.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from dccd_tui.engine import fmt_duration, fmt_eta, fmt_plural, fmt_span_ms

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "seconds, text",
    [
        (None, "-"),
        (-3, "0s"),
        (0, "0s"),
        (0.5, "0.5s"),
        (2.0, "2s"),
        (2.37, "2.4s"),
        (45, "45s"),
        (59.6, "1m00s"),
        (107, "1m47s"),
        (185, "3m05s"),
        (3600, "1h00m"),
        (7500, "2h05m"),
        (86400 + 4 * 3600, "1d04h"),
        (3 * 86400 + 4 * 3600 + 59, "3d04h"),
    ],
)
def test_one_duration_format(seconds, text):
    assert fmt_duration(seconds) == text


@pytest.mark.parametrize(
    "seconds, text",
    [
        (107, "1m45s"),
        (103, "1m45s"),
        (28, "30s"),
        (2, "0s"),
        (121, "2m00s"),
        (3599, "1h00m"),
        (7500, "2h05m"),
    ],
)
def test_the_eta_is_coarse_but_in_the_same_format(seconds, text):
    """The table and the detail line show this one figure: "1m45s", never "105s"."""
    assert fmt_eta(seconds) == text
    assert re.fullmatch(r"\d+s|\d+m\d\ds|\d+h\d\dm|\d+d\d\dh", fmt_eta(seconds))


def test_spans_of_time_in_ms_use_the_same_format():
    assert fmt_span_ms(45 * 60_000) == fmt_duration(45 * 60) == "45m00s"
    assert fmt_span_ms(2 * 3_600_000 + 5 * 60_000) == "2h05m"


def test_plurals_agree():
    assert fmt_plural(1, "request") == "1 request"
    assert fmt_plural(2, "request") == "2 requests"
    assert fmt_plural(0, "failed window") == "0 failed windows"
    assert fmt_plural(1_000, "window") == "1,000 windows"
    assert fmt_plural(1, "retry", "retries") == "1 retry"
    assert fmt_plural(3, "retry", "retries") == "3 retries"


OLD_FORMS = [
    (
        re.compile(
            r"\b(?:job|window|range|gap|request|candle|entr|month|column|retr|pair|file)"
            r"(?:\(s\)|\(ies\)|y\(ies\))"
        ),
        "a '(s)' plural: use fmt_plural",
    ),
    (re.compile(r"\{[^{}]*:\.\d?f\}s\b"), "seconds printed by hand: use fmt_duration"),
    (re.compile(r"missing on the exchange side"), "'missing' is for what is not fetched yet"),
    (
        re.compile(r"\{[^{}]*\} (?:requests|windows|retries|gaps)\b\""),
        "a count with a fixed plural: use fmt_plural",
    ),
]


def test_no_old_forms_in_the_package_or_the_readme():
    files = [p for p in (ROOT / "dccd_tui").rglob("*.py") if "sandbox" not in p.parts]
    # The README's text moved to docs/ (one page per subject): the user's pages are read too.
    files += [ROOT / "README.md", ROOT / "CHANGELOG.md", *sorted((ROOT / "docs").glob("*.md"))]
    found = []
    for path in files:
        for lineno, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            stripped = line.strip()
            if stripped.startswith("#") or '"""' in stripped:
                continue
            for pattern, why in OLD_FORMS:
                if path.name == "fmt.py" and "fmt_duration" in why:
                    continue  # the one place that formats seconds by hand
                if pattern.search(line):
                    found.append(f"{path.relative_to(ROOT)}:{lineno}: {why}: {stripped}")
    assert not found, "\n".join(found)
