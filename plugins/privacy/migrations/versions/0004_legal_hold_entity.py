"""legal holds name the held record's table (its domain name), not its GraphQL type

Revision ID: privacy_0004
Revises: privacy_0003
Create Date: 2026-12-06 03:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "privacy_0004"
down_revision = "privacy_0003"
branch_labels = None
depends_on = None

# The holdable types of the bundled plugins. A hold on any other type would stop matching its
# erasure, and a held record would be erased: such a database is refused, not half converted.
TABLES = {"Activity": "core_activity", "SupportTicket": "support_ticket"}


def _translate(column: str, mapping: dict[str, str]) -> None:
    for old, new in mapping.items():
        op.execute(sa.text(f"UPDATE privacy_legal_hold SET {column} = :new WHERE {column} = :old").bindparams(old=old, new=new))


def upgrade() -> None:
    unknown = (
        op.get_bind()
        .execute(
            sa.text("SELECT DISTINCT node_type FROM privacy_legal_hold WHERE node_type NOT IN ('Activity', 'SupportTicket')")
        )
        .scalars()
        .all()
    )
    if unknown:
        raise RuntimeError(
            f"legal holds on {', '.join(sorted(unknown))} need their table's name: update privacy_legal_hold.node_type "
            "to the table each plugin's enishi_holdable_types now returns, then upgrade again"
        )
    op.execute(sa.text("ALTER TABLE privacy_legal_hold RENAME COLUMN node_type TO entity"))
    _translate("entity", TABLES)


def downgrade() -> None:
    _translate("entity", {table: node_type for node_type, table in TABLES.items()})
    op.execute(sa.text("ALTER TABLE privacy_legal_hold RENAME COLUMN entity TO node_type"))
