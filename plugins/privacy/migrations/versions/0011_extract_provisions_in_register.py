"""anonymised-extract provisions move into the provision register (one register): a record with
no person, the extract's id, its purpose and columns as the items, basis anonymised_information

The recorded day is the provision's day in UTC (a migration does not know the business's time
zone) and the record is kept 3 years from it, as a record per provision is.

Revision ID: privacy_0011_extract_provisions
Revises: privacy_0010_receipts
Create Date: 2026-12-06 12:20:00
"""

import datetime as dt

import sqlalchemy as sa
from alembic import op

import enishi.plugin

revision = "privacy_0011_extract_provisions"
down_revision = "privacy_0010_receipts"
branch_labels = None
depends_on = None

_INSTANT = enishi.plugin.UTCDateTime(timezone=True)
EXTRACT = sa.table("privacy_extract", sa.column("id", sa.Uuid()), sa.column("purpose"), sa.column("columns", sa.JSON()))
OLD = sa.table(
    "privacy_extract_provision",
    sa.column("id", sa.Uuid()),
    sa.column("extract_id", sa.Uuid()),
    sa.column("recipient"),
    sa.column("actor_id", sa.Uuid()),
    sa.column("provided_at", _INSTANT),
)
RECIPIENT = sa.table("privacy_recipient", sa.column("id", sa.Uuid()), sa.column("name"), sa.column("country"))
PROVISION = sa.table(
    "privacy_provision",
    sa.column("contact_id", sa.Uuid()),
    sa.column("extract_id", sa.Uuid()),
    sa.column("recipient"),
    sa.column("recipient_id", sa.Uuid()),
    sa.column("purpose"),
    sa.column("data_items", sa.JSON()),
    sa.column("basis"),
    sa.column("exempt", sa.Boolean()),
    sa.column("country"),
    sa.column("record_method"),
    sa.column("recorded_on", sa.Date()),
    sa.column("keep_until", sa.Date()),
    sa.column("actor_id", sa.Uuid()),
    sa.column("provided_at", _INSTANT),
)


def _three_years_after(day: dt.date) -> dt.date:
    try:
        return day.replace(year=day.year + 3)
    except ValueError:  # 29 February
        return day.replace(year=day.year + 3, day=28)


def upgrade() -> None:
    with op.batch_alter_table("privacy_provision", schema=None) as batch_op:
        batch_op.add_column(sa.Column("extract_id", sa.Uuid(), nullable=True))
        batch_op.alter_column("contact_id", existing_type=sa.Uuid(), nullable=True)
        batch_op.create_foreign_key(
            batch_op.f("fk_privacy_provision_extract_id_privacy_extract"), "privacy_extract", ["extract_id"], ["id"]
        )
        batch_op.create_index(batch_op.f("ix_privacy_provision_extract_id"), ["extract_id"], unique=False)
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(OLD, EXTRACT.c.purpose, EXTRACT.c.columns, RECIPIENT.c.id.label("recipient_id"), RECIPIENT.c.country)
        .join(EXTRACT, EXTRACT.c.id == OLD.c.extract_id)
        .outerjoin(RECIPIENT, RECIPIENT.c.name == OLD.c.recipient)
        .order_by(OLD.c.provided_at, OLD.c.id)
    ).all()
    for row in rows:
        day = row.provided_at.astimezone(dt.UTC).date()
        connection.execute(
            PROVISION.insert().values(
                contact_id=None,
                extract_id=row.extract_id,
                recipient=row.recipient,
                recipient_id=row.recipient_id,
                purpose=row.purpose[:200],
                data_items=list(row.columns),
                basis="anonymised_information",
                exempt=True,
                country=row.country,
                record_method="individual",
                recorded_on=day,
                keep_until=_three_years_after(day),
                actor_id=row.actor_id,
                provided_at=row.provided_at,
            )
        )
    with op.batch_alter_table("privacy_extract_provision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_extract_provision_extract_id"))
    op.drop_table("privacy_extract_provision")


def downgrade() -> None:
    op.create_table(
        "privacy_extract_provision",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("extract_id", sa.Uuid(), nullable=False),
        sa.Column("recipient", sa.String(length=300), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("provided_at", _INSTANT, nullable=False),
        sa.ForeignKeyConstraint(
            ["extract_id"],
            ["privacy_extract.id"],
            name=op.f("fk_privacy_extract_provision_extract_id_privacy_extract"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_extract_provision")),
    )
    with op.batch_alter_table("privacy_extract_provision", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_privacy_extract_provision_extract_id"), ["extract_id"], unique=False)
    connection = op.get_bind()
    moved = connection.execute(
        sa.select(PROVISION.c.extract_id, PROVISION.c.recipient, PROVISION.c.actor_id, PROVISION.c.provided_at).where(
            PROVISION.c.extract_id.is_not(None)
        )
    ).all()
    for row in moved:
        connection.execute(OLD.insert().values(id=enishi.plugin.new_id(), **row._asdict()))
    connection.execute(PROVISION.delete().where(PROVISION.c.extract_id.is_not(None)))
    with op.batch_alter_table("privacy_provision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_provision_extract_id"))
        batch_op.drop_constraint(batch_op.f("fk_privacy_provision_extract_id_privacy_extract"), type_="foreignkey")
        batch_op.alter_column("contact_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.drop_column("extract_id")
