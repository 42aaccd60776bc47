"""training_changes: the workbench's log of edits to intents' examples and responses

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-04 21:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "training_changes",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False),
        sa.Column("agent_id", sa.Integer(), sa.ForeignKey("agents.id"), nullable=False),
        sa.Column("subject_kind", sa.String(length=16), nullable=False),
        sa.Column("subject", sa.String(length=128), nullable=False),
        sa.Column("other_subject", sa.String(length=128), nullable=True),
        sa.Column("change", sa.String(length=32), nullable=False),
        sa.Column("before", sa.Text(), nullable=True),
        sa.Column("after", sa.Text(), nullable=True),
    )
    op.create_index(
        "ix_training_changes_subject", "training_changes", ["subject_kind", "subject", "at"]
    )
    op.create_index("ix_training_changes_other_subject", "training_changes", ["other_subject"])


def downgrade() -> None:
    op.drop_index("ix_training_changes_other_subject", table_name="training_changes")
    op.drop_index("ix_training_changes_subject", table_name="training_changes")
    op.drop_table("training_changes")
