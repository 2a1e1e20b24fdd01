"""The IR meter's request policy without a port or a clock (drivers.ir_meter.policy): retries,
the head's echo, the address check, stale replies, timing windows, follow-ups, identification."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.ir_meter.policy import (
    AIM_ACTION,
    EXCHANGE_TRANSITIONS,
    MAX_FOLLOWUPS,
    AbnormalReplyError,
    Exchange,
    IdentifyPlan,
    MeterIdentity,
    Phase,
    ReadPlan,
    Step,
    Timing,
    WrongMeterError,
)
from drivers.ir_meter.protocol import (
    WILDCARD,
    Dlt645Error,
    ErrBit2007,
    Frame,
    Function,
    Standard,
    address_to_wire,
    di_to_wire,
    encode_read,
    reply_control,
)
from terminal_app.errors import DeviceTimeoutError

ADDR = "000012345678"
DI = "00010000"
T = Timing(baudrate=1200, reply_timeout_s=0.5, byte_gap_s=0.5)
REQ = encode_read(ADDR, DI)


def reply(data: bytes = b"\x00\x12\x34\x56", *, address: str = ADDR, fn: int = Function.READ, more: bool = False,
          abnormal: bool = False) -> bytes:
    payload = bytes([ErrBit2007.NO_REQUESTED_DATA]) if abnormal else di_to_wire(DI, Standard.V2007) + data
    return Frame(address, reply_control(fn, abnormal=abnormal, more=more), payload).encode(b"\xfe\xfe")


def exchange(tries: int = 3) -> Exchange:
    return Exchange(REQ, ADDR, Function.READ, tries=tries, timing=T, where="loop://")


def test_the_exchange_table():
    assert {(p, s): n for p, steps in EXCHANGE_TRANSITIONS.items() for s, n in steps.items()} == {
        (Phase.SEND, Step.SENT): Phase.AWAIT, (Phase.AWAIT, Step.REPLY): Phase.DONE,
        (Phase.AWAIT, Step.RETRY): Phase.SEND, (Phase.AWAIT, Step.GIVE_UP): Phase.FAILED}


@pytest.mark.parametrize("phase, step", [(p, s) for p, s in itertools.product(Phase, Step)
                                         if s not in EXCHANGE_TRANSITIONS[p]])
def test_a_step_the_table_does_not_allow_is_a_program_error(phase, step):
    ex = exchange()
    ex.phase = phase
    with pytest.raises(RuntimeError):
        ex._move(step)


def test_a_reply_in_one_piece_ends_the_exchange():
    ex = exchange()
    assert ex.phase is Phase.SEND
    ex.sent(100.0)
    assert ex.phase is Phase.AWAIT
    # the request's own wire time, then the meter's reply window
    assert ex.deadline == pytest.approx(100.0 + len(REQ) * 11 / 1200 + 0.5)
    ex.received(reply(), 100.3)
    assert ex.phase is Phase.DONE
    assert ex.result().address == ADDR and ex.attempts == 1


def test_a_reply_byte_by_byte_within_the_gap_is_taken_and_each_byte_extends_the_window():
    ex = exchange()
    ex.sent(0.0)
    now = 0.2
    for b in reply():
        assert ex.phase is Phase.AWAIT
        ex.received(bytes([b]), now)
        if ex.phase is Phase.AWAIT and ex._decoder.pending:
            assert ex.deadline == pytest.approx(now + T.byte_gap_s)  # a frame is under way
        now += 0.1  # below the 500 ms byte gap
    assert ex.phase is Phase.DONE


def test_the_heads_echo_is_dropped_and_restarts_the_reply_window():
    ex = exchange()
    ex.sent(0.0)
    ex.received(REQ, 0.3)  # our own request, echoed by the half-duplex head
    assert ex.phase is Phase.AWAIT
    assert ex.deadline >= 0.3 + T.reply_timeout_s
    ex.received(reply(), 0.7)
    assert ex.phase is Phase.DONE


def test_a_stale_reply_to_another_function_is_ignored():
    ex = exchange()
    ex.sent(0.0)
    ex.received(reply(fn=Function.READ_ADDRESS), 0.1)
    assert ex.phase is Phase.AWAIT
    ex.received(reply(), 0.2)
    assert ex.phase is Phase.DONE


def test_silence_is_retried_then_a_timeout_with_advice():
    ex = exchange(tries=3)
    for attempt in range(3):
        assert ex.phase is Phase.SEND
        ex.sent(10.0 * attempt)
        ex.received(b"", ex.deadline)
    assert ex.phase is Phase.FAILED and ex.attempts == 3
    with pytest.raises(DeviceTimeoutError) as caught:
        ex.result()
    assert caught.value.action == AIM_ACTION
    assert "3" in str(caught.value)


def test_silence_then_a_reply_on_the_retry():
    ex = exchange(tries=2)
    ex.sent(0.0)
    ex.received(b"", ex.deadline)
    assert ex.phase is Phase.SEND
    ex.sent(5.0)
    ex.received(reply(), 5.2)
    assert ex.result().address == ADDR and ex.attempts == 2


def test_another_meters_address_is_a_wrong_meter_after_the_retries():
    ex = exchange(tries=2)
    for _ in range(2):
        ex.sent(0.0)
        ex.received(reply(address="000099999999"), 0.2)
        assert ex.phase is Phase.AWAIT
        assert ex.deadline < 0.2 + T.byte_gap_s  # narrowed to a short settle
        ex.received(b"", ex.deadline)
    with pytest.raises(WrongMeterError) as caught:
        ex.result()
    assert caught.value.params["got"] == "000099999999"


def test_wildcard_bytes_of_the_asked_address_match_any_reply():
    ex = Exchange(encode_read("AAAAAA345678", DI), "AAAAAA345678", Function.READ, tries=1, timing=T)
    ex.sent(0.0)
    ex.received(reply(), 0.1)
    assert ex.phase is Phase.DONE


def test_a_corrupt_reply_is_a_checksum_failure_after_the_retries():
    bad = bytearray(reply())
    bad[-2] ^= 0xFF  # the checksum byte
    ex = exchange(tries=1)
    ex.sent(0.0)
    ex.received(bytes(bad), 0.1)
    ex.received(b"", ex.deadline)
    with pytest.raises(Dlt645Error, match="checksum"):
        ex.result()


def test_a_cut_off_reply_is_a_truncated_failure():
    ex = exchange(tries=1)
    ex.sent(0.0)
    ex.received(reply()[:10], 0.1)
    ex.received(b"", ex.deadline)
    with pytest.raises(Dlt645Error, match="cut off"):
        ex.result()


def test_an_abnormal_reply_is_final_at_once():
    ex = exchange(tries=3)
    ex.sent(0.0)
    ex.received(reply(abnormal=True), 0.1)
    assert ex.phase is Phase.FAILED and ex.attempts == 1
    with pytest.raises(AbnormalReplyError):
        ex.result()


def test_nothing_is_awaited_before_the_request_is_sent():
    ex = exchange()
    with pytest.raises(RuntimeError):
        ex.received(reply(), 0.0)
    with pytest.raises(RuntimeError):
        ex.result()


@settings(max_examples=200, deadline=None)
@given(junk=st.binary(max_size=40), cuts=st.lists(st.integers(1, 30), max_size=8))
def test_junk_before_the_reply_in_any_split_never_breaks_the_policy(junk, cuts):
    """Whatever arrives and however it is split, the exchange ends in DONE with the reply or keeps
    waiting; it never raises while receiving."""
    data = junk.replace(b"\x68", b"\x00") + reply()  # no frame start inside the junk
    ex = exchange(tries=1)
    ex.sent(0.0)
    pos, now = 0, 0.01
    for n in itertools.cycle(cuts or [len(data)]):
        if pos >= len(data) or ex.phase is not Phase.AWAIT:
            break
        ex.received(data[pos:pos + n], now)
        pos += n
        now += 0.01
    assert ex.phase is Phase.DONE
    assert ex.result().address == ADDR


def _followup_reply(seq: int, data: bytes, more: bool) -> Frame:
    return Frame(ADDR, reply_control(Function.READ_FOLLOWUP, more=more),
                 di_to_wire(DI, Standard.V2007) + data + bytes([seq]))


def test_a_read_asks_for_follow_ups_while_the_meter_announces_more():
    plan = ReadPlan(MeterIdentity(ADDR, Standard.V2007), DI)
    request, fn = plan.first()
    assert (request, fn) == (encode_read(ADDR, DI), Function.READ)
    first = Frame(ADDR, reply_control(Function.READ, more=True), di_to_wire(DI, Standard.V2007) + b"\x01")
    nxt = plan.take(first)
    assert nxt is not None and nxt[1] == Function.READ_FOLLOWUP and plan.seq == 1
    assert plan.take(_followup_reply(1, b"\x02", more=True))[1] == Function.READ_FOLLOWUP
    assert plan.take(_followup_reply(2, b"\x03", more=False)) is None
    assert plan.done and plan.data == b"\x01\x02\x03"


def test_a_meter_announcing_follow_ups_forever_is_stopped():
    plan = ReadPlan(MeterIdentity(ADDR, Standard.V2007), DI)
    frame = Frame(ADDR, reply_control(Function.READ, more=True), di_to_wire(DI, Standard.V2007))
    with pytest.raises(Dlt645Error, match="kept announcing"):
        for _ in range(MAX_FOLLOWUPS + 2):
            plan.take(frame)
    assert plan.seq == MAX_FOLLOWUPS + 1


def test_a_reply_for_another_register_is_refused():
    plan = ReadPlan(MeterIdentity(ADDR, Standard.V2007), DI)
    other = Frame(ADDR, reply_control(Function.READ), di_to_wire("00020000", Standard.V2007) + b"\x01")
    with pytest.raises(Dlt645Error, match="answered"):
        plan.take(other)


def test_identification_probes_2007_then_1997_in_each_attempt():
    plan = IdentifyPlan(None, retries=1)
    probes = plan.probes()
    assert [p.standard for p in probes] == [Standard.V2007, Standard.V1997] * 2
    assert probes[0].function == Function.READ_ADDRESS
    assert probes[1].request == encode_read(WILDCARD, "C032", Standard.V1997)
    addr_reply = Frame(WILDCARD, reply_control(Function.READ_ADDRESS), address_to_wire(ADDR))
    assert probes[0].address_of(addr_reply) == ADDR


def test_identification_errors_an_abnormal_reply_is_final_a_protocol_error_outranks_silence():
    plan = IdentifyPlan(Standard.V2007, retries=2, where="loop://")
    assert len(plan.probes()) == 3
    plan.failed(DeviceTimeoutError("The meter did not answer (tried {n} times).", n=1))
    err = plan.give_up()
    assert isinstance(err, DeviceTimeoutError) and err.params["n"] == 3
    plan.failed(Dlt645Error("The meter's reply failed its checksum (tried {n} times).", n=1))
    assert isinstance(plan.give_up(), Dlt645Error)
    with pytest.raises(AbnormalReplyError):
        plan.failed(AbnormalReplyError("The meter answered with an abnormal reply: {errors}."))
