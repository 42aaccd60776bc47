"""rollups: the analytics' bot sessions, queue episodes, resolves, holds, agents'
statuses and contacts, kept up to date as the raw rows come, with the marks of what
they have read

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-08 04:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _conversation() -> sa.Column:
    return sa.Column(
        "conversation_id", sa.Integer(), sa.ForeignKey("conversations.id"), nullable=False
    )


def upgrade() -> None:
    op.create_table(
        "rollup_marks",
        sa.Column("source", sa.String(length=32), primary_key=True),
        sa.Column("last_id", BIG_ID, nullable=False),
        sa.Column("seen_id", BIG_ID, nullable=False),
        sa.Column("seen", sa.Integer(), nullable=False),
        sa.Column("refreshed_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "rollup_sessions",
        sa.Column("id", BIG_ID, primary_key=True),
        _conversation(),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("ended", sa.DateTime(timezone=True), nullable=True),
        sa.Column("idle_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("team", sa.String(length=32), nullable=True),
        sa.Column("topic", sa.String(length=128), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("mid_form", sa.Boolean(), nullable=False),
        sa.Column("back_after", sa.Float(), nullable=True),
        sa.Column("parsed", sa.Integer(), nullable=False),
        sa.Column("fallbacks", sa.Integer(), nullable=False),
        sa.Column("form", sa.String(length=24), nullable=True),
        sa.Column("form_step", sa.String(length=16), nullable=True),
        sa.Column("queued", sa.Boolean(), nullable=False),
        sa.Column("answered", sa.Boolean(), nullable=False),
        sa.Column("resolved", sa.Boolean(), nullable=False),
        sa.Column("callback", sa.Boolean(), nullable=False),
        sa.Column("follow_up", sa.Boolean(), nullable=False),
        sa.Column("complaint", sa.Boolean(), nullable=False),
    )
    op.create_index("ix_rollup_sessions_start", "rollup_sessions", ["start", "channel"])
    op.create_index("ix_rollup_sessions_conversation_id", "rollup_sessions", ["conversation_id"])
    op.create_table(
        "rollup_intents",
        sa.Column("id", BIG_ID, primary_key=True),
        _conversation(),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("intent", sa.String(length=128), nullable=False),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("topic", sa.String(length=128), nullable=True),
    )
    op.create_index("ix_rollup_intents_start", "rollup_intents", ["start", "channel"])
    op.create_index("ix_rollup_intents_conversation_id", "rollup_intents", ["conversation_id"])
    op.create_table(
        "rollup_episodes",
        sa.Column("handoff_id", BIG_ID, primary_key=True),
        _conversation(),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("team", sa.String(length=32), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("topic", sa.String(length=128), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=True),
        sa.Column("wait", sa.Float(), nullable=True),
        sa.Column("how", sa.String(length=16), nullable=True),
        sa.Column("agent_id", sa.Integer(), sa.ForeignKey("agents.id"), nullable=True),
        sa.Column("answered_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_rollup_episodes_at", "rollup_episodes", ["at", "team", "channel"])
    op.create_index("ix_rollup_episodes_conversation_id", "rollup_episodes", ["conversation_id"])
    op.create_table(
        "rollup_resolves",
        sa.Column("event_id", BIG_ID, primary_key=True),
        _conversation(),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("by", sa.String(length=16), nullable=True),
        sa.Column("reason", sa.String(length=64), nullable=True),
        sa.Column("back_after", sa.Float(), nullable=True),
        sa.Column("agent_id", sa.Integer(), sa.ForeignKey("agents.id"), nullable=True),
        sa.Column("team", sa.String(length=32), nullable=True),
        sa.Column("score", sa.Integer(), nullable=True),
        sa.Column("handle_seconds", sa.Float(), nullable=True),
        sa.Column("wrap_up_seconds", sa.Float(), nullable=True),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("topic", sa.String(length=128), nullable=True),
    )
    op.create_index("ix_rollup_resolves_at", "rollup_resolves", ["at", "channel"])
    op.create_index("ix_rollup_resolves_conversation_id", "rollup_resolves", ["conversation_id"])
    op.create_table(
        "rollup_holds",
        sa.Column("id", BIG_ID, primary_key=True),
        _conversation(),
        sa.Column("agent_id", sa.Integer(), sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_rollup_holds_start", "rollup_holds", ["start", "agent_id"])
    op.create_index("ix_rollup_holds_conversation_id", "rollup_holds", ["conversation_id"])
    op.create_table(
        "rollup_presence",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("agent_id", sa.Integer(), sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("start", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_rollup_presence_agent", "rollup_presence", ["agent_id", "start"])
    op.create_table(
        "rollup_contacts",
        sa.Column("event_id", BIG_ID, primary_key=True),
        _conversation(),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("hour", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("team", sa.String(length=32), nullable=True),
        sa.Column("customer_id", sa.Integer(), sa.ForeignKey("customers.id"), nullable=True),
        sa.Column("topic", sa.String(length=128), nullable=True),
    )
    op.create_index("ix_rollup_contacts_at", "rollup_contacts", ["at", "channel"])
    op.create_index("ix_rollup_contacts_conversation_id", "rollup_contacts", ["conversation_id"])


def downgrade() -> None:
    for table in (
        "rollup_contacts",
        "rollup_presence",
        "rollup_holds",
        "rollup_resolves",
        "rollup_episodes",
        "rollup_intents",
        "rollup_sessions",
    ):
        op.drop_table(table)
    op.drop_table("rollup_marks")
