"""What the demo history's conversations leave behind besides messages: claims filed
in the chat moving through their stages (most paid within two days, the fastest in
27 minutes, about one in six sent back for documents), a few filed with the hotline's
help, complaints and callbacks with their follow-ups and due dates (some overdue),
and the agents' presence over their shifts."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from store.demo.dates import CST
from store.demo.history_texts import COMPLAINT_CATEGORIES, DESIRED_OUTCOMES, HOSPITALS, Topic
from store.demo.products import CLAIM_KINDS, MISSING_DOCUMENTS, SUBMISSION_CHANNELS
from store.identifiers import (
    make_advance_payment_number,
    make_claim_number,
    make_complaint_number,
)
from store.models import ClaimKind, ClaimStage, TaskStatus

_AMOUNTS = {
    ClaimKind.OUTPATIENT: (200, 3_000),
    ClaimKind.HOSPITALISATION: (3_000, 60_000),
    ClaimKind.CRITICAL_ILLNESS: (50_000, 300_000),
    ClaimKind.ACCIDENT: (500, 20_000),
}
FASTEST = timedelta(minutes=27)  # the seed's "2-day fast pay" at its quickest
HOTLINE_SHARE = 0.02  # claims filed with the hotline's help, not online
DOCUMENTS_SHARE = 0.17  # sent back for missing documents (83 % right first time)
REJECTED_SHARE = 0.04


def _money(yuan: float) -> Decimal:
    return Decimal(round(yuan * 100)).scaleb(-2)


def _iso(at: datetime) -> str:
    return at.astimezone(UTC).isoformat()


class Casework:
    """Mixed into `History`: its stream, ids, rows and events."""

    rng: random.Random
    end: datetime
    start: datetime
    customers: dict[int, dict[str, Any]]
    claimants: list[int]
    agents: dict[str, int]
    rows: dict[str, list[dict[str, Any]]]
    pending: list[tuple[str, dict[str, Any]]]

    def take_id(self, table: str) -> int:
        raise NotImplementedError

    def event(
        self,
        at: datetime,
        kind: str,
        conversation: dict[str, Any] | None,
        data: dict[str, Any],
        agent_id: int | None = None,
        customer_id: int | None = None,
    ) -> dict[str, Any]:
        raise NotImplementedError

    def completed(
        self, conversation: dict[str, Any], topic: Topic, at: datetime, agent: int | None
    ) -> None:
        """A request finished in a conversation: the bot filed a claim, an agent logged
        a complaint, a callback was booked."""
        customer = conversation["customer_id"]
        if customer is None:
            return
        if topic.intent == "file_claim" and agent is None:
            self.claim(customer, at, conversation)
            if self.rng.random() < HOTLINE_SHARE / (1 - HOTLINE_SHARE):
                other = self.rng.choice(self.claimants)
                self.claim(other, at + timedelta(hours=self.rng.uniform(1, 30)), None)
        elif topic.intent == "complain" and agent is not None:
            self.complaint(customer, at, conversation, agent)
        elif topic.intent == "request_callback":
            self.callback(customer, at, conversation)
        elif topic.intent == "ask_advance_payment" and agent is None:
            self.advance_payment(customer, at, conversation)

    # ---- claims ---------------------------------------------------------------------

    def claim(self, customer: int, at: datetime, conversation: dict[str, Any] | None) -> None:
        rng = self.rng
        policy, kind_of_policy, member = rng.choice(self.customers[customer]["policies"])
        kinds, weights = CLAIM_KINDS[kind_of_policy]
        kind = rng.choices(kinds, weights)[0]
        claimed = _money(rng.uniform(*_AMOUNTS[kind]))
        approved = _money(float(claimed) * rng.uniform(0.6, 1.0))
        claim_id = self.take_id("claims")
        channel = SUBMISSION_CHANNELS[2 if conversation is None else rng.randrange(2)]
        history: list[tuple[ClaimStage, datetime, str | None]] = [
            (ClaimStage.SUBMITTED, at, channel)
        ]
        missing: list[str] = []
        t = at
        if rng.random() < DOCUMENTS_SHARE:
            missing = [rng.choice(MISSING_DOCUMENTS.get(kind) or ["发票原件 / original invoice"])]
            t += timedelta(minutes=rng.uniform(30, 360))
            history.append((ClaimStage.DOCUMENTS_PENDING, t, "需补充材料 / Documents needed"))
            t += timedelta(hours=rng.uniform(6, 60))
        else:
            t += timedelta(minutes=rng.uniform(3, 12))
        history.append((ClaimStage.REVIEWING, t, None))
        if rng.random() < REJECTED_SHARE:
            t += timedelta(hours=rng.uniform(4, 48))
            history.append((ClaimStage.REJECTED, t, "不在保障范围内 / Not covered"))
        else:
            fast = rng.random() < 0.25
            paid = t + (
                timedelta(minutes=rng.uniform(8, 200))
                if fast
                else timedelta(days=rng.uniform(0.2, 2.6))
            )
            paid = max(paid, at + FASTEST)
            history.append(
                (ClaimStage.APPROVED, paid - (paid - t) * 0.3, f"核定赔付 {approved} 元")
            )
            history.append((ClaimStage.PAID, paid, "已转账 / Paid"))
        history = [step for step in history if step[1] <= self.end]
        if not history:
            return  # filed after the history ends
        stage, last = history[-1][0], history[-1][1]
        closed = stage in (ClaimStage.PAID, ClaimStage.REJECTED)
        self.pending.append(
            (
                "claims",
                {
                    "id": claim_id,
                    "number": make_claim_number(claim_id),
                    "policy_id": policy,
                    "member_id": member,
                    "kind": kind,
                    "incident_date": (at - timedelta(days=rng.randrange(1, 12))).date(),
                    "hospital": rng.choice(HOSPITALS),
                    "amount_claimed": claimed,
                    "amount_approved": approved
                    if stage in (ClaimStage.APPROVED, ClaimStage.PAID)
                    else None,
                    "amount_paid": approved if stage == ClaimStage.PAID else None,
                    "stage": stage,
                    "missing_documents": missing if stage == ClaimStage.DOCUMENTS_PENDING else [],
                    "rejection_reason": "不在保障范围内" if stage == ClaimStage.REJECTED else None,
                    "turn_key": None,
                    "submitted_at": at,
                    "closed_at": last if closed else None,
                },
            )
        )
        for step, when, note in history:
            change = {"id": self.take_id("claim_stage_changes"), "claim_id": claim_id}
            self.pending.append(
                ("claim_stage_changes", change | {"stage": step, "at": when, "note": note})
            )
        if conversation is not None:
            number = make_claim_number(claim_id)
            self.event(at, "claim_filed", conversation, {"claim_id": claim_id, "number": number})
        if missing:
            done = stage != ClaimStage.DOCUMENTS_PENDING
            self.follow_up(
                "claim",
                "补充材料后复核 / Review once documents arrive",
                customer,
                conversation,
                at,
                timedelta(days=2),
                "claims",
                done,
                claim_id=claim_id,
            )

    def advance_payment(self, customer: int, at: datetime, conversation: dict[str, Any]) -> None:
        """A request that the insurer pays the hospital (垫付), with a follow-up."""
        rng = self.rng
        policy, _, _ = rng.choice(self.customers[customer]["policies"])
        payment_id = self.take_id("advance_payments")
        due = at + timedelta(days=2)
        status = self._status(due, 0.85)
        if status == TaskStatus.IN_PROGRESS and due < self.end - timedelta(days=2):
            status = TaskStatus.CANCELLED  # the customer paid the deposit themselves
        self.pending.append(
            (
                "advance_payments",
                {
                    "id": payment_id,
                    "number": make_advance_payment_number(payment_id),
                    "customer_id": customer,
                    "policy_id": policy,
                    "conversation_id": conversation["id"],
                    "hospital": rng.choice(HOSPITALS),
                    "admission_date": (at + timedelta(days=rng.randrange(0, 4))).date(),
                    "turn_key": None,
                    "estimated_amount": _money(rng.uniform(5_000, 80_000)),
                    "status": status,
                    "created_at": at,
                },
            )
        )
        self.follow_up(
            "advance_payment",
            "联系医院确认垫付 / Confirm the advance payment with the hospital",
            customer,
            conversation,
            at,
            timedelta(days=1),
            "claims",
            status in (TaskStatus.DONE, TaskStatus.CANCELLED),
            advance_payment_id=payment_id,
        )

    # ---- complaints, callbacks, follow-ups -----------------------------------------

    def _status(self, due: datetime, early: float) -> TaskStatus:
        """Most tasks due well before the end are done; some are late, a few open."""
        rng = self.rng
        if due < self.end - timedelta(days=2):
            return TaskStatus.DONE if rng.random() < early else TaskStatus.IN_PROGRESS
        return rng.choice((TaskStatus.OPEN, TaskStatus.IN_PROGRESS, TaskStatus.DONE))

    def complaint(
        self, customer: int, at: datetime, conversation: dict[str, Any], agent: int
    ) -> None:
        rng = self.rng
        complaint_id = self.take_id("complaints")
        category, description = rng.choice(COMPLAINT_CATEGORIES)
        due = at + timedelta(days=5)
        status = self._status(due, 0.9)
        history = [
            {
                "at": _iso(at),
                "by": agent,
                "status": "open",
                "owner_agent_id": agent,
                "note": "在线客服登记 / Logged in chat",
            }
        ]
        if status != TaskStatus.OPEN:
            later = min(at + timedelta(days=rng.uniform(0.5, 4)), self.end)
            history.append(
                {
                    "at": _iso(later),
                    "by": agent,
                    "status": str(status),
                    "owner_agent_id": agent,
                    "note": None,
                }
            )
        self.pending.append(
            (
                "complaints",
                {
                    "id": complaint_id,
                    "number": make_complaint_number(complaint_id),
                    "customer_id": customer,
                    "conversation_id": conversation["id"],
                    "category": category,
                    "description": description,
                    "desired_outcome": rng.choice(DESIRED_OUTCOMES),
                    "status": status,
                    "owner_agent_id": agent,
                    "turn_key": None,
                    "due_at": due,
                    "history": history,
                    "created_at": at,
                },
            )
        )
        self.follow_up(
            "complaint",
            "回访投诉客户 / Call the customer back about the complaint",
            customer,
            conversation,
            at,
            timedelta(days=3),
            "complaints",
            status == TaskStatus.DONE,
            complaint_id=complaint_id,
        )

    def callback(self, customer: int, at: datetime, conversation: dict[str, Any]) -> None:
        rng = self.rng
        local = at.astimezone(CST) + timedelta(days=1)
        start = local.replace(hour=rng.choice((10, 14, 16, 19)), minute=0, second=0, microsecond=0)
        start = start.astimezone(UTC)
        attempts: list[dict[str, Any]] = []
        agent = self.agents["agent1"]
        status = TaskStatus.OPEN
        if start + timedelta(hours=1) < self.end and rng.random() < 0.88:
            status = TaskStatus.DONE
            attempts.append(
                {
                    "at": _iso(start + timedelta(minutes=rng.uniform(1, 50))),
                    "outcome": "reached",
                    "agent_id": agent,
                    "note": None,
                }
            )
        self.pending.append(
            (
                "callbacks",
                {
                    "id": self.take_id("callbacks"),
                    "customer_id": customer,
                    "conversation_id": conversation["id"],
                    "complaint_id": None,
                    "phone": self.customers[customer]["mobile"],
                    "window_start": start,
                    "window_end": start + timedelta(hours=1),
                    "turn_key": None,
                    "reason": "客户在线预约回电 / Booked in chat",
                    "status": status,
                    "assigned_agent_id": agent,
                    "attempts": attempts,
                    "created_by_agent_id": None,
                    # The desk reminded the agent as the window opened.
                    "reminded_at": start if start <= self.end else None,
                    "created_at": at,
                },
            )
        )

    def follow_up(
        self,
        kind: str,
        title: str,
        customer: int,
        conversation: dict[str, Any] | None,
        at: datetime,
        within: timedelta,
        team: str,
        done: bool,
        **about: int,
    ) -> None:
        due = at + within
        assignee = self.agents["agent2" if team == "claims" else "agent3"]
        status = (
            TaskStatus.DONE
            if done
            else (TaskStatus.OPEN if self.rng.random() < 0.6 else TaskStatus.IN_PROGRESS)
        )
        history: list[dict[str, Any]] = [
            {"at": _iso(at), "by": None, "status": "open", "note": None}
        ]
        if done:
            history.append(
                {"at": _iso(min(due, self.end)), "by": assignee, "status": "done", "note": None}
            )
        self.pending.append(
            (
                "follow_ups",
                {
                    "id": self.take_id("follow_ups"),
                    "kind": kind,
                    "title": title,
                    "customer_id": customer,
                    "conversation_id": conversation["id"] if conversation else None,
                    "complaint_id": about.get("complaint_id"),
                    "claim_id": about.get("claim_id"),
                    "advance_payment_id": about.get("advance_payment_id"),
                    "team": team,
                    "assignee_agent_id": assignee,
                    "due_at": due,
                    "status": status,
                    "history": history,
                    "created_at": at,
                },
            )
        )

    # ---- presence -------------------------------------------------------------------

    def shifts(self) -> None:
        """Every demo agent's presence changes over their shifts, every day: online
        before nine, agent1 away for lunch, the supervisor until six, offline after
        nine at night."""
        rng = self.rng
        day = self.start.astimezone(CST).date()
        while day <= self.end.astimezone(CST).date():

            def at(hour: int, minute: float, day: date = day) -> datetime:
                local = datetime(day.year, day.month, day.day, hour, tzinfo=CST)
                return (local + timedelta(minutes=minute)).astimezone(UTC)

            for username, agent in self.agents.items():
                changes = [(at(8, rng.uniform(45, 59)), "online", "offline")]
                if username == "agent1":
                    changes.append((at(12, rng.uniform(0, 0.5)), "away", "online"))
                    changes.append((at(12, rng.uniform(58, 59.9)), "online", "away"))
                off = (
                    at(18, rng.uniform(0, 5))
                    if username == "supervisor1"
                    else at(21, rng.uniform(10, 30))
                )
                changes.append((off, "offline", changes[-1][1]))
                for when, presence, previous in changes:
                    if self.start <= when <= self.end:
                        self.event(
                            when,
                            "presence",
                            None,
                            {"presence": presence, "previous": previous},
                            agent_id=agent,
                        )
            day += timedelta(days=1)
