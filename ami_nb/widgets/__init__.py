"""Live views of an AMI session for Jupyter: :func:`live` (channels, calls, events, rate) and :func:`wallboard`
(queues). Both draw the session's live state (``session.pbx``, :mod:`ami_nb.live_state`) with a small anywidget
front end (``frontend.js``); see :mod:`ami_nb.widgets._base` for why these widgets and why a thread."""

from __future__ import annotations

from ._base import LiveModel
from .snapshot import sparkline_svg
from .view import LiveView, live
from .wallboard import DEFAULT_THRESHOLDS, Wallboard, wallboard

__all__ = ["DEFAULT_THRESHOLDS", "LiveModel", "LiveView", "Wallboard", "live", "sparkline_svg", "wallboard"]
