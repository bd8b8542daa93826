"""The monitor's scheduled mode inside ``jidoka serve``: a background thread running the monitor every interval.

Every worker of ``jidoka serve --workers N`` starts one; the monitor's database lock (a lease in the state database)
lets one run at a time across workers and hosts, so N workers still make one run per interval or so. The interval
is ``JIDOKA_MONITOR_INTERVAL_S`` (``0`` turns it off), else the policy's ``monitoring.interval_minutes``. The first
run comes one interval after start. A failed run is logged (masked) and the next one comes as planned.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext

from guardrails.monitoring import RunSummary

__all__ = ["MonitorScheduler", "runner_id"]

log = logging.getLogger("jidoka.monitor")


def runner_id() -> str:
    """This process's name as a lock holder (host and pid: a crashed worker's lease simply expires)."""
    return f"{socket.gethostname()}:{os.getpid()}"


class MonitorScheduler:
    """Runs ``run(holder)`` every ``interval_s`` seconds on a daemon thread until :meth:`stop`."""

    def __init__(self, run: Callable[[str], RunSummary], interval_s: float, *,
                 exclusive: Callable[[], AbstractContextManager[object]] | None = None) -> None:
        """``exclusive`` is held around each run (the server's turn lock: one SQLite writer per process)."""
        if interval_s <= 0:
            raise ValueError("the monitor interval must be positive")
        self._run = run
        self.interval_s = interval_s
        self._exclusive = exclusive or nullcontext
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.runs = 0
        """Runs made (completed or skipped), for the health of the loop."""

    def start(self) -> None:
        """Start the thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="jidoka-monitor", daemon=True)
            self._thread.start()

    def _loop(self) -> None:
        holder = runner_id()
        while not self._stop.wait(self.interval_s):
            try:
                with self._exclusive():
                    summary = self._run(holder)
                self.runs += 1
                log.info("monitor run %s: %s, %d opened, %d resolved, %d escalated", summary.run_id, summary.status,
                         len(summary.opened), len(summary.resolved), len(summary.escalated))
            except Exception as exc:  # the loop must outlive one bad run; the next comes as planned
                log.error("monitor run failed: %s: %s", type(exc).__name__, exc)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the thread (a run in progress finishes first, within ``timeout``)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
