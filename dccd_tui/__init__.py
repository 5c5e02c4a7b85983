"""dccd-tui: backfill historical crypto candles into Parquet, watched from a terminal UI."""

__version__ = "0.1.0"
