"""wrap-ups: an agent's paperwork after each resolve, finished by hand or by
housekeeping past WRAP_UP_MAX_SECONDS

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-10 09:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None

BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "wrap_ups",
        sa.Column("resolve_event_id", BIG_ID, sa.ForeignKey("events.id"), primary_key=True),
        sa.Column(
            "conversation_id", sa.Integer(), sa.ForeignKey("conversations.id"), nullable=False
        ),
        sa.Column("agent_id", sa.Integer(), sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_wrap_ups_open", "wrap_ups", ["finished_at", "started_at"])
    op.create_index("ix_wrap_ups_conversation_id", "wrap_ups", ["conversation_id"])


def downgrade() -> None:
    op.drop_index("ix_wrap_ups_conversation_id", table_name="wrap_ups")
    op.drop_index("ix_wrap_ups_open", table_name="wrap_ups")
    op.drop_table("wrap_ups")
