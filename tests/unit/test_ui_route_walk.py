"""The route walk on the route list (fake backend): progress per segment on the list and the status
line, next-unread with one key, skip with a reason, the walking order moved and kept."""

from __future__ import annotations

from urwid import calc_width

from tests.unit.test_ui_support import FakeBackend, logged_in


def on_route(tmp_path, backend=None):
    app = logged_in(tmp_path, backend=backend or FakeBackend())
    app.press("1", "2")  # 抄表 → 线路列表
    assert app.top.name == "route_list"
    return app


def test_progress_next_unread_and_skip(tmp_path):
    backend = FakeBackend()
    app = on_route(tmp_path, backend)
    screen = app.render_text()
    assert "表段3101：已走访0/2" in screen
    assert "抄0/2" in screen.splitlines()[1]  # the status line's second row
    assert all(calc_width(ln, 0, len(ln)) <= 30 for ln in screen.splitlines())
    assert "F3下一户" in screen and "F4跳过" in screen
    app.press("f3")  # next unread: the first of the walk
    assert app.top.name == "customer" and app.top.customer.number == "3101000001"
    app.press("esc")
    app.press("f3")  # one key again: the one after it (the first was opened, not read)
    assert app.top.customer.number == "3101000002"
    app.press("esc")
    app.press("f4")  # skip the focused customer (the one opened last)
    assert app.top.name == "skip" and "3101000002" in app.render_text()
    screen = app.press("1")  # the first reason: 门闭
    assert ("register_abnormal", "3101000002", "door_locked") in backend.calls
    assert app.top.name == "route_list"
    assert "×3101000002" in screen and "已走访1/2" in screen and "抄1/2" in screen
    app.press("f3")  # the skipped door is visited: next unread is the first again
    assert app.top.customer.number == "3101000001"
    backend.calls.append(("save_reading", "3101000001", "1120.50", None))  # read it
    app.press("esc")
    screen = app.press("f3")
    assert app.top.name == "route_list" and "都已走访" in screen and "已走访2/2" in screen


def test_skip_refuses_a_customer_read_today(tmp_path):
    backend = FakeBackend()
    backend.calls.append(("save_reading", "3101000001", "1120.50", None))
    app = on_route(tmp_path, backend)
    screen = app.press("f4")
    assert app.top.name == "route_list" and "今天已抄" in screen


def test_walking_order_is_moved_with_the_dot_and_arrows_and_kept(tmp_path):
    backend = FakeBackend()
    app = on_route(tmp_path, backend)
    app.press(".")  # pick up the focused (first) customer
    assert "↕3101000001" in app.render_text()
    app.press("down")
    screen = app.press(".")  # put it down
    assert ("walk_order", "3101", ["3101000002", "3101000001"]) in backend.calls
    rows = [ln for ln in screen.splitlines() if "31010000" in ln]
    assert rows[0].strip().startswith("3101000002") and "走访顺序已保存" in screen
    app.press("up")  # not moving now: the arrows move the focus, the order stays
    assert [c for c in backend.calls if c[0] == "walk_order"] == [("walk_order", "3101", ["3101000002", "3101000001"])]


def test_leaving_the_route_clears_the_progress_from_the_status_line(tmp_path):
    app = on_route(tmp_path)
    app.press("esc", "esc")
    assert app.top.name == "main" and "抄0/2" not in app.render_text()


def test_the_premise_note_shows_when_the_customer_opens_and_is_edited_with_the_dot(tmp_path):
    backend = FakeBackend()
    backend.notes = {"3101000001": "狗凶，先敲门"}
    app = on_route(tmp_path, backend)
    screen = app.press("enter")  # open the first customer
    assert app.top.name == "customer" and "注意：狗凶，先敲门" in screen
    app.press(".")
    assert app.top.name == "note"
    app.press("delete")  # the keypad's 清除 empties the field
    app.type("钥匙在邻居家")
    screen = app.press("f1")
    assert ("note", "3101000001", "钥匙在邻居家") in backend.calls
    assert app.top.name == "customer" and "注意：钥匙在邻居家" in screen and "注意事项已保存" in screen
    app.press(".", "delete", "enter")  # an empty note clears it
    assert ("note", "3101000001", "") in backend.calls
    assert "注意：" not in app.render_text()


def test_the_status_line_counts_a_reading_saved_on_the_customer_screen(tmp_path):
    app = on_route(tmp_path)
    assert "抄0/2" in app.render_text().splitlines()[1]
    app.press("enter")  # the first customer of the walk
    app.press("f1")  # IR read
    screen = app.press("f1")  # save: the route list is not shown again, the status line counts it now
    assert app.top.name == "customer" and "示数已保存" in screen
    assert "抄1/2" in screen.splitlines()[1]


def test_the_status_line_counts_a_door_skipped_and_stays_within_30_columns(tmp_path):
    backend = FakeBackend()
    app = on_route(tmp_path, backend)
    app.press("f4")
    screen = app.press("1")  # 门闭
    assert "抄1/2" in screen.splitlines()[1]
    backend.calls.append(("register_abnormal", "9999999999", "door_locked"))  # not of this segment
    app.refresh_walk()
    assert app.walk_progress == (1, 2)


def test_the_fix_of_the_place_source_on_the_status_line(tmp_path):
    import dataclasses

    backend = FakeBackend()
    app = on_route(tmp_path, backend)
    for fix, word in (("3D", "3D"), ("2D", "2D"), ("none", "无星"), ("stale", "旧位")):
        backend.status_value = dataclasses.replace(backend.status_value, fix=fix, queue_depth=12, oldest_age_s=600)
        app.refresh_status()
        screen = app.render_text()
        row2 = screen.splitlines()[1]
        # the queue's age gives way to the fix; the queue itself stays
        assert word in row2 and "抄0/2 待传12" in row2 and "最早" not in row2, row2
        assert all(calc_width(ln, 0, len(ln)) <= 30 for ln in screen.splitlines())
    app.walk_progress = (100, 100)  # no room for the fix beside 抄100/100 and the queue: the fix gives way
    app.refresh_status()
    row2 = app.render_text().splitlines()[1]
    assert "抄100/100 待传12" in row2 and "旧位" not in row2 and calc_width(row2, 0, len(row2)) <= 30
    app.walk_progress = (0, 2)
    backend.status_value = dataclasses.replace(backend.status_value, fix="")
    app.refresh_status()
    assert not any(w in app.render_text().splitlines()[1] for w in ("3D", "2D", "无星", "旧位"))  # nothing answered
