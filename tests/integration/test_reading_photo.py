"""The photo of a reading through the use case (issue 18 point 2): Terminal.take_photo takes ONE
still from the configured camera (the mock network camera over loopback TCP) and compresses it;
save_reading(photo=…) journals it with the reading — the photo's chunks depend on the reading's
txn — and the sync engine's photo lane delivers it to the station, byte-identical."""

from __future__ import annotations

from decimal import Decimal

import pytest

from drivers.scanner.photo import PHOTO_BUDGET
from drivers.scanner.still import CameraNotFoundError
from hw_mocks.camera.scenario import NAMED
from hw_mocks.camera.server import MockCamera
from offline_queue.sync import PHOTO_KIND
from terminal_app.config import CameraSettings
from terminal_app.domain.reading import ReadingSource
from terminal_app.errors import DeviceError
from tests.integration.test_usecase_rig import Rig


@pytest.fixture
def rig(tmp_path):
    with Rig(tmp_path) as r:
        yield r


def test_a_photographed_reading_reaches_the_station_with_its_photo(rig):
    t = rig.terminal
    t.download_route("S2")
    c = t.route_customers("S2")[0]
    value = (c.last_reading or Decimal(0)) + 10
    with MockCamera(display=f"{value:.2f}") as cam:
        t._camera_settings = CameraSettings(url=cam.url, timeout_s=5.0)
        jpeg = t.take_photo()
    assert jpeg.startswith(b"\xff\xd8") and len(jpeg) <= PHOTO_BUDGET
    res = t.save_reading(c, t.check_reading(c, value), source=ReadingSource.IR, photo=jpeg)
    chunks = [e for e in rig.journal.open_entries() if e.kind == PHOTO_KIND]
    assert chunks and {e.depends_on for e in chunks} == {res.txn}
    t.sync.photo_duty = 1.0  # unpaced: the whole photo in this one drain
    status = t.upload_readings()
    assert (status.waiting, status.refused) == (0, 0)
    stored = rig.station_rows("SELECT reading, jpeg FROM photos")
    assert [(r, bytes(j)) for r, j in stored] == [(res.txn, jpeg)]


def test_no_camera_raises_the_cameras_error_and_the_reading_saves_without_a_photo(rig):
    t = rig.terminal
    t.download_route("S2")
    c = t.route_customers("S2")[1]
    with MockCamera(scenario=NAMED["no_camera"]) as cam:
        t._camera_settings = CameraSettings(url=cam.url, timeout_s=5.0)
        with pytest.raises(CameraNotFoundError):
            t.take_photo()
    t._camera_settings = CameraSettings(url="")
    with pytest.raises(DeviceError):
        t.take_photo()  # none configured: said so
    res = t.save_reading(c, t.check_reading(c, (c.last_reading or Decimal(0)) + 5), source=ReadingSource.IR)
    assert res.txn is not None and not [e for e in rig.journal.open_entries() if e.kind == PHOTO_KIND]
