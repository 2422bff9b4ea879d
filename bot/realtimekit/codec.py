"""Results as JSON and back: copies sharing state hand a stop's result to each other."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from bot.realtimekit.results import (
    ApiError,
    Livestream,
    NoActiveLivestream,
    NotSent,
    RateLimited,
    Stopped,
    StopResult,
    TimedOut,
    Unconfirmed,
    UnexpectedResponse,
    Unreachable,
)

_TYPES: dict[str, type[Any]] = {
    cls.__name__: cls
    for cls in (
        Stopped,
        ApiError,
        RateLimited,
        TimedOut,
        Unreachable,
        UnexpectedResponse,
        Unconfirmed,
        Livestream,
        NoActiveLivestream,
        NotSent,
    )
}


def encode_result(result: StopResult) -> str:
    """`result` as JSON; decode_result gives back an equal value."""
    return json.dumps(_tree(result), separators=(",", ":"))


def decode_result(text: str) -> StopResult:
    """The result encode_result wrote, here or in a newer copy (fields this copy does not
    know are ignored); ValueError for anything else."""
    result = _build(json.loads(text))
    if not isinstance(result, StopResult):
        raise ValueError("not a stop result")
    return result


def _tree(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _tree(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"type": type(value).__name__, **fields}
    return value


def _build(node: object) -> object:
    if isinstance(node, dict) and "type" in node:
        cls = _TYPES.get(str(node["type"]))
        if cls is None:
            raise ValueError(f"unknown result type {node['type']!r}")
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: _build(v) for k, v in node.items() if k in known})
    return node
