"""Fixtures shared by the integration tests of the UI on the simulated site."""

from __future__ import annotations

import pytest

from terminal_app.cli.simulate import SimControls, enrol_demo_operator, simulated_site
from terminal_app.config import load_settings
from ui.app import HandheldApp
from ui.operators import OperatorStore
from ui.services_backend import ServicesBackend


@pytest.fixture
def field(tmp_path):
    """(app, site): the field UI over the real use cases on a started simulated site, tasks inline."""
    with simulated_site(tmp_path) as site:
        enrol_demo_operator(site)
        # no coverage is found out within a second here (the site's file allows the field's 5 s)
        settings = load_settings(site.config_path, env={},
                                 overrides={"devices": {"modem": {"registration_timeout_s": 1.0}}})
        backend = ServicesBackend(settings, clock=site.terminal_clock)  # as ui.launch builds it: F9 moves it
        controls = SimControls(site, backend.session)
        app = HandheldApp(backend, operators=OperatorStore(settings.ui.operators_file), sim=controls)
        try:
            yield app, site
        finally:
            backend.close()


