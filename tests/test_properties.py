"""Property tests: the parsers turn any input into one of our values, never a crash."""

from __future__ import annotations

import uuid

from hypothesis import given
from hypothesis import strategies as st

from bot import messages
from bot.realtimekit import (
    ApiError,
    RateLimited,
    Stopped,
    UnexpectedResponse,
    parse_meeting_id,
    parse_retry_after,
    parse_stop_response,
)

UUID_TEXT = st.uuids().map(str)
NOISE = st.text(alphabet=st.characters(codec="utf-8"), max_size=60)


@given(NOISE)
def test_any_text_is_a_canonical_uuid_or_a_clear_rejection(text: str) -> None:
    parsed = parse_meeting_id(text)
    if parsed is None:
        reason = messages.invalid_reason(text)
        assert reason and ("meeting ID" in reason)
    else:
        assert parsed == str(uuid.UUID(parsed))  # canonical lowercase form
        assert parsed == text.strip().lower()
        assert "/" not in parsed and "%" not in parsed and "." not in parsed


@given(UUID_TEXT, st.sampled_from(["", " ", "\t", "\n"]), st.booleans())
def test_any_uuid_with_spaces_and_any_case_is_accepted(value: str, pad: str, upper: bool) -> None:
    text = pad + (value.upper() if upper else value) + pad
    assert parse_meeting_id(text) == value


@given(UUID_TEXT, st.sampled_from(["/", "/..", "%2f", " x", "\x00", "?", "#"]))
def test_nothing_can_extend_the_path(value: str, suffix: str) -> None:
    assert parse_meeting_id(value + suffix) is None


JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=20,
)


def envelope() -> st.SearchStrategy[bytes]:
    import json

    docs = st.fixed_dictionaries(
        {},
        optional={
            "success": st.booleans() | JSONISH,
            "data": st.fixed_dictionaries({}, optional={"message": JSONISH}) | JSONISH,
            "error": st.fixed_dictionaries({}, optional={"code": JSONISH, "message": JSONISH})
            | JSONISH,
            "errors": st.lists(
                st.fixed_dictionaries({}, optional={"code": JSONISH, "message": JSONISH}) | JSONISH,
                max_size=3,
            ),
        },
    )
    return docs.map(lambda d: json.dumps(d).encode()) | st.binary(max_size=200)


@given(
    st.integers(min_value=100, max_value=599),
    st.dictionaries(
        st.sampled_from(["retry-after", "content-type", "x"]), st.text(max_size=40), max_size=3
    ),
    envelope(),
)
def test_any_status_headers_and_body_yield_one_typed_result(
    status: int, headers: dict[str, str], body: bytes
) -> None:
    result = parse_stop_response(status, headers, body)
    assert isinstance(result, Stopped | ApiError | RateLimited | UnexpectedResponse)
    if isinstance(result, Stopped):
        assert 200 <= status < 300
        assert isinstance(result.message, str)
    if isinstance(result, ApiError):
        assert result.message.strip() and result.status == status
    if isinstance(result, RateLimited):
        assert status == 429
        assert result.retry_after is None or result.retry_after >= 0
    if not isinstance(result, Stopped):
        assert messages.describe_failure(result)


@given(st.text(max_size=40))
def test_retry_after_is_never_negative_or_a_crash(value: str) -> None:
    seconds = parse_retry_after(value)
    assert seconds is None or seconds >= 0
