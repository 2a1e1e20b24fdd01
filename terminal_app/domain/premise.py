"""Premise notes (门牌/注意事项): what the office and the electrician share about a customer's
premises — the door plate, a dog, a meter behind a locked gate, the key with a neighbour.

A note comes down with the route (ROUTE_DOWNLOAD item ``note``: ``{"text", "at"}``) and is edited
on the terminal (PREMISE_NOTE, journaled and uploaded like a reading).  The newest note (by
``at``, the time it was written) wins, at the station and on the terminal alike; an empty text
clears it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from terminal_app.domain.records import bad, get_time, need_mapping
from terminal_app.errors import BusinessRuleError

#: the protocol's free-text bound (docs/protocol.md Conventions)
MAX_NOTE = 200


def check_text(text: str) -> str:
    """The note as it is kept: trimmed, at most MAX_NOTE printable characters ("" clears it)."""
    text = text.strip()
    if len(text) > MAX_NOTE or not all(ch.isprintable() for ch in text):
        raise BusinessRuleError("A premise note has at most {max} characters, on one line.",
                                "Shorten the note.", max=MAX_NOTE)
    return text


@dataclass(frozen=True, slots=True)
class PremiseNote:
    text: str
    at: dt.datetime  # when it was written: the newest wins

    @classmethod
    def from_dict(cls, d: Any) -> PremiseNote:
        d = need_mapping(d, "premise note")
        text = d.get("text")
        if not isinstance(text, str) or len(text) > MAX_NOTE or not all(ch.isprintable() for ch in text):
            raise bad("premise note", f"field 'text' is not 0..{MAX_NOTE} printable characters")
        return cls(text, get_time(d, "at", "premise note"))

    def to_dict(self) -> dict[str, str]:
        return {"text": self.text, "at": self.at.isoformat()}


def newest(*notes: PremiseNote | None) -> PremiseNote | None:
    """The newest of the notes given (None when there is none)."""
    found = [n for n in notes if n is not None]
    return max(found, key=lambda n: n.at) if found else None
