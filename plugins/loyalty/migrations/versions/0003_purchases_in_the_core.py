"""loyalty's purchases become links to the core's one purchase record

Revision ID: loyalty_0003
Revises: loyalty_0002
Create Date: 2026-12-06 09:00:00

Each `loyalty_purchase` row's order (reference, total, date, refund) moves to `core_purchase`
(channel `direct`, the member's contact and its primary account, the program's currency; an
order recorded in two programs becomes one purchase), and the row keeps only what the order
earned in its program, pointing at the core's row. Lots keep pointing at the loyalty row.
"""

import uuid

import sqlalchemy as sa
from alembic import op

import enishi.plugin

revision = "loyalty_0003"
down_revision = "loyalty_0002"
branch_labels = None
depends_on = "0014"

CHANNEL = "direct"

_loyalty = sa.table(
    "loyalty_purchase",
    sa.column("id", sa.Uuid()),
    sa.column("program_id", sa.Uuid()),
    sa.column("member_id", sa.Uuid()),
    sa.column("purchase_id", sa.Uuid()),
    sa.column("order_ref", sa.String()),
    sa.column("total", sa.Integer()),
    sa.column("purchased_at", enishi.plugin.UTCDateTime()),
    sa.column("refunded_at", enishi.plugin.UTCDateTime()),
)
_core = sa.table(
    "core_purchase",
    sa.column("id", sa.Uuid()),
    sa.column("contact_id", sa.Uuid()),
    sa.column("account_id", sa.Uuid()),
    sa.column("channel", sa.String()),
    sa.column("order_ref", sa.String()),
    sa.column("amount", sa.BigInteger()),
    sa.column("currency", sa.String()),
    sa.column("items", enishi.plugin.JSONType),
    sa.column("purchased_at", enishi.plugin.UTCDateTime()),
    sa.column("recorded_at", enishi.plugin.UTCDateTime()),
    sa.column("refunded_at", enishi.plugin.UTCDateTime()),
)
_member = sa.table("loyalty_member", sa.column("id", sa.Uuid()), sa.column("contact_id", sa.Uuid()))
_program = sa.table("loyalty_program", sa.column("id", sa.Uuid()), sa.column("currency", sa.String()))
_link = sa.table(
    "core_contact_account", sa.column("contact_id", sa.Uuid()), sa.column("account_id", sa.Uuid()), sa.column("is_primary")
)


def upgrade() -> None:
    with op.batch_alter_table("loyalty_purchase", schema=None) as batch_op:
        batch_op.add_column(sa.Column("purchase_id", sa.Uuid(), nullable=True))
    bind = op.get_bind()
    primary_account = (
        sa.select(_link.c.account_id)
        .where(_link.c.contact_id == _member.c.contact_id, _link.c.is_primary.is_(True))
        .limit(1)
        .scalar_subquery()
    )
    rows = bind.execute(
        sa.select(_loyalty, _member.c.contact_id, _program.c.currency, primary_account.label("account_id"))
        .join(_member, _member.c.id == _loyalty.c.member_id)
        .join(_program, _program.c.id == _loyalty.c.program_id)
        .order_by(_loyalty.c.purchased_at, _loyalty.c.id)
    ).mappings()
    core_ids: dict[str, uuid.UUID] = {}
    for row in list(rows):
        core_id = core_ids.get(row["order_ref"])
        if core_id is None:
            core_id = core_ids[row["order_ref"]] = uuid.uuid4()
            bind.execute(
                _core.insert().values(
                    id=core_id,
                    contact_id=row["contact_id"],
                    account_id=row["account_id"],
                    channel=CHANNEL,
                    order_ref=row["order_ref"],
                    amount=row["total"],
                    currency=row["currency"],
                    items=[],
                    purchased_at=row["purchased_at"],
                    recorded_at=row["purchased_at"],
                    refunded_at=row["refunded_at"],
                )
            )
        bind.execute(_loyalty.update().where(_loyalty.c.id == row["id"]).values(purchase_id=core_id))
    with op.batch_alter_table("loyalty_purchase", schema=None) as batch_op:
        batch_op.drop_constraint("uq_loyalty_purchase_program_id_order_ref", type_="unique")
        batch_op.alter_column("purchase_id", existing_type=sa.Uuid(), nullable=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_loyalty_purchase_purchase_id_core_purchase"),
            "core_purchase",
            ["purchase_id"],
            ["id"],
            ondelete="CASCADE",
        )
        batch_op.create_unique_constraint(batch_op.f("uq_loyalty_purchase_program_id_purchase_id"), ["program_id", "purchase_id"])
        batch_op.create_index(batch_op.f("ix_loyalty_purchase_purchase_id"), ["purchase_id"], unique=False)
        for column in ("order_ref", "total", "purchased_at", "refunded_at"):
            batch_op.drop_column(column)


def downgrade() -> None:
    with op.batch_alter_table("loyalty_purchase", schema=None) as batch_op:
        batch_op.add_column(sa.Column("order_ref", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("total", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("purchased_at", enishi.plugin.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("refunded_at", enishi.plugin.UTCDateTime(timezone=True), nullable=True))
    bind = op.get_bind()
    for row in list(
        bind.execute(
            sa.select(_loyalty.c.id.label("link_id"), _core).join(_core, _core.c.id == _loyalty.c.purchase_id)
        ).mappings()
    ):
        bind.execute(
            _loyalty.update()
            .where(_loyalty.c.id == row["link_id"])
            .values(
                order_ref=row["order_ref"] or str(row["id"]),
                total=row["amount"],
                purchased_at=row["purchased_at"],
                refunded_at=row["refunded_at"],
            )
        )
    with op.batch_alter_table("loyalty_purchase", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loyalty_purchase_purchase_id"))
        batch_op.drop_constraint(batch_op.f("uq_loyalty_purchase_program_id_purchase_id"), type_="unique")
        batch_op.drop_constraint(batch_op.f("fk_loyalty_purchase_purchase_id_core_purchase"), type_="foreignkey")
        batch_op.drop_column("purchase_id")
        for column in ("order_ref", "total", "purchased_at"):
            batch_op.alter_column(column, nullable=False)
        batch_op.create_unique_constraint("uq_loyalty_purchase_program_id_order_ref", ["program_id", "order_ref"])
