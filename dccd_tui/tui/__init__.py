"""The Textual user interface (the only part of dccd_tui that imports textual)."""
