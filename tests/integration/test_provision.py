"""``handheld provision``: settings edited in place, key written root-only and never shown, HELLO check."""

from __future__ import annotations

import io
import json
import os
import stat
import sys
from contextlib import closing

import pytest

from terminal_app.cli import main
from terminal_app.cli import provision as prov
from terminal_app.cli.simulate import simulated_site
from terminal_app.config import load_settings, read_key_file
from terminal_app.errors import ConfigurationError
from terminal_app.station.protocol import encode_body_fast


@pytest.fixture
def clean_env(monkeypatch):
    for name in [n for n in os.environ if n.startswith("HANDHELD_")]:
        monkeypatch.delenv(name)


@pytest.fixture
def site(tmp_path, clean_env):
    with simulated_site(tmp_path / "site") as s:
        yield s


def device_config(site, tmp_path) -> tuple[os.PathLike, str]:
    """A device's config before provisioning: another id, a wrong station, an old APN, comments."""
    text = site.config_path.read_text(encoding="utf-8")
    text = (text.replace('id = "00000001"', 'id = "00000009"  # factory id')
            .replace(f"port = {site.station_port}", "port = 1")
            .replace('apn = "cmiot.sc"', 'apn = "factory.apn"')
            .replace(str(site.workdir / "terminal.key"), str(tmp_path / "etc" / "terminal.key")))
    text = "# /etc/handheld/config.toml — keep this comment\n" + text
    cfg = tmp_path / "etc" / "config.toml"
    cfg.parent.mkdir()
    cfg.write_text(text, encoding="utf-8")
    cfg.chmod(0o640)
    return cfg, text


def feed_stdin(monkeypatch, text: str) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO(text))


def test_provision_sets_everything_keeps_the_rest_and_says_hello(site, tmp_path, monkeypatch, capsys):
    cfg, before = device_config(site, tmp_path)
    key_hex = (site.workdir / "terminal.key").read_text().strip()
    feed_stdin(monkeypatch, " ".join(key_hex[i:i + 4] for i in range(0, 32, 4)) + "\n")  # typed in groups
    rc = main(["--config", str(cfg), "provision", "--terminal-id", "00000001", "--suite", "2",
               "--station", f"127.0.0.1:{site.station_port}", "--apn", "cmiot.sc", "--key", "enter"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    report = json.loads(out)
    assert report["ok"] and report["checked"] and report["station_time"], report
    assert key_hex not in out + err and key_hex.upper() not in out + err  # never shown

    s = load_settings(cfg, env={})
    assert (s.terminal.id, s.station.host, s.station.port, s.station.suite, s.devices.modem.apn) == (
        "00000001", "127.0.0.1", site.station_port, 2, "cmiot.sc")
    after = cfg.read_text(encoding="utf-8")
    changed = {(a, b) for a, b in zip(before.splitlines(), after.splitlines(), strict=True) if a != b}
    assert changed == {('id = "00000009"  # factory id', 'id = "00000001"  # factory id'),
                       ("port = 1", f"port = {site.station_port}"),
                       ('apn = "factory.apn"', 'apn = "cmiot.sc"')}  # every other line, comments too, kept
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o640  # the file's mode is kept
    key_file = tmp_path / "etc" / "terminal.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert read_key_file(key_file).hex() == key_hex
    assert not [p for p in cfg.parent.iterdir() if p.name.endswith(".tmp")]


def test_wrong_key_is_saved_but_the_hello_fails_clearly(site, tmp_path, monkeypatch, capsys):
    cfg, _ = device_config(site, tmp_path)
    feed_stdin(monkeypatch, "00" * 16 + "\n")
    rc = main(["--config", str(cfg), "provision", "--terminal-id", "00000001",
               "--station", f"127.0.0.1:{site.station_port}", "--key", "enter"])
    out, err = capsys.readouterr()
    assert rc == 1
    assert json.loads(out)["ok"] is False
    assert "check with the master station failed" in err and "密钥" in err
    assert "00" * 16 not in out + err


def test_generated_key_goes_to_the_key_file_and_the_station_entry_only(tmp_path, clean_env, capsys):
    from hw_mocks.station import ledger
    from hw_mocks.station.provisioning import load_terminals
    from hw_mocks.station.server import StationServer
    from tests.rigs.station import load_tiny

    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[station]\nkey_file = "{tmp_path / "terminal.key"}"\nseq_file = "{tmp_path / "seq"}"\n'
                   f'[link]\ntransport = "socket"\n[journal]\npath = "{tmp_path / "journal.sqlite"}"\n',
                   encoding="utf-8")
    station_file = tmp_path / "for-the-station.toml"
    rc = main(["--config", str(cfg), "provision", "--terminal-id", "12345678", "--suite", "1",
               "--key", "generate", "--station-file", str(station_file), "--no-check"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    key = read_key_file(tmp_path / "terminal.key")
    assert key.hex() not in out + err
    assert stat.S_IMODE(station_file.stat().st_mode) == 0o600
    terminals = load_terminals(station_file)  # the station's own provisioning parser takes it
    assert terminals["12345678"].key == key and terminals["12345678"].suite == 1

    db = tmp_path / "station.sqlite"
    conn = ledger.connect(db)
    try:
        load_tiny(conn)
    finally:
        conn.close()
    with StationServer(db, terminals) as station:  # a station that got the entry accepts the terminal
        rc = main(["--config", str(cfg), "provision", "--station", f"127.0.0.1:{station.port}"])
        out, err = capsys.readouterr()
    assert rc == 0, err
    assert json.loads(out)["checked"] is True and json.loads(out)["key"] == "kept"


@pytest.mark.parametrize("argv, stdin, what", [
    (["--terminal-id", "1234567"], "", "not 8 digits"),
    (["--station", "10.0.0.5"], "", "not HOST:PORT"),
    (["--station", "10.0.0.5:70000"], "", "not HOST:PORT"),
    (["--apn", 'cmnet"\r\nATH'], "", "not a valid APN"),
    (["--apn-password", "s3cret"], "", "not taken on the command line"),
    (["--apn-password"], 'a"b\n', "cannot take"),
    (["--key", "enter"], "0123456789abcdef0123456789abcde\n", "not 32 hex digits"),
    (["--key", "enter"], "zz23456789abcdef0123456789abcdef\n", "not 32 hex digits"),
    (["--key", "generate"], "", "--station-file"),
    (["--suite", "1", "--key", "enter"], "0011223344556677" * 2 + "\n", "halves are equal"),
], ids=["id", "no-port", "port-range", "apn-injection", "apn-password-argv", "apn-password", "short-key", "bad-hex",
        "generate-alone",
        "single-des"])
def test_bad_input_writes_nothing(tmp_path, clean_env, monkeypatch, capsys, argv, stdin, what):
    cfg = tmp_path / "config.toml"
    text = f'# mine\n[terminal]\nid = "00000002"\n[station]\nkey_file = "{tmp_path / "k"}"\n'
    cfg.write_text(text, encoding="utf-8")
    feed_stdin(monkeypatch, stdin)
    assert main(["--config", str(cfg), "provision", *argv, "--no-check"]) == 1
    err = capsys.readouterr().err
    assert what in err, err
    assert cfg.read_text(encoding="utf-8") == text and not (tmp_path / "k").exists()
    if stdin.strip():
        assert stdin.strip() not in err  # a key, even a wrong one, is never echoed
    assert "s3cret" not in err  # nor a password given where it should not be


def test_terminal_id_cannot_change_under_a_journal_of_another_terminal(tmp_path, clean_env, capsys):
    from offline_queue.journal import Journal

    journal = tmp_path / "journal.sqlite"
    with Journal.open(journal, "00000002") as j:
        j.capture("payment", 0x0202, encode_body_fast({"cust": "1001", "amount": 100}))
    cfg = tmp_path / "config.toml"
    text = f'[terminal]\nid = "00000002"\n[journal]\npath = "{journal}"\n'
    cfg.write_text(text, encoding="utf-8")
    assert main(["--config", str(cfg), "provision", "--terminal-id", "00000003", "--no-check"]) == 1
    assert "belongs to terminal 00000002" in capsys.readouterr().err
    assert cfg.read_text(encoding="utf-8") == text
    # the same id again is fine (re-provisioning the key or the APN keeps the journal)
    assert main(["--config", str(cfg), "provision", "--terminal-id", "00000002", "--apn", "cmiot.sc",
                 "--no-check"]) == 0


def test_key_file_is_root_only_from_its_first_byte(tmp_path, monkeypatch):
    seen = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append((stat.S_IMODE(os.stat(src).st_mode), os.path.basename(dst)))
        return real_replace(src, dst)

    monkeypatch.setattr(prov.os, "replace", spy)
    prov.write_atomic(tmp_path / "terminal.key", b"00" * 16 + b"\n", 0o600)
    assert seen == [(0o600, "terminal.key")]


# ----------------------------------------------------------------------------- the TOML editor (tomlkit)

def test_set_value_touches_one_line_and_keeps_comments():
    text = '# top\n[terminal]\nid = "00000001"   # issued 2026\n\n[station]\n# where\nhost = "a"\n'
    new = prov.edit_config(text, [("terminal", "id", "00000002"), ("station", "port", 7601),
                                  ("devices.modem", "apn", "cmiot.sc")], "x")
    assert new == ('# top\n[terminal]\nid = "00000002"   # issued 2026\n\n[station]\n# where\nhost = "a"\n'
                   'port = 7601\n\n[devices.modem]\napn = "cmiot.sc"\n')


def test_set_value_escapes_strings_and_refuses_shapes_it_cannot_edit():
    new = prov.edit_config("", [("devices.modem", "apn_password", 'x\\y')], "x")
    assert load_toml(new)["devices"]["modem"]["apn_password"] == 'x\\y'
    with pytest.raises(ConfigurationError, match="edited safely"):
        prov.edit_config('[devices]\nmodem = { apn = "a" }\n', [("devices.modem", "apn", "b")], "x")


def load_toml(text: str):
    import tomllib

    return tomllib.loads(text)


def test_unwritable_key_directory_is_a_clear_error(tmp_path, clean_env, monkeypatch, capsys):
    locked = tmp_path / "locked"
    locked.mkdir()
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[station]\nkey_file = "{locked / "sub" / "terminal.key"}"\n', encoding="utf-8")
    (locked / "sub").write_text("a file where the key's directory should be", encoding="utf-8")
    feed_stdin(monkeypatch, "00112233445566778899aabbccddeeff\n")
    assert main(["--config", str(cfg), "provision", "--key", "enter", "--no-check"]) == 1
    err = capsys.readouterr().err
    assert "Cannot write" in err and "00112233445566778899aabbccddeeff" not in err


def test_apn_password_is_read_not_taken_from_argv_and_kept_from_other_users(tmp_path, clean_env, monkeypatch,
                                                                            capsys):
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[terminal]\nid = "00000002"\n[station]\nkey_file = "{tmp_path / "k"}"\n', encoding="utf-8")
    cfg.chmod(0o644)
    feed_stdin(monkeypatch, "pa ss!word\n")
    assert main(["--config", str(cfg), "provision", "--apn-password", "--no-check"]) == 0
    out, err = capsys.readouterr()
    assert "pa ss!word" not in out + err
    assert load_settings(cfg, env={}).devices.modem.apn_password == "pa ss!word"
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o640  # the password is not for other users' eyes


def test_rekey_restarts_the_seq_of_a_terminal_whose_counter_is_exhausted(tmp_path, clean_env, monkeypatch, capsys):
    """seq 2**32 − 1 used: the terminal cannot send again under its key.  The documented re-key
    (docs/operations.md): the utility provisions a new key at the station, the technician enters
    it with handheld provision — the counters start again at 1 and the station accepts them."""
    import sqlite3

    from hw_mocks.station import ledger
    from hw_mocks.station.provisioning import TerminalKey
    from hw_mocks.station.server import StationServer
    from offline_queue.journal import Journal
    from terminal_app.errors import StorageError
    from terminal_app.station.client import Request, StationClient
    from terminal_app.station.messages import MsgType
    from terminal_app.station.protocol import Suite
    from terminal_app.station.transport import SocketTransport
    from tests.rigs.station import load_tiny

    tid, old, new = "00000003", bytes(range(16)), bytes(range(16, 32))
    db = tmp_path / "station.sqlite"
    with closing(ledger.connect(db)) as conn:
        load_tiny(conn)
    journal_path = tmp_path / "journal.sqlite"
    (tmp_path / "terminal.key").write_text(old.hex() + "\n")
    (tmp_path / "terminal.key").chmod(0o600)

    def client(journal, port):
        key = bytes.fromhex((tmp_path / "terminal.key").read_text().strip())
        return StationClient(terminal_id=tid, key=key, suite=Suite.AES_GCM, transport=SocketTransport(),
                             seq=journal.seq_counter(), host="127.0.0.1", port=port, connect_timeout=5,
                             response_timeout=5)

    with StationServer(db, {tid: TerminalKey(tid, 2, old)}) as st:
        with Journal.open(journal_path, tid) as j:
            j._conn.execute("UPDATE meta SET value = ? WHERE key = 'seq_hw'", (2**32 - 1,))
        with Journal.open(journal_path, tid) as j:
            c = client(j, st.port)
            assert c.call(Request(MsgType.HELLO, {"op": "0007", "app": "t"}))["ok"]  # seq 2**32 − 1, the last
            with pytest.raises(StorageError, match="exhausted") as ei:
                c.call(Request(MsgType.HELLO, {"op": "0007", "app": "t"}))
            assert "handheld provision --key enter" in ei.value.action_text
    with closing(sqlite3.connect(db)) as conn:
        assert conn.execute("SELECT last_seq FROM terminal_seq WHERE terminal = ?", (tid,)).fetchone()[0] == 2**32 - 1
    # the utility re-keys the terminal at the station; the technician enters the new key
    with StationServer(db, {tid: TerminalKey(tid, 2, new)}) as st:
        cfg = tmp_path / "config.toml"
        cfg.write_text(f'[terminal]\nid = "{tid}"\n[station]\nhost = "127.0.0.1"\nport = {st.port}\nsuite = 2\n'
                       f'key_file = "{tmp_path / "terminal.key"}"\nseq_file = "{tmp_path / "seq"}"\n'
                       f'[link]\ntransport = "socket"\n[journal]\npath = "{journal_path}"\n', encoding="utf-8")
        (tmp_path / "seq").write_text(f"{2**32 - 1}\n")
        feed_stdin(monkeypatch, new.hex() + "\n")
        rc = main(["--config", str(cfg), "provision", "--key", "enter"])
        out, err = capsys.readouterr()
        assert rc == 0, err
        report = json.loads(out)
        assert report["checked"] and report["seq"] == "restarted", report
        assert (tmp_path / "seq").read_text().strip() == "1"  # the check's HELLO used seq 1
        with Journal.open(journal_path, tid) as j:
            c = client(j, st.port)
            result = c.exchange([Request(MsgType.HELLO, {"op": "0007", "app": "t"})])[0]
            # the journal's counter starts again too: its seq 1 met E_REPLAY (the check's HELLO had
            # used seq 1 from the counter file, under the same new key) and the client moved to 2
            assert result.body["ok"] and result.seq == 2
    # entering the same key again changes nothing
    feed_stdin(monkeypatch, new.hex() + "\n")
    assert main(["--config", str(cfg), "provision", "--key", "enter", "--no-check"]) == 0
    assert json.loads(capsys.readouterr().out)["seq"] == "kept"
