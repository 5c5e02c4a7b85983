"""The pair form's hints for a pair being typed: glued pairs and unfinished quotes.

They live in the engine (dccd_tui/engine/pair_hint.py) since `validate` refuses the same pairs
with the same words (`config.pair_problem`); this module keeps the names the form's tests use.
"""

from __future__ import annotations

from ..engine import QUOTE_ASSETS, SHOWN_QUOTES, quote_reason, split_glued

__all__ = ["QUOTE_ASSETS", "SHOWN_QUOTES", "quote_reason", "split_glued"]
