"""The demo history: the last N days of the service as the live desk would have
written them, so every analytics page has something to show after `make run`.

Conversations on the four channels arrive over the service hours (more on weekdays,
peaks at lunchtime and in the evening); the bot sees most customers off or they
leave, some are handed over and answered by an agent of the right team within
seconds (a few leave the queue), agents' presence follows their shifts, ratings are
mostly 4-5, some customers come back, claims filed in the chat move through their
stages, and complaints, callbacks and follow-ups have due dates (some overdue).
Every row is drawn from one seeded stream: the same seed and end give the same rows."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from store.demo.dates import CST
from store.demo.history_casework import Casework
from store.demo.history_texts import (
    AGENT_LINES,
    AGENT_OPEN,
    BOT_ANSWER,
    BOT_ASK,
    BOT_BYE,
    BOT_DONE,
    BOT_GREET,
    BOT_SORRY,
    CHANNEL_WEIGHTS,
    CHANNELS,
    CUSTOMER_LINES,
    ENGLISH_SHARE,
    FORM_ANSWERS,
    GOODBYES,
    GREETINGS,
    HOUR_WEIGHTS,
    HOURS,
    SYSTEM_JOINED,
    SYSTEM_LEFT,
    SYSTEM_QUEUED,
    SYSTEM_RATED,
    SYSTEM_RATING,
    SYSTEM_RESOLVED,
    THANKS,
    TOPICS,
    UNCLEAR,
    WEEKDAY_WEIGHTS,
    Topic,
)
from store.demo.rows import cum
from store.models import ConversationState, SenderKind

HISTORY_TABLES = (
    "conversations",
    "messages",
    "parsed_messages",
    "events",
    "claims",
    "claim_stage_changes",
    "complaints",
    "advance_payments",
    "callbacks",
    "follow_ups",
)
# The demo agents who take conversations (the console creates them with their
# passwords in demo mode): username, display name, team.
HISTORY_AGENTS = (
    ("agent1", "王芳 Wang Fang", "general"),
    ("agent2", "刘洋 Liu Yang", "claims"),
    ("agent3", "赵磊 Zhao Lei", "complaints"),
    ("supervisor1", "陈静 Chen Jing", "general"),
)
CONTACTS_PER_CUSTOMER = 0.07  # a day: 140 at the default 2,000 customers
# A busy weekday's contacts at most, unless asked for more: a large demo store
# (`DEMO_CUSTOMERS=100000`) keeps its history quick to write.
MOST_CONTACTS_A_DAY = 600
VERIFIED_SHARE = 0.62
COME_BACK = 0.035  # customers who come back about the same thing within days
_TOPIC_CUM = cum(t.weight for t in TOPICS)
_CHANNEL_CUM = cum(CHANNEL_WEIGHTS)
_HOUR_CUM = cum(HOUR_WEIGHTS)
_SCORES = (5, 4, 3, 2, 1)
_SCORE_CUM = cum((86, 12.2, 1.0, 0.4, 0.4))
_REASONS_FOR = {"complain": "complaint", "request_human": "customer_request"}


@dataclass
class Contact:
    """One conversation to draw: when, who, on what, about what."""

    at: datetime
    customer: int | None
    channel: str
    topic: Topic
    returning: bool = False


@dataclass
class Episode:
    """A conversation's rows as drawn; its events are timed and numbered later."""

    row: dict[str, Any]
    messages: list[dict[str, Any]] = field(default_factory=list)
    parsed: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


class History(Casework):
    """Draws the history's rows; ids continue the store's (`first` per table)."""

    def __init__(
        self,
        rng: random.Random,
        first: dict[str, int],
        customers: dict[int, dict[str, Any]],
        agents: dict[str, int],
        end: datetime,
        days: int,
        per_day: float,
    ):
        self.rng = rng
        self.next = dict(first)
        self.customers = customers  # id → {mobile, policies: [(policy id, kind, member id)]}
        self.customer_ids = sorted(customers)
        self.claimants = [c for c in self.customer_ids if customers[c]["policies"]]
        self.agents = agents  # username → id
        self.end = end
        self.start = end - timedelta(days=days)
        self.days = days
        self.per_day = per_day
        self.rows: dict[str, list[dict[str, Any]]] = {name: [] for name in HISTORY_TABLES}
        self.events: list[tuple[datetime, int, dict[str, Any]]] = []
        self._order = 0
        self.pending: list[tuple[str, dict[str, Any]]] = []  # the conversation's casework

    def take_id(self, table: str) -> int:
        value = self.next[table]
        self.next[table] = value + 1
        return value

    def event(
        self,
        at: datetime,
        kind: str,
        conversation: dict[str, Any] | None,
        data: dict[str, Any],
        agent_id: int | None = None,
        customer_id: int | None = None,
    ) -> dict[str, Any]:
        row = {
            "at": at,
            "kind": kind,
            "conversation_id": conversation["id"] if conversation else None,
            "customer_id": conversation["customer_id"] if conversation else customer_id,
            "agent_id": agent_id,
            "data": data,
        }
        self._order += 1
        self.events.append((at, self._order, row))
        return row

    # ---- arrivals -------------------------------------------------------------------

    def contacts(self) -> list[Contact]:
        """The conversations of every day in the range, at their times, with the
        customers who come back about the same thing a little later."""
        rng = self.rng
        found: list[Contact] = []
        first_day = self.start.astimezone(CST).date()
        last_day = self.end.astimezone(CST).date()
        day = first_day
        while day <= last_day:
            expected = self.per_day * WEEKDAY_WEIGHTS[day.weekday()]
            count = max(0, round(rng.gauss(expected, expected**0.5)))
            for _ in range(count):
                hour = rng.choices(HOURS, cum_weights=_HOUR_CUM)[0]
                at = datetime(day.year, day.month, day.day, hour, tzinfo=CST) + timedelta(
                    seconds=rng.uniform(0, 3600)
                )
                found.append(self._contact(at.astimezone(UTC)))
            day += timedelta(days=1)
        for contact in list(found):
            if contact.customer is not None and rng.random() < COME_BACK:
                later = contact.at + timedelta(hours=rng.uniform(2, 24 * 5))
                local = later.astimezone(CST)
                if not 9 <= local.hour < 21:
                    later += timedelta(hours=12)
                found.append(Contact(later, contact.customer, self._channel(), contact.topic, True))
        found = [c for c in found if self.start <= c.at <= self.end]
        found.sort(key=lambda c: (c.at, c.customer or 0))
        return found

    def _channel(self) -> str:
        return self.rng.choices(CHANNELS, cum_weights=_CHANNEL_CUM)[0]

    def _contact(self, at: datetime) -> Contact:
        rng = self.rng
        topic = rng.choices(TOPICS, cum_weights=_TOPIC_CUM)[0]
        customer = None
        # Claims and policies are looked up after verifying: those customers are known.
        if topic.form is not None and self.claimants:
            customer = rng.choice(self.claimants)
        elif rng.random() < VERIFIED_SHARE and self.customer_ids:
            customer = rng.choice(self.customer_ids)
        return Contact(at, customer, self._channel(), topic)

    # ---- one conversation -----------------------------------------------------------

    def conversation(self, contact: Contact) -> Episode | None:
        """A conversation from its first message to its end, or None when it would
        end after the history does (it is left out whole rather than cut)."""
        rng = self.rng
        lang = "en" if rng.random() < ENGLISH_SHARE[contact.channel] else "zh"
        cid = self.next["conversations"]
        row: dict[str, Any] = {
            "id": cid,
            "uid": f"{rng.getrandbits(128):032x}",
            "channel": contact.channel,
            "external_user_id": f"{contact.channel}-{rng.getrandbits(48):012x}",
            "customer_id": contact.customer,
            "state": ConversationState.BOT,
            "language": lang,
            "team": "general",
            "assigned_agent_id": None,
            "handoff_reason": None,
            "handoff_summary": None,
            "priority": 0,
            "labels": [],
            "resolution_reason": None,
            "queue_position": None,
            "created_at": contact.at,
            "queued_at": None,
            "assigned_at": None,
            "resolved_at": None,
        }
        ep = Episode(row)
        self._ep, self._lang, self._t = ep, (0 if lang == "zh" else 1), contact.at
        mark = len(self.events)  # this conversation's events are the ones after
        self.event(contact.at, "created", row, {"channel": contact.channel})
        topic = contact.topic
        if rng.random() < 0.3:
            self._turn(self._pick(GREETINGS), "greet", [BOT_GREET])
        fell_back = rng.random() < 0.07
        if fell_back:
            self._turn(self._pick(UNCLEAR), "nlu_fallback", [BOT_SORRY], fallback=True)
        self._turn(self._pick((topic.zh, topic.en)), topic.intent, [], faq_topic=topic.faq_topic)
        outcome = self._outcome(topic, fell_back, contact.returning)
        if outcome == "handoff":
            reason = _REASONS_FOR.get(topic.intent) or (
                "fallback" if fell_back else "customer_request"
            )
            self._handoff(topic, reason)
        else:
            if topic.form is None:
                self._say(SenderKind.BOT, BOT_ANSWER)
                self._bot_reply()
            else:
                self._say(SenderKind.BOT, BOT_ASK[topic.form])
                self._bot_reply()
                self._wait(5, 60)
                done = [] if outcome == "left_mid_form" else [BOT_DONE]
                answer = self._pick(FORM_ANSWERS[topic.form])
                self._turn(answer, "inform", done, awaiting=topic.form)
                if done:
                    self._completed(topic)
            if outcome == "seen_off":
                self._wait(5, 90)
                self._turn(self._pick(GOODBYES), "goodbye", [BOT_BYE])
                row["state"], row["resolved_at"] = ConversationState.RESOLVED, self._t
                self.event(self._t, "resolved", row, {"by": "bot"})
                self._say(SenderKind.SYSTEM, SYSTEM_RATING)
                self._rating(0.35, None)
            elif outcome == "left" and (topic.form is not None or rng.random() < 0.3):
                # Done with a form: a last word, so the bot is no longer waiting for one.
                self._wait(3, 40)
                self._turn(self._pick(THANKS), "thank", [])
        if self._t > self.end:
            # It would end after the history does: left out whole rather than cut.
            del self.events[mark:]
            self.pending = []
            return None
        for table, casework in self.pending:
            self.rows[table].append(casework)
        self.pending = []
        self.next["conversations"] += 1
        row["last_seq"] = len(ep.messages)
        row["customer_ack_seq"] = row["delivered_seq"] = len(ep.messages)
        row["agent_ack_seq"] = len(ep.messages) if row["assigned_agent_id"] else 0
        row["updated_at"] = self._t
        self.rows["conversations"].append(row)
        self.rows["messages"] += ep.messages
        self.rows["parsed_messages"] += ep.parsed
        return ep

    def _outcome(self, topic: Topic, fell_back: bool, returning: bool) -> str:
        rng = self.rng
        if topic.intent in _REASONS_FOR:
            return "handoff" if rng.random() < 0.85 else "left"
        if fell_back and rng.random() < 0.5:
            return "handoff"
        draw = rng.random() - (0.08 if returning else 0.0)
        if draw < 0.1:
            return "handoff"
        if topic.form is not None and draw < 0.17:
            return "left_mid_form"
        return "seen_off" if draw < 0.68 else "left"

    def _pick(self, texts: tuple[tuple[str, ...], ...]) -> str:
        return self.rng.choice(texts[self._lang])

    def _wait(self, low: float, high: float) -> None:
        self._t += timedelta(seconds=self.rng.uniform(low, high))

    def _say(
        self, sender: SenderKind, text: tuple[str, str] | str, agent_id: int | None = None
    ) -> dict[str, Any]:
        ep = self._ep
        if sender in (SenderKind.BOT, SenderKind.SYSTEM):
            self._wait(0.4, 2.5)
        message = {
            "id": self.take_id("messages"),
            "conversation_id": ep.row["id"],
            "seq": len(ep.messages) + 1,
            "sender": sender,
            "agent_id": agent_id,
            "text": text if isinstance(text, str) else text[self._lang],
            "payload": None,
            "client_message_id": None,
            "created_at": self._t,
        }
        ep.messages.append(message)
        return message

    def _turn(
        self,
        text: str,
        intent: str,
        answers: list[tuple[str, str]],
        *,
        faq_topic: str | None = None,
        fallback: bool = False,
        awaiting: str | None = None,
    ) -> None:
        """A customer message, as the bot parsed it, and the bot's answers."""
        rng = self.rng
        if self._ep.messages:
            self._wait(4, 45)
        message = self._say(SenderKind.CUSTOMER, text)
        confidence = rng.uniform(0.2, 0.45) if fallback else rng.uniform(0.55, 0.99)
        self._ep.parsed.append(
            {
                "id": self.take_id("parsed_messages"),
                "message_id": message["id"],
                "conversation_id": self._ep.row["id"],
                "seq": message["seq"],
                "channel": self._ep.row["channel"],
                "language": self._ep.row["language"],
                "text": text,
                "intent": intent,
                "confidence": round(confidence, 4),
                "runner_up": None,
                "runner_up_confidence": None,
                "faq_topic": faq_topic,
                "fallback": fallback,
                "awaiting": awaiting,
                "rank": 0 if fallback else 1 if confidence < 0.6 else 9,
                "trouble": None,
                "at": message["created_at"],
            }
        )
        for answer in answers:
            self._say(SenderKind.BOT, answer)
        if answers:
            self._bot_reply(len(answers))

    def _bot_reply(self, count: int = 1) -> None:
        self.event(self._t, "bot_reply", self._ep.row, {"messages": count})

    def _rating(self, chance: float, agent_id: int | None) -> None:
        if self.rng.random() >= chance:
            return
        self._wait(5, 120)
        score = self.rng.choices(_SCORES, cum_weights=_SCORE_CUM)[0]
        self.event(self._t, "csat", self._ep.row, {"score": score}, agent_id=agent_id)
        self._say(SenderKind.SYSTEM, SYSTEM_RATED)

    def _agent_for(self, team: str, at: datetime) -> str:
        # agent1 has lunch from 12:00 to 13:00; the supervisor covers general then.
        if team == "claims":
            return "agent2"
        if team == "complaints":
            return "agent3"
        return "supervisor1" if at.astimezone(CST).hour == 12 else "agent1"

    def _wait_in_queue(self) -> float:
        rng = self.rng
        if rng.random() < 0.025:
            return rng.uniform(20.5, 60.0)  # a busy moment
        return min(rng.expovariate(1 / 1.5) + 0.4, 19.5)

    def _handoff(self, topic: Topic, reason: str) -> None:
        rng, row = self.rng, self._ep.row
        self._trouble()
        row["team"] = topic.team
        row["handoff_reason"] = reason
        row["handoff_summary"] = f"{topic.faq_topic or topic.intent}"
        row["priority"] = (
            1 if reason in ("complaint", "fallback") or topic.team == "complaints" else 0
        )
        self._wait(0.5, 2)
        row["state"], row["queued_at"] = ConversationState.QUEUED, self._t
        handoff = self.event(
            self._t,
            "handoff",
            row,
            {
                "reason": reason,
                "summary": row["handoff_summary"],
                "team": topic.team,
                "channel": row["channel"],
                "language": row["language"],
            },
        )
        queued_at = self._t
        self._say(SenderKind.SYSTEM, SYSTEM_QUEUED[self._lang].format(n=rng.randrange(0, 3)))
        if rng.random() < 0.03:
            # Some change their mind at once; the others tire of waiting.
            waited = rng.uniform(1, 5) if rng.random() < 0.4 else rng.uniform(8, 90)
            self._t = queued_at + timedelta(seconds=waited)
            end = {"how": "left", "_handoff": handoff, "wait_seconds": round(waited, 3)}
            end |= {"team": topic.team, "channel": row["channel"]}
            row["state"], row["resolved_at"] = ConversationState.RESOLVED, self._t
            row["resolution_reason"] = "abandoned"
            self.event(self._t, "abandoned", row, end)
            self._say(SenderKind.SYSTEM, SYSTEM_LEFT)
            return
        waited = self._wait_in_queue()
        username = self._agent_for(topic.team, queued_at)
        agent = self.agents[username]
        name = next(n for u, n, _ in HISTORY_AGENTS if u == username)
        self._t = queued_at + timedelta(seconds=waited * rng.uniform(0.5, 0.8))
        row["state"], row["assigned_agent_id"], row["assigned_at"] = (
            ConversationState.ASSIGNED,
            agent,
            self._t,
        )
        self.event(
            self._t,
            "assigned",
            row,
            {"wait_seconds": round((self._t - queued_at).total_seconds(), 6), "auto": True},
            agent_id=agent,
        )
        self._say(SenderKind.SYSTEM, SYSTEM_JOINED[self._lang].format(agent=name))
        self._t = max(self._t, queued_at + timedelta(seconds=waited))
        self._say_as_agent(AGENT_OPEN[self._lang].format(agent=name.split()[0]), agent)
        self.event(
            self._t,
            "first_agent_reply",
            row,
            {
                "_handoff": handoff,
                "wait_seconds": round((self._t - queued_at).total_seconds(), 3),
                "team": topic.team,
                "channel": row["channel"],
            },
            agent_id=agent,
        )
        for _ in range(rng.randrange(1, 4)):
            self._wait(10, 90)
            self._say(SenderKind.CUSTOMER, self._pick(CUSTOMER_LINES))
            self._wait(15, 120)
            self._say_as_agent(self._pick(AGENT_LINES), agent)
        self._completed(topic, agent)
        self._wait(20, 180)
        reason_code = topic.reason if rng.random() < 0.9 else "no_response"
        row["state"], row["resolved_at"] = ConversationState.RESOLVED, self._t
        row["resolution_reason"] = reason_code
        self.event(self._t, "resolved", row, {"reason": reason_code, "by": "agent"}, agent_id=agent)
        self._say(SenderKind.SYSTEM, SYSTEM_RESOLVED)
        self._say(SenderKind.SYSTEM, SYSTEM_RATING)
        self._rating(0.55, agent)

    def _say_as_agent(self, text: str, agent: int) -> None:
        self._say(SenderKind.AGENT, text, agent)

    def _trouble(self) -> None:
        # The messages before a handoff are what trainers look at first.
        for parsed in self._ep.parsed[-2:]:
            parsed["trouble"] = "handoff"
            parsed["rank"] = min(parsed["rank"], 2)

    def _completed(self, topic: Topic, agent: int | None = None) -> None:
        """What a finished request leaves behind: a claim, a complaint, a callback."""
        self.completed(self._ep.row, topic, self._t, agent)

    def draw(self) -> dict[str, list[dict[str, Any]]]:
        """Every row of the history, events numbered in time order."""
        self.shifts()
        for contact in self.contacts():
            self.conversation(contact)
        self.events.sort(key=lambda entry: (entry[0], entry[1]))
        for _, _, row in self.events:
            row["id"] = self.take_id("events")
        for _, _, row in self.events:
            handoff = row["data"].pop("_handoff", None)
            if handoff is not None:
                row["data"] = {"handoff_id": handoff["id"], **row["data"]}
            self.rows["events"].append(row)
        return self.rows
