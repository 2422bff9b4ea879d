"""What is live, with names, for an allowed person: lists, pickers, search by name.

It answers from LiveReads (cached list and titles), admits through the same Admission
as the stops, audits, and returns values the messages turn into Slack. No Bolt here.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass

from bot.realtimekit import LiveList, ReadFailure, RealtimeKitClient
from bot.service.admit import (
    Admitted,
    Audit,
    Denied,
    Invalid,
    StopRequest,
    api_status,
    new_request_id,
    outcome_name,
)
from bot.service.names import LiveRow, retrieve
from bot.service.reads import (
    LIST_TTL_SECONDS,
    SEARCH_TITLES_WAIT_SECONDS,
    TITLE_TTL_SECONDS,
    LiveReads,
)
from bot.service.stop import StopService

PAGE_SIZE = 20
CANDIDATES_SHOWN = 10
SUGGESTIONS_MAX = 100


@dataclass(frozen=True)
class Listed:
    """One page of what is live: `rows` start at `offset` of `total`, newest first."""

    request_id: str
    user_id: str
    rows: tuple[LiveRow, ...]
    total: int
    offset: int


@dataclass(frozen=True)
class ListFailed:
    """The live list could not be read; `failure` says why."""

    request_id: str
    user_id: str
    failure: ReadFailure


@dataclass(frozen=True)
class Found:
    """Exactly one live livestream has the name asked for."""

    request_id: str
    row: LiveRow


@dataclass(frozen=True)
class NoMatch:
    """No live livestream, or several (`several`), has the name asked for; `candidates`
    are the matches, or else what is live (at most CANDIDATES_SHOWN of `total`); the
    titles of `unread` meetings were not known in time."""

    request_id: str
    name: str
    candidates: tuple[LiveRow, ...]
    total: int
    several: bool
    unread: int = 0


ListOutcome = Listed | ListFailed | Denied | Invalid
FindOutcome = Found | NoMatch | ListFailed | Denied | Invalid


def matches(row: LiveRow, query: str) -> bool:
    """True when every word of `query` is in the stream's name, its meeting's title or
    its meeting ID, ignoring case."""
    wanted = query.strip().casefold()
    haystacks = (row.stream.name or "", row.title or "", row.meeting_id)
    return all(any(word in h.casefold() for h in haystacks) for word in wanted.split())


class FindService(LiveReads):
    """What is live, with names, for an allowed person."""

    def __init__(
        self,
        client: RealtimeKitClient,
        stops: StopService,
        *,
        list_ttl: float = LIST_TTL_SECONDS,
        title_ttl: float = TITLE_TTL_SECONDS,
    ) -> None:
        super().__init__(client, list_ttl=list_ttl, title_ttl=title_ttl)
        self._stops = stops  # its Admission is the one every door shares

    async def live_page(self, request: StopRequest, offset: int = 0) -> ListOutcome:
        """One page (PAGE_SIZE rows from `offset`) of what is live, read afresh, with
        the meetings' titles; audited as one `list` line."""
        attempt = Audit("list", request, new_request_id())
        result = await self._read_for(request, attempt)
        if not isinstance(result, LiveList):
            return result
        total = len(result.streams)
        if offset >= total:  # the list shrank since the button was shown: its last page
            offset = (total - 1) // PAGE_SIZE * PAGE_SIZE if total else 0
        offset = max(0, offset)
        rows = await self.with_titles(result.streams[offset : offset + PAGE_SIZE])
        attempt.write(None, "allowed", api_status=200, outcome="listed", count=total, offset=offset)
        return Listed(attempt.request_id, request.user_id, rows, total, offset)

    async def _read_for(
        self, request: StopRequest, attempt: Audit
    ) -> LiveList | Denied | Invalid | ListFailed:
        """The live list, read afresh, for a person who may see it; else the refusal or
        the failure, audited."""
        admitted = await self._stops.admit(request, attempt, meeting=False, pressed=False)
        if not isinstance(admitted, Admitted):
            return admitted
        result = await self.live(fresh=True)
        if not isinstance(result, LiveList):
            status, outcome = api_status(result), outcome_name(result)
            attempt.write(None, "allowed", api_status=status, outcome=outcome)
            return ListFailed(attempt.request_id, request.user_id, result)
        return result

    async def find_by_name(self, request: StopRequest, name: str) -> FindOutcome:
        """The one live livestream whose name or meeting title is `name` (ignoring case
        and surrounding spaces); audited as one `find` line."""
        attempt = Audit("find", request, new_request_id())
        result = await self._read_for(request, attempt)
        if not isinstance(result, LiveList):
            return result
        reads = self._warm(result.streams, join=True)
        if reads:
            await asyncio.wait(reads, timeout=SEARCH_TITLES_WAIT_SECONDS)
        rows = self.known_rows(result.streams)
        wanted = name.strip().casefold()
        found = [
            r
            for r in rows
            if wanted and wanted in ((r.stream.name or "").strip().casefold(),
                                     (r.title or "").strip().casefold())
        ]  # fmt: skip
        if len(found) == 1:
            attempt.write(found[0].meeting_id, "allowed", api_status=200, outcome="found")
            return Found(attempt.request_id, found[0])
        candidates = found or list(rows)
        attempt.write(
            None, "allowed", api_status=200,
            outcome="ambiguous" if found else "no_match", count=len(found),
        )  # fmt: skip
        unread = sum(1 for s in result.streams if s.meeting_id not in self._titles)
        return NoMatch(
            attempt.request_id, name, tuple(candidates[:CANDIDATES_SHOWN]), len(candidates),
            bool(found), unread,
        )  # fmt: skip

    async def may_list(self, request: StopRequest) -> Denied | Invalid | None:
        """None when the person may see what is live; not audited (for type-ahead, which
        asks at every keystroke). Without a channel, only the person is checked: the
        shortcut's modal picks its channel in the same form, checked on submission."""
        allowed = self._stops.access.policy.channel_ids
        if request.channel_id is None and allowed:
            request = dataclasses.replace(request, channel_id=min(allowed))
        admitted = await self._stops.admit(request, None, meeting=False, pressed=False)
        return None if isinstance(admitted, Admitted) else admitted

    async def suggest(self, query: str, within: float) -> list[LiveRow] | ReadFailure | None:
        """Live rows matching `query` (at most SUGGESTIONS_MAX), from the cached list and
        the titles known (the others are read in the background); None when the list is
        not loaded within `within` s (it goes on loading for the next keystroke)."""
        loading = asyncio.ensure_future(self.live())
        loading.add_done_callback(retrieve)
        done, _ = await asyncio.wait({loading}, timeout=within)
        if not done:
            return None
        result = loading.result()
        if not isinstance(result, LiveList):
            return result
        self._warm(result.streams)
        rows = self.known_rows(result.streams)
        return [r for r in rows if matches(r, query)][:SUGGESTIONS_MAX]
