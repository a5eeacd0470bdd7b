"""ami_nb: the Asterisk Manager Interface from Jupyter.

``ami_nb.connect(...)`` opens a background session; ``%load_ext ami_nb`` brings the magics; ``ami_nb.sim`` is a
simulated PBX that speaks real AMI. Heavier layers (pandas, IPython) are imported only when first used.
"""

from __future__ import annotations

import importlib
from typing import Any

from .errors import (
    ActionError,
    AMIConnectionError,
    AMIError,
    AMITimeoutError,
    AuthenticationError,
    InvalidActionError,
    InvalidTargetError,
    ProtocolError,
)
from .protocol import Message, Parser, encode_action

__version__ = "0.1.0"

# name -> module that defines it; imported on first access so `import ami_nb` stays light.
_LAZY = {
    "connect": "session",
    "Session": "session",
    "AsyncSession": "session",
    "AMIClient": "client",
    "Response": "response",
    "CommandOutput": "response",
    "EventStore": "store",
    "Target": "targets",
    "resolve_target": "targets",
    "read_transcript": "recording",
    "load_ipython_extension": "magics",
    "unload_ipython_extension": "magics",
}

__all__ = [
    "AMIConnectionError",
    "AMIError",
    "AMITimeoutError",
    "ActionError",
    "AuthenticationError",
    "InvalidActionError",
    "InvalidTargetError",
    "Message",
    "Parser",
    "ProtocolError",
    "encode_action",
    *_LAZY,
]


#: submodules reachable as attributes (``ami_nb.sim.start()``), imported on first access
_SUBMODULES = frozenset({"analysis", "client", "magics", "protocol", "recording", "response", "session", "sim",
                         "store", "targets", "widgets"})


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        return importlib.import_module(f".{name}", __name__)
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'ami_nb' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*__all__, *_SUBMODULES})
