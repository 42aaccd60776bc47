"""verification limits: challenges name whom they count against (a customer, or an
unknown number's keyed digest) and carry keyed digests of the mobile number and the
client's address; locks move to their own table, for every kind of limit

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 20:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "verification_locks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=96), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("verification_locks") as batch:
        batch.create_index(batch.f("ix_verification_locks_key"), ["key"], unique=False)
    op.execute(
        "INSERT INTO verification_locks (key, reason, until, at) "
        "SELECT 'customer:' || customer_id, 'wrong_codes', locked_until, created_at "
        "FROM otp_challenges WHERE locked_until IS NOT NULL"
    )
    with op.batch_alter_table("otp_challenges") as batch:
        batch.add_column(
            sa.Column("subject", sa.String(length=64), server_default="", nullable=False)
        )
        batch.add_column(sa.Column("mobile_digest", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("address_digest", sa.String(length=32), nullable=True))
        batch.alter_column("customer_id", existing_type=sa.Integer(), nullable=True)
        batch.drop_column("locked_until")
    op.execute("UPDATE otp_challenges SET subject = 'customer:' || customer_id")
    with op.batch_alter_table("otp_challenges") as batch:
        batch.alter_column("subject", existing_type=sa.String(length=64), server_default=None)
        batch.create_index(batch.f("ix_otp_challenges_subject"), ["subject"], unique=False)
        batch.create_index(batch.f("ix_otp_challenges_mobile_digest"), ["mobile_digest"])
        batch.create_index(batch.f("ix_otp_challenges_address_digest"), ["address_digest"])


def downgrade() -> None:
    op.execute("DELETE FROM otp_challenges WHERE customer_id IS NULL")
    with op.batch_alter_table("otp_challenges") as batch:
        batch.drop_index(batch.f("ix_otp_challenges_address_digest"))
        batch.drop_index(batch.f("ix_otp_challenges_mobile_digest"))
        batch.drop_index(batch.f("ix_otp_challenges_subject"))
        batch.add_column(sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True))
        batch.alter_column("customer_id", existing_type=sa.Integer(), nullable=False)
        batch.drop_column("address_digest")
        batch.drop_column("mobile_digest")
        batch.drop_column("subject")
    with op.batch_alter_table("verification_locks") as batch:
        batch.drop_index(batch.f("ix_verification_locks_key"))
    op.drop_table("verification_locks")
