"""ledger reasons sealed under a data key per membership

Revision ID: loyalty_0002
Revises: loyalty_0001
Create Date: 2026-11-23 18:00:00

Every existing member gets a key (an erased one's is born destroyed: its reasons were emptied
already) and the reasons on its ledger are sealed with the configured key-encryption key
(ENISHI_KEK), then the plaintext column is dropped. One way only, like the core's 0005-0008.
"""

import sqlalchemy as sa
from alembic import op

import enishi.plugin

revision = "loyalty_0002"
down_revision = "loyalty_0001"
branch_labels = None
depends_on = None

BATCH = 500


def upgrade() -> None:
    op.create_table(
        "loyalty_member_key",
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("kek_id", sa.String(length=16), nullable=True),
        sa.Column("created_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.Column("destroyed_at", enishi.plugin.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["loyalty_member.id"], name=op.f("fk_loyalty_member_key_member_id_loyalty_member"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("member_id", name=op.f("pk_loyalty_member_key")),
    )
    with op.batch_alter_table("loyalty_entry", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed_reason", sa.LargeBinary(), nullable=True))

    _seal_existing_rows()

    with op.batch_alter_table("loyalty_entry", schema=None) as batch_op:
        batch_op.drop_column("reason")


def _seal_existing_rows() -> None:
    from enishi.plugin import KeyRing, encrypt

    bind = op.get_bind()
    meta = sa.MetaData()
    member, entry, key_table = (
        sa.Table(name, meta, autoload_with=bind) for name in ("loyalty_member", "loyalty_entry", "loyalty_member_key")
    )
    if bind.execute(sa.select(sa.func.count()).select_from(member)).scalar_one() == 0:
        return
    ring = KeyRing(op.get_context().config.attributes["settings"])
    last = None
    while True:
        query = sa.select(member.c.id, member.c.contact_id, member.c.enrolled_at).order_by(member.c.id).limit(BATCH)
        rows = bind.execute(query if last is None else query.where(member.c.id > last)).all()
        if not rows:
            return
        last = rows[-1].id
        keys, data_keys = [], {}
        for row in rows:
            if row.contact_id is None:  # erased before this revision
                keys.append(
                    {
                        "member_id": row.id,
                        "wrapped_key": None,
                        "kek_id": None,
                        "created_at": row.enrolled_at,
                        "destroyed_at": row.enrolled_at,
                    }
                )
                continue
            data_keys[row.id], wrapped = ring.new_data_key()
            keys.append(
                {
                    "member_id": row.id,
                    "wrapped_key": wrapped,
                    "kek_id": ring.current_id,
                    "created_at": row.enrolled_at,
                    "destroyed_at": None,
                }
            )
        bind.execute(key_table.insert(), keys)
        reasons = bind.execute(
            sa.select(entry.c.id, entry.c.member_id, entry.c.reason).where(
                entry.c.member_id.in_(list(data_keys)), entry.c.reason.is_not(None)
            )
        ).all()
        if reasons:
            bind.execute(
                entry.update().where(entry.c.id == sa.bindparam("_id")),
                [
                    {"_id": r.id, "sealed_reason": encrypt(data_keys[r.member_id], r.reason, b"loyalty_entry.reason")}
                    for r in reasons
                ],
            )


def downgrade() -> None:
    raise NotImplementedError("loyalty_0002 sealed ledger reasons at rest; downgrading would write them back in plaintext")
