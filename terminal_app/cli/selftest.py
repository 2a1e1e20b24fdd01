"""``handheld selftest``: check every configured device, the link and the journal; say what to fix.

    handheld [--config FILE] selftest [--skip NAME]… [--only NAME]… [--timeout S] [--width COLS] [--json]

Checks, in order (each bounded by its own timeout, ``--timeout`` overrides them all):

=========  ====================================================================================
meter      the IR head finds a meter (DL/T 645 address query, 2007 then 1997) — aim it at one
modem      the GPRS modem answers; SIM ready, registered on a network, an APN configured
printer    the thermal printer's real-time status (DLE EOT): online, paper, cover
card       the IC-card reader answers STATUS (only when ``[devices.card_reader]`` is configured)
scanner    the barcode scanner's device is present (evdev node or serial port)
link       one GT/1 HELLO to the master station (terminal id, key, suite, address, APN)
journal    the journal file: integrity_check, application id, schema version, unsynced entries
=========  ====================================================================================

Output is plain text for technicians on the handheld's own screen: one block per check, Chinese
first and English after it, wrapped to ``--width`` columns (default: the terminal's width,
never below 30 — the smallest screen is 30×16).  A failed check says what to do.  ``--json``
prints one JSON object instead.  Exit status 0 only when no check failed (skipped ones do not
count); 1 otherwise.

Run it with the terminal service stopped (``systemctl stop handheld``): a serial port has one
owner, and the selftest must not steal the UI's bytes.  The journal is only read (read-only
SQLite connection); a damaged journal is reported, never moved or repaired here.
"""

from __future__ import annotations

import argparse
import enum
import functools
import json
import os
import shutil
import sqlite3
import sys
import threading
import time
import tomllib
import urllib.parse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from terminal_app.errors import (
    ConfigurationError,
    DeviceNotFoundError,
    DeviceTimeoutError,
    HandheldError,
    LinkDownError,
    RemoteProtocolError,
)

MIN_WIDTH = 30
#: characters that must not begin a line (GB/T 15834 punctuation: they close what precedes them)
NO_LINE_START = frozenset("，。、：；？！）》」』】％,.:;?!)")
#: default bound of each check, seconds (a HELLO over GPRS may need a registration and a PDP context)
TIMEOUTS: dict[str, float] = {"meter": 15.0, "modem": 20.0, "printer": 10.0, "card": 10.0,
                              "scanner": 10.0, "link": 120.0, "journal": 120.0}
#: (Chinese, English) name of each check; one word in English so a head line fits 30 columns
NAMES: dict[str, tuple[str, str]] = {
    "config": ("配置", "config"), "meter": ("电表红外", "meter"), "modem": ("GPRS模块", "modem"),
    "printer": ("打印机", "printer"), "card": ("IC卡读写器", "card"), "scanner": ("扫码枪", "scanner"),
    "link": ("主站连接", "link"), "journal": ("交易日志", "journal"),
}
CHECKS = ("meter", "modem", "printer", "card", "scanner", "link", "journal")


class Status(enum.Enum):
    PASS = "pass"
    FAIL = "fail"
    SKIP = "skip"


LABELS = {Status.PASS: "通过 PASS", Status.FAIL: "失败 FAIL", Status.SKIP: "跳过 SKIP"}


@dataclass(frozen=True)
class CheckResult:
    key: str
    status: Status
    detail: str = ""  # what was found (Chinese and/or English), or the error message
    advice_zh: str = ""  # what to do (failures only)
    advice_en: str = ""
    seconds: float = 0.0

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["status"] = self.status.value
        d["name_zh"], d["name_en"] = NAMES[self.key]
        return d


class CheckFailed(Exception):
    """A check found a problem that is not an exception of the device (e.g. no SIM)."""

    def __init__(self, detail: str, advice_zh: str, advice_en: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.advice_zh = advice_zh
        self.advice_en = advice_en


class Skipped(Exception):
    """The check does not apply (device not configured)."""


# ----------------------------------------------------------------------------- the checks
# Each check returns a one-line description of what it found, or raises.  The advice for an
# exception comes from :func:`_advice`, per check and per error class.

def check_meter(settings: Any) -> str:
    from drivers.ir_meter.driver import IrMeter

    with IrMeter.from_settings(settings.devices.ir_meter) as meter:
        ident = meter.identify()
    return f"表号 {ident.address}  DL/T 645-{ident.standard.value}"


def check_modem(settings: Any) -> str:
    from drivers.modem.driver import open_modem

    ms = settings.devices.modem
    with open_modem(ms) as modem:
        st = modem.status()
        dialect = modem.dialect  # with dialect = "auto": the module it identified
    level = f"RSRP {st.rsrp} dBm" if st.rsrp is not None else f"{st.dbm} dBm" if st.dbm is not None else ""
    found = (f"{dialect} {st.technology}, SIM {st.sim}, 信号 signal {st.bars}/5"
             + (f" ({level})" if level else "") + f", {st.registration}")
    if st.sim == "absent":
        raise CheckFailed(found, "插入 SIM 卡（关机后插卡），再自检。", "Insert the SIM card (power off first), then run again.")
    if st.sim == "locked":
        raise CheckFailed(found, "SIM 卡设了 PIN 码：换用供电所发的无 PIN 卡。",
                          "The SIM asks for a PIN: use the utility's SIM without PIN.")
    if st.sim != "ready":
        raise CheckFailed(found, "SIM 卡读不出：重新插好或更换 SIM 卡。", "The SIM cannot be read: reseat or replace it.")
    if st.registration == "denied":
        raise CheckFailed(found, "网络拒绝注册：SIM 卡可能停机或未开通，联系运营商/供电所。",
                          "The network refused the SIM: it may be barred; call the operator or the utility.")
    if st.registration not in ("home", "roaming"):
        raise CheckFailed(found, "没有注册上网络：到信号好的地方、检查天线后再自检。",
                          "Not registered on a network: move to better signal, check the antenna, run again.")
    if not ms.apn:
        raise CheckFailed(found + ", APN 未设置 not set", "设置 APN：handheld provision --apn <APN>。",
                          "Set the APN: handheld provision --apn <APN>.")
    return found + f", APN {ms.apn}"


def check_printer(settings: Any) -> str:
    from drivers.printer.driver import ThermalPrinter

    with ThermalPrinter.from_settings(settings.devices.printer) as printer:
        st = printer.status()
    if st.paper_end:
        raise CheckFailed("缺纸 paper out", "装入 58 mm 热敏纸，合上盖子，再自检。",
                          "Load 58 mm thermal paper, close the cover, run again.")
    if st.cover_open:
        raise CheckFailed("纸仓盖开着 cover open", "合上打印机盖子，再自检。", "Close the printer cover, run again.")
    if not st.ready:
        raise CheckFailed(f"打印机不就绪 not ready ({'offline' if st.offline else 'error'})",
                          "关掉再打开打印机电源；仍失败请更换打印机。",
                          "Switch the printer off and on; if it stays, replace the printer.")
    return "就绪 ready" + (", 纸快用完 paper low" if st.paper_near_end else "")


def card_configured(config_data: Mapping[str, Any], env: Mapping[str, str]) -> bool:
    """A card reader is checked only where one is configured: not every handheld has one."""
    table = config_data.get("devices", {}).get("card_reader") if isinstance(config_data.get("devices"), Mapping) else None
    url = env.get("HANDHELD_DEVICES__CARD_READER__URL")
    if url is not None:
        return bool(url)
    return isinstance(table, Mapping) and bool(table.get("url", True))


def check_card(settings: Any) -> str:
    """The reader module answers its STATUS command (a card need not be in the slot)."""
    from drivers.ic_card.protocol import CardPresence
    from drivers.ic_card.reader import SerialCardReader

    with SerialCardReader.from_settings(settings.devices.card_reader) as reader:
        presence = reader.presence()
    card = {CardPresence.ABSENT: "无卡 no card", CardPresence.PRESENT: "有卡 card in",
            CardPresence.POWERED: "有卡 card in (powered)"}[presence]
    return f"读写器应答 reader answers, {card}"


def check_scanner(settings: Any) -> str:
    ss = settings.devices.scanner
    if ss.mode == "evdev":
        try:
            from evdev import InputDevice

            dev = InputDevice(ss.device)  # not grabbed: only asks whether it is there and what it is
        except (OSError, ImportError) as e:
            raise DeviceNotFoundError("The barcode scanner {path} is not present ({error}).",
                                      path=ss.device, error=str(e)) from e
        try:
            name = dev.name
        finally:
            dev.close()
        return f"{ss.device}: {name}"
    from drivers.scanner import open_scanner

    with open_scanner(ss):
        pass
    return f"{ss.device} 可打开 opens (serial)"


def check_link(settings: Any) -> str:
    from terminal_app import __version__
    from terminal_app.station.client import client_from_settings

    client = client_from_settings(settings)
    body = client.hello("0000", __version__)
    rtt = client.last_round_trip or 0.0
    offset = client.clock.offset.total_seconds()
    return (f"{settings.station.host}:{settings.station.port} suite {settings.station.suite}, "
            f"往返 RTT {rtt:.2f} s, 时差 clock offset {round(offset):+d} s, {body.get('time', '')}")


def check_journal(settings: Any) -> str:
    from offline_queue import migrations

    p = Path(settings.journal.path)
    aside = sorted(p.parent.glob(p.name + ".corrupt-*")) if p.parent.is_dir() else []
    if aside:
        raise CheckFailed(f"损坏的日志已移到 damaged journal set aside: {aside[-1].name}",
                          "不要收费；按运维手册《恢复损坏的日志》处理，或叫技术员。",
                          "Take no money; follow docs/operations.md 'Recover from a corrupt journal'.")
    _check_writable(p)
    if not p.exists():
        return "尚未建立（终端启动时建立） not created yet (made at first start)"
    uri = "file:" + urllib.parse.quote(str(p.resolve())) + "?mode=ro"
    try:
        conn = sqlite3.connect(uri, uri=True, timeout=5.0)
    except sqlite3.Error as e:
        raise CheckFailed(f"打不开 cannot open: {e}", "检查存储卡；叫技术员。", "Check the storage card; call the technician.") from e
    try:
        verdict = [r[0] for r in conn.execute("PRAGMA integrity_check").fetchall()]
        if verdict != ["ok"]:
            raise CheckFailed("integrity_check: " + "; ".join(str(v) for v in verdict[:3]),
                              "日志损坏：不要收费，按运维手册《恢复损坏的日志》处理。",
                              "The journal is damaged: take no money; follow docs/operations.md.")
        app_id = conn.execute("PRAGMA application_id").fetchone()[0]
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version and app_id != migrations.APPLICATION_ID:
            raise CheckFailed(f"{p} 不是交易日志 is not a terminal journal",
                              "检查配置 [journal] path。", "Check [journal] path in the configuration.")
        if version > migrations.LATEST:
            raise CheckFailed(f"版本 schema {version} > {migrations.LATEST}",
                              "日志由更新的程序版本写入：重新安装新版本，不要降级。",
                              "Written by a newer version: install the newer version again; do not downgrade.")
        open_states = ", ".join(f"'{s}'" for s in migrations.OPEN_STATES)
        unsynced = conn.execute(f"SELECT count(*) FROM entries WHERE state IN ({open_states})").fetchone()[0] \
            if version else 0
    except sqlite3.DatabaseError as e:
        raise CheckFailed(f"读取出错 read error: {e}", "日志损坏：不要收费，按运维手册处理。",
                          "The journal is damaged: take no money; follow docs/operations.md.") from e
    finally:
        conn.close()
    upgrade = f" (将升级到 will migrate to {migrations.LATEST})" if version < migrations.LATEST else ""
    return f"完好 ok, schema {version}{upgrade}, 未上传 unsynced {unsynced}"


def _check_writable(p: Path) -> None:
    """The terminal must be able to write its journal (and the WAL and lock files beside it): a
    journal that reads fine on a read-only file system (a worn-out or write-protected card, an
    emergency remount) would pass an integrity check and still refuse every payment."""
    where = p.parent
    while not where.exists() and where != where.parent:
        where = where.parent  # the folder is made at first start: look at what holds it
    try:
        read_only = bool(os.statvfs(where).f_flag & os.ST_RDONLY)
    except OSError as e:
        raise CheckFailed(f"{where} 读不出 cannot be examined: {e.strerror}", "检查存储卡；叫技术员。",
                          "Check the storage card; call the technician.") from e
    if read_only:
        raise CheckFailed(f"{where} 在只读文件系统上 is on a read-only file system",
                          "存储卡只读（写保护或已损坏），交易无法保存：不要收费，叫技术员。",
                          "The storage is read-only (write-protected or failing): no payment can be saved. "
                          "Take no money; call the technician.")
    for target in (where, p) if p.exists() else (where,):
        if not os.access(target, os.W_OK):
            raise CheckFailed(f"{target} 不可写 is not writable", "交易日志无法写入：不要收费，叫技术员检查权限。",
                              "The journal cannot be written: take no money; have the technician check the "
                              "permissions.")


CHECK_FUNCS: dict[str, Callable[[Any], str]] = {
    "meter": check_meter, "modem": check_modem, "printer": check_printer, "card": check_card,
    "scanner": check_scanner, "link": check_link, "journal": check_journal,
}


def _advice(key: str, e: BaseException, settings: Any) -> tuple[str, str]:
    """(Chinese, English) advice for an exception a check raised."""
    from terminal_app.station.client import OutcomeUnknownError, StationRefusedError

    en = e.action_text if isinstance(e, HandheldError) else "Note the message and call the technician."
    if key == "link":
        if isinstance(e, ConfigurationError):
            return "终端密钥或配置有问题：运行 handheld provision 重新设置。", en
        if isinstance(e, StationRefusedError):
            return (f"主站拒绝（{e.code}）：与供电所核对终端号 {settings.terminal.id} 和密钥。",
                    f"The station refused ({e.code}): check the terminal id and key with the utility.")
        if isinstance(e, LinkDownError):
            return (f"连不上主站 {settings.station.host}:{settings.station.port}：到信号好的地方重试；"
                    "检查 APN 和主站地址（handheld provision）。", en)
        if isinstance(e, (OutcomeUnknownError, RemoteProtocolError)):
            return ("主站不应答或应答无法校验：核对终端号、密钥和加密套件（suite），叫技术员。",
                    "No verified answer: check the terminal id, key and suite with the utility.")
        return "连接失败：稍后重试；仍失败叫技术员。", en
    where = {"meter": "红外头", "modem": "GPRS 模块", "printer": "打印机", "card": "IC 卡读写器",
             "scanner": "扫码枪"}.get(key, "设备")
    if isinstance(e, DeviceNotFoundError):
        return f"{where}打不开：检查是否插好、是否上电，以及配置中的端口名。", en
    if isinstance(e, DeviceTimeoutError):
        if key == "meter":
            return "电表没有应答：把红外头对准电表红外窗口（1 米内），再自检。", en
        return f"{where}没有应答：关机重启；仍失败请更换{where}。", en
    if isinstance(e, ConfigurationError):
        return "配置有误：按提示改正 /etc/handheld/config.toml。", en
    if isinstance(e, RemoteProtocolError):
        return f"{where}应答有误：重试；仍失败请更换{where}，叫技术员。", en
    return f"{where}检查出错：记下信息，叫技术员。", en


def _run_bounded(key: str, func: Callable[[], str], timeout: float, settings: Any) -> CheckResult:
    """Run one check in a worker thread and give up on it after ``timeout`` seconds."""
    box: dict[str, Any] = {}

    def work() -> None:
        try:
            box["detail"] = func()
        except BaseException as e:  # reported below, whatever it is
            box["error"] = e

    t0 = time.monotonic()
    worker = threading.Thread(target=work, name=f"selftest-{key}", daemon=True)
    worker.start()
    worker.join(timeout)
    seconds = round(time.monotonic() - t0, 2)
    if worker.is_alive():
        return CheckResult(key, Status.FAIL, f"{timeout:g} s 内没有完成 no result within {timeout:g} s",
                           "设备或网络没有应答：重启终端后再自检；仍失败叫技术员。",
                           "The device or the network did not answer: restart the terminal and run again.",
                           seconds)
    error = box.get("error")
    if error is None:
        return CheckResult(key, Status.PASS, box.get("detail", ""), seconds=seconds)
    if isinstance(error, Skipped):
        return CheckResult(key, Status.SKIP, str(error), seconds=seconds)
    if isinstance(error, CheckFailed):
        return CheckResult(key, Status.FAIL, error.detail, error.advice_zh, error.advice_en, seconds)
    if not isinstance(error, Exception):
        raise error  # KeyboardInterrupt and friends
    zh, en = _advice(key, error, settings)
    detail = error.what_text(raw=True) if isinstance(error, HandheldError) else f"{type(error).__name__}: {error}"
    return CheckResult(key, Status.FAIL, detail, zh, en, seconds)


def run_checks(settings: Any, *, config_data: Mapping[str, Any] | None = None,
               env: Mapping[str, str] | None = None, skip: Sequence[str] = (),
               timeout: float | None = None,
               on_result: Callable[[CheckResult], None] | None = None) -> list[CheckResult]:
    """Every check, in order; ``on_result`` is called as each one finishes (progress output)."""
    env = os.environ if env is None else env
    results = []
    for key in CHECKS:
        if key in skip:
            result = CheckResult(key, Status.SKIP, "按要求跳过 skipped on request")
        elif key == "card" and not card_configured(config_data or {}, env):
            result = CheckResult(key, Status.SKIP, "未配置 not configured ([devices.card_reader])")
        else:
            func = CHECK_FUNCS[key]
            result = _run_bounded(key, functools.partial(func, settings), timeout or TIMEOUTS[key], settings)
        results.append(result)
        if on_result is not None:
            on_result(result)
    return results


# ----------------------------------------------------------------------------- output

def _width(text: str) -> int:
    from wcwidth import wcswidth

    w = wcswidth(text)
    return w if w >= 0 else len(text)


def wrap(text: str, width: int, indent: str = "") -> list[str]:
    """Wrap mixed Chinese/English text to ``width`` display columns (CJK cells count 2).

    English breaks at spaces; Chinese may break between any two characters.
    """
    from wcwidth import wcwidth

    width = max(width - _width(indent), 8)
    lines: list[str] = []
    for para in text.splitlines() or [""]:
        line, line_w = "", 0
        for token in _tokens(para):
            tw = _width(token)
            if line_w + tw > width and line.strip():
                carry = ""
                if token in NO_LINE_START and len(line) > 1 and _width(line[-1]) == 2:
                    # Chinese line breaking: punctuation never starts a line; take a character along
                    line, carry = line[:-1], line[-1]
                lines.append(line.rstrip())
                line, line_w = carry, _width(carry)
                if token == " ":
                    continue
            if tw > width:  # a word longer than the line: cut it by columns
                for ch in token:
                    cw = max(wcwidth(ch), 0)
                    if line_w + cw > width:
                        lines.append(line)
                        line, line_w = "", 0
                    line += ch
                    line_w += cw
                continue
            line += token
            line_w += tw
        lines.append(line.rstrip())
    return [indent + ln for ln in lines]


def _tokens(text: str) -> list[str]:
    """Spaces, runs of non-CJK characters (words), and single wide characters."""
    from wcwidth import wcwidth

    out: list[str] = []
    word = ""
    for ch in text:
        if ch == " " or wcwidth(ch) == 2:
            if word:
                out.append(word)
                word = ""
            out.append(ch)
        else:
            word += ch
    if word:
        out.append(word)
    return out


def format_result(r: CheckResult, width: int) -> list[str]:
    zh, en = NAMES[r.key]
    lines = wrap(f"[{LABELS[r.status]}] {zh} {en}", width)
    if r.detail:
        lines += wrap(r.detail, width, "  ")
    if r.status is Status.FAIL:
        if r.advice_zh:
            lines += wrap("→ " + r.advice_zh, width, "  ")
        if r.advice_en:
            lines += wrap("→ " + r.advice_en, width, "  ")
    return lines


def format_summary(results: Sequence[CheckResult], width: int) -> list[str]:
    failed = [r for r in results if r.status is Status.FAIL]
    rule = "=" * min(width, 40)
    if not failed:
        return [rule] + wrap("全部通过 ALL PASSED", width)
    names = "、".join(NAMES[r.key][0] for r in failed)
    return [rule] + wrap(f"{len(failed)} 项失败 FAILED: {names}", width) + \
        wrap("按上面的提示处理后再自检。Fix the items above, then run again.", width)


def _screen_width(requested: int | None) -> int:
    if requested:
        return max(requested, MIN_WIDTH)
    return max(shutil.get_terminal_size((40, 16)).columns, MIN_WIDTH)


# ----------------------------------------------------------------------------- command

def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("selftest", help="check every device, the link and the journal (自检)",
                              description="Check every configured device, the link to the master station and "
                                          "the journal; print what to do about each failure.  Stop the "
                                          "terminal service first (systemctl stop handheld).")
    p.add_argument("--skip", action="append", default=[], choices=CHECKS, metavar="NAME",
                   help="skip a check (repeatable): " + ", ".join(CHECKS))
    p.add_argument("--only", action="append", default=[], choices=CHECKS, metavar="NAME",
                   help="run only this check (repeatable), e.g. --only journal")
    p.add_argument("--timeout", type=float, help="bound every check to this many seconds (default per check)")
    p.add_argument("--width", type=int, help=f"wrap the table to this many columns (at least {MIN_WIDTH})")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
    p.set_defaults(func=run)


def service_running() -> bool:
    """Whether handheld.service runs now (then it owns the serial ports; the checks would fight it)."""
    import subprocess

    if not os.path.isdir("/run/systemd/system") or shutil.which("systemctl") is None:
        return False
    try:
        return subprocess.run(["systemctl", "is-active", "--quiet", "handheld.service"],
                              timeout=5, capture_output=True).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def _config_data(path: str | None, env: Mapping[str, str]) -> dict[str, Any]:
    """The raw TOML of the file load_settings reads (for "is the card reader configured")."""
    from terminal_app.config import DEFAULT_CONFIG_PATH

    name = path or env.get("HANDHELD_CONFIG") or (str(DEFAULT_CONFIG_PATH) if DEFAULT_CONFIG_PATH.exists() else None)
    if not name:
        return {}
    with open(name, "rb") as fh:
        return tomllib.load(fh)


def run(args: argparse.Namespace) -> int:
    from terminal_app import __version__
    from terminal_app.config import load_settings

    width = _screen_width(args.width)
    out = sys.stdout
    try:
        settings = load_settings(getattr(args, "config", None))
        config_data = _config_data(getattr(args, "config", None), os.environ)
    except ConfigurationError as e:
        result = CheckResult("config", Status.FAIL, e.what_text(raw=True),
                             "配置文件有误：按提示改正 /etc/handheld/config.toml，或运行 handheld provision。",
                             e.action_text)
        if args.json:
            print(json.dumps({"ok": False, "checks": [result.as_dict()]}, ensure_ascii=False), file=out)
        else:
            print("\n".join(format_result(result, width) + format_summary([result], width)), file=out)
        return 1
    if not args.json:
        head = f"自检 SELF-TEST  终端 {settings.terminal.id}  v{__version__}"
        print("\n".join(wrap(head, width)), file=out, flush=True)
        if service_running():
            print("\n".join(wrap("注意：终端服务正在运行，先 systemctl stop handheld。Note: the terminal service "
                                  "is running and owns the ports; stop it first.", width)), file=out, flush=True)

    def show(r: CheckResult) -> None:
        if not args.json:
            print("\n".join(format_result(r, width)), file=out, flush=True)

    skip = list(args.skip) + ([c for c in CHECKS if c not in args.only] if args.only else [])
    results = run_checks(settings, config_data=config_data, skip=skip, timeout=args.timeout, on_result=show)
    ok = all(r.status is not Status.FAIL for r in results)
    if args.json:
        print(json.dumps({"ok": ok, "terminal": settings.terminal.id, "version": __version__,
                          "checks": [r.as_dict() for r in results]}, ensure_ascii=False), file=out)
    else:
        print("\n".join(format_summary(results, width)), file=out)
    return 0 if ok else 1
