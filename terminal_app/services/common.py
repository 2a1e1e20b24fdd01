"""Small pieces every use case shares: who is working, printing an original once, tariffs at hand.

* :class:`Operator` — the terminal id and the operator's id (收费员/抄表员), printed and sent.
* :func:`print_once` — the printer driver's no-second-original contract wired to the local
  store: ``already_printed`` comes from the store's ``printed`` table, and ``mark_printed``
  writes it durably before the driver sends the job.
* :class:`TariffBook` — tariffs by name: the version the station sent (stored with the route),
  else the one packaged with the terminal.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from terminal_app.domain.ids import TerminalId
from terminal_app.domain.tariff import Tariff
from terminal_app.errors import ConfigurationError
from terminal_app.services import ports
from terminal_app.services.store import LocalStore
from terminal_app.tariffs.loader import load_tariff, parse_tariff_text


@dataclass(frozen=True, slots=True)
class Operator:
    terminal_id: str
    operator: str = "0001"

    def __post_init__(self) -> None:
        TerminalId(self.terminal_id)
        if not self.operator or len(self.operator) > 32 or not self.operator.isprintable():
            raise ConfigurationError("The operator id {value!r} is empty or longer than 32 characters.",
                                     "Log in again with your operator number.", value=self.operator)


def print_once(printer: ports.Printer, store: LocalStore, ticket: Any, clock: ports.Clock) -> Any:
    """Print ``ticket``: the original if none may be on paper yet, else a copy marked 重打/副本.

    Raises the printer's errors (DeviceError family); what was journaled before stands, and
    calling again prints the original if it never started, a copy if it may have.  The printer
    is opened here if it is not yet (``open`` is idempotent): a printer plugged in late works.
    """
    opener = getattr(printer, "open", None)
    if opener is not None:
        opener()
    return printer.print_ticket(ticket, already_printed=store.was_printed(ticket.identity),
                                mark_printed=lambda identity: store.mark_printed(identity, clock.now()))


@dataclass
class TariffBook:
    """Tariffs by name, parsed once: the station's version from the store, else the packaged file."""

    store: LocalStore
    _cache: dict[tuple[str, str | None], Tariff] = field(default_factory=dict)

    def get(self, name: str) -> Tariff:
        text = self.store.tariff_text(name)
        key = (name, None if text is None else str(hash(text)))
        if key not in self._cache:
            self._cache[key] = parse_tariff_text(text, f"station tariff {name}") if text is not None \
                else load_tariff(name)
        return self._cache[key]
