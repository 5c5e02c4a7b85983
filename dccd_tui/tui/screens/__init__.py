"""Screens: the main jobs screen and the modals it opens."""

from .confirm import ConfirmModal
from .jobs import JobsScreen
from .pair_form import PairFormModal

__all__ = ["ConfirmModal", "JobsScreen", "PairFormModal"]
