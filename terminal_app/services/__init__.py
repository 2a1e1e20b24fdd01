"""Use cases: each takes its collaborators (meter, printer, journal, link, clock) as arguments."""
