"""Callback requests: a callback task on the verified customer's number on file."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy import select

from bot.actions.common import sessions, start_verification, verified_customer
from store.identifiers import mask_mobile
from store.models import Callback, Conversation, Customer, Event

CHINA = ZoneInfo("Asia/Shanghai")
SERVICE_HOURS = (time(9), time(21))
WINDOW = timedelta(hours=2)


def next_window(now: datetime) -> tuple[datetime, datetime]:
    """The next two-hour window inside service hours (China time), starting on the hour."""
    local = now.astimezone(CHINA)
    start = (local + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    opening = datetime.combine(start.date(), SERVICE_HOURS[0], CHINA)
    closing = datetime.combine(start.date(), SERVICE_HOURS[1], CHINA)
    if start < opening:
        start = opening
    elif start + WINDOW > closing:
        start = opening + timedelta(days=1)
    return start.astimezone(UTC), (start + WINDOW).astimezone(UTC)


class ActionRequestCallback(Action):
    def name(self) -> str:
        return "action_request_callback"

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        customer_id = verified_customer(tracker)
        if customer_id is None:
            return start_verification(dispatcher, "callback")
        await schedule_callback(dispatcher, tracker, customer_id)
        return []


async def schedule_callback(
    dispatcher: CollectingDispatcher, tracker: Tracker, customer_id: int
) -> None:
    start, end = next_window(datetime.now(UTC))
    async with sessions().begin() as session:
        customer = await session.get(Customer, customer_id)
        conversation = await session.scalar(
            select(Conversation).where(Conversation.uid == tracker.sender_id)
        )
        callback = Callback(
            customer_id=customer_id,
            conversation_id=conversation.id if conversation else None,
            phone=customer.mobile,
            window_start=start,
            window_end=end,
            reason=tracker.latest_message.get("text") or "callback requested in chat",
        )
        session.add(callback)
        await session.flush()
        session.add(
            Event(
                kind="callback_requested",
                conversation_id=callback.conversation_id,
                customer_id=customer_id,
                data={"callback_id": callback.id},
            )
        )
    local_start, local_end = start.astimezone(CHINA), end.astimezone(CHINA)
    dispatcher.utter_message(
        response="utter_callback_scheduled",
        mobile=mask_mobile(customer.mobile),
        window=f"{local_start:%m-%d %H:%M}–{local_end:%H:%M}",
    )
