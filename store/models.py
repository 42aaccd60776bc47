"""Typed SQLAlchemy models: the insurer's records and the service desk's own."""

from __future__ import annotations

import enum
import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Enum,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

Money = Numeric(12, 2)


class Base(DeclarativeBase):
    type_annotation_map = {dict[str, Any]: JSON, list[str]: JSON, list[Any]: JSON}


def _enum(cls: type[enum.Enum]) -> Enum:
    # Store the readable value, and a VARCHAR rather than a native enum so that
    # adding a value never needs a type migration on PostgreSQL.
    return Enum(cls, native_enum=False, values_callable=lambda e: [m.value for m in e], length=32)


class PolicyKind(enum.StrEnum):
    LONG_TERM_MEDICAL = "long_term_medical"
    SHORT_TERM_MEDICAL = "short_term_medical"
    CRITICAL_ILLNESS = "critical_illness"
    ACCIDENT = "accident"


class PolicyStatus(enum.StrEnum):
    ACTIVE = "active"
    LAPSED = "lapsed"
    EXPIRED = "expired"
    CANCELLED = "cancelled"


class ClaimKind(enum.StrEnum):
    HOSPITALISATION = "hospitalisation"
    OUTPATIENT = "outpatient"
    CRITICAL_ILLNESS = "critical_illness"
    ACCIDENT = "accident"


class ClaimStage(enum.StrEnum):
    SUBMITTED = "submitted"
    DOCUMENTS_PENDING = "documents_pending"
    REVIEWING = "reviewing"
    INVESTIGATING = "investigating"
    APPROVED = "approved"
    PAID = "paid"
    REJECTED = "rejected"


class ConversationState(enum.StrEnum):
    BOT = "bot"
    QUEUED = "queued"
    ASSIGNED = "assigned"
    RESOLVED = "resolved"


class SenderKind(enum.StrEnum):
    CUSTOMER = "customer"
    BOT = "bot"
    AGENT = "agent"
    SYSTEM = "system"


class AgentRole(enum.StrEnum):
    AGENT = "agent"
    SUPERVISOR = "supervisor"
    TRAINER = "trainer"
    ADMIN = "admin"


class TaskStatus(enum.StrEnum):
    OPEN = "open"
    IN_PROGRESS = "in_progress"
    DONE = "done"
    CANCELLED = "cancelled"


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64))
    id_card_number: Mapped[str] = mapped_column(String(18), unique=True)
    mobile: Mapped[str] = mapped_column(String(20), index=True)
    birth_date: Mapped[date] = mapped_column(Date)
    gender: Mapped[str] = mapped_column(String(1))
    province: Mapped[str] = mapped_column(String(32))
    city: Mapped[str] = mapped_column(String(32))
    city_tier: Mapped[int] = mapped_column(Integer)
    has_social_insurance: Mapped[bool] = mapped_column(Boolean)
    # The card claims are paid into; only ever shown masked.
    bank_account: Mapped[str | None] = mapped_column(String(19))
    tags: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    policies: Mapped[list[Policy]] = relationship(back_populates="holder")


class Policy(Base):
    __tablename__ = "policies"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    holder_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    product_code: Mapped[str] = mapped_column(String(32))
    product_name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[PolicyKind] = mapped_column(_enum(PolicyKind))
    long_term: Mapped[bool] = mapped_column(Boolean)
    status: Mapped[PolicyStatus] = mapped_column(_enum(PolicyStatus))
    sum_insured: Mapped[Decimal] = mapped_column(Money)
    premium: Mapped[Decimal] = mapped_column(Money)
    effective_date: Mapped[date] = mapped_column(Date)
    expiry_date: Mapped[date] = mapped_column(Date)

    holder: Mapped[Customer] = relationship(back_populates="policies")
    members: Mapped[list[InsuredMember]] = relationship(back_populates="policy")
    claims: Mapped[list[Claim]] = relationship(back_populates="policy")


class InsuredMember(Base):
    __tablename__ = "insured_members"

    id: Mapped[int] = mapped_column(primary_key=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    name: Mapped[str] = mapped_column(String(64))
    relation: Mapped[str] = mapped_column(String(16))  # self, spouse, child, parent
    id_card_number: Mapped[str] = mapped_column(String(18))
    birth_date: Mapped[date] = mapped_column(Date)

    policy: Mapped[Policy] = relationship(back_populates="members")


class Claim(Base):
    __tablename__ = "claims"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"), index=True)
    member_id: Mapped[int] = mapped_column(ForeignKey("insured_members.id"))
    kind: Mapped[ClaimKind] = mapped_column(_enum(ClaimKind))
    incident_date: Mapped[date] = mapped_column(Date)
    hospital: Mapped[str] = mapped_column(String(128))
    amount_claimed: Mapped[Decimal] = mapped_column(Money)
    amount_approved: Mapped[Decimal | None] = mapped_column(Money)
    amount_paid: Mapped[Decimal | None] = mapped_column(Money)
    stage: Mapped[ClaimStage] = mapped_column(_enum(ClaimStage))
    missing_documents: Mapped[list[str]] = mapped_column(default=list)
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    # The chat turn that created it (conversation and customer message): the same turn
    # run twice (a retried turn, a slow action server) creates it once.
    turn_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    submitted_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    closed_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    policy: Mapped[Policy] = relationship(back_populates="claims")
    member: Mapped[InsuredMember] = relationship()
    history: Mapped[list[ClaimStageChange]] = relationship(
        back_populates="claim", order_by="ClaimStageChange.at"
    )


class ClaimStageChange(Base):
    __tablename__ = "claim_stage_changes"

    id: Mapped[int] = mapped_column(primary_key=True)
    claim_id: Mapped[int] = mapped_column(ForeignKey("claims.id"), index=True)
    stage: Mapped[ClaimStage] = mapped_column(_enum(ClaimStage))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    note: Mapped[str | None] = mapped_column(Text)

    claim: Mapped[Claim] = relationship(back_populates="history")


class Team(Base):
    """A group of agents a conversation can be routed to (general, claims, complaints...)."""

    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(64))
    name_en: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(64))
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[AgentRole] = mapped_column(_enum(AgentRole), default=AgentRole.AGENT)
    team: Mapped[str] = mapped_column(String(32), default="general")
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    # online, away or offline, set by the console's socket connections.
    presence: Mapped[str] = mapped_column(String(16), default="offline", server_default="offline")
    presence_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # How many conversations the agent handles at once; auto-assignment stops there.
    capacity: Mapped[int] = mapped_column(Integer, default=3, server_default="3")
    # The console's interface language, zh or en.
    ui_language: Mapped[str] = mapped_column(String(8), default="zh", server_default="zh")
    # Tokens carry the version they were issued under: raising it ends every session.
    session_version: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


def _uid() -> str:
    return uuid.uuid4().hex


class Conversation(Base):
    __tablename__ = "conversations"
    __table_args__ = (
        # One conversation per channel identity: a resolved one starts again.
        Index("ux_conversations_channel_user", "channel", "external_user_id", unique=True),
        Index("ix_conversations_state", "state", "queued_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Stable, unguessable id: Rasa's sender id and the id outside systems see.
    uid: Mapped[str] = mapped_column(String(32), unique=True, default=_uid)
    channel: Mapped[str] = mapped_column(String(16))
    external_user_id: Mapped[str] = mapped_column(String(128))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    state: Mapped[ConversationState] = mapped_column(
        _enum(ConversationState), default=ConversationState.BOT
    )
    language: Mapped[str] = mapped_column(String(8), default="zh")
    team: Mapped[str] = mapped_column(String(32), default="general")
    assigned_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    handoff_reason: Mapped[str | None] = mapped_column(String(64))
    handoff_summary: Mapped[str | None] = mapped_column(Text)
    # Higher is answered first; within a priority, the longest wait first.
    priority: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    labels: Mapped[list[str]] = mapped_column(default=list)
    resolution_reason: Mapped[str | None] = mapped_column(String(32))
    # The queue position the customer was last told, so they hear of changes only.
    queue_position: Mapped[int | None] = mapped_column(Integer)
    # Highest sequence number issued, and the highest the customer acknowledged.
    last_seq: Mapped[int] = mapped_column(Integer, default=0)
    customer_ack_seq: Mapped[int] = mapped_column(Integer, default=0)
    # The highest sequence number the assigned agent's console acknowledged.
    agent_ack_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    updated_at: Mapped[datetime] = mapped_column(
        DateTime(timezone=True), server_default=func.now(), onupdate=func.now()
    )
    queued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    assigned_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    resolved_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    # The contact behind the channel identity (one per verified customer).
    contact_id: Mapped[int | None] = mapped_column(ForeignKey("contacts.id"))
    # Channels that deliver by calling a provider's API (WeChat, Telegram, the app):
    # the highest sequence number delivered, and the retry state of the next one.
    delivered_seq: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    delivery_attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    # When the next retry is due, or while a flush holds the lease, when the lease
    # lapses; `delivery_lease` is the holding flush's token (None: nobody holds it).
    delivery_due_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    delivery_lease: Mapped[str | None] = mapped_column(String(32))
    delivery_error: Mapped[str | None] = mapped_column(String(255))
    # Where the customer's latest message came from (web chat), for limits the bot
    # keeps per address; channels whose provider relays messages have none.
    client_address: Mapped[str | None] = mapped_column(String(64))

    assigned_agent: Mapped[Agent | None] = relationship()


class Contact(Base):
    """Someone who writes to us, on one channel or several. A verified customer
    has one contact, which all their channel identities come to share."""

    __tablename__ = "contacts"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), unique=True)
    name: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class ChannelIdentity(Base):
    """Who a customer is on one channel: a web session, a WeChat openid, an app
    user id, a Telegram chat id."""

    __tablename__ = "channel_identities"
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_channel_identities_channel_external"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    channel: Mapped[str] = mapped_column(String(16))
    external_id: Mapped[str] = mapped_column(String(128))
    contact_id: Mapped[int] = mapped_column(ForeignKey("contacts.id"), index=True)
    # Set when the customer verified on this identity, and when.
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    profile: Mapped[dict[str, Any]] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    last_seen_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class Document(Base):
    """A file a customer sent (claim documents), kept outside the database."""

    __tablename__ = "documents"

    id: Mapped[int] = mapped_column(primary_key=True)
    uid: Mapped[str] = mapped_column(String(32), unique=True, default=_uid)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("claims.id"), index=True)
    channel: Mapped[str] = mapped_column(String(16))
    name: Mapped[str] = mapped_column(String(255))
    mime: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(Integer)
    sha256: Mapped[str] = mapped_column(String(64))
    # Relative to the upload directory.
    path: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Message(Base):
    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq", name="uq_messages_conversation_seq"),
        UniqueConstraint(
            "conversation_id", "client_message_id", name="uq_messages_conversation_client_id"
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    seq: Mapped[int] = mapped_column(Integer)
    sender: Mapped[SenderKind] = mapped_column(_enum(SenderKind))
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    text: Mapped[str | None] = mapped_column(Text)
    # Buttons, attachments, custom directives, and what the bot understood (intent).
    payload: Mapped[dict[str, Any] | None] = mapped_column()
    client_message_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class PendingTurn(Base):
    """A customer's message the bot owes an answer to, written with the message itself
    and removed with the bot's answer, so a turn a dying process never finished is
    answered by another. Whoever answers holds a lease, so no two answer it at once."""

    __tablename__ = "pending_turns"
    __table_args__ = (
        UniqueConstraint("conversation_id", "seq", name="uq_pending_turns_conversation_seq"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"))
    # The customer's message, and the text that goes to the bot for it.
    seq: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    # Who is answering it (a process's own id), and until when nobody else may.
    lease_holder: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), index=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Note(Base):
    """A private note on a conversation: agents see it, the customer never does."""

    __tablename__ = "notes"
    __table_args__ = (
        UniqueConstraint("conversation_id", "client_note_id", name="uq_notes_conversation_client"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_id: Mapped[int] = mapped_column(ForeignKey("conversations.id"), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    text: Mapped[str] = mapped_column(Text)
    client_note_id: Mapped[str | None] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    agent: Mapped[Agent] = relationship()


class CannedResponse(Base):
    """A prepared reply; `{customer_name}`-style variables are filled in when used."""

    __tablename__ = "canned_responses"
    __table_args__ = (UniqueConstraint("shortcut", "language", name="uq_canned_shortcut_language"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    shortcut: Mapped[str] = mapped_column(String(32))
    language: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Event(Base):
    """Append-only reporting events; KPIs are computed from these rows."""

    __tablename__ = "events"
    __table_args__ = (Index("ix_events_kind_at", "kind", "at"),)

    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    kind: Mapped[str] = mapped_column(String(32))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"), index=True)
    agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    data: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Complaint(Base):
    __tablename__ = "complaints"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    category: Mapped[str] = mapped_column(String(32))
    description: Mapped[str] = mapped_column(Text)
    desired_outcome: Mapped[str | None] = mapped_column(Text)
    status: Mapped[TaskStatus] = mapped_column(_enum(TaskStatus), default=TaskStatus.OPEN)
    owner_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    # The chat turn that created it (conversation and customer message): the same turn
    # run twice (a retried turn, a slow action server) creates it once.
    turn_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # Each change: {at, by, status, owner_agent_id, note}.
    history: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class Callback(Base):
    __tablename__ = "callbacks"

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaints.id"))
    phone: Mapped[str] = mapped_column(String(20))
    window_start: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    window_end: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # The chat turn that created it (conversation and customer message): the same turn
    # run twice (a retried turn, a slow action server) creates it once.
    turn_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    reason: Mapped[str] = mapped_column(Text)
    status: Mapped[TaskStatus] = mapped_column(_enum(TaskStatus), default=TaskStatus.OPEN)
    assigned_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    # Each attempt: {at, outcome (reached/no_answer/rescheduled), agent_id, note}.
    attempts: Mapped[list[Any]] = mapped_column(default=list)
    created_by_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    # When the "due now" reminder was pushed to the console.
    reminded_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class AdvancePayment(Base):
    """A request that the insurer pays a hospital directly (垫付) for an admission."""

    __tablename__ = "advance_payments"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id"), index=True)
    policy_id: Mapped[int] = mapped_column(ForeignKey("policies.id"))
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    hospital: Mapped[str] = mapped_column(String(128))
    admission_date: Mapped[date] = mapped_column(Date)
    # The chat turn that created it (conversation and customer message): the same turn
    # run twice (a retried turn, a slow action server) creates it once.
    turn_key: Mapped[str | None] = mapped_column(String(128), unique=True)
    estimated_amount: Mapped[Decimal] = mapped_column(Money)
    status: Mapped[TaskStatus] = mapped_column(_enum(TaskStatus), default=TaskStatus.OPEN)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class FollowUp(Base):
    __tablename__ = "follow_ups"

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))  # complaint, advance_payment, claim, conversation
    title: Mapped[str] = mapped_column(Text)
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"), index=True)
    conversation_id: Mapped[int | None] = mapped_column(ForeignKey("conversations.id"))
    complaint_id: Mapped[int | None] = mapped_column(ForeignKey("complaints.id"))
    claim_id: Mapped[int | None] = mapped_column(ForeignKey("claims.id"))
    advance_payment_id: Mapped[int | None] = mapped_column(ForeignKey("advance_payments.id"))
    team: Mapped[str] = mapped_column(String(32), default="general")
    assignee_agent_id: Mapped[int | None] = mapped_column(ForeignKey("agents.id"))
    due_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    status: Mapped[TaskStatus] = mapped_column(_enum(TaskStatus), default=TaskStatus.OPEN)
    # Each change: {at, by, status, note}.
    history: Mapped[list[Any]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class LoginAttempt(Base):
    """Sign-in attempts, so that guessing passwords is slowed on every console process."""

    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    remote: Mapped[str] = mapped_column(String(64), index=True)
    succeeded: Mapped[bool] = mapped_column(Boolean)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class OtpChallenge(Base):
    """A one-time code sent to the mobile on file, to verify a customer in one conversation."""

    __tablename__ = "otp_challenges"

    id: Mapped[int] = mapped_column(primary_key=True)
    conversation_uid: Mapped[str] = mapped_column(String(64), index=True)
    # None for a number that is not on file: its code step leads nowhere.
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id"))
    # Whom the limits count against: `customer:<id>`, or `number:<digest>` for an
    # unknown number (a keyed digest, never the number itself).
    subject: Mapped[str] = mapped_column(String(64), index=True)
    # Set when the code goes to a number other than the one on file (a callback number).
    mobile: Mapped[str | None] = mapped_column(String(20))
    # Keyed digests of the number the code went to and of the client's address.
    mobile_digest: Mapped[str | None] = mapped_column(String(32), index=True)
    address_digest: Mapped[str | None] = mapped_column(String(32), index=True)
    code_hash: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    verified_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class VerificationLock(Base):
    """A pause in verifying: for a customer, an unknown number, a mobile number, a
    session or a client address (`key`, e.g. `customer:1`, `mobile:<digest>`)."""

    __tablename__ = "verification_locks"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(96), index=True)
    reason: Mapped[str] = mapped_column(String(32))
    until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class SmsOutbox(Base):
    """The development SMS gateway: messages are written here instead of being sent."""

    __tablename__ = "sms_outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    mobile: Mapped[str] = mapped_column(String(20), index=True)
    text: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())


class TrainingChange(Base):
    """One edit of the bot's training data from the workbench: who, when, which
    intent or response, what kind of change, and the text before and after."""

    __tablename__ = "training_changes"
    __table_args__ = (Index("ix_training_changes_subject", "subject_kind", "subject", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id"))
    subject_kind: Mapped[str] = mapped_column(String(16))  # intent or response
    subject: Mapped[str] = mapped_column(String(128))
    # A move's other intent (the one the example went to), so both intents show it.
    other_subject: Mapped[str | None] = mapped_column(String(128), index=True)
    change: Mapped[str] = mapped_column(String(32))
    before: Mapped[str | None] = mapped_column(Text)
    after: Mapped[str | None] = mapped_column(Text)

    agent: Mapped[Agent] = relationship()
