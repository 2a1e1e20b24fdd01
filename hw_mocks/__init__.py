"""Wire-level device simulators and the reference master station.

Each mock speaks the real protocol from the device's side over a pseudo-terminal or TCP, so
tests and QA exercise the production driver code.  Behaviour and faults are data (scenario
files), not code edits.  The core never imports this package.
"""
