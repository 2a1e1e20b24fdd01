"""Test rigs: the station and card set-ups the integration tests and benchmarks share (not shipped)."""
