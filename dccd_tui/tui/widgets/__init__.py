"""Widgets of the main screen: the job table, the job log, the summary line and the coverage
picture of the highlighted series."""

from .coverage import CoverageView
from .job_log import JobLog
from .job_table import JobTable
from .summary import SummaryBar

__all__ = ["CoverageView", "JobLog", "JobTable", "SummaryBar"]
