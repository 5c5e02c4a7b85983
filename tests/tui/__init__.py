"""Tests of the tui layer."""
