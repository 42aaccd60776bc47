"""Casework: customer 360, callbacks, follow-ups and the complaints board, as service
calls on SQLite and PostgreSQL, and through the REST API and the pages in-process."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import func, select

from desk import casework
from desk.casework import CaseworkError
from desk.errors import DeskError
from desk.inputs import read
from store.db import create_engine, session_factory
from store.identifiers import (
    make_advance_payment_number,
    make_claim_number,
    make_complaint_number,
    make_policy_number,
)
from store.models import (
    AdvancePayment,
    Agent,
    AgentRole,
    Callback,
    Claim,
    ClaimKind,
    ClaimStage,
    ClaimStageChange,
    Complaint,
    Conversation,
    ConversationState,
    Customer,
    Event,
    FollowUp,
    InsuredMember,
    Policy,
    PolicyKind,
    PolicyStatus,
    TaskStatus,
)
from tests.console.test_admin import sign_in
from tests.console_app import bearer, start_console
from tests.passwords import password_hash

# 10:00 in Beijing on a weekday: "today" runs from 2026-11-04 16:00 UTC.
NOW = datetime(2026, 11, 5, 2, 0, tzinfo=UTC)
SCRIPT = "<script>alert(1)</script>"


def local(text: str) -> str:
    """A Beijing wall-clock time, as the API accepts it."""
    return f"{text}+08:00"


@dataclass
class World:
    agent1: Agent  # general team, has a conversation with the customer
    agent2: Agent  # claims team, no link to the customer
    complaints1: Agent  # complaints team
    supervisor: Agent
    trainer: Agent
    customer: Customer
    stranger: Customer
    conversation: Conversation
    complaint: Complaint  # the customer's, owned by agent1
    overdue_complaint: Complaint  # the stranger's, unowned, past due
    claim_number: str
    advance_payment_number: str


async def add_agent(session, username, role=AgentRole.AGENT, team="general") -> Agent:
    agent = await session.scalar(select(Agent).where(Agent.username == username))
    if agent is None:
        agent = Agent(
            username=username,
            display_name=f"{username} name",
            password_hash=password_hash("pw"),
            role=role,
            team=team,
        )
        session.add(agent)
        await session.flush()
    return agent


def new_customer(serial: int, name: str, mobile: str) -> Customer:
    return Customer(
        name=name,
        id_card_number=f"11010119800101{serial:04d}",
        mobile=mobile,
        birth_date=date(1980, 1, 1),
        gender="M",
        province="河北",
        city="保定",
        city_tier=3,
        has_social_insurance=False,
        bank_account="6217000000000000017",
        tags=["long_term_medical", "tier3"],
    )


async def build_world(sessions) -> World:
    async with sessions.begin() as session:
        agent1 = await add_agent(session, "agent1")
        agent2 = await add_agent(session, "agent2", team="claims")
        complaints1 = await add_agent(session, "complaints1", team="complaints")
        supervisor = await add_agent(session, "supervisor1", AgentRole.SUPERVISOR)
        trainer = await add_agent(session, "trainer1", AgentRole.TRAINER)
        customer = new_customer(1, "张伟", "13800138000")
        stranger = new_customer(2, "李娜", "13900139000")
        session.add_all([customer, stranger])
        await session.flush()
        policy = Policy(
            number=make_policy_number(1),
            holder_id=customer.id,
            product_code="HYB-LTM",
            product_name="好医保·长期医疗",
            kind=PolicyKind.LONG_TERM_MEDICAL,
            long_term=True,
            status=PolicyStatus.ACTIVE,
            sum_insured=Decimal("4000000.00"),
            premium=Decimal("368.00"),
            effective_date=date(2024, 3, 1),
            expiry_date=date(2044, 2, 29),
        )
        session.add(policy)
        await session.flush()
        member = InsuredMember(
            policy_id=policy.id,
            customer_id=customer.id,
            name="张伟",
            relation="self",
            id_card_number=customer.id_card_number,
            birth_date=customer.birth_date,
        )
        session.add(member)
        await session.flush()
        claim = Claim(
            number=make_claim_number(1),
            policy_id=policy.id,
            member_id=member.id,
            kind=ClaimKind.HOSPITALISATION,
            incident_date=date(2026, 10, 1),
            hospital="保定市第一中心医院",
            amount_claimed=Decimal("12800.00"),
            stage=ClaimStage.REVIEWING,
            missing_documents=[],
            submitted_at=datetime(2026, 10, 10, 2, tzinfo=UTC),
        )
        session.add(claim)
        await session.flush()
        session.add_all(
            [
                ClaimStageChange(
                    claim_id=claim.id, stage=ClaimStage.SUBMITTED, at=claim.submitted_at
                ),
                ClaimStageChange(
                    claim_id=claim.id,
                    stage=ClaimStage.REVIEWING,
                    at=claim.submitted_at + timedelta(days=1),
                    note="资料齐全",
                ),
            ]
        )
        advance = AdvancePayment(
            number=make_advance_payment_number(1),
            customer_id=customer.id,
            policy_id=policy.id,
            hospital="北京协和医院",
            admission_date=date(2026, 11, 10),
            estimated_amount=Decimal("30000.00"),
        )
        session.add(advance)
        conversation = Conversation(
            channel="web",
            external_user_id="visitor-1",
            customer_id=customer.id,
            state=ConversationState.ASSIGNED,
            team="general",
            assigned_agent_id=agent1.id,
        )
        session.add(conversation)
        await session.flush()
        complaint = Complaint(
            number=make_complaint_number(1),
            customer_id=customer.id,
            conversation_id=conversation.id,
            category="claims",
            description=f"{SCRIPT} 理赔拖了一个月",
            desired_outcome="尽快赔付",
            owner_agent_id=agent1.id,
            due_at=NOW + timedelta(days=5),
            history=[],
        )
        overdue = Complaint(
            number=make_complaint_number(2),
            customer_id=stranger.id,
            category="service",
            description="客服态度差",
            due_at=NOW - timedelta(days=1),
            history=[],
        )
        session.add_all([complaint, overdue])
        await session.flush()
    return World(
        agent1,
        agent2,
        complaints1,
        supervisor,
        trainer,
        customer,
        stranger,
        conversation,
        complaint,
        overdue,
        claim.number,
        advance.number,
    )


@pytest.fixture
async def world(sessions) -> World:
    return await build_world(sessions)


async def events(sessions, kind: str) -> list[Event]:
    async with sessions() as session:
        return list(await session.scalars(select(Event).where(Event.kind == kind)))


async def refused(call, status: int, code: str | None = None) -> None:
    """A casework call, handed a body that reads, refuses with this status (and code)."""
    with pytest.raises(CaseworkError) as caught:
        await call
    assert caught.value.status == status, caught.value.code
    if code:
        assert caught.value.code == code


def unreadable(model, data: dict, status: int, code: str) -> None:
    """A body refused as the routes refuse it: `read` raises the `DeskError` they answer."""
    with pytest.raises(DeskError) as caught:
        read(model, data)
    assert caught.value.status == status, caught.value.code
    assert caught.value.code == code


# ---- customer 360 ----------------------------------------------------------------------


async def test_360_shows_everything_to_an_agent_with_a_case(sessions, world):
    async with sessions.begin() as session:
        new = read(
            casework.NewCallback,
            {
                "conversation_id": world.conversation.id,
                "window_start": local("2026-11-05T14:00"),
                "window_end": local("2026-11-05T16:00"),
                "reason": "解释理赔进度",
            },
        )
        await casework.schedule_callback(session, world.agent1, new, now=NOW)
        view = await casework.customer_360(
            session, world.agent1, world.customer.id, NOW, casework.SERVICE_ZONE
        )
    assert view["customer"]["name"] == "张伟"
    assert view["customer"]["mobile"] == "138****8000"
    assert view["customer"]["id_card_number"] == "110***********0001"
    assert view["customer"]["tags"] == ["long_term_medical", "tier3"]
    [policy] = view["policies"]
    assert policy["product_name"] == "好医保·长期医疗" and policy["members"] == [
        {"name": "张伟", "relation": "self"}
    ]
    [claim] = view["claims"]
    assert claim["policy_number"] == policy["number"] and claim["stage"] == "reviewing"
    assert [h["stage"] for h in claim["history"]] == ["submitted", "reviewing"]
    assert view["advance_payments"][0]["number"] == world.advance_payment_number
    assert [c["number"] for c in view["complaints"]] == [world.complaint.number]
    [callback] = view["callbacks"]
    assert callback["phone"] == "13800138000" and callback["reason"] == "解释理赔进度"
    assert view["conversations"][0]["id"] == world.conversation.id
    assert view["conversations"][0]["assigned_agent_name"] == "agent1 name"


async def test_360_is_refused_without_a_case(sessions, world):
    async with sessions() as session:
        assert await casework.may_see_customer(session, world.agent1, world.customer.id)
        assert not await casework.may_see_customer(session, world.agent2, world.customer.id)
        assert not await casework.may_see_customer(session, world.trainer, world.customer.id)
        assert not await casework.may_see_customer(session, world.agent1, world.stranger.id)
        for agent in (world.agent2, world.trainer):
            await refused(casework.customer_360(session, agent, world.customer.id, NOW, UTC), 403)
        # unowned complaints are the complaints team's pool
        assert await casework.may_see_customer(session, world.complaints1, world.stranger.id)
        seen = await casework.customer_360(session, world.supervisor, world.stranger.id, NOW, UTC)
        assert seen["customer"]["name"] == "李娜"
        await refused(casework.customer_360(session, world.supervisor, 999, NOW, UTC), 404)
        # a conversation queued for the agent's team counts, one for another team does not
        queued = Conversation(
            channel="web",
            external_user_id="visitor-2",
            customer_id=world.stranger.id,
            state=ConversationState.QUEUED,
            team="claims",
        )
        session.add(queued)
        await session.flush()
        assert await casework.may_see_customer(session, world.agent2, world.stranger.id)
        assert not await casework.may_see_customer(session, world.agent1, world.stranger.id)
        await session.rollback()


# ---- callbacks -------------------------------------------------------------------------


async def test_a_callback_from_a_conversation_or_a_complaint_calls_the_mobile_on_file(
    sessions, world
):
    async with sessions.begin() as session:
        chat = read(
            casework.NewCallback,
            {
                "conversation_id": world.conversation.id,
                "window_start": "2026-11-05T14:00",  # no offset: Beijing time
                "window_end": "2026-11-05T16:00",
                "reason": "客户要求回电",
            },
        )
        from_chat = await casework.schedule_callback(session, world.agent1, chat, now=NOW)
        complaint = read(
            casework.NewCallback,
            {
                "complaint_id": str(world.complaint.id),  # as a form sends it
                "phone": "139-1234-5678",
                "window_start": local("2026-11-06T09:00"),
                "window_end": local("2026-11-06T11:00"),
                "reason": "投诉回访",
                "assigned_agent_id": None,  # to the complaints team's pool
            },
        )
        from_complaint = await casework.schedule_callback(session, world.agent1, complaint, now=NOW)
    assert from_chat["phone"] == "13800138000" and from_chat["customer_name"] == "张伟"
    assert from_chat["window_start"] == "2026-11-05T06:00:00+00:00"
    assert from_chat["assigned_agent_id"] == world.agent1.id and from_chat["team"] == "general"
    assert from_chat["due_today"] and not from_chat["overdue"] and from_chat["attempts"] == []
    assert from_complaint["phone"] == "13912345678"
    assert from_complaint["complaint_number"] == world.complaint.number
    assert from_complaint["customer_id"] == world.customer.id
    assert from_complaint["assigned_agent_id"] is None and from_complaint["team"] == "complaints"
    scheduled = await events(sessions, "callback_scheduled")
    assert {e.data["callback_id"] for e in scheduled} == {from_chat["id"], from_complaint["id"]}
    assert all(e.agent_id == world.agent1.id for e in scheduled)


@pytest.mark.parametrize(
    ("change", "status", "code", "refused_by"),
    [
        ({"window_end": local("2026-11-05T13:00")}, 400, "bad_window", "call"),
        ({"window_end": local("2026-11-05T14:00")}, 400, "bad_window", "call"),
        ({"window_start": "tomorrow"}, 400, "bad_time", "read"),
        ({"window_start": None}, 400, "bad_time", "read"),
        (
            {"window_start": local("2026-11-04T08:00"), "window_end": local("2026-11-04T09:00")},
            400,
            "window_in_past",
            "call",
        ),
        ({"reason": "  "}, 400, "reason_required", "read"),
        ({"phone": "call me"}, 400, "bad_phone", "read"),
        ({"assigned_agent_id": 999}, 400, "unknown_agent", "call"),
        ({"conversation_id": None}, 400, "link_required", "read"),
        ({"conversation_id": 999}, 404, "not_found", "call"),
    ],
)
async def test_scheduling_a_callback_checks_its_input(
    sessions, world, change, status, code, refused_by
):
    fields = {
        "conversation_id": world.conversation.id,
        "window_start": local("2026-11-05T14:00"),
        "window_end": local("2026-11-05T16:00"),
        "reason": "回电",
        **change,
    }
    if refused_by == "read":  # a bad value: the body does not read
        unreadable(casework.NewCallback, fields, status, code)
        return
    new = read(casework.NewCallback, fields)  # the body reads; the call refuses it
    async with sessions.begin() as session:
        await refused(casework.schedule_callback(session, world.agent1, new, now=NOW), status, code)


async def test_only_the_conversations_agent_schedules_its_callback(sessions, world):
    new = read(
        casework.NewCallback,
        {
            "conversation_id": world.conversation.id,
            "window_start": local("2026-11-05T14:00"),
            "window_end": local("2026-11-05T16:00"),
            "reason": "回电",
        },
    )
    async with sessions.begin() as session:
        for agent in (world.agent2, world.trainer):
            await refused(casework.schedule_callback(session, agent, new, now=NOW), 403)


async def add_callback(sessions, world, start, end, agent_id, **extra) -> int:
    async with sessions.begin() as session:
        callback = Callback(
            customer_id=world.customer.id,
            conversation_id=world.conversation.id,
            phone=world.customer.mobile,
            window_start=start,
            window_end=end,
            reason="回电",
            assigned_agent_id=agent_id,
            attempts=[],
            **extra,
        )
        session.add(callback)
        await session.flush()
        return callback.id


async def test_my_due_today_and_overdue_callbacks(sessions, world):
    hour = timedelta(hours=1)
    # Beijing 00:30 today is still yesterday in UTC: it is due today all the same.
    early = await add_callback(sessions, world, NOW - 9.5 * hour, NOW - 7.5 * hour, world.agent1.id)
    later = await add_callback(sessions, world, NOW + 4 * hour, NOW + 6 * hour, world.agent1.id)
    tomorrow = await add_callback(
        sessions, world, NOW + 24 * hour, NOW + 26 * hour, world.agent1.id
    )
    yesterday = await add_callback(sessions, world, NOW - 30 * hour, NOW - 28 * hour, None)
    done = await add_callback(
        sessions, world, NOW - 3 * hour, NOW - 1 * hour, world.agent1.id, status=TaskStatus.DONE
    )
    claims = await add_callback(sessions, world, NOW + hour, NOW + 2 * hour, world.agent2.id)

    async def ids(agent, scope):
        async with sessions() as session:
            return [c["id"] for c in await casework.list_callbacks(session, agent, scope, NOW)]

    assert await ids(world.agent1, "mine") == [early, later, tomorrow]
    assert await ids(world.agent1, "due_today") == [early, later]
    # the unassigned one is the general team's: agent1 sees it, agent2 does not
    assert await ids(world.agent1, "overdue") == [yesterday, early]
    assert await ids(world.agent1, "open") == [yesterday, early, later, tomorrow]
    assert await ids(world.agent1, "all") == [yesterday, early, done, later, tomorrow]
    assert await ids(world.agent2, "open") == [claims]
    assert await ids(world.supervisor, "due_today") == [early, claims, later]
    async with sessions() as session:
        [row] = [
            c
            for c in await casework.list_callbacks(session, world.agent1, "open", NOW)
            if c["id"] == early
        ]
        assert row["overdue"] and row["due_today"]
        await refused(casework.list_callbacks(session, world.agent1, "someday", NOW), 400)
        await refused(casework.list_callbacks(session, world.trainer, "open", NOW), 403)


async def test_attempts_keep_a_history_and_rescheduling_moves_the_window(sessions, world):
    hour = timedelta(hours=1)
    mine = await add_callback(
        sessions, world, NOW + hour, NOW + 3 * hour, world.agent1.id, reminded_at=NOW
    )
    pool = await add_callback(sessions, world, NOW + hour, NOW + 3 * hour, None)

    def attempt(agent, callback_id, outcome, **fields):
        # Read here, before the call is awaited: a body that does not read fails the test.
        body = read(casework.CallAttempt, {"outcome": outcome, **fields})
        return logged_attempt(agent, callback_id, body)

    async def logged_attempt(agent, callback_id, body):
        async with sessions.begin() as session:
            return await casework.log_attempt(session, agent, callback_id, body, now=NOW)

    missed = await attempt(world.agent1, mine, "no_answer", note="没人接")
    assert missed["status"] == "open" and len(missed["attempts"]) == 1
    assert missed["attempts"][0]["outcome"] == "no_answer"
    assert missed["attempts"][0]["note"] == "没人接"
    assert missed["attempts"][0]["agent_id"] == world.agent1.id
    unreadable(casework.CallAttempt, {"outcome": "rescheduled"}, 400, "window_required")
    unreadable(casework.CallAttempt, {"outcome": "hung_up"}, 400, "unknown_outcome")
    moved = await attempt(
        world.agent1,
        mine,
        "rescheduled",
        note="客户说明天上午",
        window_start="2026-11-06T09:00",
        window_end="2026-11-06T10:00",
    )
    assert moved["window_start"] == "2026-11-06T01:00:00+00:00"
    assert moved["window_end"] == "2026-11-06T02:00:00+00:00"
    assert moved["reminded_at"] is None  # reminded again when the new window comes
    assert [a["outcome"] for a in moved["attempts"]] == ["no_answer", "rescheduled"]
    assert moved["attempts"][1]["window_start"] == "2026-11-06T01:00:00+00:00"
    reached = await attempt(world.agent1, mine, "reached", note="已解释")
    assert reached["status"] == "done" and len(reached["attempts"]) == 3
    await refused(attempt(world.agent1, mine, "no_answer"), 409, "closed")
    # another team cannot touch it; a team member who calls from the pool takes it
    await refused(attempt(world.agent2, pool, "reached"), 403)
    taken = await attempt(world.agent1, pool, "no_answer")
    assert taken["assigned_agent_id"] == world.agent1.id
    logged = await events(sessions, "callback_attempt")
    assert [e.data["outcome"] for e in logged] == [
        "no_answer",
        "rescheduled",
        "reached",
        "no_answer",
    ]
    async with sessions() as session:
        stored = await session.get(Callback, mine)
        assert len(stored.attempts) == 3 and stored.status == TaskStatus.DONE


async def test_due_callbacks_are_reminded_once(sessions, world):
    minute = timedelta(minutes=1)
    soon = await add_callback(sessions, world, NOW + 4 * minute, NOW + 60 * minute, world.agent1.id)
    later = await add_callback(sessions, world, NOW + 20 * minute, NOW + 80 * minute, None)
    await add_callback(
        sessions, world, NOW - minute, NOW + minute, world.agent1.id, status=TaskStatus.DONE
    )
    async with sessions.begin() as session:
        due = await casework.due_callbacks(session, NOW)
        assert [c.id for c in due] == [soon]
        view = await casework.callback_view(session, due[0], now=NOW)
    # pushed to rooms: masked, with the team whose room gets unassigned ones
    assert view["phone"] == "138****8000" and view["customer_name"] == "张*"
    assert view["team"] == "general" and view["assigned_agent_id"] == world.agent1.id
    async with sessions.begin() as session:
        assert await casework.due_callbacks(session, NOW + minute) == []
        assert [c.id for c in await casework.due_callbacks(session, NOW + 16 * minute)] == [later]
    async with sessions() as session:
        stored = await session.get(Callback, soon)
        assert casework.aware(stored.reminded_at) == NOW


# ---- follow-ups ------------------------------------------------------------------------


async def test_the_bots_follow_ups_reach_the_teams_lists(sessions, world):
    async with sessions.begin() as session:
        # as bot/actions/forms.add_follow_up writes them
        session.add(
            FollowUp(
                kind="complaint",
                title=f"投诉 {world.overdue_complaint.number}:客服态度差",
                team="complaints",
                due_at=NOW + timedelta(days=1),
                customer_id=world.stranger.id,
                complaint_id=world.overdue_complaint.id,
                history=[
                    {"at": NOW.isoformat(), "by": "bot", "status": "open", "note": "from chat"}
                ],
            )
        )

    async def titles(agent, scope, status=None):
        async with sessions() as session:
            rows = await casework.list_follow_ups(session, agent, scope, status, NOW)
        return [(f["title"], f["customer_name"], f["complaint_number"]) for f in rows]

    expected = (
        f"投诉 {world.overdue_complaint.number}:客服态度差",
        "李娜",
        world.overdue_complaint.number,
    )
    assert await titles(world.complaints1, "team") == [expected]
    assert await titles(world.complaints1, "team", "active") == [expected]
    assert await titles(world.complaints1, "team", "done") == []
    assert await titles(world.complaints1, "mine") == []
    assert await titles(world.agent1, "team") == [] and await titles(world.agent1, "all") == []
    assert await titles(world.supervisor, "all") == [expected]


async def test_a_follow_up_is_created_updated_and_keeps_its_history(sessions, world):
    async with sessions.begin() as session:
        new = read(
            casework.NewFollowUp,
            {
                "title": "补充发票后复核",
                "due_at": "2026-11-07T17:00",
                "claim_number": world.claim_number.lower(),
            },
        )
        created = await casework.create_follow_up(session, world.agent1, new, now=NOW)
    assert created["kind"] == "claim" and created["claim_number"] == world.claim_number
    assert created["customer_name"] == "张伟" and created["team"] == "general"
    assert created["assignee_agent_id"] == world.agent1.id
    assert created["due_at"] == "2026-11-07T09:00:00+00:00" and created["status"] == "open"
    assert len(created["history"]) == 1

    def patch(agent, **fields):
        # Read here, before the call is awaited: a body that does not read fails the test.
        changes = read(casework.FollowUpChanges, fields)
        return patched(agent, changes)

    async def patched(agent, changes):
        async with sessions.begin() as session:
            return await casework.update_follow_up(session, agent, created["id"], changes, now=NOW)

    moved = await patch(
        world.agent1,
        status="in_progress",
        assignee_agent_id=world.agent2.id,
        due_at=local("2026-11-08T12:00"),
        note="交理赔组复核",
    )
    assert moved["status"] == "in_progress" and moved["assignee_agent_name"] == "agent2 name"
    assert moved["due_at"] == "2026-11-08T04:00:00+00:00"
    last = moved["history"][-1]
    assert last["status"] == "in_progress" and last["note"] == "交理赔组复核"
    assert last["assignee_agent_id"] == world.agent2.id and last["by"] == "agent1"
    # agent2 now has it; agent1 still may, through the team
    done = await patch(world.agent2, status="done")
    assert done["status"] == "done" and len(done["history"]) == 3
    await refused(patch(world.agent1, status="done"), 400, "nothing_to_change")
    unreadable(casework.FollowUpChanges, {"status": "finished"}, 400, "bad_status")
    await refused(patch(world.agent1, assignee_agent_id=999), 400, "unknown_agent")
    await refused(patch(world.agent1, assignee_agent_id=world.trainer.id), 400, "unknown_agent")
    await refused(patch(world.agent1, due_at="2026-11-01T09:00"), 400, "due_in_past")
    await refused(patch(world.complaints1, note="看看"), 403)
    await refused(patch(world.trainer, note="看看"), 403)
    assert len(await events(sessions, "follow_up_created")) == 1
    assert [e.data["status"] for e in await events(sessions, "follow_up_updated")] == [
        "in_progress",
        "done",
    ]
    async with sessions.begin() as session:
        for fields, code in [
            ({"claim_number": "C1", "complaint_id": world.complaint.id}, "link_required"),
            ({"title": "", "conversation_id": world.conversation.id}, "title_required"),
            ({"due_at": "soon", "conversation_id": world.conversation.id}, "bad_time"),
        ]:
            unreadable(
                casework.NewFollowUp,
                {"title": "跟进", "due_at": "2026-11-07T17:00", **fields},
                400,
                code,
            )
        # a team reads as any text: the call finds there is no such team
        unknown_team = read(
            casework.NewFollowUp,
            {
                "title": "跟进",
                "due_at": "2026-11-07T17:00",
                "team": "sales",
                "conversation_id": world.conversation.id,
            },
        )
        await refused(
            casework.create_follow_up(session, world.agent1, unknown_team, now=NOW),
            400,
            "unknown_team",
        )
        # the advance payment is the customer's: the complaints team has no case with them
        hospital = {
            "title": "联系医院",
            "due_at": "2026-11-07T17:00",
            "advance_payment_number": world.advance_payment_number,
        }
        await refused(
            casework.create_follow_up(
                session, world.complaints1, read(casework.NewFollowUp, hospital), now=NOW
            ),
            403,
        )
        to_the_pool = read(
            casework.NewFollowUp, {**hospital, "team": "claims", "assignee_agent_id": None}
        )
        pooled = await casework.create_follow_up(session, world.agent1, to_the_pool, now=NOW)
        assert pooled["kind"] == "advance_payment" and pooled["team"] == "claims"
        assert pooled["assignee_agent_id"] is None
        team_list = await casework.list_follow_ups(session, world.agent2, "team", "active", NOW)
        assert [f["id"] for f in team_list] == [pooled["id"]]


# ---- complaints ------------------------------------------------------------------------


async def test_the_complaints_board_puts_overdue_first_and_records_changes(sessions, world):
    async with sessions.begin() as session:
        session.add(
            Complaint(
                number=make_complaint_number(3),
                category="billing",
                description="重复扣费",
                due_at=NOW + timedelta(days=1),
                history=[],
            )
        )

    async def board(agent, status=None):
        async with sessions() as session:
            return await casework.list_complaints(session, agent, status, NOW)

    numbers = [c["number"] for c in await board(world.complaints1)]
    assert numbers == [
        world.overdue_complaint.number,  # overdue first
        make_complaint_number(3),  # then by due date
        world.complaint.number,
    ]
    assert (await board(world.complaints1))[0]["overdue"]
    assert [c["number"] for c in await board(world.agent1)] == [world.complaint.number]
    assert await board(world.agent2) == []
    async with sessions.begin() as session:
        changes = read(
            casework.ComplaintChanges,
            {"status": "done", "owner_agent_id": world.complaints1.id, "note": "已致电道歉并解决"},
        )
        updated = await casework.update_complaint(
            session, world.complaints1, world.overdue_complaint.id, changes, now=NOW
        )
    assert updated["status"] == "done" and not updated["overdue"]
    assert updated["owner_agent_name"] == "complaints1 name"
    assert updated["history"][-1]["note"] == "已致电道歉并解决"
    # done: no longer overdue, so it sorts by due date among the rest
    assert [c["number"] for c in await board(world.supervisor, "active")] == [
        make_complaint_number(3),
        world.complaint.number,
    ]
    assert [c["number"] for c in await board(world.supervisor, "done")] == [
        world.overdue_complaint.number
    ]
    [event] = await events(sessions, "complaint_updated")
    assert event.data["changes"] == ["owner_agent_id", "status"]
    assert event.customer_id == world.stranger.id
    note = read(casework.ComplaintChanges, {"note": "x"})
    unknown_owner = read(casework.ComplaintChanges, {"owner_agent_id": 999})
    async with sessions.begin() as session:
        await refused(
            casework.update_complaint(session, world.agent2, world.complaint.id, note, now=NOW),
            403,
        )
        await refused(
            casework.update_complaint(
                session, world.agent1, world.complaint.id, unknown_owner, now=NOW
            ),
            400,
            "unknown_agent",
        )


# ---- over HTTP -------------------------------------------------------------------------


@pytest.fixture
async def client(sqlite_url):
    client = await start_console(sqlite_url)
    engine = create_engine(sqlite_url)
    client.sessions = session_factory(engine)
    client.world = await build_world(client.sessions)  # the demo agents, and a trainer
    yield client
    await client.close()
    await engine.dispose()


def soon(hours: float) -> str:
    return (datetime.now(UTC) + timedelta(hours=hours)).isoformat()


async def test_the_rest_api(client):
    world = client.world
    agent1, agent2 = await bearer(client, "agent1"), await bearer(client, "agent2")
    trainer = await bearer(client, "trainer1")
    url = f"/api/v1/customers/{world.customer.id}"
    got = await client.get(url, headers=agent1)
    assert got.status == 200 and (await got.json())["customer"]["name"] == "张伟"
    for headers in (agent2, trainer):
        denied = await client.get(url, headers=headers)
        assert denied.status == 403 and (await denied.json())["error"]["code"] == "forbidden"
    assert (await client.get(url)).status == 401

    body = {
        "conversation_id": world.conversation.id,
        "window_start": soon(1),
        "window_end": soon(3),
        "reason": "回电说明",
    }
    created = await client.post("/api/v1/callbacks", json=body, headers=agent1)
    assert created.status == 201
    callback = await created.json()
    assert callback["phone"] == "13800138000" and callback["status"] == "open"
    bad = await client.post(
        "/api/v1/callbacks", json={**body, "window_end": body["window_start"]}, headers=agent1
    )
    assert bad.status == 400 and (await bad.json())["error"]["code"] == "bad_window"
    listed = await client.get("/api/v1/callbacks?scope=mine", headers=agent1)
    assert [c["id"] for c in (await listed.json())["callbacks"]] == [callback["id"]]
    assert (await client.get("/api/v1/callbacks?scope=later", headers=agent1)).status == 400
    attempt = await client.post(
        f"/api/v1/callbacks/{callback['id']}/attempts",
        json={"outcome": "rescheduled", "window_start": soon(24), "window_end": soon(25)},
        headers=agent1,
    )
    assert attempt.status == 200 and len((await attempt.json())["attempts"]) == 1
    denied = await client.post(
        f"/api/v1/callbacks/{callback['id']}/attempts", json={"outcome": "reached"}, headers=agent2
    )
    assert denied.status == 403

    follow_up = await client.post(
        "/api/v1/follow-ups",
        json={"title": "寄送发票原件", "due_at": soon(48), "complaint_id": world.complaint.id},
        headers=agent1,
    )
    assert follow_up.status == 201
    made = await follow_up.json()
    assert made["kind"] == "complaint" and made["complaint_number"] == world.complaint.number
    patched = await client.patch(
        f"/api/v1/follow-ups/{made['id']}",
        json={"status": "done", "note": "已寄出"},
        headers=agent1,
    )
    assert patched.status == 200 and (await patched.json())["history"][-1]["note"] == "已寄出"
    mine = await client.get("/api/v1/follow-ups?scope=mine&status=done", headers=agent1)
    assert [f["id"] for f in (await mine.json())["follow_ups"]] == [made["id"]]
    assert (await client.get("/api/v1/follow-ups?status=lost", headers=agent1)).status == 400

    supervisor = await bearer(client, "supervisor1")
    board = await (await client.get("/api/v1/complaints", headers=supervisor)).json()
    assert [c["number"] for c in board["complaints"]] == [
        world.overdue_complaint.number,
        world.complaint.number,
    ]
    changed = await client.patch(
        f"/api/v1/complaints/{world.overdue_complaint.id}",
        json={"owner_agent_id": world.agent2.id, "note": "请跟进"},
        headers=supervisor,
    )
    assert changed.status == 200 and (await changed.json())["owner_agent_id"] == world.agent2.id
    malformed = await client.patch(
        f"/api/v1/complaints/{world.complaint.id}", data="{", headers=supervisor
    )
    assert malformed.status == 400
    assert (await client.get("/api/v1/complaints", headers=trainer)).status == 403


async def test_the_pages_render_escape_and_need_their_token(client):
    world = client.world
    csrf = await sign_in(client, "agent1")
    async with client.sessions.begin() as session:
        callback = Callback(
            customer_id=world.customer.id,
            conversation_id=world.conversation.id,
            phone="13800138000",
            window_start=datetime.now(UTC) - timedelta(hours=3),
            window_end=datetime.now(UTC) - timedelta(hours=1),
            reason=f"{SCRIPT} 回电",
            assigned_agent_id=world.agent1.id,
            attempts=[],
        )
        session.add(callback)
        await session.flush()
        callback_id = callback.id

    complaints = await client.get("/console/complaints")
    html = await complaints.text()
    assert complaints.status == 200 and "投诉看板" in html and world.complaint.number in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt; 理赔拖了一个月" in html
    assert SCRIPT not in html
    assert 'href="/static/work.css"' in html and "style=" not in html
    assert "138****8000" in html  # the default number of a callback, masked

    callbacks = await client.get("/console/callbacks?tab=overdue")
    html = await callbacks.text()
    assert callbacks.status == 200 and "13800138000" in html and SCRIPT not in html
    assert f'id="callback-{callback_id}" class="overdue"' in html

    follow_ups = await client.get("/console/follow-ups?scope=team&status=all")
    assert follow_ups.status == 200 and "跟进事项" in await follow_ups.text()

    # the forms: refused without their token, done with it
    action = f"/console/callbacks/{callback_id}/attempts?tab=overdue"
    assert (await client.post(action, data={"outcome": "reached"})).status == 403
    assert (await client.post(action, data={"outcome": "reached", "csrf": "x"})).status == 403
    logged = await client.post(
        action,
        data={"outcome": "no_answer", "note": "第一次没人接", "csrf": csrf},
        allow_redirects=False,
    )
    assert logged.status == 303 and logged.headers["Location"].endswith("saved=1")
    wrong = await client.post(
        action,
        data={"outcome": "rescheduled", "window_start": "", "csrf": csrf},
        allow_redirects=False,
    )
    assert wrong.headers["Location"] == "/console/callbacks?tab=overdue&error=window_required"
    shown = await (await client.get(wrong.headers["Location"])).text()
    assert "改约需要填写新的时段" in shown and "第一次没人接" in shown

    local_start = (datetime.now(UTC) + timedelta(days=1)).astimezone(casework.SERVICE_ZONE)
    schedule = {
        "complaint_id": str(world.complaint.id),
        "phone": "",
        "window_start": local_start.strftime("%Y-%m-%dT%H:%M"),
        "window_end": (local_start + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M"),
        "reason": "投诉回访",
    }
    assert (await client.post("/console/callbacks", data=schedule)).status == 403
    scheduled = await client.post(
        "/console/callbacks", data={**schedule, "csrf": csrf}, allow_redirects=False
    )
    assert scheduled.status == 303 and scheduled.headers["Location"].endswith("saved=1")
    async with client.sessions() as session:
        made = await session.scalar(select(Callback).where(Callback.reason == "投诉回访"))
    assert made.phone == "13800138000" and made.complaint_id == world.complaint.id

    update = {"status": "in_progress", "owner_agent_id": str(world.agent1.id), "note": "已联系"}
    target = f"/console/complaints/{world.complaint.id}?status=active"
    assert (await client.post(target, data=update)).status == 403
    done = await client.post(target, data={**update, "csrf": csrf}, allow_redirects=False)
    assert done.status == 303
    async with client.sessions() as session:
        complaint = await session.get(Complaint, world.complaint.id)
        assert complaint.status == TaskStatus.IN_PROGRESS
        assert complaint.history[-1]["note"] == "已联系"

    async with client.sessions.begin() as session:
        follow_up = FollowUp(
            kind="conversation",
            title="确认到账",
            team="general",
            conversation_id=world.conversation.id,
            customer_id=world.customer.id,
            due_at=datetime.now(UTC) + timedelta(days=2),
            history=[],
        )
        session.add(follow_up)
        await session.flush()
        follow_up_id = follow_up.id
    page = await (await client.get("/console/follow-ups?scope=team")).text()
    due_was = re.search(
        rf'action="/console/follow-ups/{follow_up_id}[^"]*".*?name="due_was" value="([^"]+)"',
        page,
        re.S,
    ).group(1)
    form = {"status": "done", "assignee_agent_id": "", "due_at": due_was, "due_was": due_was}
    target = f"/console/follow-ups/{follow_up_id}?scope=team&status=active"
    assert (await client.post(target, data=form)).status == 403
    saved = await client.post(target, data={**form, "csrf": csrf}, allow_redirects=False)
    assert saved.status == 303 and saved.headers["Location"].endswith("saved=1")
    async with client.sessions() as session:
        stored = await session.get(FollowUp, follow_up_id)
        assert stored.status == TaskStatus.DONE and len(stored.history) == 1
        assert (
            await session.scalar(
                select(func.count()).select_from(Event).where(Event.kind == "follow_up_updated")
            )
            == 1
        )


async def test_trainers_get_no_casework_pages(client):
    await sign_in(client, "trainer1")
    for path in ("/console/callbacks", "/console/follow-ups", "/console/complaints"):
        assert (await client.get(path)).status == 403
    async with client.sessions.begin() as session:
        supervisor = await session.get(Agent, client.world.supervisor.id)
        supervisor.ui_language = "en"
    await sign_in(client, "supervisor1")
    english = await (await client.get("/console/complaints")).text()
    assert "Complaints board" in english and "Overdue" in english
    assert client.world.overdue_complaint.number in english
