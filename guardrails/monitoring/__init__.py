"""The governed monitoring loop: detectors find, signals hold the evidence, the gate decides what to propose.

- :mod:`guardrails.monitoring.service` — :class:`Monitor`: one run (lock, detectors, signals, proposals, outcomes);
- :mod:`guardrails.monitoring.proposals` — an action proposed for a signal through the gate, as the system;
- :mod:`guardrails.monitoring.follow_ups` — the arguments of the actions after a detector's own suggestion;
- :mod:`guardrails.monitoring.responses` — acknowledge, dismiss, override (with reasons, audited);
- :mod:`guardrails.monitoring.views` — who sees and who may respond to a signal;
- :mod:`guardrails.monitoring.store` — signals and the monitor lock in the state database;
- :mod:`guardrails.monitoring.models` — the typed records.
"""

from guardrails.monitoring.models import ACTIVE_STATUSES, Response, ResponseKind, RunSummary, Signal, SignalStatus
from guardrails.monitoring.responses import respond
from guardrails.monitoring.service import MONITOR_USER, Monitor
from guardrails.monitoring.store import SignalStore
from guardrails.monitoring.views import may_respond, may_see, signal_view

__all__ = [
    "ACTIVE_STATUSES",
    "MONITOR_USER",
    "Monitor",
    "Response",
    "ResponseKind",
    "RunSummary",
    "Signal",
    "SignalStatus",
    "SignalStore",
    "may_respond",
    "may_see",
    "respond",
    "signal_view",
]
