"""ticket subjects, custom fields, messages and survey comments sealed under a data key per ticket

Revision ID: support_0003
Revises: support_0002
Create Date: 2026-11-23 16:00:00

Existing tickets get a key each; their text is sealed with the configured key-encryption key
(ENISHI_KEK), then the plaintext columns are dropped. One way only, like the core's 0005-0007.
"""

import json

import sqlalchemy as sa
from alembic import op

import enishi.plugin

revision = "support_0003"
down_revision = "support_0002"
branch_labels = None
depends_on = None

BATCH = 500


def upgrade() -> None:
    op.create_table(
        "support_ticket_key",
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("kek_id", sa.String(length=16), nullable=True),
        sa.Column("created_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.Column("destroyed_at", enishi.plugin.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["support_ticket.id"], name=op.f("fk_support_ticket_key_ticket_id_support_ticket"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("ticket_id", name=op.f("pk_support_ticket_key")),
    )
    with op.batch_alter_table("support_ticket", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed_subject", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("sealed_custom_fields", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("support_article", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed_body", sa.LargeBinary(), nullable=True))
    with op.batch_alter_table("support_csat", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed_comment", sa.LargeBinary(), nullable=True))

    _seal_existing_rows()

    with op.batch_alter_table("support_ticket", schema=None) as batch_op:
        batch_op.drop_column("subject")
        batch_op.drop_column("custom_fields")
        batch_op.alter_column("sealed_subject", existing_type=sa.LargeBinary(), nullable=False)
    with op.batch_alter_table("support_article", schema=None) as batch_op:
        batch_op.drop_column("body")
    with op.batch_alter_table("support_csat", schema=None) as batch_op:
        batch_op.drop_column("comment")


def _seal_existing_rows() -> None:
    from enishi.plugin import KeyRing, encrypt

    bind = op.get_bind()
    meta = sa.MetaData()
    ticket, article, csat, key_table = (
        sa.Table(name, meta, autoload_with=bind)
        for name in ("support_ticket", "support_article", "support_csat", "support_ticket_key")
    )
    if bind.execute(sa.select(sa.func.count()).select_from(ticket)).scalar_one() == 0:
        return
    ring = KeyRing(op.get_context().config.attributes["settings"])

    def seal(data_key, value, context):
        return None if value is None else encrypt(data_key, value, context)

    last = None
    while True:
        query = (
            sa.select(ticket.c.id, ticket.c.subject, ticket.c.custom_fields, ticket.c.created_at)
            .order_by(ticket.c.id)
            .limit(BATCH)
        )
        rows = bind.execute(query if last is None else query.where(ticket.c.id > last)).all()
        if not rows:
            return
        last = rows[-1].id
        keys, tickets, data_keys = [], [], {}
        for row in rows:
            data_key, wrapped = ring.new_data_key()
            data_keys[row.id] = data_key
            keys.append({"ticket_id": row.id, "wrapped_key": wrapped, "kek_id": ring.current_id, "created_at": row.created_at})
            fields = json.dumps(row.custom_fields, ensure_ascii=False) if row.custom_fields else None
            tickets.append(
                {
                    "_id": row.id,
                    "sealed_subject": seal(data_key, row.subject, b"support_ticket.subject"),
                    "sealed_custom_fields": seal(data_key, fields, b"support_ticket.custom_fields"),
                }
            )
        bind.execute(key_table.insert(), keys)
        bind.execute(ticket.update().where(ticket.c.id == sa.bindparam("_id")), tickets)
        for table, column, context in ((article, "body", b"support_article.body"), (csat, "comment", b"support_csat.comment")):
            texts = bind.execute(
                sa.select(table.c.id, table.c.ticket_id, table.c[column]).where(
                    table.c.ticket_id.in_(list(data_keys)), table.c[column].is_not(None)
                )
            ).all()
            if texts:
                bind.execute(
                    table.update().where(table.c.id == sa.bindparam("_id")),
                    [{"_id": t.id, f"sealed_{column}": seal(data_keys[t.ticket_id], t[2], context)} for t in texts],
                )


def downgrade() -> None:
    raise NotImplementedError("support_0003 sealed ticket text at rest; downgrading would write it back in plaintext")
