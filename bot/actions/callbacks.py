"""Callback requests: the customer picks a time window inside service hours and
the number to call (the one on file, or a new one proved with a code sent to it)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.actions.common import language, sessions, verification_rules, verified_customer
from bot.actions.forms import (
    ServiceForm,
    StartForm,
    SubmitForm,
    conversation_id,
    once_per_turn,
)
from bot.actions.handoff import guarded
from bot.actions.parsing import CHINA, parse_mobile, parse_window
from bot.actions.verification import tell_locked
from desk.settings import get_settings
from desk.texts import say
from store.identifiers import mask_mobile
from store.models import Callback, Customer, Event, OtpChallenge
from store.verification import CodeCheck, Outcome, check_code, send_code

SLOTS = ("callback_window", "callback_phone", "callback_code")
WINDOW = timedelta(hours=2)
OFFERED_WINDOWS = 3
# Windows in the next three days are named by the day (keys of desk.texts.ACTION_TEXTS).
DAY_NAMES = {0: "today", 1: "tomorrow", 2: "day_after_tomorrow"}
ON_FILE_WORDS = ("本机", "预留", "原来的", "这个号", "就这个", "on file", "same", "my number",
                 "this number", "current")  # fmt: skip


def next_window(now: datetime) -> tuple[datetime, datetime]:
    """The next two-hour window inside service hours (China time), starting on the hour."""
    opening, closing = get_settings().service_window()
    local = now.astimezone(CHINA)
    start = (local + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0)
    day_opening = datetime.combine(start.date(), opening, CHINA)
    day_closing = datetime.combine(start.date(), closing, CHINA)
    if start < day_opening:
        start = day_opening
    elif start + WINDOW > day_closing:
        start = day_opening + timedelta(days=1)
    return start.astimezone(UTC), (start + WINDOW).astimezone(UTC)


def window_label(start: datetime, end: datetime, lang: str) -> str:
    """`今天 14:00–16:00`, `tomorrow 09:00–11:00`, or the date further ahead."""
    local_start, local_end = start.astimezone(CHINA), end.astimezone(CHINA)
    days = (local_start.date() - datetime.now(CHINA).date()).days
    day = say(DAY_NAMES[days], lang) if days in DAY_NAMES else f"{local_start:%m-%d}"
    return f"{day} {local_start:%H:%M}–{local_end:%H:%M}"


def window_payload(start: datetime, end: datetime) -> str:
    local_start, local_end = start.astimezone(CHINA), end.astimezone(CHINA)
    return f"{local_start:%m-%d %H:%M}-{local_end:%H:%M}"


def offered_windows(now: datetime) -> list[tuple[datetime, datetime]]:
    windows, at = [], now
    for _ in range(OFFERED_WINDOWS):
        start, end = next_window(at)
        windows.append((start, end))
        # next_window starts an hour on: this makes the next one start where this ends.
        at = end - timedelta(hours=1)
    return windows


class ActionStartCallback(StartForm):
    slots = SLOTS

    def name(self) -> str:
        return "action_start_callback"

    run = guarded(StartForm.run)


class ActionAskCallbackWindow(Action):
    def name(self) -> str:
        return "action_ask_callback_window"

    @guarded
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        lang = language(tracker)
        buttons = [
            {"title": window_label(start, end, lang), "payload": window_payload(start, end)}
            for start, end in offered_windows(datetime.now(UTC))
        ]
        opening, closing = get_settings().service_window()
        dispatcher.utter_message(
            response="utter_ask_callback_window",
            hours=f"{opening:%H:%M}–{closing:%H:%M}",
            buttons=buttons,
        )
        return []


class ActionAskCallbackPhone(Action):
    def name(self) -> str:
        return "action_ask_callback_phone"

    @guarded
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        async with sessions()() as session:
            customer = await session.get(Customer, verified_customer(tracker))
        masked = mask_mobile(customer.mobile)
        title = say("callback_on_file_button", language(tracker), mobile=masked)
        dispatcher.utter_message(
            response="utter_ask_callback_phone",
            mobile=masked,
            buttons=[{"title": title, "payload": title}],
        )
        return []


class ValidateCallbackForm(ServiceForm):
    def name(self) -> str:
        return "validate_callback_form"

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        slots = await super().required_slots(domain_slots, dispatcher, tracker, domain)
        # A code is needed only to prove a number that is not on file.
        if tracker.get_slot("callback_phone") != "new":
            slots = [slot for slot in slots if slot != "callback_code"]
        return slots

    async def validate_callback_window(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        opening, closing = get_settings().service_window()
        window = parse_window(str(value or ""), datetime.now(UTC), opening, closing)
        if window is None:
            dispatcher.utter_message(
                response="utter_callback_window_invalid",
                hours=f"{opening:%H:%M}–{closing:%H:%M}",
            )
            return {"callback_window": None}
        start, end = window
        return {"callback_window": f"{start.isoformat()}/{end.isoformat()}"}

    async def validate_callback_phone(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        text = str(value or "")
        async with sessions().begin() as session:
            customer = await session.get(Customer, verified_customer(tracker))
            mobile = parse_mobile(text)
            if mobile is None or mobile == customer.mobile:
                if (
                    mobile
                    or mask_mobile(customer.mobile) in text
                    or any(word in text.lower() for word in ON_FILE_WORDS)
                ):
                    return {"callback_phone": "on_file"}
                dispatcher.utter_message(response="utter_callback_phone_invalid")
                return {"callback_phone": None}
            # Keep the new number out of the tracker: the challenge row holds it.
            sent = await send_code(
                session, verification_rules(), tracker.sender_id, customer, mobile=mobile
            )
        if sent.outcome == Outcome.LOCKED:
            tell_locked(dispatcher, tracker, sent.wait)
            return {"callback_phone": None}
        dispatcher.utter_message(response="utter_callback_code_sent", mobile=mask_mobile(mobile))
        return {"callback_phone": "new", "callback_code": None}

    async def validate_callback_code(
        self, value: Any, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> dict[str, Any]:
        async with sessions().begin() as session:
            result = await check_code(
                session, verification_rules(), tracker.sender_id, str(value or "")
            )
        match result.outcome:
            case CodeCheck.VERIFIED:
                return {"callback_code": "verified"}
            case CodeCheck.WRONG:
                dispatcher.utter_message(response="utter_code_wrong", remaining=result.remaining)
                return {"callback_code": None}
            case CodeCheck.LOCKED:
                tell_locked(dispatcher, tracker, result.wait)
            case _:
                dispatcher.utter_message(response="utter_callback_code_expired")
        # Start the number over.
        return {"callback_code": None, "callback_phone": None}


class ActionSubmitCallback(SubmitForm):
    slots = ("callback_window", "callback_phone")

    def name(self) -> str:
        return "action_submit_callback"

    run = guarded(SubmitForm.run)

    async def submit(
        self, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> list[dict[str, Any]]:
        start_text, end_text = tracker.get_slot("callback_window").split("/")
        start, end = datetime.fromisoformat(start_text), datetime.fromisoformat(end_text)
        customer_id = verified_customer(tracker)

        async def schedule(session: AsyncSession, key: str | None) -> str:
            customer = await session.get(Customer, customer_id)
            phone = customer.mobile
            if tracker.get_slot("callback_phone") == "new":
                phone = await session.scalar(
                    select(OtpChallenge.mobile)
                    .where(
                        OtpChallenge.conversation_uid == tracker.sender_id,
                        OtpChallenge.mobile.is_not(None),
                        OtpChallenge.verified_at.is_not(None),
                    )
                    .order_by(OtpChallenge.id.desc())
                    .limit(1)
                )
            callback = Callback(
                customer_id=customer_id,
                conversation_id=await conversation_id(session, tracker),
                phone=phone,
                window_start=start.astimezone(UTC),
                window_end=end.astimezone(UTC),
                reason=_reason(tracker),
                turn_key=key,
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
            return phone

        async def scheduled(session: AsyncSession, callback: Callback) -> str:
            return callback.phone

        phone = await once_per_turn(tracker, Callback, schedule, scheduled)
        dispatcher.utter_message(
            response="utter_callback_scheduled",
            mobile=mask_mobile(phone),
            window=window_label(start, end, language(tracker)),
        )
        return []


def _reason(tracker: Tracker) -> str:
    """What the customer said up to asking for a call, for the agent who calls."""
    said: list[str] = []
    reason: list[str] = []
    for event in tracker.events:
        if event.get("event") != "user" or not event.get("text"):
            continue
        intent = ((event.get("parse_data") or {}).get("intent") or {}).get("name")
        said.append(event["text"])
        if intent == "request_callback":
            reason = said[-3:]
    return " | ".join(reason or said[:1]) or "callback requested in chat"
