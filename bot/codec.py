"""The one JSON codec for values copies share through the store: frozen dataclasses,
tagged with their class's name, nested, and tuples (as lists). A newer copy's fields
this copy does not know are ignored; an unknown type is a ValueError."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import get_args

from bot.realtimekit.results import StopResult

RESULT_TYPES: tuple[type, ...] = get_args(StopResult)
"""Every type a StopResult may hold, however deep."""


def encode(value: object) -> str:
    """`value` as JSON; `decode` with its types gives back an equal value."""
    return json.dumps(_tree(value), separators=(",", ":"))


def decode(text: str, types: Iterable[type]) -> object:
    """The value `encode` wrote, built from `types` (dataclasses, by name); ValueError
    for a type not among them or JSON that is not a value of theirs."""
    known = {t.__name__: t for t in types}
    try:
        return _build(json.loads(text), known)
    except (TypeError, KeyError, RecursionError) as error:
        raise ValueError(f"not an encoded value: {type(error).__name__}") from None


def encode_result(result: StopResult) -> str:
    """A stop's result as JSON."""
    return encode(result)


def decode_result(text: str) -> StopResult:
    """The result encode_result wrote, here or in a newer copy; ValueError for anything else."""
    result = decode(text, RESULT_TYPES)
    if not isinstance(result, StopResult):
        raise ValueError("not a stop result")
    return result


def _tree(value: object) -> object:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        fields = {f.name: _tree(getattr(value, f.name)) for f in dataclasses.fields(value)}
        return {"type": type(value).__name__, **fields}
    if isinstance(value, tuple):
        return [_tree(v) for v in value]
    return value


def _build(node: object, known: dict[str, type]) -> object:
    if isinstance(node, list):
        return tuple(_build(v, known) for v in node)
    if isinstance(node, dict) and "type" in node:
        cls = known.get(str(node["type"]))
        if cls is None:
            raise ValueError(f"unknown type {node['type']!r}")
        names = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: _build(v, known) for k, v in node.items() if k in names})
    return node
