"""The prepaid IC card (购电卡): APDU layer, card-reader module driver, card application model.

    apdu      ISO 7816-4 command/response APDUs, status words, T=0 (61xx / 6Cxx) rules — sans-IO
    protocol  the serial reader module's framing — sans-IO
    reader    SerialCardReader: the reader over a pyserial URL
    model     the card application: files, commands, the write MAC (docs/card.md) — sans-IO
    card      PrepaidCard: read / challenge / write through any reader
    pcsc      optional PC/SC reader through pyscard (extra)
"""
