"""The trainer's workbench in the store: what the bot understood in each customer
message (the review inbox, with the trainers' decisions and the agents' flags), the
trained models (the registry) with their deployments, and the training jobs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    Computed,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    false,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from store.models import Agent, Base


class ParsedMessage(Base):
    """One customer message as the bot parsed it, for trainers to review.

    `text` is masked when written (placeholders such as `<MOBILE>`), so no trainer's
    search or view ever reads the customer's identifiers. `rank` orders the inbox for
    learning: 0 the bot fell back, 1 it was unsure, 2 trouble followed within two
    turns (a handoff, the question asked again, a cancel), 3 an agent flagged it,
    9 the rest; a message keeps the most telling rank it has earned."""

    __tablename__ = "parsed_messages"
    __table_args__ = (
        Index("ix_parsed_messages_inbox", "status", "rank", "at"),
        Index("ix_parsed_messages_intent", "intent", "at"),
        # The inbox's own order, read backwards: `precedence`, then newest first.
        Index("ix_parsed_messages_review_order", "precedence", "at", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    message_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer, "sqlite"), ForeignKey("messages.id"), unique=True
    )
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    # The text in lower case, for the inbox's search: a plain LIKE over it is several
    # times cheaper than a case-folding ILIKE over `text` (PostgreSQL).
    folded: Mapped[str] = mapped_column(Text, Computed("lower(text)", persisted=True))
    intent: Mapped[str] = mapped_column(String(128))
    confidence: Mapped[float] = mapped_column(Float)
    # The intent the model ranked second, for "did you mean" and close calls.
    runner_up: Mapped[str | None] = mapped_column(String(128))
    runner_up_confidence: Mapped[float | None] = mapped_column(Float)
    # For `faq`, the topic the response selector chose (`faq/waiting_period`).
    faq_topic: Mapped[str | None] = mapped_column(String(128))
    fallback: Mapped[bool] = mapped_column(Boolean, default=False)
    # The slot the bot asked for after it (after a code request, the next message's
    # digits are a <CODE>).
    awaiting: Mapped[str | None] = mapped_column(String(64))
    rank: Mapped[int] = mapped_column(Integer, default=9)
    # What followed within two turns: handoff, repeat or cancel.
    trouble: Mapped[str | None] = mapped_column(String(16))
    # An agent's "the bot misunderstood this", with the intent it should have been.
    flag_intent: Mapped[str | None] = mapped_column(String(128))
    flagged_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    flagged_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # new, confirmed, relabelled, out_of_scope, ignored
    status: Mapped[str] = mapped_column(String(16), default="new", server_default="new")
    # Any status but new: kept beside `status` so that the inbox's order has an index.
    reviewed: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    # The inbox shows the highest first: not yet reviewed before reviewed, then by rank.
    # Computed by the database, so every change of rank or review keeps it right, and
    # with `at` and `id` it is one index scanned backwards (no mixed sort directions).
    precedence: Mapped[int] = mapped_column(
        Integer, Computed("(CASE WHEN reviewed THEN 0 ELSE 100 END) + 9 - rank", persisted=True)
    )
    # The intent (or `faq/<topic>`) a trainer gave it.
    label: Mapped[str | None] = mapped_column(String(128))
    # Labelled but kept out of the training data, to evaluate models on.
    held_out: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    reviewed_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    reviewed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class BotModel(Base):
    """A trained model in the registry: its file (kept under the models directory,
    never overwritten), what it was trained on and by whom, and how it scored."""

    __tablename__ = "bot_models"

    id: Mapped[int] = mapped_column(primary_key=True)
    file: Mapped[str] = mapped_column(String(255), unique=True)
    sha256: Mapped[str] = mapped_column(String(64))
    # The id Rasa gives the trained model (its metadata's `model_id`, which `GET
    # /status` reports), so the console can tell which model a Rasa process serves.
    rasa_model_id: Mapped[str | None] = mapped_column(String(64))
    # baseline (trained by `make`), finetune or full
    kind: Mapped[str] = mapped_column(String(16))
    base_model_id: Mapped[int | None] = mapped_column(ForeignKey("bot_models.id"))
    # A hash of the config, domain and data it was trained on.
    data_hash: Mapped[str] = mapped_column(String(64))
    trained_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    trained_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    # The evaluation against production: {"candidate": ..., "production": ..., "gate": ...}.
    metrics: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Set while it is the model the bot answers with; one at a time.
    production: Mapped[bool | None] = mapped_column(Boolean, unique=True)
    deployed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    deployed_by: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))

    trainer: Mapped[Agent | None] = relationship(foreign_keys=[trained_by])


class ModelDeployment(Base):
    """Each deploy and rollback: who, when, from which model to which, and the written
    reason when a supervisor or admin overrode the evaluation's gate."""

    __tablename__ = "model_deployments"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    action: Mapped[str] = mapped_column(String(16))  # deploy or rollback
    model_id: Mapped[int] = mapped_column(ForeignKey("bot_models.id"), index=True)
    previous_model_id: Mapped[int | None] = mapped_column(ForeignKey("bot_models.id"))
    override_reason: Mapped[str | None] = mapped_column(Text)

    agent: Mapped[Agent] = relationship()


class TrainingJob(Base):
    """A training run started from the workbench: one at a time (`active` is unique
    while it is queued or running), its progress as it goes, and the model it made."""

    __tablename__ = "training_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # finetune or full
    # queued, running, succeeded, failed, cancelled
    status: Mapped[str] = mapped_column(String(16), default="queued")
    active: Mapped[bool | None] = mapped_column(Boolean, unique=True)
    requested_by: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    # The process running it, so another process's cancel reaches it.
    holder: Mapped[str | None] = mapped_column(String(32))
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    base_model_id: Mapped[int | None] = mapped_column(ForeignKey("bot_models.id"))
    model_id: Mapped[int | None] = mapped_column(ForeignKey("bot_models.id"))
    # {"stage": ..., "component": ..., "epoch": ..., "epochs": ..., "loss": ...}
    progress: Mapped[dict[str, Any]] = mapped_column(default=dict)
    log: Mapped[str] = mapped_column(Text, default="", server_default="")
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Renewed while its process runs it: a job whose process died is found stale.
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    requester: Mapped[Agent] = relationship()
