"""Printer faults, each with what the operator does about it.

``during_job`` tells the caller whether the fault was found before any byte of the job went
out (then nothing was printed and a retry prints the same document again) or after (then
the document may be partly on paper: the retry prints it marked as a copy).
"""

from __future__ import annotations

from typing import Any

from terminal_app.errors import DeviceError


class PrinterFault(DeviceError):
    """The printer cannot print now (paper, cover, error state)."""

    def __init__(self, what: str, action: str | None = None, *, during_job: bool = False,
                 **params: Any) -> None:
        self.during_job = during_job
        super().__init__(what, action, **params)


class PaperOutError(PrinterFault):
    default_action = "Load paper, then press retry."


class CoverOpenError(PrinterFault):
    default_action = "Close the printer cover, then press retry."


class PrinterOfflineError(PrinterFault):
    default_action = "Switch the printer off and on, then press retry."
