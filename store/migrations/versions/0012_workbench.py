"""workbench: parsed messages for the review inbox, the model registry with its
deployments, and training jobs

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-07 22:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "bot_models",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("file", sa.String(length=255), nullable=False, unique=True),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("rasa_model_id", sa.String(length=64), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("base_model_id", sa.Integer(), sa.ForeignKey("bot_models.id"), nullable=True),
        sa.Column("data_hash", sa.String(length=64), nullable=False),
        sa.Column("trained_by", sa.Integer(), sa.ForeignKey("agents.id"), nullable=True),
        sa.Column(
            "trained_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("metrics", sa.JSON(), nullable=False),
        sa.Column("production", sa.Boolean(), nullable=True, unique=True),
        sa.Column("deployed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deployed_by", sa.Integer(), sa.ForeignKey("agents.id"), nullable=True),
    )
    op.create_table(
        "model_deployments",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("agent_id", sa.Integer(), sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("model_id", sa.Integer(), sa.ForeignKey("bot_models.id"), nullable=False),
        sa.Column("previous_model_id", sa.Integer(), sa.ForeignKey("bot_models.id"), nullable=True),
        sa.Column("override_reason", sa.Text(), nullable=True),
    )
    op.create_index("ix_model_deployments_model_id", "model_deployments", ["model_id"])
    op.create_table(
        "training_jobs",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=True, unique=True),
        sa.Column("requested_by", sa.Integer(), sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("holder", sa.String(length=32), nullable=True),
        sa.Column("cancel_requested", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("base_model_id", sa.Integer(), sa.ForeignKey("bot_models.id"), nullable=True),
        sa.Column("model_id", sa.Integer(), sa.ForeignKey("bot_models.id"), nullable=True),
        sa.Column("progress", sa.JSON(), nullable=False),
        sa.Column("log", sa.Text(), server_default="", nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("heartbeat_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_table(
        "parsed_messages",
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("message_id", BIG_ID, sa.ForeignKey("messages.id"), nullable=False, unique=True),
        sa.Column(
            "conversation_id", sa.Integer(), sa.ForeignKey("conversations.id"), nullable=False
        ),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("folded", sa.Text(), sa.Computed("lower(text)", persisted=True), nullable=False),
        sa.Column("intent", sa.String(length=128), nullable=False),
        sa.Column("confidence", sa.Float(), nullable=False),
        sa.Column("runner_up", sa.String(length=128), nullable=True),
        sa.Column("runner_up_confidence", sa.Float(), nullable=True),
        sa.Column("faq_topic", sa.String(length=128), nullable=True),
        sa.Column("fallback", sa.Boolean(), nullable=False),
        sa.Column("awaiting", sa.String(length=64), nullable=True),
        sa.Column("rank", sa.Integer(), nullable=False),
        sa.Column("trouble", sa.String(length=16), nullable=True),
        sa.Column("flag_intent", sa.String(length=128), nullable=True),
        sa.Column("flagged_by", sa.Integer(), sa.ForeignKey("agents.id"), nullable=True),
        sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=16), server_default="new", nullable=False),
        sa.Column("reviewed", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column(
            "precedence",
            sa.Integer(),
            sa.Computed("(CASE WHEN reviewed THEN 0 ELSE 100 END) + 9 - rank", persisted=True),
            nullable=False,
        ),
        sa.Column("label", sa.String(length=128), nullable=True),
        sa.Column("held_out", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("reviewed_by", sa.Integer(), sa.ForeignKey("agents.id"), nullable=True),
        sa.Column("reviewed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
    )
    op.create_index("ix_parsed_messages_conversation_id", "parsed_messages", ["conversation_id"])
    op.create_index("ix_parsed_messages_inbox", "parsed_messages", ["status", "rank", "at"])
    op.create_index("ix_parsed_messages_intent", "parsed_messages", ["intent", "at"])
    op.create_index(
        "ix_parsed_messages_review_order",
        "parsed_messages",
        ["precedence", "at", "id"],
    )


def downgrade() -> None:
    op.drop_table("parsed_messages")
    op.drop_table("training_jobs")
    op.drop_index("ix_model_deployments_model_id", table_name="model_deployments")
    op.drop_table("model_deployments")
    op.drop_table("bot_models")
