"""The analytics' rollups: what the supervisors' figures read instead of the raw events,
messages and parsed messages. One row per bot session (and per session and intent),
per queue episode, per resolve, per hold, per status of an agent's timeline and per
contact, with the hour, channel, team, language and topic columns the figures filter
and group by (docs/metrics.md, "Rollups" and "Filters").

Each row is a pure function of the raw rows of its conversation and of the same
customer's other conversations (never of the time it was computed), so a rollup kept
up to date conversation by conversation equals one rebuilt from scratch. The raw
events stay the source of truth: `desk.analytics.rollups` keeps these tables and
rebuilds them."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Boolean, DateTime, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from store.models import (
    AdvancePayment,
    Base,
    Callback,
    Claim,
    ClaimStageChange,
    Complaint,
    FollowUp,
)

BIG_ID = BigInteger().with_variant(Integer, "sqlite")


class RollupMark(Base):
    """How far the rollups have read one source table: every row with an id up to
    `last_id` is in them, committed for sure. The row named `refresh` is locked by
    each refresh, so that two processes never rebuild the same conversations at once."""

    __tablename__ = "rollup_marks"

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    last_id: Mapped[int] = mapped_column(BIG_ID, default=0)
    # Past `last_id`: the rows read last time (up to `seen_id`, `seen` of them), read
    # again only if more have appeared among them (a late commit on PostgreSQL).
    seen_id: Mapped[int] = mapped_column(BIG_ID, default=0)
    seen: Mapped[int] = mapped_column(Integer, default=0)
    refreshed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class SessionFact(Base):
    """One bot session (see `desk.analytics.bot`): how it ended, its topic, the form it
    began and how that went, and what followed it (the funnel's steps)."""

    __tablename__ = "rollup_sessions"
    __table_args__ = (Index("ix_rollup_sessions_start", "start", "channel"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # handed_over, seen_off, or idle: no event ended it, so the customer left at
    # `idle_at` (30 minutes after their last message) or, before then, it is open.
    outcome: Mapped[str] = mapped_column(String(16))
    ended: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    idle_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    reason: Mapped[str | None] = mapped_column(String(64))
    team: Mapped[str | None] = mapped_column(String(32))
    topic: Mapped[str | None] = mapped_column(String(128))
    # The handoff's language when handed over, else the conversation's now.
    language: Mapped[str | None] = mapped_column(String(8))
    mid_form: Mapped[bool] = mapped_column(Boolean, default=False)
    # Seconds from its end (or `idle_at`) to the same customer's next session on the
    # same topic: durable containment's "came back" at any window.
    back_after: Mapped[float | None] = mapped_column(Float)
    parsed: Mapped[int] = mapped_column(Integer, default=0)
    fallbacks: Mapped[int] = mapped_column(Integer, default=0)
    form: Mapped[str | None] = mapped_column(String(24))
    # completed, cancelled, or none of those (left half done is read from the outcome)
    form_step: Mapped[str | None] = mapped_column(String(16))
    queued: Mapped[bool] = mapped_column(Boolean, default=False)
    answered: Mapped[bool] = mapped_column(Boolean, default=False)
    resolved: Mapped[bool] = mapped_column(Boolean, default=False)
    callback: Mapped[bool] = mapped_column(Boolean, default=False)
    follow_up: Mapped[bool] = mapped_column(Boolean, default=False)
    complaint: Mapped[bool] = mapped_column(Boolean, default=False)


class SessionIntent(Base):
    """How many of a session's parsed messages had one intent (a FAQ's, its topic),
    fallbacks left out: the top intents, by session start and channel."""

    __tablename__ = "rollup_intents"
    __table_args__ = (Index("ix_rollup_intents_start", "start", "channel"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    intent: Mapped[str] = mapped_column(String(128))
    count: Mapped[int] = mapped_column(Integer)
    # Its session's language and topic, for the filters.
    language: Mapped[str | None] = mapped_column(String(8))
    topic: Mapped[str | None] = mapped_column(String(128))


class EpisodeFact(Base):
    """One queue episode (see `desk.analytics.queue`), named by its handoff event."""

    __tablename__ = "rollup_episodes"
    __table_args__ = (Index("ix_rollup_episodes_at", "at", "team", "channel"),)

    handoff_id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    team: Mapped[str | None] = mapped_column(String(32))
    channel: Mapped[str | None] = mapped_column(String(16))
    # The handoff's language, and the topic of the bot session that handed over.
    language: Mapped[str | None] = mapped_column(String(8))
    topic: Mapped[str | None] = mapped_column(String(128))
    # answered or abandoned; none while it waits, or if staff closed it unanswered
    outcome: Mapped[str | None] = mapped_column(String(16))
    wait: Mapped[float | None] = mapped_column(Float)
    # How an abandon happened: left (the button), silent (gone past the grace) or
    # callback (booked one instead).
    how: Mapped[str | None] = mapped_column(String(16))
    # Who answered it, and when (an agent's service level counts replies by their time).
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ResolveFact(Base):
    """One resolve (see `desk.analytics.resolution`), named by its event: who resolved
    it, why, and when the customer next came back on its topic."""

    __tablename__ = "rollup_resolves"
    __table_args__ = (Index("ix_rollup_resolves_at", "at", "channel"),)

    event_id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    channel: Mapped[str] = mapped_column(String(16))
    by: Mapped[str | None] = mapped_column(String(16))
    reason: Mapped[str | None] = mapped_column(String(64))
    back_after: Mapped[float | None] = mapped_column(Float)
    # The agent who resolved it, the team that had the contact (its last handoff's or
    # transfer's), the rating asked for with it, and the time from the first agent
    # reply before it (the handle time); then the agent's wrap-up after it (none until
    # finished, and for the bot's resolves).
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    team: Mapped[str | None] = mapped_column(String(32))
    score: Mapped[int | None] = mapped_column(Integer)
    handle_seconds: Mapped[float | None] = mapped_column(Float)
    wrap_up_seconds: Mapped[float | None] = mapped_column(Float)
    # The language and topic of the bot session it was resolved in.
    language: Mapped[str | None] = mapped_column(String(8))
    topic: Mapped[str | None] = mapped_column(String(128))


class HoldFact(Base):
    """An agent holding a conversation: from its `assigned` event to the next resolve,
    transfer, requeue, abandon or assignment (`ended` none while it lasts)."""

    __tablename__ = "rollup_holds"
    __table_args__ = (Index("ix_rollup_holds_start", "start", "agent_id"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class PresenceFact(Base):
    """An agent's status from one change of their timeline to the next (`ended` none
    for their status now)."""

    __tablename__ = "rollup_presence"
    __table_args__ = (Index("ix_rollup_presence_agent", "agent_id", "start"),)

    id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    status: Mapped[str] = mapped_column(String(16))
    start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    ended: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ContactFact(Base):
    """One contact (see `desk.analytics.contacts`), named by its `created` or
    `reopened` event: its channel and language, the team of its first handoff and its
    customer (as verified during it)."""

    __tablename__ = "rollup_contacts"
    __table_args__ = (Index("ix_rollup_contacts_at", "at", "channel"),)

    event_id: Mapped[int] = mapped_column(BIG_ID, primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The hour it began in (UTC), for counting per hour without reading every row.
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(16))
    channel: Mapped[str] = mapped_column(String(16))
    language: Mapped[str | None] = mapped_column(String(8))
    team: Mapped[str | None] = mapped_column(String(32))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    # The topic of the bot session it began.
    topic: Mapped[str | None] = mapped_column(String(128))


# The store's own tables the figures read by date (claims, casework): indexed here,
# beside the rollups, as the analytics are what ask for them.
FIGURE_INDEXES = (
    Index("ix_claims_submitted_at", Claim.submitted_at),
    Index("ix_claim_stage_changes_stage_at", ClaimStageChange.stage, ClaimStageChange.at),
    Index("ix_complaints_created_at", Complaint.created_at),
    Index("ix_callbacks_window_start", Callback.window_start),
    Index("ix_follow_ups_due_at", FollowUp.due_at),
    Index("ix_advance_payments_created_at", AdvancePayment.created_at),
)
