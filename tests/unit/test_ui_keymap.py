"""Key bindings are data: every one resolves to a registered command with valid arguments."""

from __future__ import annotations

from tests.unit.test_ui_support import logged_in, make_app
from ui.keymap import DEFAULT_BINDINGS, Keymap, default_keymap


def test_every_binding_resolves_to_an_existing_command(tmp_path):
    app = make_app(tmp_path)
    km = default_keymap()
    assert len(km.bindings) == len(DEFAULT_BINDINGS)
    for b in km.bindings:
        name, *args = b.command.split()
        assert name in app.commands, f"{b.key} → unknown command {name!r}"
        app.commands[name].signature().bind(*args)  # the arguments fit the command
        assert b.help and b.contexts


def test_the_keypad_is_covered():
    km = default_keymap()
    for key in ["esc", "enter", "f1", "f2", "f3", "f4"]:
        assert km.lookup(key, ["global"]) is not None, key
    for n in range(1, 10):
        assert km.lookup(str(n), ["menu", "global"]).command == f"menu.pick {n}"
        assert km.lookup(str(n), ["form", "global"]) is None  # digits on a form go to the edit
    assert km.lookup("f6", ["global"]) is None  # simulate keys only in simulate mode
    assert km.lookup("f6", ["simulate", "global"]).command == "sim.scan"


def test_a_screen_context_overrides_global():
    km = Keymap()
    km.add("f1", "back", ["global"], "x")
    km.add("f1", "softkey 1", ["main"], "y")
    assert km.lookup("f1", ["main", "global"]).command == "softkey 1"
    assert km.lookup("f1", ["login", "global"]).command == "back"


def test_rebinding_a_key_changes_what_it_does(tmp_path):
    app = logged_in(tmp_path)
    app.km.add("0", "menu.pick 6", ["main"], "settings on 0")
    app.press("0")
    assert app.top.name == "settings"


def test_unbound_keys_do_nothing(tmp_path):
    app = logged_in(tmp_path)
    before = app.render_text()
    assert app.press("f12", "x", "page up") == before


# ---- one dispatch path: every key of every screen resolves to a command ----------------------
SCREEN_PARAMS = {"route_list": {"purpose": "read"}, "customer": {"customer": "C"}, "bill": {"customer": "C"},
                 "reading": {"customer": "C", "mode": "keypad"}, "payment": {"customer": "C", "due_fen": 100},
                 "skip": {"customer": "C"}, "note": {"customer": "C"}}


class SimStub:
    operator_id, operator_pin = "1001", "123456"


def test_every_screen_binds_its_keys_and_each_resolves_to_a_command(tmp_path):
    from tests.unit.test_ui_support import CUSTOMERS
    from ui.app import SCREENS
    from ui.commands import Command
    from ui.screenstack import screen_class

    resolved = 0
    for name in SCREENS:
        app = logged_in(tmp_path, sim=SimStub())  # simulate mode: its context too
        if name == "login":
            app.logout()
        else:
            params = {k: (CUSTOMERS[0] if v == "C" else v) for k, v in SCREEN_PARAMS.get(name, {}).items()}
            app.push(name, **params)
        screen = app.top
        assert screen.name == name
        app.km.bind_screen(screen)
        for context in app.contexts():
            for b in app.km.in_context(context):
                cmd, _args = app.commands.resolve(b.command, screen)
                assert isinstance(cmd, Command) and b.help, (name, b)
                resolved += 1
        # every soft key a screen class declares names a command of the screen or of the app
        cls = screen_class(name)
        declared = cls.softkeys if isinstance(cls.softkeys, tuple) else screen.softkeys
        for sk in declared:
            if sk is not None:
                assert sk[1] in cls.commands or sk[1] in app.commands, (name, sk)
    assert resolved > 100


def test_binding_an_unknown_context_or_command_raises(tmp_path):
    import pytest

    from ui.keymap import KeyBindingError
    from ui.screens.base import Screen

    app = make_app(tmp_path)
    with pytest.raises(KeyBindingError):
        app.km.add("f5", "no.such.command", ["global"], "x")
    with pytest.raises(KeyBindingError):
        app.km.add("f5", "back", ["no_such_context"], "x")
    with pytest.raises(KeyBindingError):
        app.km.add("5", "menu.pick five", ["menu"], "x")  # menu.pick takes an int
    with pytest.raises(KeyBindingError):
        app.km.add("5", "menu.pick", ["menu"], "x")  # … and needs it
    with pytest.raises(KeyBindingError):
        app.km.add("f5", "pay", ["main"], "x")  # the bill screen's command, not the main menu's
    app.km.add("f5", "pay", ["bill"], "Pay")  # in the bill screen's context it is one

    class Broken(Screen):
        name = "settings"
        softkeys = (("Nothing", "no_such_action"),)

    with pytest.raises(KeyBindingError):
        app.km.bind_screen(Broken(app))


def test_soft_keys_and_settings_items_are_bindings_and_the_help_line_is_built_from_them(tmp_path):
    app = logged_in(tmp_path)
    b = app.km.screen_binding("main", "f1")
    assert (b.command, b.help) == ("sync", "Sync")
    assert app.render_text().splitlines()[-1].startswith("F1上传 F2消息 F4退出")
    app.press("6")  # settings: each item's digit is a binding of the screen's context
    assert app.km.lookup("4", app.contexts()).command == "messages"
    assert app.press("4") and app.top.name == "messages"
    app.press("esc")
    app.km.add("f4", "screen.push messages", ["settings"], "Messages")  # the keymap's own: F4 shown
    assert app.km.lookup("f4", app.contexts()).command == "screen.push messages"
    assert app.render_text().splitlines()[-1].startswith("F1返回 F4消息")
    app.press("f4")
    assert app.top.name == "messages"
