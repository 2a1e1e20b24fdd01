"""Handheld terminal core: configuration, errors, domain, use cases, station link, CLI."""

__version__ = "0.1.0"
