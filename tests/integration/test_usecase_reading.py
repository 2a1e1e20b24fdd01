"""Reading use cases end to end: route download (paged, resumable), scan → customer, IR read,
validation, bill pre-calculation, journal before notice, upload online and offline."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from drivers.printer import COPY_MARK, PrintOutcome
from offline_queue.journal import EntryState
from terminal_app.domain.abnormal import Abnormal, AbnormalCode
from terminal_app.domain.reading import ReadingSource
from terminal_app.domain.validation import WarningKind
from terminal_app.errors import BusinessRuleError
from terminal_app.services.route import RouteDownloadError, download_route
from terminal_app.station.client import StationRefusedError
from terminal_app.station.messages import MsgType
from tests.integration.test_usecase_rig import Rig
from tests.rigs.station import TINY_OPERATOR as OP
from tests.rigs.station import audit_rows


@pytest.fixture
def rig(tmp_path):
    with Rig(tmp_path) as r:
        yield r


def route_pages_asked(db) -> list[int]:
    return [json.loads(body)["page"] for direction, _t, _s, msg_type, _raw, body, _n in audit_rows(db)
            if direction == "in" and msg_type == MsgType.ROUTE_DOWNLOAD and body]


def test_route_download_is_paged_with_progress_and_stored(rig):
    seen = []
    summary = download_route(rig.client, rig.store, "S2", operator=OP, clock=rig.clock, page_size=5,
                             progress=lambda done, pages: seen.append((done, pages)))
    assert (summary.customers, summary.pages, summary.fetched_pages) == (23, 5, 5)  # ⌈23 / 5⌉ = 5
    assert seen == [(1, 5), (2, 5), (3, 5), (4, 5), (5, 5)]
    custs = rig.terminal.route_customers("S2")
    assert [c.number for c in custs] == [f"2{n:03d}" for n in range(23)]
    assert custs[0].meter.address == "000000002000" and custs[0].tariff == "flat-agricultural"
    assert route_pages_asked(rig.db) == [1, 2, 3, 4, 5]
    # the station's version of the tariff the segment uses is fetched once and kept
    assert summary.tariffs_fetched == ("flat-agricultural",)
    assert rig.store.tariff_versions() == {"flat-agricultural": rig.station_rows(
        "SELECT version FROM tariffs WHERE name = 'flat-agricultural'")[0][0]}
    assert download_route(rig.client, rig.store, "S2", operator=OP, clock=rig.clock).tariffs_fetched == ()


def test_route_download_resumes_after_a_drop_without_refetching_stored_pages(rig):
    def drop_after_two(done, pages):
        if done == 2:
            rig.offline()  # coverage lost while page 3 is requested

    with pytest.raises(RouteDownloadError) as info:
        download_route(rig.client, rig.store, "S2", operator=OP, clock=rig.clock, page_size=5, progress=drop_after_two)
    assert "page 3" in str(info.value) and "continues where it stopped" in str(info.value)
    progress = rig.store.route_progress("S2")
    assert progress.stored == {1, 2} and progress.missing == [3, 4, 5] and not progress.complete
    rig.online()
    summary = download_route(rig.client, rig.store, "S2", operator=OP, clock=rig.clock, page_size=5)
    assert summary.fetched_pages == 3 and summary.customers == 23
    assert rig.store.route_progress("S2").complete
    # the failed page was asked for again; the stored ones never were
    assert route_pages_asked(rig.db) == [1, 2, 3, 4, 5]


def test_unknown_segment_is_refused_by_the_station(rig):
    with pytest.raises(StationRefusedError) as info:
        rig.terminal.download_route("NOPE")
    assert info.value.code == "E_UNKNOWN_SEGMENT"


def test_scan_finds_the_customer_and_an_unknown_barcode_is_explained(rig):
    rig.terminal.download_route("S1")
    rig.scanner_device.scan("A1002")
    assert rig.terminal.scan_customer(timeout=2).number == "1002"
    rig.scanner_device.scan("X999")
    with pytest.raises(BusinessRuleError) as info:
        rig.terminal.scan_customer(timeout=2)
    assert "X999" in str(info.value) and "download the route" in str(info.value)


def test_ir_reading_is_journaled_then_the_notice_prints_with_the_precalculated_bill(rig):
    t = rig.terminal
    t.download_route("S1")
    rig.scanner_device.scan("A1001")
    customer = t.scan_customer(timeout=2)
    with rig.meter_showing(customer, "1300.00"):
        value = t.read_meter(customer)
    check = t.check_reading(customer, value)
    assert check.warnings == () and check.consumption == Decimal("65.44")  # 1300.00 − 1234.56
    result = t.save_reading(customer, check, source=ReadingSource.IR)
    # sichuan-residential, November = dry season, tier 1 at 0.5224 元/kWh:
    # 65.44 × 0.5224 = 34.185856 元 = 3418.5856 fen → 3419 fen (half up)
    assert result.bill.total == 3419
    assert result.printed.outcome is PrintOutcome.ORIGINAL_PRINTED
    entry = rig.journal.get(result.txn)
    assert entry.kind == "reading" and entry.state is EntryState.PENDING
    assert entry.body_dict()["readings"] == [{"cust": "1001", "meter": "A1001", "value": "1300.00",
                                              "at": "2026-11-24T09:00:00+08:00", "source": "ir"}]
    text = rig.tickets(1)[0]
    assert "抄表通知单" in text and "1300.00" in text and "1234.56" in text and "65.44" in text
    assert "￥34.19" in text
    assert "往期欠费" in text and "￥184.12" in text  # 10000 + 300 + 8000 + 112 fen owed before


def test_printer_failure_keeps_the_reading_and_the_reprint_is_the_original_then_copies(rig):
    t = rig.terminal
    t.download_route("S1")
    customer = t.find_customer("1001")
    rig.printer_mock.set_offline(True)
    result = t.save_reading(customer, t.check_reading(customer, Decimal("1250.00")), source=ReadingSource.IR)
    assert result.print_error is not None and "offline" in str(result.print_error)
    assert rig.journal.get(result.txn).kind == "reading"  # captured before the print was attempted
    rig.printer_mock.set_offline(False)
    assert t.reprint_notice(result.txn).outcome is PrintOutcome.ORIGINAL_PRINTED  # nothing went out before
    assert t.reprint_notice(result.txn).outcome is PrintOutcome.COPY_PRINTED
    first, second = rig.tickets(2)
    assert COPY_MARK not in first and COPY_MARK in second


def test_warnings_must_be_confirmed_or_answered_with_an_abnormal_code(rig):
    t = rig.terminal
    t.download_route("S1")
    customer = t.find_customer("1001")
    check = t.check_reading(customer, Decimal("1200.00"))  # below the last reading 1234.56
    assert [w.kind for w in check.warnings] == [WarningKind.REVERSE]
    with pytest.raises(BusinessRuleError):
        t.save_reading(customer, check, source=ReadingSource.IR)
    assert rig.journal.entries() == []  # nothing journaled, nothing printed
    result = t.save_reading(customer, check, source=ReadingSource.IR,
                            abnormal=Abnormal(AbnormalCode.RUNNING_BACKWARDS))
    assert rig.journal.get(result.txn).body_dict()["readings"][0]["abnormal"] == "running_backwards"
    assert rig.journal.get(result.abnormal_txn).body_dict()["code"] == "running_backwards"
    zero = t.check_reading(customer, Decimal("1234.56"))
    assert [w.kind for w in zero.warnings] == [WarningKind.ZERO]
    confirmed = t.save_reading(customer, zero, source=ReadingSource.KEYPAD, reason="红外口被遮挡",
                               confirmed=(WarningKind.ZERO,))
    assert confirmed.abnormal_txn is None and confirmed.reading.confirmed == ("zero",)


def test_door_locked_registers_the_abnormality_only(rig):
    t = rig.terminal
    t.download_route("S1")
    result = t.save_reading(t.find_customer("1002"), None, abnormal=Abnormal(AbnormalCode.DOOR_LOCKED))
    assert result.txn is None and result.printed is None
    assert [e.kind for e in rig.journal.entries()] == ["abnormal"]
    with pytest.raises(BusinessRuleError):
        t.save_reading(t.find_customer("1002"), None)  # no value and no reason


def test_upload_offline_waits_then_goes_out_once_online(rig):
    t = rig.terminal
    t.download_route("S1")
    c1, c2 = t.find_customer("1001"), t.find_customer("1002")
    t.save_reading(c1, t.check_reading(c1, Decimal("1300.00")), source=ReadingSource.IR)
    t.save_reading(c2, t.check_reading(c2, Decimal("95.10")), source=ReadingSource.KEYPAD, reason="表计无红外口")
    t.save_reading(c2, None, abnormal=Abnormal(AbnormalCode.OTHER, "表箱被水淹"))
    rig.offline()
    status = t.upload_readings()
    assert (status.waiting, status.uploaded) == (3, 0) and status.error
    rig.online()
    status = t.upload_readings()
    assert (status.waiting, status.uploaded, status.refused) == (0, 3, 0)
    rows = rig.station_rows("SELECT cust, value, source, reason FROM readings ORDER BY cust")
    assert rows == [("1001", "1300.00", "ir", None), ("1002", "95.10", "keypad", "表计无红外口")]
    assert rig.station_rows("SELECT cust, code, text FROM abnormal") == [("1002", "other", "表箱被水淹")]
    # the station's last reading moved: the next download shows it
    t.download_route("S1")
    assert t.find_customer("1001").last_reading == Decimal("1300.00")


def test_a_segment_that_changed_during_the_drop_is_downloaded_afresh(rig):
    from hw_mocks.station import ledger
    from hw_mocks.station.area import Customer as AreaCustomer
    from hw_mocks.station.area import insert

    def drop_after_two(done, pages):
        if done == 2:
            rig.offline()

    with pytest.raises(RouteDownloadError):
        download_route(rig.client, rig.store, "S2", operator=OP, clock=rig.clock, page_size=5, progress=drop_after_two)
    conn = ledger.connect(rig.db)  # meanwhile a new customer joins the segment at the station
    try:
        insert(conn, [], [AreaCustomer("2999", "新户", "柏林村3组99号", "S2", "柏林村", "A2999", "000000002999", "2007",
                                       False, "flat-agricultural")])
    finally:
        conn.close()
    rig.online()
    summary = download_route(rig.client, rig.store, "S2", operator=OP, clock=rig.clock, page_size=5)
    # 24 customers now: the stored pages belong to the old listing, so all 5 are fetched again
    assert (summary.customers, summary.fetched_pages) == (24, 5)
    assert rig.store.customer("2999").name == "新户"


def test_a_download_left_unfinished_yesterday_starts_afresh(rig):
    import datetime as dt

    def drop_after_one(done, pages):
        rig.offline()

    with pytest.raises(RouteDownloadError):
        download_route(rig.client, rig.store, "S2", operator=OP, clock=rig.clock, page_size=5, progress=drop_after_one)
    rig.online()
    rig.clock.advance(dt.timedelta(days=1))
    assert download_route(rig.client, rig.store, "S2", operator=OP, clock=rig.clock, page_size=5).fetched_pages == 5
