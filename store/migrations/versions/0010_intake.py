"""conversations: one per channel identity (a unique index, so that two first messages
at once cannot open two), and the client address of the customer's latest message

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-04 19:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Duplicates the race could leave: the newest stays the identity's conversation (as
    # it was, the one its messages went to); older ones keep their history under a
    # marked id.
    op.execute(
        """
        UPDATE conversations
        SET external_user_id = external_user_id || '#' || CAST(id AS VARCHAR(12))
        WHERE id < (
            SELECT MAX(newest.id) FROM conversations AS newest
            WHERE newest.channel = conversations.channel
              AND newest.external_user_id = conversations.external_user_id
        )
        """
    )
    with op.batch_alter_table("conversations") as batch:
        batch.drop_index("ix_conversations_channel_user")
        batch.create_index(
            "ux_conversations_channel_user", ["channel", "external_user_id"], unique=True
        )
        batch.add_column(sa.Column("client_address", sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("client_address")
        batch.drop_index("ux_conversations_channel_user")
        batch.create_index(
            "ix_conversations_channel_user", ["channel", "external_user_id"], unique=False
        )
