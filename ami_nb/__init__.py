"""ami_nb: the Asterisk Manager Interface from Jupyter."""

from .errors import (
    ActionError,
    AMIConnectionError,
    AMIError,
    AMITimeoutError,
    AuthenticationError,
    InvalidActionError,
    ProtocolError,
)
from .protocol import Message, Parser, encode_action

__version__ = "0.1.0"

__all__ = [
    "AMIConnectionError",
    "AMIError",
    "AMITimeoutError",
    "ActionError",
    "AuthenticationError",
    "InvalidActionError",
    "Message",
    "Parser",
    "ProtocolError",
    "encode_action",
]
