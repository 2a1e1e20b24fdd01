"""The station's side of the marketing interface: one request per short connection.

Two outcomes that are not an answer, and why they differ (docs/marketing-interface.md,
"Idempotency"): :class:`NotSent` — the connection could not be made, nothing left this side,
so nothing can have been done; :class:`NoAnswer` — the request went out and no whole, valid
answer came back (timeout, reset, closed), so the marketing system may or may not have done it:
only a QUERY of its serial can tell.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time

from hw_mocks.marketing import protocol as p


class NotSent(Exception):
    """The marketing system could not be reached: the request was not sent."""


class NoAnswer(Exception):
    """The request was sent; no valid answer came: its outcome is unknown."""


def parse_address(address: str) -> tuple[str, int]:
    host, _, port = address.rpartition(":")
    return host or "127.0.0.1", int(port)


def _check(req: p.Message, msgs: list[p.Message]) -> p.Message:
    ans = msgs[0]
    if ans.kind is not p.Kind.ANSWER or ans.trade is not req.trade or ans.serial != req.serial:
        raise NoAnswer(f"the answer does not match the request (trade {ans.trade.value}, serial {ans.serial})")
    return ans


async def exchange_async(address: str, req: p.Message, timeout: float) -> p.Message:
    host, port = parse_address(address)
    raw = p.encode(req)
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
    except (OSError, TimeoutError) as e:
        raise NotSent(f"cannot connect to the marketing system at {address}: {e}") from e
    try:
        writer.write(raw)
        dec = p.Decoder()
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                raise NoAnswer(f"no answer within {timeout:g} s")
            try:
                data = await asyncio.wait_for(reader.read(65536), left)
            except TimeoutError:
                raise NoAnswer(f"no answer within {timeout:g} s") from None
            except OSError as e:
                raise NoAnswer(f"the connection failed: {e}") from e
            if not data:
                raise NoAnswer("the marketing system closed the connection without an answer")
            try:
                msgs = dec.feed(data)
            except p.MarketingProtocolError as e:
                raise NoAnswer(f"the answer is malformed: {e.why}") from e
            if msgs:
                return _check(req, msgs)
    finally:
        writer.close()
        with contextlib.suppress(Exception):
            await writer.wait_closed()


def exchange(address: str, req: p.Message, timeout: float) -> p.Message:
    """The same, blocking (the daily check's command)."""
    host, port = parse_address(address)
    raw = p.encode(req)
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except OSError as e:
        raise NotSent(f"cannot connect to the marketing system at {address}: {e}") from e
    with sock:
        deadline = time.monotonic() + timeout
        try:
            sock.sendall(raw)
            dec = p.Decoder()
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise NoAnswer(f"no answer within {timeout:g} s")
                sock.settimeout(left)
                data = sock.recv(65536)
                if not data:
                    raise NoAnswer("the marketing system closed the connection without an answer")
                msgs = dec.feed(data)
                if msgs:
                    return _check(req, msgs)
        except TimeoutError:
            raise NoAnswer(f"no answer within {timeout:g} s") from None
        except OSError as e:
            raise NoAnswer(f"the connection failed: {e}") from e
        except p.MarketingProtocolError as e:
            raise NoAnswer(f"the answer is malformed: {e.why}") from e
