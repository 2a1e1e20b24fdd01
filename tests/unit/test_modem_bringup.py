"""The modem bring-up machine without a pty (drivers.modem.bringup): every path of the table,
every refusal, the registration deadline, and random modem behaviour (property test)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.modem.bringup import (
    TRANSITIONS,
    AttachRefusedError,
    BringUp,
    NoCoverageError,
    NoSimError,
    RegistrationDeniedError,
    Seen,
    SimLockedError,
    Stage,
)
from terminal_app.errors import LinkDownError

ACTIVE = frozenset({"IP STATUS", "CONNECT OK"})
INITIAL = "IP INITIAL"


def plan(*, synced: bool = True, pdp_lost: bool = False, local_ip: str | None = "10.1.2.3",
         timeout: float = 10.0) -> BringUp:
    return BringUp(active_states=ACTIVE, initial_state=INITIAL, synced=synced, pdp_lost=pdp_lost,
                   local_ip=local_ip, registration_timeout_s=timeout)


def test_the_table_every_stage_and_where_it_leads():
    assert set(TRANSITIONS) == set(Stage)
    reachable = {Stage.START}
    frontier = [Stage.START]
    while frontier:
        for nxt in TRANSITIONS[frontier.pop()].values():
            if nxt not in reachable:
                reachable.add(nxt)
                frontier.append(nxt)
    assert reachable == set(Stage)  # no dead stage
    assert TRANSITIONS[Stage.UP] == {} and TRANSITIONS[Stage.SIGNAL] == {}


@pytest.mark.parametrize("stage, seen", [(st_, s) for st_, s in itertools.product(Stage, Seen)
                                         if s not in TRANSITIONS[st_]])
def test_anything_not_in_the_table_is_a_program_error(stage, seen):
    p = plan()
    p.stage = stage
    with pytest.raises(RuntimeError):
        p._go(seen)


def test_all_up_costs_one_status_command():
    p = plan()
    assert p.stage is Stage.CHECK_CONTEXT
    p.context_checked("IP STATUS", "10.1.2.3")
    assert p.stage is Stage.UP


def test_a_step_at_the_wrong_stage_is_a_program_error():
    p = plan()
    with pytest.raises(RuntimeError):
        p.sim("ready")
    with pytest.raises(RuntimeError):
        p.done()


def walk_to_registration(p: BringUp) -> None:
    if p.stage is Stage.SYNC:
        p.synced(pdp_lost=False)
    if p.stage is Stage.CHECK_CONTEXT:
        p.context_checked(INITIAL, None)
    p.sim("ready")
    assert p.stage is Stage.REGISTRATION


def test_a_fresh_modem_is_brought_up_step_by_step():
    p = plan(synced=False, local_ip=None)
    assert p.stage is Stage.SYNC
    walk_to_registration(p)
    p.registration(True, False, "home", asked_at=0.0, answered_at=0.1)
    assert p.stage is Stage.ATTACHED
    p.attached(False)
    assert p.stage is Stage.ATTACH
    p.done()
    p.attached(True)
    assert p.stage is Stage.CONTEXT_STATE
    p.context_state(INITIAL)
    assert p.stage is Stage.ACTIVATE
    p.done()
    p.done("10.9.8.7")
    assert p.stage is Stage.UP and p.local_ip == "10.9.8.7"
    assert p.history == [Stage.START, Stage.SYNC, Stage.CHECK_CONTEXT, Stage.CHECK_SIM, Stage.REGISTRATION,
                         Stage.ATTACHED, Stage.ATTACH, Stage.ATTACHED_AFTER, Stage.CONTEXT_STATE, Stage.ACTIVATE,
                         Stage.LOCAL_IP]


def test_an_active_context_without_a_known_ip_only_reads_the_ip():
    p = plan(local_ip=None)
    p.context_checked("IP STATUS", None)
    p.sim("ready")
    p.registration(True, False, "roaming", asked_at=0.0, answered_at=0.0)
    p.attached(True)
    p.context_state("IP STATUS")
    assert p.stage is Stage.LOCAL_IP


@pytest.mark.parametrize("state", ["PDP DEACT", "IP GPRSACT", "IP START"])
def test_a_stuck_context_is_shut_before_it_is_opened_again(state):
    p = plan()
    p.context_checked(state, "10.1.2.3")
    p.sim("ready")
    p.registration(True, False, "home", asked_at=0.0, answered_at=0.0)
    p.attached(True)
    p.context_state(state)
    assert p.stage is Stage.SHUT
    p.done()
    assert p.stage is Stage.ACTIVATE


def test_a_dropped_context_skips_the_cheap_check_and_is_shut_even_if_it_looks_up():
    p = plan(pdp_lost=True)
    assert p.stage is Stage.CHECK_SIM
    p.sim("ready")
    p.registration(True, False, "home", asked_at=0.0, answered_at=0.0)
    p.attached(True)
    p.context_state("IP STATUS")
    assert p.stage is Stage.SHUT and not p.pdp_lost


def test_a_drop_seen_while_syncing_skips_the_cheap_check():
    p = plan(synced=False)
    p.synced(pdp_lost=True)
    assert p.stage is Stage.CHECK_SIM


@pytest.mark.parametrize("sim, error", [("absent", NoSimError), ("locked", SimLockedError), ("error", NoSimError)])
def test_sim_refusals(sim, error):
    p = plan(pdp_lost=True)
    with pytest.raises(error) as caught:
        p.sim(sim)
    assert caught.value.action  # the operator is told what to do


def test_registration_is_polled_until_its_deadline_then_the_signal_says_why():
    p = plan(pdp_lost=True, timeout=3.0)
    p.sim("ready")
    assert p.poll_s == pytest.approx(0.3)
    t, polls = 0.0, 0
    while p.stage is Stage.REGISTRATION:
        p.registration(False, False, "searching", asked_at=t, answered_at=t + 0.01)
        if p.stage is Stage.REGISTRATION_WAIT:
            polls += 1
            t += p.poll_s
            p.waited()
    assert p.stage is Stage.SIGNAL
    assert 8 <= polls <= 10  # about timeout / poll, never past the deadline
    err = p.no_coverage(12)
    assert isinstance(err, NoCoverageError) and "searching" in err.what
    assert "no signal" in plan_at_signal("not_registered").no_coverage(None).what
    assert "signal {dbm} dBm" in plan_at_signal("not_registered").no_coverage(5).what


def plan_at_signal(last: str) -> BringUp:
    p = plan(pdp_lost=True, timeout=0.01)
    p.sim("ready")
    p.registration(False, False, last, asked_at=0.0, answered_at=1.0)
    assert p.stage is Stage.SIGNAL
    return p


def test_registration_denied_is_final_at_once():
    p = plan(pdp_lost=True)
    p.sim("ready")
    with pytest.raises(RegistrationDeniedError):
        p.registration(False, True, "denied", asked_at=0.0, answered_at=0.0)


def test_still_not_attached_after_the_attach_is_refused():
    p = plan(pdp_lost=True)
    p.sim("ready")
    p.registration(True, False, "home", asked_at=0.0, answered_at=0.0)
    p.attached(False)
    assert isinstance(p.attach_refused("+CME ERROR: 148"), AttachRefusedError)
    assert isinstance(p.attach_timed_out(75.0), AttachRefusedError)
    p.done()
    with pytest.raises(AttachRefusedError):
        p.attached(False)


@settings(max_examples=300, deadline=None)
@given(synced=st.booleans(), pdp_lost=st.booleans(), ip=st.sampled_from([None, "10.0.0.1"]),
       states=st.lists(st.sampled_from(["IP INITIAL", "IP STATUS", "CONNECT OK", "PDP DEACT", "IP START"]),
                       min_size=2, max_size=2),
       sim=st.sampled_from(["ready", "ready", "ready", "absent", "locked", "error"]),
       regs=st.lists(st.sampled_from(["home", "roaming", "searching", "not_registered", "denied", "unknown"]),
                     min_size=1, max_size=30),
       attached=st.lists(st.booleans(), min_size=2, max_size=2), rssi=st.sampled_from([None, 0, 20]))
def test_any_modem_ends_up_or_refused_with_advice(synced, pdp_lost, ip, states, sim, regs, attached, rssi):
    p = plan(synced=synced, pdp_lost=pdp_lost, local_ip=ip, timeout=2.0)
    t = 0.0
    reg_answers = iter(regs + ["searching"] * 100)
    att_answers = iter(attached)
    try:
        for _ in range(200):
            s = p.stage
            if s is Stage.UP:
                break
            if s is Stage.SYNC:
                p.synced(pdp_lost)
            elif s is Stage.CHECK_CONTEXT:
                p.context_checked(states[0], ip)
            elif s is Stage.CHECK_SIM:
                p.sim(sim)
            elif s is Stage.REGISTRATION:
                r = next(reg_answers)
                p.registration(r in ("home", "roaming"), r == "denied", r, asked_at=t, answered_at=t)
            elif s is Stage.REGISTRATION_WAIT:
                t += p.poll_s
                p.waited()
            elif s is Stage.SIGNAL:
                raise p.no_coverage(rssi)
            elif s in (Stage.ATTACHED, Stage.ATTACHED_AFTER):
                p.attached(next(att_answers))
            elif s is Stage.CONTEXT_STATE:
                p.context_state(states[1])
            elif s is Stage.LOCAL_IP:
                p.done("10.0.0.9")
            else:
                p.done()
        else:
            pytest.fail("the bring-up did not end")
    except LinkDownError as e:
        assert e.action
        return
    assert p.stage is Stage.UP and p.local_ip
    assert t <= 2.0 + p.poll_s  # registration never waits past its bound
