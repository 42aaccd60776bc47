"""The simulator's ground truth: what it did and saw, contact by contact, and the
figures the dashboard must show for it, worked out here by counting, without the
dashboard's code (docs/metrics.md gives the definitions).

Counts and ratios are exact. Times are measured by the server's clock, so two truths
are kept for them:

- **bounds** from the simulator's own watch (the same machine's wall clock as the
  server's): a wait began after the customer asked for a person and before the queue
  message reached them, and ended after the agent's reply was sent and before its
  answer came back; a handle time likewise between the first reply and the resolve.
  Each server time must lie within its bounds (give or take the stored rounding to a
  millisecond), and the figures (means and nearest-rank percentiles, both monotone
  in every value) within the same figures of the lower and upper bounds. No tolerance
  is guessed: the bounds are as wide as the transport and the bot's turn were slow.
- **stored**: the same figures recomputed from the server's own stored times (the
  events' `wait_seconds`, and the first reply's and the resolve's instants) of the
  conversations the simulator names. These must equal the dashboard's exactly: it
  proves the dashboard picks exactly the simulator's episodes and aggregates them
  right, while the bounds prove the server measured what happened."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from bench.day_plan import ABANDONED, ANSWERED, CONTAINED, HANDOFF_REASON, Contact, DayPlan
from store.db import create_engine, session_factory
from store.models import Event

# The store keeps waits to a millisecond.
ROUNDING = 0.0005


def ratio(part: float, whole: float) -> float | None:
    return round(part / whole, 4) if whole else None


def nearest_rank(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(share * len(ordered)) - 1)]


def summary(values: list[float], whole_ms: bool = False) -> dict[str, float | None]:
    """Mean, p50 and p90; `whole_ms`: the mean of values stored to the millisecond,
    summed as whole milliseconds, as the queue's figures sum waits."""
    if whole_ms and values:
        mean: float | None = round(sum(round(v * 1000) for v in values) / len(values) / 1000, 3)
    else:
        mean = round(sum(values) / len(values), 3) if values else None
    return {
        "mean": mean,
        "p50": nearest_rank(values, 0.5),
        "p90": nearest_rank(values, 0.9),
    }


@dataclass
class Watch:
    """What one contact did, by the simulator's wall clock (unix seconds)."""

    contact: Contact
    conversation_id: int | None = None
    asked: float = 0.0  # sent the words asking for a person
    queued: float = 0.0  # the queue message arrived
    reply: tuple[float, float] | None = None  # the agent's first reply: sent, answered
    resolve: tuple[float, float] | None = None
    leave: tuple[float, float] | None = None  # "stop waiting": sent, acknowledged
    seen_off: int = 0  # bot sessions the bot saw off (a return is a second)
    rated: list[int] = field(default_factory=list)
    surprises: list[str] = field(default_factory=list)

    def wait_bounds(self) -> tuple[float, float] | None:
        ended = self.reply or self.leave
        if ended is None:
            return None
        return ended[0] - self.queued, ended[1] - self.asked

    def handle_bounds(self) -> tuple[float, float] | None:
        if self.reply is None or self.resolve is None:
            return None
        return self.resolve[0] - self.reply[1], self.resolve[1] - self.reply[0]


@dataclass
class GroundTruth:
    plan: DayPlan
    watches: list[Watch]
    started: float
    finished: float

    def surprises(self) -> list[str]:
        """Anything that did not go as planned, including waits that the machine's
        jitter left on both sides of a threshold; a run with any proves nothing."""
        found = [f"{w.contact.key}: {s}" for w in self.watches for s in w.surprises]
        targets = self.plan.targets
        for w in self.watches:
            bounds = w.wait_bounds()
            if bounds is None:
                continue
            low, high = bounds
            if w.contact.outcome == ANSWERED:
                within = w.contact.wait < targets.answer_seconds
                if (high > targets.answer_seconds) if within else (low <= targets.answer_seconds):
                    found.append(f"{w.contact.key}: wait {low:.3f}..{high:.3f} s spans the target")
            elif w.contact.outcome == ABANDONED:
                short = w.contact.wait < targets.short_abandon_seconds
                limit = targets.short_abandon_seconds
                if (high >= limit) if short else (low < limit):
                    found.append(f"{w.contact.key}: wait {low:.3f}..{high:.3f} s spans the short")
        return found

    def _of(self, outcome: str) -> list[Watch]:
        return [w for w in self.watches if w.contact.outcome == outcome]

    def expected(self) -> dict[str, dict[str, Any]]:
        """The exact counts and ratios of each figure (keys as the API names them)."""
        targets = self.plan.targets
        answered, abandoned = self._of(ANSWERED), self._of(ABANDONED)
        contained = self._of(CONTAINED)
        within = sum(1 for w in answered if w.contact.wait < targets.answer_seconds)
        short = sum(1 for w in abandoned if w.contact.wait < targets.short_abandon_seconds)
        counted = len(answered) + len(abandoned) - short
        queue = {
            "handoffs": len(answered) + len(abandoned),
            "answered": len(answered),
            "answered_within_target": within,
            "abandoned": len(abandoned),
            "short_abandons": short,
            "waiting": 0,
            "closed_unanswered": 0,
            "service_level": ratio(within, counted),
            "abandon_rate": ratio(len(abandoned) - short, counted),
        }
        returns = [w for w in contained if w.contact.comes_back is not None]
        came_back = [w for w in returns if w.contact.comes_back.topic == w.contact.topic]  # type: ignore[union-attr]
        handed = len(answered) + len(abandoned)
        seen_off = len(contained) + len(returns)
        sessions = handed + seen_off
        intents: Counter[str] = Counter(HANDOFF_INTENT for _ in range(handed))
        for w in contained:
            intents.update([w.contact.topic, "goodbye"])
            if w.contact.comes_back is not None:
                intents.update([w.contact.comes_back.topic, "goodbye"])
        bot = {
            "sessions": sessions,
            "open": 0,
            "finished": sessions,
            "seen_off": seen_off,
            "left": 0,
            "left_mid_form": 0,
            "handed_over": handed,
            "contained": seen_off,
            "containment": ratio(seen_off, sessions),
            "durably_contained": seen_off - len(came_back),
            "durable_containment": ratio(seen_off - len(came_back), sessions),
            "handoff_rate": ratio(handed, sessions),
            "handoffs_by_reason": {HANDOFF_REASON: handed} if handed else {},
            "parsed_messages": handed + 2 * seen_off,
            "fallbacks": 0,
            "fallback_rate": 0.0 if sessions else None,
            "top_intents": [
                {"intent": intent, "count": count}
                for intent, count in sorted(intents.items(), key=lambda i: (-i[1], i[0]))[:10]
            ],
        }
        # Resolved today, so only those who came back are settled (as not first-contact);
        # the rest stay pending for the week (docs/metrics.md).
        not_counted = sum(1 for w in answered if w.contact.reason == "no_response")
        resolved = seen_off + len(answered)
        resolution = {
            "resolved": resolved,
            "not_counted": not_counted,
            "pending": resolved - not_counted - len(came_back),
            "settled": len(came_back),
            "first_contact": 0,
            "first_contact_by_bot": 0,
            "fcr": 0.0 if came_back else None,
        }
        scores = [score for w in self.watches for score in w.rated]
        per_score = Counter(scores)
        satisfied = sum(1 for s in scores if s >= 4)
        outcome = {
            "rating_requests": resolved,
            "ratings": len(scores),
            "response_rate": ratio(len(scores), resolved),
            "satisfied": satisfied,
            "csat": ratio(satisfied, len(scores)),
            "mean_score": round(sum(scores) / len(scores), 3) if scores else None,
            "per_score": {str(s): per_score[s] for s in range(1, 6)},
        }
        agents: dict[str, dict[str, Any]] = {}
        for shift in self.plan.shifts:
            theirs = [w for w in answered if w.contact.agent == shift.username]
            fast = sum(1 for w in theirs if w.contact.wait < targets.answer_seconds)
            agents[shift.username] = {
                "handled": len(theirs),
                "answered": len(theirs),
                "service_level": ratio(fast, len(theirs)),
            }
        return {
            "queue": queue,
            "bot": bot,
            "resolution": resolution,
            "outcome": outcome,
            "agents": agents,
        }

    def bounds(self) -> dict[str, dict[str, tuple[float | None, float | None]]]:
        """ASA and AHT figures of the lower and of the upper bounds of each time."""
        waits = [b for w in self._of(ANSWERED) if (b := w.wait_bounds())]
        handles = [b for w in self._of(ANSWERED) if (b := w.handle_bounds())]
        found = {}
        for name, pairs in (("asa", waits), ("aht", handles)):
            low, high = summary([p[0] for p in pairs]), summary([p[1] for p in pairs])
            found[name] = {key: (low[key], high[key]) for key in low}
        return found

    def as_json(self) -> dict[str, Any]:
        return {
            "seed": self.plan.seed,
            "scale": self.plan.scale,
            "day_seconds": self.plan.seconds,
            "targets": vars(self.plan.targets),
            "started": datetime.fromtimestamp(self.started, UTC).isoformat(),
            "finished": datetime.fromtimestamp(self.finished, UTC).isoformat(),
            "shifts": [vars(s) for s in self.plan.shifts],
            "contacts": [
                {
                    **{k: v for k, v in vars(w.contact).items() if k != "comes_back"},
                    "comes_back": vars(w.contact.comes_back) if w.contact.comes_back else None,
                    "conversation_id": w.conversation_id,
                    "asked": w.asked or None,
                    "queued": w.queued or None,
                    "reply": w.reply,
                    "resolve": w.resolve,
                    "leave": w.leave,
                    "wait_bounds": w.wait_bounds(),
                    "handle_bounds": w.handle_bounds(),
                    "seen_off": w.seen_off,
                    "rated": w.rated,
                    "surprises": w.surprises,
                }
                for w in self.watches
            ],
            "expected": self.expected(),
            "bounds": self.bounds(),
            "surprises": self.surprises(),
        }


HANDOFF_INTENT = "request_human"


@dataclass
class Stored:
    """Each answered contact's times as the server stored them."""

    waits: dict[int, float]  # conversation id: the first reply's wait_seconds
    handles: dict[int, float]  # conversation id: resolved at − first reply at
    # conversation id: the agent's wrap-up after the resolve, once finished (by
    # housekeeping at WRAP_UP_MAX_SECONDS: the simulated agents never press the button)
    wrap_ups: dict[int, float] = field(default_factory=dict)

    def figures(self) -> dict[str, dict[str, float | None]]:
        return {
            "asa": summary(list(self.waits.values()), whole_ms=True),
            # AHT adds the wrap-up to the handle time (docs/metrics.md, Agents)
            "aht": summary([s + self.wrap_ups.get(c, 0.0) for c, s in self.handles.items()]),
        }

    def outside(self, truth: GroundTruth) -> list[str]:
        """Stored times outside the simulator's bounds of them."""
        found = []
        for w in truth.watches:
            for name, stored, bounds in (
                ("wait", self.waits, w.wait_bounds()),
                ("handle", self.handles, w.handle_bounds()),
            ):
                if w.contact.outcome != ANSWERED or w.conversation_id is None or bounds is None:
                    continue
                value = stored.get(w.conversation_id)
                if value is None or not bounds[0] - ROUNDING <= value <= bounds[1] + ROUNDING:
                    found.append(f"{w.contact.key}: {name} {value} outside {bounds}")
        return found


async def stored_times(database_url: str, truth: GroundTruth) -> Stored:
    """The answered contacts' waits and handle times from the store's events."""
    ids = [w.conversation_id for w in truth._of(ANSWERED) if w.conversation_id is not None]
    engine = create_engine(database_url)
    try:
        async with session_factory(engine)() as session:
            events = (
                await session.scalars(
                    select(Event)
                    .where(
                        Event.conversation_id.in_(ids),
                        Event.kind.in_(("first_agent_reply", "resolved", "wrap_up_done")),
                    )
                    .order_by(Event.id)
                )
            ).all()
    finally:
        await engine.dispose()
    waits: dict[int, float] = {}
    replied: dict[int, datetime] = {}
    handles: dict[int, float] = {}
    wrap_ups: dict[int, float] = {}
    for event in events:
        conversation = event.conversation_id or 0
        at = event.at if event.at.tzinfo else event.at.replace(tzinfo=UTC)
        if event.kind == "first_agent_reply":
            waits[conversation] = float(event.data["wait_seconds"])
            replied[conversation] = at
        elif event.kind == "wrap_up_done":
            wrap_ups[conversation] = float(event.data["seconds"])
        elif conversation in replied:
            handles[conversation] = (at - replied[conversation]).total_seconds()
    return Stored(waits, handles, wrap_ups)
