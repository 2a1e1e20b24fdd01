"""Readings: consumption with rollover and multiplier; validation warnings and how the operator
answers them (confirm, or an abnormal code)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal as D

import pytest
from hypothesis import given
from hypothesis import strategies as st

from terminal_app.domain.abnormal import Abnormal, AbnormalCode
from terminal_app.domain.customer import Meter
from terminal_app.domain.errors import InvalidValueError
from terminal_app.domain.reading import ReadingSource, consumption, consumption_by_register
from terminal_app.domain.validation import (
    Need,
    ValidationPolicy,
    WarningKind,
    check_reading,
    expected_use,
    register_abnormal,
)
from terminal_app.errors import BusinessRuleError
from terminal_app.timeutil import SHANGHAI

METER = Meter("3300001234567", "000012345678")
AT = dt.datetime(2026, 11, 24, 10, 15, tzinfo=SHANGHAI)


def test_consumption_plain_and_with_multiplier():
    assert consumption(METER, D("12345.67"), D("12645.67")) == D("300.00")
    ct = Meter("CT1", multiplier=40)
    # (1012.50 − 1000.00) × 40 = 12.50 × 40 = 500.00 kWh
    assert consumption(ct, D("1000.00"), D("1012.50")) == D("500.00")


def test_rollover_when_flagged():
    # 999999.99 → 0.50: 0.01 to reach 1000000 (shown as 0), then 0.50 more = 0.51 kWh
    assert consumption(METER, D("999999.99"), D("0.50"), rollover=True) == D("0.51")
    five = Meter("M5", integer_digits=5)
    # 99990.00 → 10.00 on a 5-digit register: 100000 − 99990 + 10 = 20 kWh
    assert consumption(five, D("99990.00"), D("10.00"), rollover=True) == D("20.00")


def test_reverse_without_flag_and_flag_without_reverse_are_refused():
    with pytest.raises(InvalidValueError, match="lower than the last reading"):
        consumption(METER, D("100.00"), D("99.00"))
    with pytest.raises(InvalidValueError, match="Rollover was flagged"):
        consumption(METER, D("100.00"), D("101.00"), rollover=True)


@pytest.mark.parametrize("value", [D("1000000.00"), D("12.345"), D("-1")])
def test_values_the_register_cannot_show_are_refused(value):
    with pytest.raises(InvalidValueError):
        check_reading(METER, value, previous=D("1.00"))


@given(prev=st.decimals(min_value=0, max_value=D("999999.99"), places=2),
       used=st.decimals(min_value=0, max_value=D("999999.99"), places=2))
def test_rollover_inverts_the_register_wrap(prev, used):
    """Whatever the meter showed, advancing the register by ``used`` (mod 10^6) gives back ``used``."""
    cur = (prev + used) % METER.rollover_modulus
    got = consumption(METER, prev, cur, rollover=cur < prev)
    assert got == used


def test_tou_registers_consumption():
    prev = {"peak": D("100.00"), "flat": D("200.00"), "valley": D("999999.00")}
    cur = {"peak": D("110.00"), "flat": D("230.00"), "valley": D("5.00")}
    got = consumption_by_register(METER, prev, cur, rollover=["valley"])
    # valley: 1000000 − 999999.00 + 5.00 = 6.00
    assert got == {"peak": D("10.00"), "flat": D("30.00"), "valley": D("6.00")}
    with pytest.raises(InvalidValueError, match="registers"):
        consumption_by_register(METER, prev, {"peak": D(1)})


def test_normal_reading_has_no_warnings_and_is_accepted():
    check = check_reading(METER, D("12645.67"), previous=D("12345.67"), expected_kwh=D("150"))
    assert check.warnings == () and check.consumption == D("300.00")  # exactly 2 × usual: fine
    assert check.needs() == ()
    r = check.accept(customer="0101", read_at=AT, source=ReadingSource.IR)
    assert (r.value, r.previous, r.consumption, r.confirmed, r.abnormal) == (
        D("12645.67"), D("12345.67"), D("300.00"), (), None)
    assert r.to_dict()["consumption"] == "300.00" and r.to_dict()["at"] == "2026-11-24T10:15:00+08:00"


# ---- issue 13 (2): a reading below the last one is never saved on a plain "yes" --------------

def test_a_lower_reading_is_not_saved_on_a_plain_confirmation():
    check = check_reading(METER, D("600.00"), previous=D("694.48"))
    assert check.kinds == {WarningKind.REVERSE} and check.consumption is None
    assert check.warnings[0].suggested is AbnormalCode.RUNNING_BACKWARDS
    assert check.needs() == (Need.ABNORMAL_CODE,)  # 694.48 → 600 is no rollover of a 6-digit register
    with pytest.raises(BusinessRuleError, match="saved only with an abnormal code"):
        check.accept(customer="0101", read_at=AT, source=ReadingSource.IR)
    with pytest.raises(BusinessRuleError, match="saved only with an abnormal code"):
        check.accept(customer="0101", read_at=AT, source=ReadingSource.IR, confirmed=[WarningKind.REVERSE])
    with pytest.raises(BusinessRuleError, match="cannot have rolled over"):
        check.accept(customer="0101", read_at=AT, source=ReadingSource.IR, rollover=True)
    with pytest.raises(BusinessRuleError):  # 门闭 says nothing about a value read
        check.accept(customer="0101", read_at=AT, source=ReadingSource.IR, abnormal=Abnormal(AbnormalCode.DOOR_LOCKED))


@pytest.mark.parametrize("code", [AbnormalCode.RUNNING_BACKWARDS, AbnormalCode.METER_REPLACED,
                                  AbnormalCode.ESTIMATED, AbnormalCode.METER_DAMAGED])
def test_a_lower_reading_is_saved_with_an_abnormal_code_and_no_use(code):
    check = check_reading(METER, D("600.00"), previous=D("694.48"))
    r = check.accept(customer="0101", read_at=AT, source=ReadingSource.IR, abnormal=Abnormal(code))
    assert r.abnormal.code is code and r.consumption is None  # no bill from a register that went back
    assert r.upload_item()["abnormal"] == code.value


def test_a_rollover_only_when_the_register_makes_it_plausible():
    near_top = check_reading(METER, D("30.00"), previous=D("999950.00"), expected_kwh=D("150"))
    assert near_top.rollover_plausible and near_top.rollover_use == D("80.00")
    assert near_top.needs() == (Need.ABNORMAL_CODE, Need.ROLLOVER)
    r = near_top.accept(customer="0101", read_at=AT, source=ReadingSource.IR, rollover=True)
    assert (r.rollover, r.consumption, r.abnormal) == (True, D("80.00"), None)
    # 999950 → 900: 950 kWh, more than 3 × the usual 150: not a rollover, something else
    far = check_reading(METER, D("900.00"), previous=D("999950.00"), expected_kwh=D("150"))
    assert not far.rollover_plausible and far.needs() == (Need.ABNORMAL_CODE,)
    # without a usual use, up to 1 % of the register's range (10 000 kWh on 6 digits)
    assert check_reading(METER, D("9000.00"), previous=D("999950.00")).rollover_plausible
    assert not check_reading(METER, D("11000.00"), previous=D("999950.00")).rollover_plausible
    five = Meter("M5", integer_digits=5)
    assert check_reading(five, D("10.00"), previous=D("99990.00")).rollover_use == D("20.00")
    with pytest.raises(BusinessRuleError, match="only possible when the reading is below"):
        check_reading(METER, D("200.00"), previous=D("100.00")).accept(
            customer="0101", read_at=AT, source=ReadingSource.IR, rollover=True)


def test_zero_consumption_warning_confirmed():
    check = check_reading(METER, D("100.00"), previous=D("100.00"))
    assert check.kinds == {WarningKind.ZERO} and check.needs() == (Need.CONFIRM,)
    assert check.warnings[0].suggested is AbnormalCode.METER_STOPPED
    with pytest.raises(BusinessRuleError):
        check.accept(customer="0101", read_at=AT, source=ReadingSource.IR)
    r = check.accept(customer="0101", read_at=AT, source=ReadingSource.IR, confirmed=[WarningKind.ZERO])
    assert r.confirmed == ("zero",) and r.consumption == D("0.00")


# ---- issue 13 (2): a use far above the usual one is typed again, then explained --------------

def test_usual_use_is_the_average_daily_use_times_the_days():
    last = dt.datetime(2026, 10, 25, 10, 0, tzinfo=SHANGHAI)
    assert expected_use(D("5.00"), last, AT) == D("150.00")  # 30 days
    assert expected_use(D("5.00"), last, last + dt.timedelta(hours=2)) == D("5.00")  # at least a day
    assert expected_use(None, last, AT) is None and expected_use(D("5.00"), None, AT) is None


@pytest.mark.parametrize("used, factor, warned", [
    ("450.00", "3", False),   # 450 = 3 × 150: at the limit, no warning
    ("450.01", "3", True),    # above 3 × 150
    ("300.01", "2", True),    # a utility with a stricter factor
    ("300.00", "2", False),
])
def test_jump_against_the_usual_use(used, factor, warned):
    policy = ValidationPolicy(jump_factor=D(factor))
    check = check_reading(METER, D("1000.00") + D(used), previous=D("1000.00"), expected_kwh=D(150),
                          policy=policy)
    assert (WarningKind.JUMP in check.kinds) is warned


def test_ten_thousand_kwh_on_a_household_is_typed_again_and_explained():
    """The issue's case: 14020.01 → 24020.01 (10 000 kWh) on a household using ~5 kWh a day."""
    usual = expected_use(D("5.00"), dt.datetime(2026, 10, 25, 10, 0, tzinfo=SHANGHAI), AT)
    check = check_reading(METER, D("24020.01"), previous=D("14020.01"), expected_kwh=usual)
    assert check.kinds == {WarningKind.JUMP} and check.needs() == (Need.REENTRY, Need.JUMP_REASON)
    kw = {"customer": "0101", "read_at": AT, "source": ReadingSource.IR}
    with pytest.raises(BusinessRuleError, match="type the reading again"):
        check.accept(**kw)
    with pytest.raises(BusinessRuleError, match="type the reading again"):
        check.accept(**kw, confirmed=[WarningKind.JUMP])
    with pytest.raises(BusinessRuleError, match="is not 24020.01"):
        check.accept(**kw, reentered=D("14020.01"), jump_reason="新增用电设备")
    with pytest.raises(BusinessRuleError, match="say why"):
        check.accept(**kw, reentered=D("24020.01"))
    r = check.accept(**kw, reentered=D("24020.01"), jump_reason="新增用电设备")
    assert r.consumption == D("10000.00") and r.note == "新增用电设备" and r.confirmed == ("jump",)
    assert r.upload_item()["note"] == "新增用电设备"
    estimated = check.accept(**kw, abnormal=Abnormal(AbnormalCode.ESTIMATED))  # or an abnormal code
    assert estimated.abnormal.code is AbnormalCode.ESTIMATED and estimated.note == ""


def test_jump_not_checked_without_a_usual_use():
    check = check_reading(METER, D("9000.00"), previous=D("1.00"), expected_kwh=None)
    assert check.warnings == ()


def test_policy_bounds():
    with pytest.raises(InvalidValueError):
        ValidationPolicy(jump_factor=D("0.5"))


def test_meter_replaced_is_confirmed_and_registered_as_such():
    check = check_reading(METER, D("5.00"), previous=D("12345.67"), read_meter="3300009999999")
    assert check.kinds == {WarningKind.METER_REPLACED} and check.consumption is None
    assert check.needs() == (Need.CONFIRM,)
    assert "3300009999999" in check.warnings[0].message
    with pytest.raises(BusinessRuleError, match="confirm the replacement"):
        check.accept(customer="0101", read_at=AT, source=ReadingSource.IR)
    r = check.accept(customer="0101", read_at=AT, source=ReadingSource.IR,
                     confirmed=[WarningKind.METER_REPLACED])
    assert r.confirmed == ("meter_replaced",) and r.abnormal.code is AbnormalCode.METER_REPLACED


def test_confirming_another_kind_does_not_answer_a_warning():
    check = check_reading(METER, D("100.00"), previous=D("100.00"), expected_kwh=D(0))
    with pytest.raises(BusinessRuleError):
        check.accept(customer="0101", read_at=AT, source=ReadingSource.IR, confirmed=[WarningKind.JUMP])


def test_keypad_reading_needs_a_reason():
    check = check_reading(METER, D("200.00"), previous=D("100.00"))
    with pytest.raises(InvalidValueError, match="reason"):
        check.accept(customer="0101", read_at=AT, source=ReadingSource.KEYPAD)
    r = check.accept(customer="0101", read_at=AT, source=ReadingSource.KEYPAD, reason="红外口脏污")
    assert r.reason == "红外口脏污"


def test_reading_time_must_be_aware():
    check = check_reading(METER, D("200.00"), previous=D("100.00"))
    with pytest.raises(InvalidValueError):
        check.accept(customer="0101", read_at=dt.datetime(2026, 11, 24, 10, 0), source=ReadingSource.IR)


def test_estimated_reading_is_keyed_with_the_estimated_code():
    check = check_reading(METER, D("200.00"), previous=D("100.00"))
    r = check.accept(customer="0101", read_at=AT, source=ReadingSource.KEYPAD,
                     abnormal=Abnormal(AbnormalCode.ESTIMATED))
    assert r.abnormal.code is AbnormalCode.ESTIMATED and r.consumption == D("100.00") and r.reason == "估抄"
    # the readings-upload entry as the reference station takes it
    assert r.upload_item() == {"cust": "0101", "meter": "3300001234567", "value": "200.00",
                               "at": "2026-11-24T10:15:00+08:00", "source": "keypad", "reason": "估抄",
                               "abnormal": "estimated"}


def test_ir_reading_upload_item_has_no_reason_or_abnormal():
    r = check_reading(METER, D("200.00"), previous=D("100.00")).accept(customer="0101", read_at=AT,
                                                                       source=ReadingSource.IR)
    assert r.upload_item() == {"cust": "0101", "meter": "3300001234567", "value": "200.00",
                               "at": "2026-11-24T10:15:00+08:00", "source": "ir"}
    with pytest.raises(InvalidValueError):
        r.abnormal_registration()


def test_door_locked_reading_has_no_value():
    r = register_abnormal(customer="0101", meter=METER, read_at=AT, abnormal=Abnormal(AbnormalCode.DOOR_LOCKED))
    assert r.value is None and r.consumption is None and r.abnormal.label == "门闭"
    assert r.to_dict()["abnormal"] == {"code": "door_locked", "text": ""}
    assert r.abnormal_registration() == {"cust": "0101", "meter": "3300001234567", "code": "door_locked",
                                         "at": "2026-11-24T10:15:00+08:00"}
    with pytest.raises(InvalidValueError):
        r.upload_item()
    other = register_abnormal(customer="0101", meter=METER, read_at=AT, value=D("5.00"),
                              abnormal=Abnormal(AbnormalCode.OTHER, "表箱被水淹"))
    assert other.abnormal_registration()["text"] == "表箱被水淹" and other.abnormal_registration()["value"] == "5.00"
