"""The mock 58 mm ESC/POS printer (pty), its fault scenarios, and its saved tickets."""

from hw_mocks.printer.device import MockPrinter
from hw_mocks.printer.paper import PrintedTicket
from hw_mocks.printer.scenario import PrinterScenario, load_scenario

__all__ = ["MockPrinter", "PrintedTicket", "PrinterScenario", "load_scenario"]
