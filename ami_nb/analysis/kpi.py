"""The KPI definitions, in one place, so every report counts the same way and an analyst can change them.

Contact-centre tools disagree on the details (does a 3-second abandon count? is a queue timeout an abandon? is
the service level over offered or over answered calls?), so each choice is a field here with the default the
field's best tools use, and every report takes a :class:`KPIConfig`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

__all__ = ["KPIConfig"]


@dataclass(frozen=True)
class KPIConfig:
    """How the contact-centre reports count.

    * ``service_level``: the answer threshold in seconds for the service level (SL = answered within it ÷
      counted calls); ``service_level_by_queue`` overrides it per queue (``{"sales": 30}``).
    * ``sl_target``: the share the service level aims at (0.8 for "80/20"), for staffing and colouring.
    * ``short_abandon``: callers who hang up within this many seconds are *short abandons* (mis-dials, callers
      who changed their mind); ``exclude_short_abandons`` takes them out of offered calls, the abandon rate and
      the service level. Both counts are always reported.
    * ``timeouts_as_abandoned``: count callers that left because the queue timed out (``QUEUESTATUS=TIMEOUT``)
      as abandoned (some tools do); by default they are their own outcome, unanswered but not abandoned.
    * ``answered_within``: the thresholds for the ``answered_within_<N>`` columns.
    * ``wrapup``: wrap-up seconds after each call where the events do not say (one number, or per queue).
    """

    service_level: float = 20.0
    service_level_by_queue: Mapping[str, float] = field(default_factory=dict)
    sl_target: float = 0.8
    short_abandon: float = 5.0
    exclude_short_abandons: bool = False
    timeouts_as_abandoned: bool = False
    answered_within: tuple[float, ...] = (10.0, 20.0, 30.0, 60.0)
    wrapup: float | Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        for name in ("service_level", "short_abandon"):
            value = getattr(self, name)
            if not value >= 0:
                raise ValueError(f"KPIConfig.{name} must be >= 0 seconds, got {value!r}")
        for queue, value in self.service_level_by_queue.items():
            if not value >= 0:
                raise ValueError(f"KPIConfig.service_level_by_queue[{queue!r}] must be >= 0 seconds, got {value!r}")
        if not 0 < self.sl_target < 1:
            raise ValueError(f"KPIConfig.sl_target must be a share between 0 and 1, got {self.sl_target!r}")
        if any(not t >= 0 for t in self.answered_within):
            raise ValueError(f"KPIConfig.answered_within must hold seconds >= 0, got {self.answered_within!r}")

    def threshold(self, queue: object) -> float:
        """The service-level threshold for ``queue`` (its override, else the default)."""
        if isinstance(queue, str) and queue in self.service_level_by_queue:
            return float(self.service_level_by_queue[queue])
        return float(self.service_level)
