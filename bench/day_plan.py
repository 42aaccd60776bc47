"""The day the simulator plays (`bench/simulate_day.py`), planned before it starts: who
comes when, on which channel and in which language, what each says, which agent answers
whom after how long, how long they handle it, and what each customer rates. A pure
function of its shape and seed: the same arguments give the same day.

The shape defaults to the seed's (15,000 contacts a day over the service hours, the
demo history's arrival curve and channel mix, about one contact in five handed over),
scaled by a factor, with the day's clock compressed into a few real minutes. Waits and
handling times are not compressed: they are planned in real seconds, well clear of the
service-level target and the short-abandon threshold the stack is configured with, so
that a machine three times slower cannot carry a conversation across either."""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field

from store.demo.history_texts import CHANNEL_WEIGHTS, CHANNELS, ENGLISH_SHARE, HOUR_WEIGHTS

# The seed's day: 15,000 service contacts over the service hours (DESIGN §1).
SEED_CONTACTS = 15_000

# What customers say, each checked against the trained model (intent, FAQ topic):
# the FAQ questions the bot answers, goodbyes it sees off, and asking for a person.
FAQ = {
    "zh": (
        ("等待期是多久", "faq/waiting_period"),
        ("私立医院能报销吗", "faq/hospitals"),
        ("犹豫期是多久", "faq/cooling_off"),
    ),
    "en": (
        ("how long is the waiting period", "faq/waiting_period"),
        ("can i pay with alipay", "faq/payment_methods"),
        ("what is the cooling-off period", "faq/cooling_off"),
    ),
}
GOODBYE = {"zh": ("再见", "谢谢，再见"), "en": ("bye", "thank you, goodbye")}
HANDOFF = {"zh": ("转人工", "我要转人工"), "en": ("I want a human agent",)}
# The handoff's reason (data.reason) for a customer asking for a person.
HANDOFF_REASON = "customer_request"

# Outcomes of a contact.
CONTAINED, ANSWERED, ABANDONED = "contained", "answered", "abandoned"


@dataclass(frozen=True)
class Targets:
    """The stack's SERVICE_LEVEL_TARGET_SECONDS and SHORT_ABANDON_SECONDS, small for a
    compressed day."""

    answer_seconds: float = 8.0
    short_abandon_seconds: float = 4.0

    def settings(self) -> dict[str, str]:
        return {
            "SERVICE_LEVEL_TARGET_SECONDS": str(self.answer_seconds),
            "SHORT_ABANDON_SECONDS": str(self.short_abandon_seconds),
        }


@dataclass(frozen=True)
class Shape:
    """What a day looks like. Shares are of contacts (handoff) or of handoffs."""

    contacts: int = SEED_CONTACTS
    # The seed's mix; WeChat and Telegram customers come in on the web chat here.
    channels: tuple[str, ...] = CHANNELS
    channel_weights: tuple[int, ...] = CHANNEL_WEIGHTS
    english_share: dict[str, float] = field(default_factory=lambda: dict(ENGLISH_SHARE))
    hour_weights: tuple[int, ...] = HOUR_WEIGHTS
    handoff_share: float = 0.2
    late_share: float = 0.1  # answered after the target
    abandon_share: float = 0.08
    short_abandon_share: float = 0.4  # of abandons
    no_response_share: float = 0.05  # agents' resolves closed as no_response
    rating_share: float = 0.6  # of rating requests answered
    scores: tuple[int, ...] = (5, 5, 5, 5, 4, 4, 3, 2, 1)
    return_share: float = 0.15  # of contained customers who come back later
    same_topic_share: float = 0.6  # of those, asking the same question again
    capacity: int = 3
    handle_seconds: tuple[float, float] = (1.5, 4.0)


@dataclass(frozen=True)
class Return:
    """A contained customer writing again `after` seconds after being seen off."""

    after: float
    question: str
    topic: str
    goodbye: str
    rating: int | None


@dataclass(frozen=True)
class Contact:
    key: str  # also the prefix of the customer's client message ids
    channel: str  # "web" (socket.io) or "app" (the app API)
    seed_channel: str  # the seed's channel it stands for
    language: str
    arrive: float  # real seconds after the day's start
    outcome: str
    question: str = ""  # contained: the FAQ question
    topic: str = ""
    goodbye: str = ""
    ask: str = ""  # handed over: what asks for a person
    wait: float = 0.0  # from the queue message to the agent's reply, or to leaving
    agent: str = ""
    handle: float = 0.0  # from the agent's first reply to the resolve
    reason: str = "answered"
    rating: int | None = None
    comes_back: Return | None = None


@dataclass(frozen=True)
class Shift:
    username: str
    display_name: str
    capacity: int
    start: float
    end: float


@dataclass(frozen=True)
class DayPlan:
    seed: int
    scale: float
    seconds: float  # the compressed day's length
    targets: Targets
    contacts: tuple[Contact, ...]
    shifts: tuple[Shift, ...]


def _arrivals(rng: random.Random, count: int, weights: tuple[int, ...], seconds: float) -> list:
    """`count` arrival times over the day, by the hourly curve, in order."""
    hours = len(weights)
    slot = seconds / hours
    times = [
        (rng.choices(range(hours), weights=weights)[0] + rng.random()) * slot for _ in range(count)
    ]
    return sorted(times)


def _waits(rng: random.Random, targets: Targets, late: bool) -> float:
    """An answer wait well inside the target, or well past it."""
    if late:
        return round(targets.answer_seconds + rng.uniform(1.0, 2.5), 2)
    return round(rng.uniform(0.3, min(1.0, targets.answer_seconds / 4)), 2)


def _shifts(count: int, capacity: int, seconds: float, prefix: str) -> list[Shift]:
    """Two overlapping shifts (early and late), agents alternating between them, so
    someone is always on duty and handoffs always queue. Agents stay past their
    shift's end until the conversations given to them are resolved."""
    early, late = (0.0, seconds * 0.65), (seconds * 0.35, seconds)
    return [
        Shift(
            f"{prefix}{n + 1}",
            f"Sim Agent {n + 1}",
            capacity,
            *(early if n % 2 == 0 or count == 1 else late),
        )
        for n in range(count)
    ]


def plan_day(
    scale: float,
    seed: int,
    minutes: float,
    shape: Shape | None = None,
    targets: Targets | None = None,
    agents: int | None = None,
    prefix: str = "sim",
) -> DayPlan:
    """The day: `shape.contacts × scale` contacts over `minutes` real minutes."""
    shape, targets = shape or Shape(), targets or Targets()
    rng = random.Random(seed)
    seconds = minutes * 60.0
    count = max(1, round(shape.contacts * scale))
    times = _arrivals(rng, count, shape.hour_weights, seconds)
    handoffs = round(count * shape.handoff_share)
    abandons = round(handoffs * shape.abandon_share)
    lates = round((handoffs - abandons) * shape.late_share)
    # Whole numbers of each outcome, shuffled over the day: small days keep their mix.
    outcomes = [ABANDONED] * abandons + [ANSWERED] * (handoffs - abandons)
    outcomes += [CONTAINED] * (count - handoffs)
    rng.shuffle(outcomes)
    late_keys = set(rng.sample([i for i, o in enumerate(outcomes) if o == ANSWERED], lates))
    # Enough agents for the planned holds at the peak, in two shifts.
    mean_hold = targets.answer_seconds / 2 + sum(shape.handle_seconds) / 2
    peak_rate = max(shape.hour_weights) / sum(shape.hour_weights) * len(shape.hour_weights)
    concurrent = handoffs / seconds * peak_rate * mean_hold
    agents = agents or max(2, 2 * math.ceil(concurrent / shape.capacity + 0.5))
    shifts = _shifts(agents, shape.capacity, seconds, prefix)
    holds: dict[str, list[tuple[float, float]]] = {s.username: [] for s in shifts}
    contacts = []
    for n, (arrive, outcome) in enumerate(zip(times, outcomes, strict=True)):
        seed_channel = rng.choices(shape.channels, weights=shape.channel_weights)[0]
        channel = "app" if seed_channel == "app" else "web"
        language = "en" if rng.random() < shape.english_share.get(seed_channel, 0) else "zh"
        key = f"{prefix}{seed}-{n:05d}"
        rating = rng.choice(shape.scores) if rng.random() < shape.rating_share else None
        if outcome == CONTAINED:
            question, topic = rng.choice(FAQ[language])
            comes_back = None
            if rng.random() < shape.return_share:
                same = rng.random() < shape.same_topic_share
                again, again_topic = (
                    (question, topic)
                    if same
                    else rng.choice([f for f in FAQ[language] if f[1] != topic])
                )
                comes_back = Return(
                    round(rng.uniform(1.0, 4.0), 2),
                    again,
                    again_topic,
                    rng.choice(GOODBYE[language]),
                    rng.choice(shape.scores) if rng.random() < shape.rating_share else None,
                )
            contacts.append(
                Contact(
                    key,
                    channel,
                    seed_channel,
                    language,
                    arrive,
                    outcome,
                    question=question,
                    topic=topic,
                    goodbye=rng.choice(GOODBYE[language]),
                    rating=rating,
                    comes_back=comes_back,
                )
            )
            continue
        ask = rng.choice(HANDOFF[language])
        if outcome == ABANDONED:
            short = rng.random() < shape.short_abandon_share
            wait = 0.0 if short else round(targets.short_abandon_seconds + rng.uniform(0.5, 1.5), 2)
            contacts.append(
                Contact(key, channel, seed_channel, language, arrive, outcome, ask=ask, wait=wait)
            )
            continue
        wait = _waits(rng, targets, n in late_keys)
        handle = round(rng.uniform(*shape.handle_seconds), 2)
        # The agent on shift (from before the customer comes) with the fewest planned
        # holds then: a second for the bot's turn before the handoff, and a margin after.
        begin, end = arrive + 1.0 + wait, arrive + 2.0 + wait + handle
        on_duty = [
            s for s in shifts if s.start <= arrive and (end + 5.0 < s.end or s.end >= seconds)
        ] or shifts
        agent = min(
            on_duty,
            key=lambda s: (sum(1 for b, e in holds[s.username] if b < end and begin < e), s.start),
        )
        holds[agent.username].append((begin, end))
        reason = "no_response" if rng.random() < shape.no_response_share else "answered"
        contacts.append(
            Contact(
                key,
                channel,
                seed_channel,
                language,
                arrive,
                outcome,
                ask=ask,
                wait=wait,
                agent=agent.username,
                handle=handle,
                reason=reason,
                rating=rating,
            )
        )
    return DayPlan(seed, scale, seconds, targets, tuple(contacts), tuple(shifts))
