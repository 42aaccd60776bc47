"""customer presence: when each web chat customer's connection was last seen, for
the queue's silent abandons; and the indexes the claims and casework figures read
their tables by

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-08 04:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_claims_submitted_at", "claims", ["submitted_at"]),
    ("ix_claim_stage_changes_stage_at", "claim_stage_changes", ["stage", "at"]),
    ("ix_complaints_created_at", "complaints", ["created_at"]),
    ("ix_callbacks_window_start", "callbacks", ["window_start"]),
    ("ix_follow_ups_due_at", "follow_ups", ["due_at"]),
    ("ix_advance_payments_created_at", "advance_payments", ["created_at"]),
)


def upgrade() -> None:
    op.create_table(
        "customer_presence",
        sa.Column(
            "conversation_id", sa.Integer(), sa.ForeignKey("conversations.id"), primary_key=True
        ),
        sa.Column("seen_at", sa.DateTime(timezone=True), nullable=False),
    )
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)


def downgrade() -> None:
    for name, table, _ in INDEXES:
        op.drop_index(name, table_name=table)
    op.drop_table("customer_presence")
