"""pending turns: the customer messages the bot owes an answer to, with a lease on
each; and a turn key on the rows the bot's actions create (claims, complaints,
callbacks, advance payments), so a turn run twice creates them once

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04 19:55:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

CREATED_BY_TURNS = ("claims", "complaints", "callbacks", "advance_payments")


def upgrade() -> None:
    op.create_table(
        "pending_turns",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_id", sa.Integer(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("lease_holder", sa.String(length=32), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(["conversation_id"], ["conversations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("conversation_id", "seq", name="uq_pending_turns_conversation_seq"),
    )
    with op.batch_alter_table("pending_turns") as batch:
        batch.create_index(batch.f("ix_pending_turns_lease_until"), ["lease_until"], unique=False)
    for table in CREATED_BY_TURNS:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("turn_key", sa.String(length=128), nullable=True))
            batch.create_unique_constraint(f"uq_{table}_turn_key", ["turn_key"])


def downgrade() -> None:
    for table in CREATED_BY_TURNS:
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(f"uq_{table}_turn_key", type_="unique")
            batch.drop_column("turn_key")
    with op.batch_alter_table("pending_turns") as batch:
        batch.drop_index(batch.f("ix_pending_turns_lease_until"))
    op.drop_table("pending_turns")
