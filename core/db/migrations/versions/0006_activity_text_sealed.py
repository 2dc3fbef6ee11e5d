"""activity summaries and bodies sealed under a data key per activity

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23 14:00:00

Existing activities get a key each and their text is sealed with the configured key-encryption key
(ENISHI_KEK), then the plaintext columns are dropped. One way only, like 0005.
"""

import sqlalchemy as sa
from alembic import op

import enishi.db

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    op.create_table(
        "core_activity_key",
        sa.Column("activity_id", sa.Uuid(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("kek_id", sa.String(length=16), nullable=True),
        sa.Column("created_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("destroyed_at", enishi.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["activity_id"], ["core_activity.id"], name=op.f("fk_core_activity_key_activity_id_core_activity"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("activity_id", name=op.f("pk_core_activity_key")),
    )
    with op.batch_alter_table("core_activity", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed_summary", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("sealed_body", sa.LargeBinary(), nullable=True))

    _seal_existing_rows()

    with op.batch_alter_table("core_activity", schema=None) as batch_op:
        batch_op.drop_column("summary")
        batch_op.drop_column("body")
        batch_op.alter_column("sealed_summary", existing_type=sa.LargeBinary(), nullable=False)


def _seal_existing_rows() -> None:
    from enishi import crypto

    bind = op.get_bind()
    meta = sa.MetaData()
    activity = sa.Table("core_activity", meta, autoload_with=bind)
    key_table = sa.Table("core_activity_key", meta, autoload_with=bind)
    if bind.execute(sa.select(sa.func.count()).select_from(activity)).scalar_one() == 0:
        return
    ring = crypto.KeyRing(op.get_context().config.attributes["settings"])
    last = None
    while True:
        query = (
            sa.select(activity.c.id, activity.c.summary, activity.c.body, activity.c.created_at)
            .order_by(activity.c.id)
            .limit(BATCH)
        )
        rows = bind.execute(query if last is None else query.where(activity.c.id > last)).all()
        if not rows:
            return
        last = rows[-1].id
        keys, sealed = [], []
        for row in rows:
            data_key, wrapped = ring.new_data_key()
            keys.append({"activity_id": row.id, "wrapped_key": wrapped, "kek_id": ring.current_id, "created_at": row.created_at})
            sealed.append(
                {
                    "_id": row.id,
                    "sealed_summary": crypto.encrypt(data_key, row.summary, b"core_activity.summary"),
                    "sealed_body": None if row.body is None else crypto.encrypt(data_key, row.body, b"core_activity.body"),
                }
            )
        # One executemany per table and batch, as in 0005.
        bind.execute(key_table.insert(), keys)
        bind.execute(activity.update().where(activity.c.id == sa.bindparam("_id")), sealed)


def downgrade() -> None:
    raise NotImplementedError("0006 sealed activity text at rest; downgrading would write it back in plaintext")
