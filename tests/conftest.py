"""Shared pytest fixtures. Keep them generic: other test modules add theirs below."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from scripted_server import TRANSCRIPTS, ScriptedServer


@pytest.fixture
def transcripts() -> Path:
    """The directory of recorded Asterisk 22 transcripts (copies under tests/fixtures)."""
    return TRANSCRIPTS


@pytest.fixture
def ami_server() -> Iterator[ScriptedServer]:
    """A started :class:`ScriptedServer` on 127.0.0.1 (user admin / amp111), stopped after the test."""
    srv = ScriptedServer()
    srv.start()
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def run() -> Callable[..., Any]:
    """``run(coro, timeout=20)``: run a coroutine on a fresh event loop with an overall timeout."""

    def runner(coro: Coroutine[Any, Any, Any], timeout: float = 20.0) -> Any:
        return asyncio.run(asyncio.wait_for(coro, timeout))

    return runner
