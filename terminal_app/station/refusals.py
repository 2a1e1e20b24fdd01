"""What the operator is told when the master station refuses a request: one sentence per error
code (docs/protocol.md, "Error codes").  The station's ``msg`` is English for the logs only
(protocol.md: "the terminal shows its own text per code"), and so is the code itself: both are
kept on the exception and in its ``str`` (the log), never put on the screen.
"""

from __future__ import annotations

from terminal_app.errors import N_

#: code -> (what happened, what to do); msgids of the catalogs
REFUSALS: dict[str, tuple[str, str]] = {
    "E_BAD_REQUEST": (N_("The master station could not accept the request as sent."),
                      N_("Note the time and call the technician; nothing was changed at the station.")),
    "E_UNKNOWN_CUSTOMER": (N_("The master station does not know this customer."),
                           N_("Check the customer number.")),
    "E_TXN_CONFLICT": (N_("The master station already has this record with other content."),
                       N_("Call the supervisor; the journal keeps the record.")),
    "E_NOT_ALLOWED": (N_("The master station's rules do not allow this."),
                      N_("Check the details with the customer or the supervisor.")),
    "E_LIMIT": (N_("The amount or the count is beyond the master station's limit."),
                N_("Take a smaller amount, or ask the service hall.")),
    "E_INTERNAL": (N_("The master station failed to handle the request."),
                   N_("Try again later; the journal keeps the record.")),
    "E_UNKNOWN_TYPE": (N_("The master station does not offer this function."),
                       N_("Call the technician.")),
    "E_UNKNOWN_SEGMENT": (N_("The master station does not know this segment."),
                          N_("Check the segment number.")),
    "E_NOT_ASSIGNED": (N_("This segment is not assigned to you at the master station."),
                       N_("Ask the office to assign it to your operator number, then download again.")),
    "E_UNKNOWN_METER": (N_("The meter is not this customer's meter at the master station."),
                        N_("Check the meter's barcode and the customer number.")),
    "E_CARD_COUNT": (N_("The card's purchase count does not match the master station's."),
                     N_("Read the card again; if it repeats, send the customer to the service hall.")),
    "E_CARD_REPLACED": (N_("This card was replaced by a new one; its meter refuses it."),
                        N_("Ask the customer for the new card.")),
    "E_UNAVAILABLE": (N_("The master station does not offer this function."),
                      N_("Send the customer to the service hall.")),
    "E_REPLAY": (N_("The master station took the request for a repeat."),
                 N_("Try again; the terminal moves its counter on by itself.")),
}
UNKNOWN_REFUSAL = (N_("The master station refused the request."),
                   N_("Check the details with the customer or the supervisor."))


def refusal_text(code: str) -> tuple[str, str]:
    """(what, action) msgids for a station error code."""
    return REFUSALS.get(code, UNKNOWN_REFUSAL)
