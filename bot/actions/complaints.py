"""Complaints: category, what happened and what the customer wants → a complaint
with its number and due date, a follow-up for the complaints team, and an offer to
reach a person now. No verification needed; a verified customer is linked."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy.ext.asyncio import AsyncSession

from bot.actions.common import language, verified_customer
from bot.actions.forms import (
    ServiceForm,
    StartForm,
    SubmitForm,
    add_follow_up,
    add_numbered,
    conversation_id,
    once_per_turn,
)
from bot.actions.handoff import guarded
from bot.actions.parsing import CHINA
from desk.texts import pick, say
from store.identifiers import make_complaint_number
from store.models import Complaint

SLOTS = ("complaint_category", "complaint_description", "complaint_outcome")
# Regulators expect an answer within 10 working days; the team makes first contact within one.
ANSWER_WORKING_DAYS = 10
FIRST_CONTACT = timedelta(days=1)
CATEGORIES = {
    "claims": ("理赔问题", "Claims", ("理赔", "赔付", "拒赔", "报销", "claim", "payout", "paid")),
    "service": ("服务态度", "Service", ("服务", "态度", "客服", "等太久", "service", "rude")),
    "sales": ("销售误导", "Sales", ("销售", "误导", "推销", "骗", "sales", "mis-sold", "misled")),
    "billing": ("保费扣款", "Premiums and payments",
                ("扣款", "扣费", "保费", "退费", "退款", "premium", "charge", "refund", "billing")),
    "other": ("其他", "Other", ("其他", "其它", "other", "something else")),
}  # fmt: skip
MIN_DESCRIPTION = 4


def add_working_days(start: datetime, days: int) -> datetime:
    at = start
    while days:
        at += timedelta(days=1)
        if at.astimezone(CHINA).weekday() < 5:
            days -= 1
    return at


def category_from_text(text: str) -> str | None:
    lowered = text.strip().lower()
    for code, (zh, en, _) in CATEGORIES.items():
        if lowered in (zh, en.lower(), code):
            return code
    return next(
        (code for code, (_, _, words) in CATEGORIES.items() if any(w in lowered for w in words)),
        None,
    )


class ActionStartComplaint(StartForm):
    slots = SLOTS
    intro = "utter_complaint_sorry"
    needs_verification = False

    def name(self) -> str:
        return "action_start_complaint"

    run = guarded(StartForm.run)


class ActionAskComplaintCategory(Action):
    def name(self) -> str:
        return "action_ask_complaint_category"

    @guarded
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        lang = language(tracker)
        titles = [pick((zh, en), lang) for zh, en, _ in CATEGORIES.values()]
        dispatcher.utter_message(
            response="utter_ask_complaint_category",
            buttons=[{"title": title, "payload": title} for title in titles],
        )
        return []


class ValidateComplaintForm(ServiceForm):
    needs_verification = False

    def name(self) -> str:
        return "validate_complaint_form"

    async def validate_complaint_category(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        category = category_from_text(str(value or ""))
        if category is None:
            dispatcher.utter_message(response="utter_complaint_category_invalid")
            return {"complaint_category": None}
        return {"complaint_category": category}

    async def validate_complaint_description(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = " ".join(str(value or "").split())
        if len(text) < MIN_DESCRIPTION:
            dispatcher.utter_message(response="utter_complaint_description_short")
            return {"complaint_description": None}
        return {"complaint_description": text[:2000]}

    async def validate_complaint_outcome(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = " ".join(str(value or "").split())
        return {"complaint_outcome": text[:1000] or "-"}


class ActionSubmitComplaint(SubmitForm):
    slots = SLOTS

    def name(self) -> str:
        return "action_submit_complaint"

    run = guarded(SubmitForm.run)

    async def submit(
        self, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> list[dict[str, Any]]:
        now = datetime.now(UTC)
        due = add_working_days(now, ANSWER_WORKING_DAYS)
        customer_id = verified_customer(tracker)
        category = tracker.get_slot("complaint_category")
        description = tracker.get_slot("complaint_description")

        async def lodge(session: AsyncSession, key: str | None) -> tuple[str, datetime]:
            conversation = await conversation_id(session, tracker)
            complaint = Complaint(
                customer_id=customer_id,
                conversation_id=conversation,
                category=category,
                description=description,
                desired_outcome=tracker.get_slot("complaint_outcome"),
                due_at=due,
                turn_key=key,
            )
            await add_numbered(session, complaint, make_complaint_number)
            add_follow_up(
                session,
                kind="complaint",
                title=f"投诉 {complaint.number}:{description[:80]}",
                team="complaints",
                due_at=now + FIRST_CONTACT,
                customer_id=customer_id,
                conversation_id=conversation,
                complaint_id=complaint.id,
            )
            return complaint.number, due

        async def lodged(session: AsyncSession, complaint: Complaint) -> tuple[str, datetime]:
            at = complaint.due_at
            return complaint.number, at if at.tzinfo else at.replace(tzinfo=UTC)

        number, due = await once_per_turn(tracker, Complaint, lodge, lodged)
        lang = language(tracker)
        yes, no = say("put_through_button", lang), say("no_thanks_button", lang)
        dispatcher.utter_message(
            response="utter_complaint_recorded",
            number=number,
            due=f"{due.astimezone(CHINA):%Y-%m-%d}",
        )
        dispatcher.utter_message(
            response="utter_offer_human",
            buttons=[{"title": yes, "payload": yes}, {"title": no, "payload": no}],
        )
        return []
