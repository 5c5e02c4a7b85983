"""Yielding the CPU to the user's terminals: for the engine, and for the demo's sandbox, which
stands for a remote exchange.

Three settings, each needed on Linux (elsewhere only the nice value applies):

- a nice value, for the process's share of a busy CPU. On Linux it belongs to each thread, so
  every thread that exists is set; threads started later inherit it;
- the SCHED_BATCH policy (optional): a batch thread that wakes up never preempts a running one,
  so a download that finishes does not cut into the frame the UI is drawing;
- the nice value of its session. Where the kernel groups processes by session
  (sched_autogroup_enabled, the default of most distributions), a nice value ranks a process
  only within its session, and sessions share the CPU as equals. A process that leads its own
  session (a detached engine, dccd_tui/link/spawn.py) lowers that session's priority as
  well; one started in the user's own session leaves it alone.
"""

from __future__ import annotations

import os


def lower_priority(nice: int, *, batch: bool = True) -> None:
    """Add `nice` to every thread of this process (and make them batch threads, with `batch`);
    a session leader also sets its session's nice value to `nice`. What is not allowed or not
    there is skipped: the process then runs as it was."""
    try:
        threads = [int(tid) for tid in os.listdir("/proc/self/task")]
    except OSError:  # not Linux: one nice value for the whole process
        try:
            os.nice(nice)
        except OSError:
            pass
        return
    for tid in threads:
        try:
            current = os.getpriority(os.PRIO_PROCESS, tid)
            os.setpriority(os.PRIO_PROCESS, tid, min(19, current + nice))
            if batch:
                os.sched_setscheduler(tid, os.SCHED_BATCH, os.sched_param(0))
        except OSError:  # a thread that just ended, or not allowed: it keeps its priority
            pass
    if os.getsid(0) != os.getpid():
        return
    try:
        with open("/proc/self/autogroup", "w") as fh:
            fh.write(str(nice))
    except OSError:  # no autogroups (another kernel, or they are off): the nice value ranks it
        pass
