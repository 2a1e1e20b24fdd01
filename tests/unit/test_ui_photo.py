"""The reading screen's F3 拍照 (issue 18 point 2) at 30×16: the still is taken, its size shown,
a retake replaces it, it is saved with the reading; no camera → the camera's message and the
reading is saved without a photo."""

from __future__ import annotations

from drivers.scanner.still import CameraNotFoundError
from tests.unit.test_ui_screens import assert_fits, flat, lines
from tests.unit.test_ui_support import FakeBackend, logged_in


def _read(tmp_path, backend):
    app = logged_in(tmp_path, backend=backend)
    app.press("1", "2", "enter")
    text = app.press("f1")  # IR read
    assert "示数：1120.50" in text
    return app, text


def test_f3_photographs_the_display_and_the_photo_is_saved_with_the_reading(tmp_path):
    backend = FakeBackend()
    app, text = _read(tmp_path, backend)
    assert lines(text)[-1].startswith("F1保存 F2异常 F3拍照 F4返回")  # the key help
    assert "未拍照（F3拍照）" in flat(text)
    text = app.press("f3")
    assert_fits(text, 30, 16)
    assert "已拍照（2KB）" in flat(text)
    first = backend.photos_taken
    app.press("f3")  # retake: replaces the photo
    assert backend.photos_taken == first + 1
    app.press("f1")
    assert app.top.name == "customer"
    assert backend.saved_photo is not None and backend.saved_photo[2] == first + 1  # the retaken one


def test_no_camera_says_so_and_the_reading_is_saved_without_a_photo(tmp_path):
    backend = FakeBackend()
    backend.camera_error = CameraNotFoundError("No camera answers at {where}.", where="127.0.0.1:8080")
    app, _text = _read(tmp_path, backend)
    text = app.press("f3")
    assert "127.0.0.1:8080没有摄像头应答" in flat(text) and "示数可不带照片保存" in flat(text)
    assert app.top.name == "reading" and app.top.photo is None
    text = app.press("f1")
    assert app.top.name == "customer" and "示数已保存" in text
    assert [c for c in backend.calls if c[0] == "save_reading"] and backend.saved_photo is None


def test_a_new_reading_drops_the_photo_of_the_last(tmp_path):
    backend = FakeBackend()
    app, _text = _read(tmp_path, backend)
    app.press("f3")
    assert app.top.photo is not None
    app.top.do_read()  # read again
    assert app.top.photo is None


def test_when_f3_is_the_rollover_the_photo_is_on_the_dot_key(tmp_path):
    from terminal_app.services.views import ReadingOutcome

    backend = FakeBackend()
    app, _text = _read(tmp_path, backend)
    app.top._got(ReadingOutcome("3101000001", "12.00", "ir", "", (), None, needs=("abnormal_code", "rollover"),
                                rollover_use="91.50"))
    text = app.render_text()
    assert lines(text)[-1].startswith("F1保存 F2异常 F3翻转")
    assert "未拍照（.拍照）" in flat(text)
    text = app.press(".")
    assert "已拍照（2KB）" in flat(text) and backend.photos_taken == 1
