"""The camera driver (drivers.scanner.still) against the mock network camera over loopback TCP
(mjpg-streamer's HTTP interface, hw_mocks/camera), each scenario, and against a real V4L2 device
where this machine has one."""

from __future__ import annotations

import glob
import urllib.request

import pytest
from PIL import Image, ImageChops, ImageStat

from drivers.scanner.photo import PHOTO_BUDGET, compress
from drivers.scanner.still import (
    CameraFrameError,
    CameraNotFoundError,
    CameraTimeoutError,
    still,
    v4l2_still,
)
from hw_mocks.camera import lcd
from hw_mocks.camera.scenario import NAMED, CameraScenario, load_scenario
from hw_mocks.camera.server import MockCamera
from terminal_app.errors import ConfigurationError


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute grey difference of the LCD glass (where the digits are) of two pictures, at
    the size of ``a``."""
    a, b = a.convert("L"), b.convert("L").resize(a.size)
    w, h = a.size
    box = (w // 16, h // 4, w - w // 16, h * 3 // 4)
    return sum(ImageStat.Stat(ImageChops.difference(a.crop(box), b.crop(box))).mean)


@pytest.fixture
def camera():
    with MockCamera(display="1234.56") as cam:
        yield cam


def test_a_snapshot_is_the_display_the_mock_shows(camera):
    img = still(camera.url)
    assert img.size == lcd.SIZE
    same = difference(img, lcd.draw("1234.56"))
    others = [difference(img, lcd.draw(v)) for v in ("1234.50", "1234.57", "1284.56", "234.56")]
    assert same < 0.5 and min(others) > 2 * same  # JPEG noise only; one segment more or less shows
    camera.show("987.10")
    img = still(camera.url)
    assert difference(img, lcd.draw("987.10")) < difference(img, lcd.draw("1234.56"))


def test_the_stream_gives_its_first_picture(camera):
    img = still(camera.url.replace("snapshot", "stream"))
    assert difference(img, lcd.draw("1234.56")) < 0.5


def test_the_photo_of_the_display_fits_the_gprs_budget_and_still_shows_it(camera):
    jpeg = compress(still(camera.url))
    assert jpeg.startswith(b"\xff\xd8") and len(jpeg) <= PHOTO_BUDGET
    from drivers.scanner.still import open_jpeg

    photo = open_jpeg(jpeg)
    assert difference(photo, lcd.draw("1234.56")) < min(difference(photo, lcd.draw(v))
                                                         for v in ("1234.50", "1234.57", "1284.56"))


def test_no_camera_is_said_with_what_to_do(camera):
    camera.scenario = NAMED["no_camera"]
    with pytest.raises(CameraNotFoundError) as e:
        still(camera.url)
    assert e.value.params["code"] == 503 and "without a photo" in e.value.action


def test_a_slow_camera_is_a_timeout_and_a_blank_one_a_frame_error(camera):
    camera.scenario = CameraScenario(delay_s=5.0)
    with pytest.raises(CameraTimeoutError):
        still(camera.url, timeout=0.3)
    camera.scenario = NAMED["blank"]
    with pytest.raises(CameraFrameError):
        still(camera.url)
    camera.scenario = NAMED["ok"]
    assert still(camera.url).size == lcd.SIZE  # the camera is back: the next photo works


def test_nothing_listening_is_no_camera():
    with MockCamera() as cam:
        url = cam.url
    with pytest.raises(CameraNotFoundError):
        still(url, timeout=2)


def test_other_paths_are_404_as_mjpg_streamer_answers(camera):
    with pytest.raises(urllib.error.HTTPError) as e:
        urllib.request.urlopen(f"http://127.0.0.1:{camera.port}/?action=nothing", timeout=5)
    e.value.close()
    assert e.value.code == 404


def test_scenarios_are_data_and_typos_are_refused(tmp_path):
    f = tmp_path / "slow.toml"
    f.write_text("delay_s = 2.5\nblank = true\n", encoding="utf-8")
    assert load_scenario(f) == CameraScenario(delay_s=2.5, blank=True)
    f.write_text("dleay_s = 2.5\n", encoding="utf-8")
    with pytest.raises(ConfigurationError):
        load_scenario(f)
    assert load_scenario("no_camera").no_camera


VIDEO = sorted(glob.glob("/dev/video*"))


@pytest.mark.skipif(not VIDEO, reason="no V4L2 device (/dev/video*) on this machine: v4l2loopback is not "
                                      "loadable in a container; the V4L2 path's pure parts are in tests/unit")
def test_one_still_from_the_real_v4l2_camera():
    try:
        img = v4l2_still(VIDEO[0], timeout=10)
    except CameraFrameError:  # a covered lens in a rack is a blank picture, said as such
        pytest.skip(f"{VIDEO[0]} gives a blank picture (covered lens)")
    assert img.mode == "RGB" and max(img.size) >= 160
    assert len(compress(img)) <= PHOTO_BUDGET


def test_a_missing_v4l2_device_is_no_camera():
    with pytest.raises(CameraNotFoundError):
        still("v4l2:///dev/video-none-here")
