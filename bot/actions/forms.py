"""What every service form shares: verification first (reusing the conversation's
verification when there is one), cancelling in words, clearing its slots when it
ends so that the next request starts afresh, and creating what it creates once per
chat turn (a turn sent twice, or an action Rasa ran again, files one claim)."""

from __future__ import annotations

import re
import secrets
from abc import abstractmethod
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

from rasa_sdk import Action, FormValidationAction, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.actions.common import sessions, verified_customer
from bot.actions.handoff import guarded
from bot.actions.verification import CANCELLED, VERIFICATION_SLOTS, VerificationSlots
from store.models import Conversation, Event, FollowUp

CANCEL = re.compile(
    r"^\s*(取消|不办了|不弄了|不申请了|算了|算了吧|不用了|退出|先不了|cancel|stop|quit|"
    r"never\s*mind|forget\s+it|no\s+thanks)\s*[!!。.]*\s*$",
    re.IGNORECASE,
)


def clear(tracker: Tracker, slots: tuple[str, ...]) -> list[dict[str, Any]]:
    """Empty a form's own slots. The verification slots stay filled once the
    customer is verified, so later forms skip straight to their questions."""
    events = [SlotSet(slot, None) for slot in slots] + [SlotSet(CANCELLED, None)]
    if verified_customer(tracker) is None:
        events += [SlotSet(slot, None) for slot in VERIFICATION_SLOTS]
    return events


class ServiceForm(VerificationSlots, FormValidationAction):
    """Validates a form whose first slots are the verification slots."""

    needs_verification = True

    @abstractmethod
    def name(self) -> str: ...

    async def required_slots(
        self,
        domain_slots: list[str],
        dispatcher: CollectingDispatcher,
        tracker: Tracker,
        domain: DomainDict,
    ) -> list[str]:
        if tracker.get_slot(CANCELLED):
            return []
        if verified_customer(tracker) is not None or not self.needs_verification:
            return [slot for slot in domain_slots if slot not in VERIFICATION_SLOTS]
        return list(domain_slots)

    @guarded
    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        text = tracker.latest_message.get("text") or ""
        if tracker.get_slot("requested_slot") and CANCEL.match(text):
            dispatcher.utter_message(response="utter_form_cancelled")
            # Ending the loop here sends the conversation to the form's submit
            # action, which sees the flag and only clears up.
            return [SlotSet(CANCELLED, True), SlotSet("requested_slot", None)]
        return await super().run(dispatcher, tracker, domain)


class ValidateVerificationForm(ServiceForm):
    def name(self) -> str:
        return "validate_verification_form"


class SubmitForm(Action):
    """Runs when a service form ends: acts on its slots unless it was cancelled."""

    slots: tuple[str, ...] = ()

    @abstractmethod
    def name(self) -> str: ...

    @abstractmethod
    async def submit(
        self, dispatcher: CollectingDispatcher, tracker: Tracker
    ) -> list[dict[str, Any]]: ...

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        events: list[dict[str, Any]] = []
        if not tracker.get_slot(CANCELLED) and all(tracker.get_slot(s) for s in self.slots):
            events = await self.submit(dispatcher, tracker)
        return clear(tracker, self.slots) + events


class StartForm(Action):
    """Starts a service form afresh: clears what an earlier run left behind."""

    slots: tuple[str, ...] = ()
    intro: str | None = None
    needs_verification = True

    @abstractmethod
    def name(self) -> str: ...

    async def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[dict[str, Any]]:
        if self.intro:
            dispatcher.utter_message(response=self.intro)
        if self.needs_verification and verified_customer(tracker) is None:
            dispatcher.utter_message(response="utter_verification_needed")
        return clear(tracker, self.slots)


def add_follow_up(
    session,
    *,
    kind: str,
    title: str,
    team: str,
    due_at: datetime,
    customer_id: int | None,
    conversation_id: int | None,
    **links: int,
) -> None:
    """A task for a team (the console's follow-ups) and the event that reports it."""
    now = datetime.now(UTC)
    session.add(
        FollowUp(
            kind=kind,
            title=title,
            team=team,
            due_at=due_at,
            customer_id=customer_id,
            conversation_id=conversation_id,
            history=[{"at": now.isoformat(), "by": "bot", "status": "open", "note": "from chat"}],
            **links,
        )
    )
    session.add(
        Event(
            kind=f"{kind}_requested",
            conversation_id=conversation_id,
            customer_id=customer_id,
            data={"title": title, **links},
        )
    )


async def add_numbered(session, row: Any, make_number: Callable[[int], str]) -> str:
    """Insert a claim, complaint or request whose public number is derived from its
    id: a unique placeholder stands in until the id is known."""
    row.number = f"new-{secrets.token_hex(8)}"
    session.add(row)
    await session.flush()
    row.number = make_number(row.id)
    return row.number


async def conversation_id(session, tracker: Tracker) -> int | None:
    """The store's conversation row behind this tracker (none for `rasa shell`)."""
    return await session.scalar(
        select(Conversation.id).where(Conversation.uid == tracker.sender_id)
    )


def turn_key(tracker: Tracker) -> str | None:
    """The chat turn an action runs in: the conversation and the customer's message
    (the gateway names it in the message's metadata as `turn`, the same each time it
    sends the message; Rasa's message id otherwise, for `rasa shell`)."""
    latest = tracker.latest_message or {}
    turn = (latest.get("metadata") or {}).get("turn") or latest.get("message_id")
    return f"{tracker.sender_id}:{turn}"[:128] if turn else None


T = TypeVar("T")


async def once_per_turn(
    tracker: Tracker,
    model: Any,
    create: Callable[[AsyncSession, str | None], Awaitable[T]],
    found: Callable[[AsyncSession, Any], Awaitable[T]],
) -> T:
    """`create` (in one transaction) the `model` row this turn makes, with the turn's
    key on it, unless the turn already made it: then `found` describes that row, so
    the customer hears the same number again. Two runs of one turn at once: the
    key is unique in the store, so one creates and the other finds its row."""
    key = turn_key(tracker)
    try:
        async with sessions().begin() as session:
            row = await _made_in_turn(session, model, key)
            return await (create(session, key) if row is None else found(session, row))
    except IntegrityError:
        async with sessions()() as session:
            row = await _made_in_turn(session, model, key)
            if row is None:
                raise
            return await found(session, row)


async def _made_in_turn(session: AsyncSession, model: Any, key: str | None) -> Any:
    if key is None:
        return None
    return await session.scalar(select(model).where(model.turn_key == key))
