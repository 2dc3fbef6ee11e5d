"""the member carries its ledger's last sequence number

Revision ID: loyalty_0005
Revises: loyalty_0004
Create Date: 2026-12-06 21:40:00

`loyalty_member.last_seq` is the `seq` of the member's newest ledger entry (0 before the first):
the next entry takes `last_seq + 1` from the row every ledger write has already locked, instead of
a `max(seq)` read of the ledger. Existing members take the highest number their ledger holds.
"""

import sqlalchemy as sa
from alembic import op

revision = "loyalty_0005"
down_revision = "loyalty_0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("loyalty_member", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_seq", sa.Integer(), nullable=False, server_default="0"))
    op.execute(
        "UPDATE loyalty_member SET last_seq = "
        "(SELECT coalesce(max(seq), 0) FROM loyalty_entry WHERE loyalty_entry.member_id = loyalty_member.id)"
    )


def downgrade() -> None:
    with op.batch_alter_table("loyalty_member", schema=None) as batch_op:
        batch_op.drop_column("last_seq")
