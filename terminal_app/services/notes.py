"""Premise notes (门牌/注意事项) edited on the terminal: journaled (PREMISE_NOTE), then sent by the
sync engine like a reading — exactly once by txn; the station keeps the newest by ``at``.

The journal commit comes first; the local store's copy (shown on the customer card at once) is
written after it.  Should the terminal stop between the two, the edit is still sent, and the
next download brings it back from the station.
"""

from __future__ import annotations

from terminal_app.domain.premise import PremiseNote, check_text
from terminal_app.errors import BusinessRuleError
from terminal_app.services.ports import UseCaseContext
from terminal_app.services.reading import now_s
from terminal_app.station.messages import MsgType
from terminal_app.station.protocol import encode_body_fast


def edit_note(ctx: UseCaseContext, cust: str, text: str) -> str:
    """Set the premise note of customer ``cust`` ("" clears it); returns the journal entry's txn."""
    if ctx.store.customer(cust) is None:
        raise BusinessRuleError("Customer {cust} is not in the downloaded routes.",
                                "Download the customer's segment first.", cust=cust)
    note = PremiseNote(check_text(text), now_s(ctx.clock))
    entry = ctx.journal.capture("premise_note", MsgType.PREMISE_NOTE, encode_body_fast(
        {"cust": cust, "text": note.text, "at": note.at.isoformat(), "op": ctx.operator.operator}))
    ctx.store.save_premise_note(cust, note, entry.txn)
    if ctx.sync is not None:
        ctx.sync.notify_captured()
    return entry.txn
