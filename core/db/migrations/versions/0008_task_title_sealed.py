"""task titles sealed under a data key per task

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-23 17:00:00

Existing tasks get a key each and their title is sealed with the configured key-encryption key
(ENISHI_KEK), then the plaintext column is dropped. One way only, like 0005-0007.
"""

import sqlalchemy as sa
from alembic import op

import enishi.db

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    op.create_table(
        "core_task_key",
        sa.Column("task_id", sa.Uuid(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("kek_id", sa.String(length=16), nullable=True),
        sa.Column("created_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("destroyed_at", enishi.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["task_id"], ["core_task.id"], name=op.f("fk_core_task_key_task_id_core_task"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("task_id", name=op.f("pk_core_task_key")),
    )
    with op.batch_alter_table("core_task", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed_title", sa.LargeBinary(), nullable=True))

    _seal_existing_rows()

    with op.batch_alter_table("core_task", schema=None) as batch_op:
        batch_op.drop_column("title")
        batch_op.alter_column("sealed_title", existing_type=sa.LargeBinary(), nullable=False)


def _seal_existing_rows() -> None:
    from enishi import crypto

    bind = op.get_bind()
    meta = sa.MetaData()
    task = sa.Table("core_task", meta, autoload_with=bind)
    key_table = sa.Table("core_task_key", meta, autoload_with=bind)
    if bind.execute(sa.select(sa.func.count()).select_from(task)).scalar_one() == 0:
        return
    ring = crypto.KeyRing(op.get_context().config.attributes["settings"])
    last = None
    while True:
        query = sa.select(task.c.id, task.c.title, task.c.created_at).order_by(task.c.id).limit(BATCH)
        rows = bind.execute(query if last is None else query.where(task.c.id > last)).all()
        if not rows:
            return
        last = rows[-1].id
        keys, sealed = [], []
        for row in rows:
            data_key, wrapped = ring.new_data_key()
            keys.append({"task_id": row.id, "wrapped_key": wrapped, "kek_id": ring.current_id, "created_at": row.created_at})
            sealed.append({"_id": row.id, "sealed_title": crypto.encrypt(data_key, row.title, b"core_task.title")})
        bind.execute(key_table.insert(), keys)
        bind.execute(task.update().where(task.c.id == sa.bindparam("_id")), sealed)


def downgrade() -> None:
    raise NotImplementedError("0008 sealed task titles at rest; downgrading would write them back in plaintext")
