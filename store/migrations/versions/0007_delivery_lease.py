"""conversations: who holds the delivery lease (a token per flush), so that a flush
renews, releases and advances the cursor only while the lease is still its own

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 19:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.add_column(sa.Column("delivery_lease", sa.String(length=32), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("conversations") as batch:
        batch.drop_column("delivery_lease")
