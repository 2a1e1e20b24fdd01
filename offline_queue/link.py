"""The link the sync engine drains through: requests in, one classified outcome each out.

The sync engine needs no more of the station than this: :class:`Link` is the seam, and the
station client (``terminal_app.station.client.StationClient``) satisfies it — the queue never
imports the station code (the layers only go down: terminal_app → offline_queue).  The request
and result types live here, below both, so the client and the engine share them.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from typing import Any, Protocol

from terminal_app.errors import HandheldError

#: GT/1 TXN_STATUS: "what became of these txns" (station-protocol.md; the station client's
#: ``MsgType.TXN_STATUS`` — a unit test pins the two equal)
TXN_STATUS = 0x0501


@dataclass(frozen=True, slots=True)
class Request:
    msg_type: int
    body: Mapping[str, Any]


class Outcome(Enum):
    OK = "ok"
    REFUSED = "refused"
    NOT_SENT = "not_sent"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Result:
    request: Request
    outcome: Outcome
    body: dict[str, Any] | None = None  # the response body (OK and REFUSED)
    code: str | None = None  # station error code when REFUSED (or E_REPLAY when NOT_SENT)
    msg: str | None = None
    error: HandheldError | None = None  # why NOT_SENT / UNKNOWN
    seq: int | None = None  # the seq the request went out with


class Link(Protocol):
    """One exchange: every request over one connection, each classified (never raises for link
    or peer failures; may raise a HandheldError for local trouble before anything is sent)."""

    def exchange(self, requests: Sequence[Request]) -> list[Result]: ...
