"""The supervisors' console: a web application served by the reference station (issue 22; docs/station.md)."""
