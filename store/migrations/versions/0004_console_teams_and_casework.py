"""console: teams, capacity, notes, canned responses, labels, reminders

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 12:49:31.703382
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "canned_responses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("shortcut", sa.String(length=32), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("shortcut", "language", name="uq_canned_shortcut_language"),
    )
    op.create_table(
        "teams",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=32), nullable=False),
        sa.Column("name_zh", sa.String(length=64), nullable=False),
        sa.Column("name_en", sa.String(length=64), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code"),
    )
    op.create_table(
        "notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("agent_id", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("client_note_id", sa.String(length=64), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["agent_id"],
            ["agents.id"],
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint(
            "conversation_id", "client_note_id", name="uq_notes_conversation_client"
        ),
    )
    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_notes_conversation_id"), ["conversation_id"], unique=False
        )

    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.add_column(sa.Column("capacity", sa.Integer(), server_default="3", nullable=False))
        batch_op.add_column(
            sa.Column("ui_language", sa.String(length=8), server_default="zh", nullable=False)
        )

    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_by_agent_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("reminded_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_foreign_key(
            "fk_callbacks_created_by_agent_id", "agents", ["created_by_agent_id"], ["id"]
        )

    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.add_column(sa.Column("history", sa.JSON(), server_default="[]", nullable=False))

    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("priority", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("labels", sa.JSON(), server_default="[]", nullable=False))
        batch_op.add_column(sa.Column("resolution_reason", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("queue_position", sa.Integer(), nullable=True))
        batch_op.add_column(
            sa.Column("agent_ack_seq", sa.Integer(), server_default="0", nullable=False)
        )

    # The teams every desk starts with, and a few prepared replies in both languages.
    teams = sa.table(
        "teams",
        sa.column("code", sa.String),
        sa.column("name_zh", sa.String),
        sa.column("name_en", sa.String),
    )
    op.bulk_insert(
        teams,
        [
            {"code": "general", "name_zh": "综合服务", "name_en": "General"},
            {"code": "claims", "name_zh": "理赔", "name_en": "Claims"},
            {"code": "complaints", "name_zh": "投诉", "name_en": "Complaints"},
        ],
    )
    canned = sa.table(
        "canned_responses",
        sa.column("shortcut", sa.String),
        sa.column("language", sa.String),
        sa.column("text", sa.Text),
    )
    op.bulk_insert(
        canned,
        [
            {
                "shortcut": "hello",
                "language": "zh",
                "text": "{customer_name}您好,我是客服{agent_name},很高兴为您服务。",
            },
            {
                "shortcut": "hello",
                "language": "en",
                "text": "Hello {customer_name}, I'm {agent_name} and I'll be helping you today.",
            },
            {"shortcut": "wait", "language": "zh", "text": "请稍等,我正在为您查询。"},
            {
                "shortcut": "wait",
                "language": "en",
                "text": "One moment please, I'm looking into it.",
            },
            {
                "shortcut": "docs",
                "language": "zh",
                "text": "理赔材料可在线上传:身份证、病历、发票和费用清单。"
                "上传后我们会在1个工作日内审核。",
            },
            {
                "shortcut": "docs",
                "language": "en",
                "text": "You can upload your claim documents online: ID card, medical records, "
                "invoices and the itemised bill. We review them within one working day.",
            },
            {
                "shortcut": "bye",
                "language": "zh",
                "text": "感谢您的咨询,{customer_name}。祝您健康!",
            },
            {
                "shortcut": "bye",
                "language": "en",
                "text": "Thank you for contacting us, {customer_name}. Take care!",
            },
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("conversations", schema=None) as batch_op:
        batch_op.drop_column("agent_ack_seq")
        batch_op.drop_column("queue_position")
        batch_op.drop_column("resolution_reason")
        batch_op.drop_column("labels")
        batch_op.drop_column("priority")

    with op.batch_alter_table("complaints", schema=None) as batch_op:
        batch_op.drop_column("history")

    with op.batch_alter_table("callbacks", schema=None) as batch_op:
        batch_op.drop_constraint("fk_callbacks_created_by_agent_id", type_="foreignkey")
        batch_op.drop_column("reminded_at")
        batch_op.drop_column("created_by_agent_id")

    with op.batch_alter_table("agents", schema=None) as batch_op:
        batch_op.drop_column("ui_language")
        batch_op.drop_column("capacity")

    with op.batch_alter_table("notes", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_notes_conversation_id"))

    op.drop_table("notes")
    op.drop_table("teams")
    op.drop_table("canned_responses")
