"""What the screens show: the core's read records (terminal_app.services.views), re-exported so the
screens import them from the UI's side only."""

from __future__ import annotations

from terminal_app.services.views import (
    ArrearsCheck,
    ArrearsLine,
    BillView,
    CardView,
    CustomerView,
    DocumentView,
    DunningView,
    GiveUpOutcome,
    LinkState,
    NoticeView,
    PaymentOutcome,
    PaymentView,
    PrinterState,
    ReadingAnswer,
    ReadingOutcome,
    ReversalView,
    SettlementView,
    TerminalStatus,
)

__all__ = ["ArrearsCheck", "ArrearsLine", "BillView", "CardView", "CustomerView", "DocumentView", "DunningView", "GiveUpOutcome", "LinkState", "NoticeView", "PaymentOutcome", "PaymentView", "PrinterState", "ReadingAnswer", "ReadingOutcome", "ReversalView", "SettlementView", "TerminalStatus"]
