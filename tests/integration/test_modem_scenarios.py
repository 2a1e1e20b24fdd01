"""The modem driver and ModemTransport against the mock modem on a real pty, in both dialects,
for every scenario of hw_mocks/modem/scenarios.toml: each ends in success or a clear typed error
within its (short, test-configured) timeout.  The station side is a tiny TCP peer in this file."""

from __future__ import annotations

import os
import select
import socket
import threading
import time

import pytest

from drivers.modem.driver import (
    AttachRefusedError,
    ConnectFailedError,
    NoCoverageError,
    NoSimError,
    PdpActivationError,
    RegistrationDeniedError,
    SimLockedError,
    open_modem,
)
from drivers.modem.transport import ModemTransport
from hw_mocks.modem import MockModem, load_scenarios
from terminal_app.config import ModemSettings
from terminal_app.errors import ConfigurationError, DeviceTimeoutError, LinkBrokenError, LinkDownError
from terminal_app.station.transport import Transport
from tests.util import free_port, wait_for

DIALECTS = ("sim800", "m26", "ec200")
SHUT = {"sim800": "AT+CIPSHUT", "m26": "AT+QIDEACT", "ec200": "AT+QIDEACT=1"}


def fast_settings(modem: MockModem, dialect: str, **kw) -> ModemSettings:
    values = dict(url=modem.path, dialect=dialect, apn="cmnet", command_timeout_s=2.0,
                  registration_timeout_s=0.6, attach_timeout_s=1.0, pdp_timeout_s=2.0,
                  send_timeout_s=3.0, close_timeout_s=2.0)
    values.update(kw)
    return ModemSettings(**values)


class Peer:
    """A TCP peer on 127.0.0.1 (the station's stand-in): echoes, or stays silent; records bytes."""

    def __init__(self, echo: bool = True, hang_up: bool = False) -> None:
        self.echo = echo
        self.hang_up = hang_up  # close the connection right after the echo
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.received = bytearray()
        self.connections = 0
        self._conns: list[socket.socket] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="test-peer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            r, _, _ = select.select([self.server, *self._conns], [], [], 0.05)
            for s in r:
                if s is self.server:
                    c, _ = self.server.accept()
                    self._conns.append(c)
                    self.connections += 1
                    continue
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    self._conns.remove(s)
                    s.close()
                    continue
                self.received += data
                if self.echo:
                    try:
                        s.sendall(data)
                    except OSError:
                        pass
                if self.hang_up:
                    self._conns.remove(s)
                    s.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        for c in self._conns:
            c.close()
        self.server.close()


@pytest.fixture
def peer():
    p = Peer()
    try:
        yield p
    finally:
        p.close()


@pytest.fixture(params=DIALECTS)
def dialect(request):
    return request.param


def exchange(t: ModemTransport, peer: Peer, payload: bytes, timeout: float = 5.0) -> bytes:
    t.open("127.0.0.1", peer.port, timeout)
    t.send(payload)
    got = b""
    while len(got) < len(payload):
        chunk = t.recv(4096, timeout)
        assert chunk, "connection closed before the whole echo came back"
        got += chunk
    t.close()
    return got


# --- bring-up scenarios -----------------------------------------------------------------------

FAILURES = {
    "no_sim": NoSimError,
    "sim_locked": SimLockedError,
    "no_coverage": NoCoverageError,
    "registration_denied": RegistrationDeniedError,
    "attach_refused": AttachRefusedError,
    "pdp_failure": PdpActivationError,
}
SUCCESSES = ("normal", "weak_signal", "searching_then_registered", "roaming", "stuck_context", "lte_unavailable")


@pytest.mark.parametrize("scenario", sorted(FAILURES))
def test_bring_up_failure_is_a_typed_link_down_error_in_time(dialect, scenario, peer):
    with MockModem(dialect=dialect, scenario=scenario) as modem:
        s = fast_settings(modem, dialect, apn_user="meter", apn_password="s3cret")
        with ModemTransport(s) as t:
            with pytest.raises(FAILURES[scenario]) as ei:
                t.open("127.0.0.1", peer.port, 5)
        assert isinstance(ei.value, LinkDownError)  # nothing was sent
        assert ei.value.action and ei.value.action != LinkDownError.default_action
        chain = [ei.value, ei.value.__cause__, ei.value.__context__]
        assert not any("s3cret" in str(e) for e in chain if e is not None)
    assert peer.connections == 0 and not peer.received


@pytest.mark.parametrize("scenario", SUCCESSES)
def test_bring_up_success_and_round_trip(dialect, scenario, peer):
    with MockModem(dialect=dialect, scenario=scenario) as modem:
        s = fast_settings(modem, dialect)
        with ModemTransport(s) as t:
            payload = bytes(range(256)) * 4  # binary, with CR, LF and ">" inside
            assert exchange(t, peer, payload) == payload
            assert (t.bytes_sent, t.bytes_received) == (len(payload), len(payload))
        if scenario == "stuck_context":  # the stuck state was cured by a shut before the bring-up
            assert SHUT[dialect] in modem.commands
        with open_modem(s) as driver:
            status = driver.status()
    sc = load_scenarios()[scenario]
    assert status.sim == "ready" and status.attached and status.local_ip
    assert status.rssi == sc.rssi and status.dbm == -113 + 2 * sc.rssi
    assert status.registration == {1: "home", 5: "roaming"}[sc.registration[-1]]
    assert status.technology == ("4G" if dialect == "ec200" and sc.lte else "2G")
    assert (status.rsrp is not None) == (status.technology == "4G")
    if scenario == "weak_signal":
        assert status.bars == 1


def test_status_reports_a_missing_sim_without_raising(dialect):
    with MockModem(dialect=dialect, scenario="no_coverage") as modem, \
            open_modem(fast_settings(modem, dialect)) as driver:
        st = driver.status()
    assert (st.rssi, st.dbm, st.bars, st.registration, st.attached, st.local_ip) == \
        (None, None, 0, "not_registered", False, None)
    with MockModem(dialect=dialect, scenario="no_sim") as modem, \
            open_modem(fast_settings(modem, dialect)) as driver:
        assert driver.status().sim == "absent"


# --- the link ---------------------------------------------------------------------------------


def test_transport_implements_the_interface_and_splits_large_sends(dialect, peer):
    with MockModem(dialect=dialect) as modem:
        s = fast_settings(modem, dialect, max_send=500)
        with ModemTransport(s) as t:
            assert isinstance(t, Transport)
            payload = (b"\r\nOK\r\n+IPD,5:" * 200)[:2100]  # five sends of at most 500
            assert exchange(t, peer, payload) == payload
        sends = [c for c in modem.commands if c.startswith(("AT+CIPSEND=", "AT+QISEND="))]
        assert [int(c.split("=")[1].split(",")[-1]) for c in sends] == [500, 500, 500, 500, 100]
    assert bytes(peer.received) == payload


def test_connect_refused_is_link_down_and_nothing_sent(dialect):
    with MockModem(dialect=dialect) as modem:
        with ModemTransport(fast_settings(modem, dialect)) as t, pytest.raises(ConnectFailedError):
            t.open("127.0.0.1", free_port(), 3)


def test_recv_times_out_when_the_station_is_silent(dialect):
    silent = Peer(echo=False)
    try:
        with MockModem(dialect=dialect) as modem, ModemTransport(fast_settings(modem, dialect)) as t:
            t.open("127.0.0.1", silent.port, 3)
            t.send(b"ping")
            start = time.monotonic()
            with pytest.raises(DeviceTimeoutError):
                t.recv(100, 0.3)
            assert time.monotonic() - start >= 0.3  # waited the whole timeout it was given
            wait_for(lambda: silent.received == b"ping", what="the request at the peer")
    finally:
        silent.close()


def test_outcome_unknown_request_delivered_reply_lost(dialect, peer):
    # closed_after_request: the request reaches the station, the modem reports CLOSED, the reply
    # is dropped — recv returns b"" (connection closed) or the send/recv raises LinkBrokenError
    with MockModem(dialect=dialect, scenario="closed_after_request") as modem:
        s = fast_settings(modem, dialect)
        with ModemTransport(s) as t:
            t.open("127.0.0.1", peer.port, 3)
            try:
                t.send(b"PAYMENT 42")
                assert t.recv(100, 3) == b""
            except LinkBrokenError:
                pass
        wait_for(lambda: bytes(peer.received) == b"PAYMENT 42", what="the request at the station")
        with ModemTransport(s) as t2:  # the next connection works again (to ask for the status)
            assert exchange(t2, peer, b"TXN_STATUS 42") == b"TXN_STATUS 42"


def test_firmware_refusing_to_reconnect_after_close_is_shut_and_reconnects(dialect, peer):
    with MockModem(dialect=dialect, scenario="strict_firmware") as modem:
        with ModemTransport(fast_settings(modem, dialect)) as t:
            for i in range(3):
                assert exchange(t, peer, b"exchange %d" % i) == b"exchange %d" % i
        assert modem.commands.count(SHUT[dialect]) == 2  # before the 2nd and the 3rd connection


def test_pdp_dropped_between_exchanges_is_recovered(dialect, peer):
    with MockModem(dialect=dialect, scenario="pdp_deact_mid_session") as modem:
        s = fast_settings(modem, dialect)
        with ModemTransport(s) as t:
            assert exchange(t, peer, b"first") == b"first"
            assert exchange(t, peer, b"second") == b"second"
        n_shut = modem.commands.count(SHUT[dialect])
        activations = sum(c in ("AT+CIICR", "AT+QIACT", "AT+QIACT=1") for c in modem.commands)
    # dropped once, shut once, brought up again.  EC200x: AT+QIACT? cannot tell a context the network
    # dropped from one never opened; when the "pdpdeact" URC was written while the transport had the
    # port closed, the driver learns it from AT+QIACT=1's refusal and deactivates before a 2nd try
    assert n_shut == 1 and (activations == 2 or dialect == "ec200" and activations == 3)


def test_pdp_dropped_mid_exchange_breaks_the_link_then_recovers(dialect, peer):
    silent = Peer(echo=False)
    try:
        with MockModem(dialect=dialect) as modem:
            s = fast_settings(modem, dialect)
            with open_modem(s) as driver:
                t = ModemTransport(driver)
                t.open("127.0.0.1", silent.port, 3)
                t.send(b"request")
                modem.deactivate_pdp()
                with pytest.raises(LinkBrokenError):
                    t.recv(100, 3)
                t.close()
                assert exchange(t, peer, b"again") == b"again"  # same driver, context brought up anew
    finally:
        silent.close()


def test_coverage_switched_off_and_on_at_run_time(dialect, peer):
    with MockModem(dialect=dialect) as modem:
        s = fast_settings(modem, dialect)
        with ModemTransport(s) as t:
            assert exchange(t, peer, b"one") == b"one"
            modem.set_coverage(False)
            modem.sync()
            with pytest.raises(NoCoverageError):
                t.open("127.0.0.1", peer.port, 3)
            modem.set_coverage(True)
            modem.sync()
            assert exchange(t, peer, b"two") == b"two"


def test_slow_gprs_link_takes_realistic_time(dialect, peer):
    sc = load_scenarios()["slow_gprs"]
    latency, bps = sc.latency_ms / 1000, sc.kbps * 1000
    payload = bytes(512)
    with MockModem(dialect=dialect, scenario="slow_gprs") as modem:
        with ModemTransport(fast_settings(modem, dialect)) as t:
            start = time.monotonic()
            assert exchange(t, peer, payload, timeout=10) == payload
            elapsed = time.monotonic() - start
    # connect: one round trip; request and reply: air time plus one-way latency each
    floor = 2 * latency + 2 * (len(payload) * 8 / bps + latency)
    assert elapsed >= floor  # the link really is that slow (how close we come to it: tests/bench/link.py)


def test_connection_left_open_by_a_previous_run_is_shut_and_reopened(dialect, peer):
    # the terminal restarted while the modem still held a connection: AT+CIPSTART/QIOPEN answers
    # ERROR + ALREADY CONNECT, the transport shuts the context and brings it up once more
    with MockModem(dialect=dialect) as modem:
        s = fast_settings(modem, dialect)
        with open_modem(s) as old:
            old.ensure_context()
            old.tcp_open("127.0.0.1", peer.port, 3)
        wait_for(lambda: peer.connections == 1, what="the old connection")
        with ModemTransport(s) as t:
            assert exchange(t, peer, b"fresh") == b"fresh"
        assert modem.commands.count(SHUT[dialect]) == 1
        assert peer.connections == 2


def test_reply_then_hang_up_delivers_the_reply_then_end_of_stream(dialect):
    hanging = Peer(hang_up=True)
    try:
        with MockModem(dialect=dialect) as modem, ModemTransport(fast_settings(modem, dialect)) as t:
            t.open("127.0.0.1", hanging.port, 3)
            t.send(b"bye")
            wait_for(lambda: hanging.connections == 1 and not hanging._conns, what="the peer to hang up")
            got = b""
            while chunk := t.recv(100, 3):
                got += chunk
            assert got == b"bye"  # the reply held in the modem survives the CLOSED that follows it
    finally:
        hanging.close()


def test_latency_and_bit_rate_overrides_apply_to_every_scenario():
    with MockModem(dialect="m26", scenario="weak_signal", latency_ms=250, kbps=40) as modem:
        assert (modem.scenario.rssi, modem.scenario.latency_ms, modem.scenario.kbps) == (5, 250, 40)
        modem.set_scenario("normal")
        modem.sync()
        assert (modem.scenario.name, modem.scenario.rssi, modem.scenario.latency_ms) == ("normal", 20, 250)


@pytest.mark.skipif(not os.environ.get("HANDHELD_TEST_MODEM_URL"),
                    reason="set HANDHELD_TEST_MODEM_URL (and _DIALECT, _APN) to test a real modem")
def test_real_modem_status_and_context():
    # the same driver code against hardware (architecture pattern 4): e.g.
    # HANDHELD_TEST_MODEM_URL=/dev/ttyUSB0 HANDHELD_TEST_MODEM_DIALECT=m26 HANDHELD_TEST_MODEM_APN=cmnet
    s = ModemSettings(url=os.environ["HANDHELD_TEST_MODEM_URL"],
                      dialect=os.environ.get("HANDHELD_TEST_MODEM_DIALECT", "sim800"),
                      apn=os.environ.get("HANDHELD_TEST_MODEM_APN", ""))
    with open_modem(s) as driver:
        assert driver.ensure_context()
        status = driver.status()
    assert status.sim == "ready" and status.attached and status.local_ip


def test_m26_waits_on_qisack_when_too_much_is_unacknowledged(peer):
    # 12 KB on a link whose bandwidth-delay product (400 kbit/s × 0.4 s = 20 KB) exceeds the send window
    with MockModem(dialect="m26", latency_ms=200, kbps=400) as modem:
        with ModemTransport(fast_settings(modem, "m26")) as t:
            payload = bytes(range(256)) * 48
            assert exchange(t, peer, payload, timeout=10) == payload
        polls_before_close = modem.commands[:modem.commands.index("AT+QICLOSE")].count("AT+QISACK")
    assert polls_before_close >= 2  # at least one flow-control wait besides the drain before closing


def test_closing_the_port_does_not_hang_up_the_modem():
    # HUPCL cleared: the owned port is closed between exchanges, and DTR must stay up meanwhile
    import termios
    with MockModem() as modem:
        fd = os.open(modem.path, os.O_RDWR | os.O_NOCTTY)
        try:
            attrs = termios.tcgetattr(fd)
            attrs[2] |= termios.HUPCL  # as a real ttyS/ttyUSB comes up
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
            with open_modem(fast_settings(modem, "sim800")):
                assert not termios.tcgetattr(fd)[2] & termios.HUPCL
        finally:
            os.close(fd)


def test_every_packaged_scenario_has_a_test_here():
    covered = set(FAILURES) | set(SUCCESSES) | {"strict_firmware", "pdp_deact_mid_session",
                                                "closed_after_request", "slow_gprs",
                                                "gnss_no_fix", "gnss_stale_fix"}  # tests/integration/test_modem_gnss.py
    assert covered == set(load_scenarios())


# --- LTE Cat.1: technology, fallback, "pdpdeact", dialect = "auto" ----------------------------------


def test_lte_module_falls_back_to_gsm_where_there_is_no_lte(peer):
    with MockModem(dialect="ec200", scenario="lte_unavailable") as modem:
        s = fast_settings(modem, "ec200")
        with ModemTransport(s) as t:
            assert exchange(t, peer, b"over 2G") == b"over 2G"
        with open_modem(s) as driver:
            status = driver.status()
    assert status.technology == "2G" and status.rsrp is None
    assert status.registration == "home" and status.gprs_registration == "home"
    assert status.bars == 4  # from CSQ 20 (−73 dBm), the GSM scale


def test_lte_to_gsm_and_back_at_run_time_with_pdpdeact(peer):
    with MockModem(dialect="ec200") as modem:
        s = fast_settings(modem, "ec200")
        driver = open_modem(s)
        with ModemTransport(driver) as t:
            assert driver.status().technology == "4G"
            assert exchange(t, peer, b"on LTE") == b"on LTE"
            modem.set_technology("GSM")  # handed over to GSM, the context survives
            modem.sync()
            assert driver.status().technology == "2G"
            assert exchange(t, peer, b"on GSM") == b"on GSM"
            assert modem.commands.count(SHUT["ec200"]) == 0
            modem.set_technology("LTE", drop_context=True)  # back on LTE, the network drops the context
            modem.sync()
            assert exchange(t, peer, b"on LTE again") == b"on LTE again"
            assert driver.status().technology == "4G"
        driver.close()
        assert modem.commands.count(SHUT["ec200"]) == 1  # the "pdpdeact" context deactivated once


@pytest.mark.parametrize("module", DIALECTS)
def test_auto_dialect_identifies_each_mock_module(module, peer):
    with MockModem(dialect=module) as modem:
        driver = open_modem(fast_settings(modem, "auto"))
        with ModemTransport(driver) as t:
            assert exchange(t, peer, b"which am I") == b"which am I"
            assert driver.dialect == module
        assert "ATI" in modem.commands and "AT+CGMM" in modem.commands
        assert modem.commands.count("ATI") == 1  # identified once, not at every open


def test_auto_dialect_refuses_a_module_it_does_not_speak():
    from hw_mocks.modem import device
    saved = device.IDENTITY["ec200"]
    device.IDENTITY["ec200"] = {**saved, "ati": ("SIMCOM INCORPORATED", "Model: A7670C-LASE"), "model": "A7670C"}
    try:
        with MockModem(dialect="ec200") as modem, pytest.raises(ConfigurationError) as e:
            with open_modem(fast_settings(modem, "auto")):
                pass
    finally:
        device.IDENTITY["ec200"] = saved
    assert "A7670C" in str(e.value.params["module"]) and "does not speak" in e.value.what


def test_a_send_left_half_done_by_a_dead_process_is_completed_and_the_link_recovers(dialect, peer):
    # the terminal's process died after AT+CIPSEND=n / AT+QISEND=…,n and before its n bytes: the
    # module takes whatever comes next as data; the next process must still get its attention
    from drivers.modem.protocol import command
    with MockModem(dialect=dialect) as modem:
        s = fast_settings(modem, dialect)
        with open_modem(s) as old:
            old.ensure_context()
            old.tcp_open("127.0.0.1", peer.port, 3)
            old._write(command(old._send_command(200)))  # ... and the process dies here
            wait_for(lambda: modem.commands[-1].endswith("200"), what="the send command at the mock")
        with ModemTransport(s) as t:
            assert exchange(t, peer, b"after the crash") == b"after the crash"


# --- the status line's radio: technology from the driver, through the core (issue 20, point 3) -----


@pytest.mark.parametrize(("module", "scenario", "technology"), [
    ("ec200", "normal", "4G"), ("ec200", "lte_unavailable", "2G"),
    ("sim800", "normal", "2G"), ("m26", "normal", "2G"),
    ("ec200", "no_coverage", None), ("sim800", "no_coverage", None),
])
def test_the_status_lines_radio_names_the_technology_the_modem_is_on(module, scenario, technology):
    from terminal_app.services.link_status import radio

    with MockModem(dialect=module, scenario=scenario) as modem:
        seen = radio(open_modem(fast_settings(modem, module)))
    assert seen is not None
    assert seen.technology == technology
    assert seen.registered == (technology is not None) and seen.usable == (technology is not None)
    assert (seen.rsrp is not None) == (technology == "4G")  # the 4G bars are RSRP's (AT+QCSQ)


def test_the_status_lines_technology_follows_a_handover_and_goes_with_coverage():
    from terminal_app.services.link_status import radio

    with MockModem(dialect="ec200") as modem:
        driver = open_modem(fast_settings(modem, "ec200"))
        assert radio(driver).technology == "4G"
        modem.set_technology("GSM")
        assert radio(driver).technology == "2G"
        modem.set_coverage(False)
        assert radio(driver).technology is None
