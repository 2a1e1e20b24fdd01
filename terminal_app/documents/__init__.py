"""Business documents the terminal prints (receipts, notices, slips, vouchers) and their issuer.

The core owns what a document says; ``drivers.printer`` lays out and prints the ticket it is
given.
"""
