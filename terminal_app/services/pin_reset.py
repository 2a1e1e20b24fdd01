"""Operators' PIN resets from the station's console (重置操作员密码, issue 22 point 6).

The console keeps a one-time PIN's argon2id hash; the station sends every reset not yet expired
with HELLO (``params.pin_resets``, docs/protocol.md); :func:`fetch_pin_resets` says HELLO and files
them in the operators file (:meth:`terminal_app.operators.OperatorStore.apply_resets`: each id once,
the lock-out cleared).  Every HELLO also reports the one-time PINs used here (``used_resets``, until
they expire): the station records each use and hands that reset out no more.  Without a link nothing changes: the device-side supervisor unlock still
works.  No PIN or hash is logged — only the operator numbers reset.
"""

from __future__ import annotations

import logging

from terminal_app import __version__
from terminal_app.operators import OperatorStore
from terminal_app.services import ports
from terminal_app.station.client import Request
from terminal_app.station.messages import MsgType

log = logging.getLogger(__name__)


def fetch_pin_resets(client: ports.Link, operators: OperatorStore, *, operator: str, clock: ports.Clock) -> list[str]:
    """HELLO as ``operator`` and apply the resets it carries; returns the operators reset now.
    A link failure is raised (the caller says so and keeps the device-side unlock on offer)."""
    hello: dict[str, object] = {"op": operator, "app": __version__}
    used = operators.used_resets(clock.now())
    if used:  # the one-time PINs used here: the station records each and lists it no more
        hello["used_resets"] = used
    body = client.call(Request(MsgType.HELLO, hello))
    params = body.get("params")
    resets = params.get("pin_resets") if isinstance(params, dict) else None
    done = operators.apply_resets(resets, clock.now())
    if done:
        log.info("PIN reset from the station applied for operators %s", ", ".join(done))
    return done

