"""Download a reading route (抄表数据远程下载): paged ROUTE_DOWNLOAD into the local store, resumable.

Each page is stored in one local transaction together with its "stored" mark, so after a drop
(link lost, battery pulled) the next call fetches only the pages not yet stored — the page that
failed is fetched again, pages already stored are not.  A finished download is started afresh
on the next call (the day's new data), as is one begun on an earlier business day, and one
whose size (pages, total) changed at the station meanwhile — pages of two different listings
are never mixed.

Tariffs named by the pages are fetched (TARIFFS, 0503) when the store does not hold that version,
and the station's rules the terminal applies offline — the late-payment penalty rule of HELLO
``params.penalty`` (docs/billing.md) — are fetched with HELLO and kept in the store.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from terminal_app import __version__
from terminal_app.domain.customer import Customer
from terminal_app.domain.penalty import PenaltyRule
from terminal_app.domain.premise import PremiseNote
from terminal_app.errors import HandheldError, LinkError, RemoteProtocolError
from terminal_app.services import cash_limit, ports
from terminal_app.services.store import LocalStore
from terminal_app.station.client import Request
from terminal_app.station.messages import MsgType
from terminal_app.timeutil import business_day

log = logging.getLogger(__name__)

#: the reference station's page_size_max; HELLO params.limits says the real one
DEFAULT_PAGE_SIZE = 100

#: progress(pages done, pages in all) — called after every stored page
Progress = Callable[[int, int], None]


class RouteDownloadError(LinkError):
    """The download stopped part way; what was stored is kept."""

    default_action = "Move to better signal and start the download again: it continues where it stopped."


@dataclass(frozen=True, slots=True)
class RouteSummary:
    segment: str
    name: str
    customers: int
    pages: int
    fetched_pages: int  # pages fetched by this call (the others were already stored)
    tariffs_fetched: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Segment:
    """A segment (表段) the station holds: its number, name and how many customers it has."""

    segment: str
    name: str
    customers: int


#: at most this many segments are listed (a station's answer is bounded before it is shown)
MAX_SEGMENTS = 100


def list_segments(client: ports.Link) -> list[Segment]:
    """The segments the station holds (SEGMENT_LIST), to choose what to download."""
    body = _call(client, MsgType.SEGMENT_LIST, {})
    out = []
    for s in body.get("segments", [])[:MAX_SEGMENTS]:
        if isinstance(s, dict) and isinstance(s.get("segment"), str):
            out.append(Segment(s["segment"][:16], str(s.get("name", ""))[:20], int(s.get("customers", 0))))
    return out


def _call(client: ports.Link, msg_type: MsgType, body: dict[str, Any]) -> dict[str, Any]:
    return client.call(Request(msg_type, body))


def _int(body: dict[str, Any], key: str) -> int:
    v = body.get(key)
    if isinstance(v, bool) or not isinstance(v, int) or not 0 <= v <= 10**6:
        raise RemoteProtocolError("The station's route page has no valid {key!r}.", key=key)
    return v


def download_route(client: ports.Link, store: LocalStore, segment: str, *, clock: ports.Clock,
                   page_size: int = DEFAULT_PAGE_SIZE, progress: Progress | None = None,
                   fresh: bool = False, operator: str, _restarts: int = 0) -> RouteSummary:
    """Download segment (表段号) ``segment`` page by page into ``store``; resumes an unfinished one.

    ``progress(stored, pages)`` is called after each page.  Raises :class:`RouteDownloadError`
    (a LinkError) when the link fails part way — call again to continue — and
    StationRefusedError (e.g. ``E_UNKNOWN_SEGMENT``; ``E_NOT_ASSIGNED`` when the station has not
    assigned the segment to ``operator``) for a refused request.
    """
    state = store.route_progress(segment)
    if state is not None and business_day(state.started_at) != business_day(clock.now()):
        fresh = True  # yesterday's half-finished download: its arrears are stale
    fetched = 0
    versions: dict[str, str] = {}  # tariff name -> version, as the pages fetched now name them
    if state is None or state.complete or fresh:
        first = _page(client, segment, 1, page_size, operator)
        pages = _int(first, "pages")
        store.start_route(segment, str(first.get("name", ""))[:64], pages, page_size, _int(first, "total"),
                          clock.now())
        if pages:
            _store(store, segment, 1, first, versions)
            fetched = 1
        state = store.route_progress(segment)
        assert state is not None
        if progress:
            progress(len(state.stored), state.pages)
    done = len(state.stored)
    for page in state.missing:
        body = _page(client, segment, page, state.page_size, operator)
        if (_int(body, "pages"), _int(body, "total")) != (state.pages, state.total):
            # the segment changed at the station while we were away: start over, consistently
            if _restarts >= 2:
                raise RouteDownloadError("Segment {segment} keeps changing at the station during the download.",
                                         "Try again in a few minutes.", segment=segment)
            log.info("segment %s changed size: restarting its download", segment)
            return download_route(client, store, segment, clock=clock, page_size=page_size, progress=progress,
                                  fresh=True, operator=operator, _restarts=_restarts + 1)
        _store(store, segment, page, body, versions)
        fetched += 1
        done += 1
        if progress:
            progress(done, state.pages)
    store.finish_route(segment)
    final = store.route_progress(segment)
    assert final is not None
    fetch_params(client, store, operator=operator, clock=clock)
    tariffs = _fetch_tariffs(client, store, segment, versions)
    return RouteSummary(segment, final.name, len(store.customers(segment)), final.pages, fetched, tariffs)


def _page(client: ports.Link, segment: str, page: int, page_size: int, operator: str) -> dict[str, Any]:
    try:
        return _call(client, MsgType.ROUTE_DOWNLOAD, {"segment": segment, "page": page, "page_size": page_size,
                                                      "op": operator})
    except LinkError as e:
        raise RouteDownloadError("The route download of segment {segment} stopped at page {page} ({error}).",
                                 segment=segment, page=page, error=e) from e


def _store(store: LocalStore, segment: str, page: int, body: dict[str, Any], versions: dict[str, str]) -> None:
    items = body.get("items")
    as_of = body.get("as_of")
    if not isinstance(items, list) or not isinstance(as_of, str) or len(as_of) > 40:
        raise RemoteProtocolError("The station's route page {page} has no items or as_of.", page=page)
    parsed = []
    for item in items:
        if not isinstance(item, dict):
            raise RemoteProtocolError("The station's route page {page} holds a non-object item.", page=page)
        if item.get("note") is not None:
            PremiseNote.from_dict(item["note"])  # a malformed note refuses the page (RemoteProtocolError)
        parsed.append((Customer.from_dict({**item, "segment": segment}), item))
    store.store_page(segment, page, as_of, parsed)
    tariffs = body.get("tariffs")
    if isinstance(tariffs, dict):
        versions.update({k: str(v)[:64] for k, v in tariffs.items() if isinstance(k, str)})


def fetch_params(client: ports.Link, store: LocalStore, *, operator: str, clock: ports.Clock) -> bool:
    """HELLO; keep the rules the terminal applies offline (``params.penalty``).  A failure is logged,
    not raised: the route is stored, and the rule kept earlier (or the packaged one) still applies."""
    try:
        body = _call(client, MsgType.HELLO, {"op": operator, "app": __version__})
        params = body.get("params")
        if isinstance(params, dict):  # the operator's agent cash limit (services.cash_limit)
            cash_limit.store_limit(store, operator, params, clock.now())
        rule = params.get("penalty") if isinstance(params, dict) else None
        PenaltyRule.from_params(rule)  # refuse a rule this terminal would misread
    except HandheldError as e:
        log.warning("station params not fetched: %s", e)
        return False
    store.store_param("penalty", rule, clock.now())
    return True


def _fetch_tariffs(client: ports.Link, store: LocalStore, segment: str, versions: dict[str, str]) -> tuple[str, ...]:
    """Fetch the tariffs the segment's customers use that the store lacks (or holds in another version)."""
    have = store.tariff_versions()
    used = {c.tariff for c in store.customers(segment)}
    names = sorted(n for n in used if n not in have or (n in versions and versions[n] != have[n]))
    if not names:
        return ()
    try:
        body = _call(client, MsgType.TARIFFS, {"names": names})
    except LinkError as e:  # the route is stored; packaged tariffs still price the bills meanwhile
        log.warning("tariffs %s not fetched: %s", names, e)
        return ()
    got = []
    for t in body.get("tariffs", []):
        if isinstance(t, dict) and all(isinstance(t.get(k), str) for k in ("name", "version", "data")):
            store.store_tariff(t["name"], t["version"], t["data"])
            got.append(t["name"])
    return tuple(got)
