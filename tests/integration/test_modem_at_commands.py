"""The mock modem answers the basic and status AT command set of each module it simulates, in the
formats of the modules' manuals, to a client that is not the product's driver: a plain pyserial
loop that writes a command line and compares the bytes that come back.

One test per row of docs/modem-at.md per dialect: the test replays the rows before it (so a
TCP command runs on an opened context) and checks its own row's whole answer.  The table in the
docs and the rows here are the same set (checked below), so the docs list exactly what is answered.
"""

from __future__ import annotations

import re
import select
import socket
import threading
import time
from pathlib import Path

import pytest
import serial

from hw_mocks.modem import MockModem

DOC = Path(__file__).resolve().parents[2] / "docs" / "modem-at.md"
OK = r"\r\nOK\r\n"


def info(*lines: str) -> str:
    return "".join(rf"\r\n{line}\r\n" for line in lines) + OK


BASIC = [  # every dialect: (command, whole answer as a regex); {ident} rows are filled per dialect
    ("AT", OK),
    ("ATE1", OK),
    ("ATE0", r"ATE0\r" + OK),  # echoed: echo was on
    ("AT&F", OK),  # factory profile: echo on again
    ("ATE0", r"ATE0\r" + OK),
    ("ATZ", OK),
    ("ATE0", r"ATE0\r" + OK),
    ("AT&W", OK),
    ("ATV0", r"0\r"),
    ("ATV1", OK),
    ("ATI", "{ati}"),
    ("AT+CMEE=2", OK),
    ("AT+CMEE?", info(r"\+CMEE: 2")),
    ("AT+CFUN=9", r"\r\n\+CME ERROR: Incorrect parameters\r\n"),
    ("AT+CMEE=1", OK),
    ("AT+CFUN=9", r"\r\n\+CME ERROR: 50\r\n"),
    ("AT+CMEE=?", info(r"\+CMEE: \(0-2\)")),
    ("AT+CGMI", "{manufacturer}"),
    ("AT+GMI", "{manufacturer}"),
    ("AT+CGMM", "{model}"),
    ("AT+GMM", "{model}"),
    ("AT+CGMR", "{revision}"),
    ("AT+GMR", "{revision}"),
    ("AT+CGSN", info(r"\d{15}")),
    ("AT+GSN", info(r"\d{15}")),
    ("AT+CIMI", info(r"460\d{12}")),
    ("{ccid}", "{ccid_answer}"),
    ("AT+CPIN?", info(r"\+CPIN: READY")),
    ("AT+CFUN?", info(r"\+CFUN: 1")),
    ("AT+CFUN=1", OK),
    ("AT+IPR?", info(r"\+IPR: 115200")),
    ("AT+CSQ", info(r"\+CSQ: 20,0")),
    ("AT+CSQ=?", info(r"\+CSQ: \(0-31,99\),\(0-7,99\)")),
    ("AT+CREG=2", OK),
    ("AT+CREG?", "{creg2}"),
    ("AT+CREG=0", OK),
    ("AT+CREG?", info(r"\+CREG: 0,1")),
    ("AT+CREG=?", info(r"\+CREG: \(0-2\)")),
    ("AT+CGREG=0", OK),
    ("AT+CGREG?", "{cgreg}"),
    ("AT+COPS?", "{cops}"),
    ("AT+CGATT?", info(r"\+CGATT: 1")),
    ("AT+CGATT=1", OK),
    ('AT+CGDCONT=1,"IP","cmnet"', OK),
    ("AT+CGDCONT?", info(r'\+CGDCONT: 1,"IP","cmnet","0\.0\.0\.0",0,0')),
]

IDENT = {
    "sim800": dict(ati=info(r"SIM800 R14\.18"), manufacturer=info("SIMCOM_Ltd"), model=info("SIMCOM_SIM800"),
                   revision=info(r"Revision:1418B04SIM800C24"), ccid="AT+CCID", ccid_answer=info(r"8986\d{16}"),
                   creg2=info(r'\+CREG: 2,1,"5A1F","0B2C"'), cgreg=info(r"\+CGREG: 0,1"),
                   cops=info(r'\+COPS: 0,0,"CHINA MOBILE"')),
    "m26": dict(ati=info("Quectel_M26", r"Revision: M26FBR03A01"), manufacturer=info("Quectel"), model=info("M26"),
                revision=info(r"Revision: M26FBR03A01"), ccid="AT+QCCID", ccid_answer=info(r"8986\d{16}"),
                creg2=info(r'\+CREG: 2,1,"5A1F","0B2C"'), cgreg=info(r"\+CGREG: 0,1"),
                cops=info(r'\+COPS: 0,0,"CHINA MOBILE"')),
    "ec200": dict(ati=info("Quectel", "EC200U", r"Revision: EC200UCNAAR03A03M16"), manufacturer=info("Quectel"),
                  model=info("EC200U"), revision=info(r"Revision: EC200UCNAAR03A03M16"), ccid="AT+QCCID",
                  ccid_answer=info(r"\+QCCID: 8986\d{16}"), creg2=info(r'\+CREG: 2,1,"5A1F","0B2C",7'),
                  cgreg=info(r"\+CGREG: 0,0"),  # on LTE: not registered on GSM/GPRS
                  cops=info(r'\+COPS: 0,0,"CHINA MOBILE",7')),
}

DATA = b"hello"
TCP = {  # the dialect's status, PDP and TCP commands, in an order that works; b"…" rows are raw data
    "sim800": [
        ("AT+CIPSHUT", r"\r\nSHUT OK\r\n"),
        ("AT+CIPMUX=0", OK),
        ("AT+CIPHEAD=1", OK),
        ("AT+CIPQSEND=0", OK),
        ('AT+CSTT="cmnet"', OK),
        ("AT+CSTT?", info(r'\+CSTT: "cmnet","",""')),
        ("AT+CIICR", OK),
        ("AT+CIFSR", r"\r\n10\.64\.17\.23\r\n"),
        ("AT+CIPSTATUS", OK + r"\r\nSTATE: IP STATUS\r\n"),
        ('AT+CIPSTART="TCP","127.0.0.1",{port}', OK + r"\r\nCONNECT OK\r\n"),
        ("AT+CIPSEND=5", r"\r\n> "),
        (DATA, r"\r\nSEND OK\r\n\r\n\+IPD,5:hello"),
        ("AT+CIPCLOSE=1", r"\r\nCLOSE OK\r\n"),
        # GNSS (the SIM808, a SIM800 with a GNSS engine; docs/modem-at.md): engine off, on, a fix, off
        ("AT+CGNSPWR?", info(r"\+CGNSPWR: 0")),
        ("AT+CGNSINF", info(r"\+CGNSINF: 0" + "," * 20)),
        ("AT+CGNSPWR=1", OK),
        ("AT+CGNSPWR?", info(r"\+CGNSPWR: 1")),
        ("AT+CGNSINF", info(r"\+CGNSINF: 1,1,\d{14}\.000,31\.271234,106\.303456,412\.300,0\.00,0\.0,1,,1\.1,1\.4,"
                            r"0\.9,,12,8,3,,43,,")),
        ("AT+CGNSPWR=0", OK),
    ],
    "m26": [
        ("AT+QIFGCNT=0", OK),
        ('AT+QICSGP=1,"cmnet"', OK),
        ("AT+QIMUX=0", OK),
        ("AT+QINDI=1", OK),
        ("AT+QIREGAPP", OK),
        ("AT+QIACT", OK),
        ("AT+QILOCIP", r"\r\n10\.64\.17\.23\r\n"),
        ("AT+QISTATE", OK + r"\r\nSTATE: IP STATUS\r\n"),
        ('AT+QIOPEN="TCP","127.0.0.1","{port}"', OK + r"\r\nCONNECT OK\r\n"),
        ("AT+QISEND=5", r"\r\n> "),
        (DATA, r"\r\nSEND OK\r\n\r\n\+QIRDI: 0,1,0\r\n"),
        ("AT+QIRD=0,1,0,1500", r"\r\n\+QIRD: 127\.0\.0\.1:{port},TCP,5\r\nhello" + OK),
        ("AT+QISACK", info(r"\+QISACK: 5, \d, \d")),
        ("AT+QICLOSE", r"\r\nCLOSE OK\r\n"),
        ("AT+QIDEACT", r"\r\nDEACT OK\r\n"),
    ],
    "ec200": [
        ("AT+CEREG=2", OK),
        ("AT+CEREG?", info(r'\+CEREG: 2,1,"5A1F","0B2C3D4",7')),
        ("AT+CEREG=0", OK),
        ("AT+CEREG?", info(r"\+CEREG: 0,1")),
        ("AT+QCSQ", info(r'\+QCSQ: "LTE",-73,-90,\d+,-9')),
        ("AT+QNWINFO", info(r'\+QNWINFO: "FDD LTE","46000","LTE BAND 3",1650')),
        ('AT+QICSGP=1,1,"cmnet","","",1', OK),
        ("AT+QIACT?", OK),
        ("AT+QIACT=1", OK),
        ("AT+QIACT?", info(r'\+QIACT: 1,1,1,"10\.64\.17\.23"')),
        ('AT+QIOPEN=1,0,"TCP","127.0.0.1",{port},0,0', OK + r'\r\n\+QIOPEN: 0,0\r\n'),
        ("AT+QISTATE=1,0", info(r'\+QISTATE: 0,"TCP","127\.0\.0\.1",{port},0,2,1,0,0,"uart1"')),
        ("AT+QISEND=0,5", r"\r\n> "),
        (DATA, r'\r\nSEND OK\r\n\r\n\+QIURC: "recv",0\r\n'),
        ("AT+QIRD=0,1500", r"\r\n\+QIRD: 5\r\nhello\r\n" + OK),
        ("AT+QIRD=0,1500", r"\r\n\+QIRD: 0\r\n\r\n" + OK),
        ("AT+QISEND=0,0", info(r"\+QISEND: 5,\d,\d")),
        ("AT+QICLOSE=0", OK),
        ("AT+QIDEACT=1", OK),
        # GNSS (EC200U; docs/modem-at.md): no session yet, then a session with a fix
        ("AT+QGPSLOC=2", r"\r\n\+CME ERROR: 505\r\n"),  # no session (+CMEE=1 above)
        ("AT+QGPS=1", OK),
        ("AT+QGPSLOC=2", info(r"\+QGPSLOC: \d{6}\.\d{3},31\.27123,106\.30346,1\.1,412\.3,3,0\.00,0\.0,0\.0,\d{6},08")),
        ("AT+QGPSLOC=0", info(r"\+QGPSLOC: \d{6}\.\d{3},3116\.2740N,10618\.2074E,1\.1,412\.3,3,[0-9.,]+")),
        ("AT+QGPSEND", OK),
    ],
}


def rows(dialect: str) -> list[tuple[str | bytes, str]]:
    out: list[tuple[str | bytes, str]] = []
    for cmd, answer in BASIC + TCP[dialect]:
        if isinstance(cmd, str):
            cmd = cmd.format(**IDENT[dialect]) if cmd.startswith("{") else cmd
        if answer.startswith("{"):
            answer = IDENT[dialect][answer[1:-1]]
        out.append((cmd, answer))
    return out


def command_name(cmd: str) -> str:
    """The table's name of a command line: ``AT+CREG?`` → ``AT+CREG?``, ``AT+CREG=2`` → ``AT+CREG=``."""
    m = re.match(r"^(AT[+&]?[A-Z]*\d?)(=\?|\?|=)?", cmd)
    assert m, cmd
    name = m.group(1)
    if name[:3] == "ATE" or name[:3] == "ATV":
        return name[:3] + "n"
    return name + (m.group(2) or "")


def doc_table() -> dict[str, set[str]]:
    """docs/modem-at.md: command → the dialects whose column says ✓."""
    out: dict[str, set[str]] = {}
    cols: list[str] = []
    for line in DOC.read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| Command"):
            cols = [c.lower().replace("ec200x", "ec200") for c in cells]
            continue
        if cols and line.startswith("| `"):
            out[cells[0].strip("`")] = {cols[i] for i, c in enumerate(cells) if c == "✓"}
    return out


class Echo:
    def __init__(self) -> None:
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        conns: list[socket.socket] = []
        while not self._stop.is_set():
            r, _, _ = select.select([self.server, *conns], [], [], 0.05)
            for s in r:
                if s is self.server:
                    conns.append(self.server.accept()[0])
                    continue
                data = s.recv(4096)
                if not data:
                    conns.remove(s)
                    s.close()
                else:
                    s.sendall(data)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.server.close()


def exchange(port: serial.Serial, line: str | bytes, pattern: str, timeout: float = 5.0) -> str:
    """Write a command line (or raw data) and read until the whole answer matches ``pattern``."""
    port.write(line if isinstance(line, bytes) else line.encode("ascii") + b"\r")
    got = b""
    deadline = time.monotonic() + timeout
    rx = re.compile(pattern.encode("latin-1"), re.DOTALL)
    while not rx.fullmatch(got):
        if time.monotonic() >= deadline:
            raise AssertionError(f"{line!r}: expected {pattern!r}, got {got!r}")
        got += port.read(max(1, port.in_waiting))
    return got.decode("latin-1")


CASES = [(d, i) for d in IDENT for i in range(len(rows(d)))]


@pytest.mark.parametrize(("dialect", "index"), CASES,
                         ids=[f"{d}-{i:02d}-{rows(d)[i][0]!r}" for d, i in CASES])
def test_the_mock_answers_each_documented_command(dialect, index):
    peer = Echo()
    try:
        with MockModem(dialect=dialect) as modem, serial.serial_for_url(modem.path, timeout=0.05) as port:
            exchange(port, "ATE0", r"ATE0\r" + OK)
            for cmd, answer in rows(dialect)[:index + 1]:
                cmd = cmd if isinstance(cmd, bytes) else cmd.format(port=peer.port)
                exchange(port, cmd, answer.replace("{port}", str(peer.port)))
    finally:
        peer.close()


@pytest.mark.parametrize("dialect", sorted(IDENT))
def test_the_docs_table_lists_exactly_the_commands_tested(dialect):
    table = doc_table()
    tested = {command_name(c) for c, _ in rows(dialect) if isinstance(c, str)}
    documented = {name for name, dialects in table.items() if dialect in dialects}
    assert tested == documented


@pytest.mark.parametrize("dialect", sorted(IDENT))
def test_other_families_commands_are_errors(dialect):
    foreign = {"sim800": "AT+QIACT", "m26": "AT+CIICR", "ec200": "AT+CIICR"}[dialect]
    with MockModem(dialect=dialect) as modem, serial.serial_for_url(modem.path, timeout=0.05) as port:
        exchange(port, "ATE0", r"ATE0\r" + OK)
        exchange(port, foreign, r"\r\nERROR\r\n")
