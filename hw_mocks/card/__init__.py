"""The mock card reader module with a virtual CPU card, and the card meter's side of the card.

    virtual  VirtualCard: the card application (files, key, challenge, MAC check, counters)
    device   MockCardReader: the reader's framing on a pty; insert / remove; pull-the-card faults
    meter    MockCardMeter: "insert the card into the meter" (count rule, load, return data)
    cli      handheld-mocks card --link PATH
"""
