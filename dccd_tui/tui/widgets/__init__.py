"""Widgets of the main screen: the job table, the job log and the summary line."""

from .job_log import JobLog
from .job_table import JobTable
from .summary import SummaryBar

__all__ = ["JobLog", "JobTable", "SummaryBar"]
