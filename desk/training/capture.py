"""Each customer message the bot parsed, kept for the trainers' review inbox, in the
transaction that stores the bot's answer (so a turn answered twice is kept once and a
turn never answered is not kept).

The text is masked here, once, with the names and identifiers the store knows for the
conversation's verified customer: nothing unmasked is ever written for trainers to
read. The rank orders the inbox for learning (see `store.workbench.ParsedMessage`);
trouble that follows a message (a handoff, the question asked again, a cancel) lowers
the rank of the customer's two messages before it."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from desk.rasa import Parse
from desk.training.examples import normalised
from desk.training.masking import mask
from store.models import Claim, Conversation, Customer, InsuredMember, Message, Policy
from store.workbench import ParsedMessage

log = logging.getLogger(__name__)

# Ranks, most telling first (a message keeps the lowest it has earned).
FALLBACK, UNSURE, TROUBLE, FLAGGED, PLAIN = 0, 1, 2, 3, 9
# After the bot asked for one of these, the customer's digits are a one-time code.
CODE_SLOTS = ("otp_code", "callback_code")
# Intents a customer says again and again without anything being wrong: small talk,
# and the values a form asks for one after another.
NOT_REPEATS = {"greet", "goodbye", "thank", "affirm", "deny", "bot_challenge", "inform"}
# How many of the customer's earlier messages trouble reaches back to.
TROUBLE_REACH = 2


@dataclass(frozen=True)
class Thresholds:
    """Below `low_confidence`, or with the runner-up within `close_call`, the bot was unsure."""

    low_confidence: float = 0.6
    close_call: float = 0.1


def rank_of(parse: Parse, thresholds: Thresholds) -> int:
    if parse.fallback:
        return FALLBACK
    close = (
        parse.runner_up_confidence is not None
        and parse.confidence - parse.runner_up_confidence < thresholds.close_call
    )
    return UNSURE if parse.confidence < thresholds.low_confidence or close else PLAIN


@dataclass(frozen=True)
class Known:
    """What the store knows of a conversation's verified customer: the names (theirs
    and their insured members'), and their identifiers, which are masked as they are
    even where the patterns would not take them (a check digit off in the store)."""

    names: tuple[str, ...] = ()
    values: tuple[tuple[str, str], ...] = ()  # (identifier, placeholder), longest first

    def mask(self, text: str, after_code_request: bool = False) -> str:
        for value, placeholder in self.values:
            text = text.replace(value, placeholder)
        return mask(text, names=self.names, after_code_request=after_code_request)


async def known_for(session: AsyncSession, customer_id: int | None) -> Known:
    if customer_id is None:
        return Known()
    customer = await session.get(Customer, customer_id)
    if customer is None:
        return Known()
    policies = list(await session.scalars(select(Policy).where(Policy.holder_id == customer_id)))
    ids = [policy.id for policy in policies]
    members = list(
        await session.scalars(select(InsuredMember).where(InsuredMember.policy_id.in_(ids)))
    )
    claims = await session.scalars(select(Claim.number).where(Claim.policy_id.in_(ids)))
    values = {
        customer.id_card_number: "<ID_CARD>",
        customer.mobile: "<MOBILE>",
        customer.bank_account or "": "<BANK_CARD>",
        **{member.id_card_number: "<ID_CARD>" for member in members},
        **{policy.number: "<POLICY_NO>" for policy in policies},
        **{number: "<CLAIM_NO>" for number in claims},
    }
    names = {customer.name, *(member.name for member in members)}
    return Known(
        names=tuple(sorted(name for name in names if name)),
        values=tuple(
            sorted(
                ((value, shape) for value, shape in values.items() if len(value) >= 6),
                key=lambda pair: -len(pair[0]),
            )
        ),
    )


async def capture(
    session: AsyncSession,
    conversation: Conversation,
    message: Message,
    parse: Parse,
    handed_over: bool,
    thresholds: Thresholds,
) -> ParsedMessage | None:
    """Keeps the customer's `message` as the bot parsed it; marks the trouble it shows
    on the customer's earlier messages. Button payloads (`/intent`) are not kept."""
    text = (message.text or "").strip()
    if not text or text.startswith("/"):
        return None
    earlier = list(
        await session.scalars(
            select(ParsedMessage)
            .where(
                ParsedMessage.conversation_id == conversation.id,
                ParsedMessage.seq < message.seq,
            )
            .order_by(ParsedMessage.seq.desc())
            .limit(TROUBLE_REACH)
        )
    )
    previous = earlier[0] if earlier else None
    known = await known_for(session, conversation.customer_id)
    try:
        masked = known.mask(text, previous is not None and previous.awaiting in CODE_SLOTS)
    except Exception:
        # Never worth the customer's answer (the turn would stay owed): the message
        # is left out of the inbox rather than kept unmasked.
        log.exception("could not mask message %s for the review inbox", message.id)
        return None
    row = ParsedMessage(
        message_id=message.id,
        conversation_id=conversation.id,
        seq=message.seq,
        channel=conversation.channel,
        language=conversation.language,
        text=masked,
        intent=parse.intent,
        confidence=parse.confidence,
        runner_up=parse.runner_up,
        runner_up_confidence=parse.runner_up_confidence,
        faq_topic=parse.faq_topic,
        fallback=parse.fallback,
        awaiting=parse.awaiting,
        rank=rank_of(parse, thresholds),
        at=message.created_at,
    )
    session.add(row)
    if handed_over:
        _trouble(earlier, "handoff")
    elif previous is not None and parse.intent == "deny" and previous.awaiting:
        _trouble(earlier, "cancel")
    else:
        key = normalised(masked)
        _trouble(
            [
                before
                for before in earlier
                if normalised(before.text) == key
                or (before.intent == parse.intent and parse.intent not in NOT_REPEATS)
            ],
            "repeat",
        )
    return row


def _trouble(rows: list[ParsedMessage], what: str) -> None:
    for row in rows:
        row.rank = min(row.rank, TROUBLE)
        row.trouble = row.trouble or what
