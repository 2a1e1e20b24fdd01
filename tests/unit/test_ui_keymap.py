"""Key bindings are data: every one resolves to a registered command with valid arguments."""

from __future__ import annotations

import inspect

from tests.unit.test_ui_support import logged_in, make_app
from ui.keymap import DEFAULT_BINDINGS, Keymap, default_keymap


def test_every_binding_resolves_to_an_existing_command(tmp_path):
    app = make_app(tmp_path)
    km = default_keymap()
    assert len(km.bindings) == len(DEFAULT_BINDINGS)
    for b in km.bindings:
        name, *args = b.command.split()
        assert name in app.commands, f"{b.key} → unknown command {name!r}"
        inspect.signature(app.commands[name]).bind(*args)  # the arguments fit the command
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
