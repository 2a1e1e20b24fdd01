"""The station link over the GPRS modem's own TCP stack: a :class:`terminal_app.station.transport.Transport`.

    transport = ModemTransport(settings.devices.modem)      # owns the driver; or ModemTransport(driver)
    transport.open(host, port, timeout=30)   # PDP context checked (and brought up / recovered), TCP opened
    transport.send(frame)                    # split into max_send pieces (AT+CIPSEND / AT+QISEND)
    reply = transport.recv(4096, timeout=60) # b"" only when the connection closed
    transport.close()                        # TCP closed; an owned driver also releases the serial port

An owned driver (built from settings) reopens its port on the next ``open``; the modem keeps its
data context meanwhile (the driver clears HUPCL, so closing the tty does not drop DTR and hang the
modem up).  A driver passed in belongs to the caller, who closes it.  One thread at a time.

Error contract (the same as :class:`SocketTransport`):

* ``open`` raises :class:`LinkDownError` (or a subclass with specific advice: no SIM, no coverage,
  registration denied, attach refused, PDP failure, connect failed) — nothing was sent.
  ``timeout`` bounds the TCP connect; SIM, registration, attach and PDP steps have their own bounds
  in :class:`ModemParams`.  The context is re-checked on every ``open`` (carriers drop idle
  sessions); a dropped (``+PDP: DEACT``) or stuck context is shut and brought up again.
* ``send``/``recv`` raise :class:`LinkBrokenError` when the connection or the context fails after
  opening — what was sent may have arrived (``SEND OK`` proves nothing).
* ``recv`` raises :class:`DeviceTimeoutError` when nothing arrives within ``timeout``, and returns
  ``b""`` when the modem reported the connection closed (e.g. the station's reply was lost).

``bytes_sent`` / ``bytes_received`` count payload bytes (not AT overhead).
"""

from __future__ import annotations

import time

from drivers.modem.driver import ModemDriver, ModemStateError, open_modem
from drivers.modem.params import ModemParams
from drivers.modem.protocol import AtProtocolError
from terminal_app.errors import DeviceError, LinkBrokenError, LinkDownError


class ModemTransport:
    """A TCP connection through the modem (``[link] transport = "modem"``)."""

    def __init__(self, modem: ModemDriver | ModemParams) -> None:
        if isinstance(modem, ModemParams):
            self.driver = open_modem(modem)
            self._owns_driver = True
        else:
            self.driver = modem
            self._owns_driver = False
        self.bytes_sent = 0
        self.bytes_received = 0

    def open(self, host: str, port: int, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        try:
            self.driver.open()
            for attempt in (1, 2):
                self.driver.ensure_context()
                try:
                    self.driver.tcp_open(host, port, max(0.1, deadline - time.monotonic()))
                    return
                except ModemStateError:
                    if attempt == 2:
                        raise
                    self.driver.shut()  # stuck or stale: start from IP INITIAL once more
        except LinkDownError:
            self._release()
            raise
        except (DeviceError, AtProtocolError) as e:
            self._release()
            raise LinkDownError("The GPRS modem could not open the link: {error}.",
                                "Check the modem (power, cable, antenna), then try again; nothing was sent.",
                                error=e) from e

    def send(self, data: bytes) -> None:
        step = self.driver.settings.max_send
        for i in range(0, len(data), step):
            chunk = data[i:i + step]
            self.driver.tcp_send(chunk)
            self.bytes_sent += len(chunk)

    def recv(self, max_bytes: int, timeout: float) -> bytes:
        try:
            data = self.driver.tcp_recv(max_bytes, timeout)
        except LinkBrokenError:
            raise
        except DeviceError as e:
            if isinstance(e, TimeoutError):
                raise
            raise LinkBrokenError("The GPRS modem failed while receiving: {error}.",
                                  "The result is unknown; it will be checked with the station.",
                                  error=e) from e
        self.bytes_received += len(data)
        return data

    def close(self) -> None:
        """Close the TCP connection (best effort) and, for an owned driver, the serial port."""
        try:
            self.driver.tcp_close()
        finally:
            self._release()

    def _release(self) -> None:
        if self._owns_driver:
            self.driver.close()  # the modem keeps its context; the port reopens on the next open()

    def __enter__(self) -> ModemTransport:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
