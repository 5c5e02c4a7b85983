"""Widgets of the main screen: the job table, the job log, the summary line and the coverage
picture of the highlighted series."""

from .coverage import CoverageSource, CoverageView
from .job_log import JobLog
from .job_table import JobTable
from .notices import NoticeBar
from .summary import SummaryBar

__all__ = ["CoverageSource", "CoverageView", "JobLog", "JobTable", "NoticeBar", "SummaryBar"]
