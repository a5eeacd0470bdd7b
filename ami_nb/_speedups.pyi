"""Types of the optional C accelerator (``_speedups.c``); its pure-Python twin is the parser in ``protocol.py``."""

from typing import Any

def parse_region(
    region: bytes, errors: str, message_type: type[dict[str, str]], keys: dict[str, str], /
) -> tuple[list[Any], int]:
    """Messages (``message_type`` instances) and, for blocks the slow path must read, their text (``str``);
    the int counts those texts."""
