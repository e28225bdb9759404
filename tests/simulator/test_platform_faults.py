"""The fault plan's rules and Exchange Online's limits, as the EWS part and the server consult them."""

from __future__ import annotations

import pytest

from simulator.faults import FaultError, FaultPlan


def test_counted_rule_fires_for_the_next_n_matching_requests_only():
    plan = FaultPlan()
    plan.add("server_busy", mailbox="A@x.example", count=2, back_off_ms=1234)
    picks = [plan.pick("t", "a@x.example", "GetItem") for _ in range(3)]
    assert [p.kind if p else None for p in picks] == ["server_busy", "server_busy", None]
    assert picks[0].back_off_ms == 1234
    assert plan.rules()[0]["fired"] == 2 and plan.rules()[0]["remaining"] == 0


def test_rules_match_tenant_mailbox_and_operation():
    plan = FaultPlan()
    plan.add("server_busy", tenant_id="T1", operation="SyncFolderItems")
    assert plan.pick("t2", "a@x", "SyncFolderItems") is None
    assert plan.pick("t1", "a@x", "GetItem") is None
    assert plan.pick("t1", "a@x", "SyncFolderItems") is not None


def test_operation_specific_kinds_wait_for_their_operation():
    # given "invalid sync state next time" and "send limit next time" without an explicit operation
    plan = FaultPlan()
    plan.add("invalid_sync_state", count=1)
    plan.add("send_limit", count=1)

    # when other operations come first, they do not use the rules up
    assert plan.pick("t", "a@x", "GetFolder") is None
    assert plan.pick("t", "a@x", "GetItem") is None

    # then the operations they are about get them
    assert plan.pick("t", "a@x", "SyncFolderItems").kind == "invalid_sync_state"
    assert plan.pick("t", "a@x", "SendItem").kind == "send_limit"


def test_soap_transport_and_token_faults_are_picked_by_their_own_layer():
    plan = FaultPlan()
    plan.add("http_503")
    plan.add("token_outage", tenant_id="t", status=500)
    assert plan.pick("t", "a@x", "GetItem") is None
    assert plan.pick_transport("t", "a@x", "GetItem").kind == "http_503"
    outage = plan.pick_token("t")
    assert outage.kind == "token_outage" and outage.status == 500


def test_probability_is_honoured_over_many_requests():
    plan = FaultPlan(seed=7)
    plan.add("server_busy", probability=0.25)
    fired = sum(plan.pick("t", "a@x", "GetItem") is not None for _ in range(4000))
    assert 800 < fired < 1200


def test_invalid_rules_are_refused():
    plan = FaultPlan()
    with pytest.raises(FaultError):
        plan.add("nope")
    with pytest.raises(FaultError):
        plan.add("server_busy", probability=0)
    with pytest.raises(FaultError):
        plan.add("server_busy", count=0)


def test_connection_cap_refuses_beyond_the_limit_until_one_leaves():
    plan = FaultPlan()
    plan.set_connection_cap(2, mailbox="a@x")
    assert plan.enter_connection("a@x") and plan.enter_connection("A@X")
    assert not plan.enter_connection("a@x")
    assert plan.enter_connection("b@x")  # other mailboxes keep the default cap (27)
    plan.leave_connection("a@x")
    assert plan.enter_connection("a@x")


def test_thirty_sends_a_minute_per_mailbox():
    plan = FaultPlan()
    assert all(plan.take_send_slot("a@x", now=100.0 + i) for i in range(30))
    assert not plan.take_send_slot("a@x", now=130.0)
    assert plan.take_send_slot("b@x", now=130.0)
    assert plan.take_send_slot("a@x", now=160.5)  # the first send left the one-minute window
