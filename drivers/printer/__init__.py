"""58 mm ESC/POS thermal printer: Chinese (GB18030) receipts and notices, laid out by width.

    from drivers.printer import ThermalPrinter
    from terminal_app.documents import templates            # the core's documents
    with ThermalPrinter("/dev/ttyPrinter") as printer:
        result = printer.print_ticket(templates.receipt(data), already_printed=False,
                                      mark_printed=journal.mark_receipt_printed)

Modules: ``protocol`` (sans-IO ESC/POS: status bytes, host-stream decoder), ``layout``
(display-width layout, 元 formatting), ``ticket`` (what is printed, and the blocks documents are built of),
``testpage`` (the printer's own test page), ``render`` (ticket → ESC/POS via python-escpos), ``driver``.
python-escpos is imported only when a job is rendered (see ``_escpos``).
"""

from drivers.printer.driver import ThermalPrinter
from drivers.printer.errors import CoverOpenError, PaperOutError, PrinterFault, PrinterOfflineError
from drivers.printer.protocol import PrinterProtocolError, PrinterStatus
from drivers.printer.ticket import COPY_MARK, PrintOutcome, PrintResult, Ticket, TicketKind

__all__ = ["COPY_MARK", "CoverOpenError", "PaperOutError", "PrintOutcome", "PrintResult", "PrinterFault",
           "PrinterOfflineError", "PrinterProtocolError", "PrinterStatus", "ThermalPrinter", "Ticket",
           "TicketKind"]
