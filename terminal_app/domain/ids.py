"""The terminal id (终端编号): 8 ASCII digits the utility issues, in every GT/1 header, in every
journal entry's transaction id (``00000001-42``) and on every receipt.  One rule, here."""

from __future__ import annotations

from terminal_app.errors import ConfigurationError

LENGTH = 8


def is_terminal_id(value: object) -> bool:
    """``value`` is 8 ASCII digits."""
    return isinstance(value, str) and len(value) == LENGTH and value.isascii() and value.isdigit()


class TerminalId(str):
    """A checked terminal id; ConfigurationError (with ``action``, what to do) otherwise."""

    __slots__ = ()

    def __new__(cls, value: str, action: str | None = None) -> TerminalId:
        if not is_terminal_id(value):
            raise ConfigurationError("The terminal id {value!r} is not 8 digits.", action,
                                     value=value[:20] if isinstance(value, str) else value)
        return super().__new__(cls, value)

    def txn(self, number: int) -> str:
        """The transaction id of this terminal's journal entry ``number``."""
        return f"{self}-{number}"

    def owns(self, txn: str) -> bool:
        """``txn`` is a transaction id of this terminal (``<id>-<n>``)."""
        return txn_terminal(txn) == self


def txn_terminal(txn: str) -> str | None:
    """The terminal id of a transaction id ``<8 digits>-<n>``; None when it is not one."""
    tid, sep, number = txn.partition("-")
    return tid if sep and is_terminal_id(tid) and number.isdigit() else None
