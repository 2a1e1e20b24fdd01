"""Device drivers, one package per device.  Each has a sans-IO ``protocol.py`` and a thin driver."""
