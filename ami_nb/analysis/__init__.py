"""Call analytics: events frames -> calls, channels, queue and concurrency tables, and plots.

Pure pandas, no IO. Every function takes an events frame as a live ``session.events.frame()`` or a replayed
recording (:func:`ami_nb.recording.read_transcript`) gives it: a ``received`` column, then AMI keys. They also
accept frames with columns missing entirely, ignore events that are not about calls, and tolerate a stream joined
mid-call (such a call is flagged ``partial=True``). Event times come from ``Timestamp`` when the server sends it
(``timestampevents=yes``), else from ``received``.

Durations (``wait``, ``talk``, ``duration``...) are float seconds.

==========================  =====================================================================================
``calls(events)``           one row per call: times, waits, caller, answering endpoint, disposition, transfer...
``channels(events)``        one row per channel (Uniqueid): created, answered, hung up, cause, caller
``queue_stats(events)``     per queue (or ``by="agent"``): offered, answered, abandoned, timed out, waits, SL
``queue_stints(events)``    one row per caller's stay in a queue, with Asterisk's outcome (abandon, timeout...)
``transfers(events)``       one row per transfer: blind / attended / blonde, transferer, target, the calls joined
``concurrency(events)``     calls up at each bin's start, the peak within it, calls started
``kpis(calls)``             the headline numbers; ``disposition_summary(calls)``: calls by outcome
``cdrs(events)``            Asterisk's own ``Cdr`` events as a table, to check against
``plot_*``                  volume, concurrency and wait plots (matplotlib: ``pip install ami_nb[plot]``)
==========================  =====================================================================================

Modules: :mod:`.calls` (channels, calls), :mod:`.queues`, :mod:`.concurrency`, :mod:`.summary` (kpis,
disposition summary), :mod:`.cdr`, :mod:`.plots`; :mod:`.schemas` declares every table's columns and dtypes once.
"""

from __future__ import annotations

from ._events import CALL_KEYS
from ._events import event_times as _times  # noqa: F401  (the event-time rule, for tests and notebooks)
from .calls import DISPOSITIONS, calls, channels
from .cdr import cdrs
from .concurrency import concurrency
from .plots import plot_concurrency, plot_volume, plot_wait_distribution
from .queues import QUEUE_OUTCOMES, queue_stats, queue_stints
from .summary import disposition_summary, kpis
from .transfers import transfers

__all__ = [
    "CALL_KEYS",
    "DISPOSITIONS",
    "QUEUE_OUTCOMES",
    "calls",
    "cdrs",
    "channels",
    "concurrency",
    "disposition_summary",
    "kpis",
    "plot_concurrency",
    "plot_volume",
    "plot_wait_distribution",
    "queue_stats",
    "queue_stints",
    "transfers",
]

# The contact-centre toolkit (agents, KPIs, intervals, staffing, trunks, exports): definitions in each module.
from .erlang import agents_needed, erlang_b, erlang_c, staffing, trunks_needed
from .intervals import interval_report, plot_heatmap, queue_kpis
from .kpi import KPIConfig
from .members import agent_intervals, agent_pauses, agent_states, agents, member_snapshot
from .reports import contact_centre_reports, export, html_report
from .trunk_kpis import trunks

__all__ += [
    "KPIConfig",
    "agent_intervals",
    "agent_pauses",
    "agent_states",
    "agents",
    "agents_needed",
    "contact_centre_reports",
    "erlang_b",
    "erlang_c",
    "export",
    "html_report",
    "interval_report",
    "member_snapshot",
    "plot_heatmap",
    "queue_kpis",
    "staffing",
    "trunks",
    "trunks_needed",
]
