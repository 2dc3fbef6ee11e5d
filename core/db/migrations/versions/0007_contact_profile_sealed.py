"""contacts' job titles and departments sealed under the person's key, with blind indexes

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23 15:00:00

Sealed with the configured key-encryption key (ENISHI_KEK); the plaintext columns are dropped.
One way only, like 0005.
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

FIELDS = ("job_title", "department")
BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("core_contact", schema=None) as batch_op:
        for name in FIELDS:
            batch_op.add_column(sa.Column(f"sealed_{name}", sa.LargeBinary(), nullable=True))
            batch_op.add_column(sa.Column(f"{name}_index", sa.String(length=64), nullable=True))

    _seal_existing_rows()

    with op.batch_alter_table("core_contact", schema=None) as batch_op:
        for name in FIELDS:
            batch_op.drop_column(name)
            batch_op.create_index(batch_op.f(f"ix_core_contact_{name}_index"), [f"{name}_index"], unique=False)


def _seal_existing_rows() -> None:
    from enishi import crypto
    from enishi.normalize import search_key

    bind = op.get_bind()
    meta = sa.MetaData()
    contact = sa.Table("core_contact", meta, autoload_with=bind)
    key_table = sa.Table("core_subject_key", meta, autoload_with=bind)
    ring = crypto.KeyRing(op.get_context().config.attributes["settings"])
    last = None
    while True:
        query = (
            sa.select(contact.c.id, contact.c.job_title, contact.c.department, key_table.c.kek_id, key_table.c.wrapped_key)
            .join(key_table, key_table.c.contact_id == contact.c.id)
            .where(sa.or_(contact.c.job_title.is_not(None), contact.c.department.is_not(None)))
            .order_by(contact.c.id)
            .limit(BATCH)
        )
        rows = bind.execute(query if last is None else query.where(contact.c.id > last)).all()
        if not rows:
            return
        last = rows[-1].id
        sealed = []
        for row in rows:
            data_key = None if row.wrapped_key is None else ring.unwrap(row.kek_id, row.wrapped_key)
            values = {"_id": row.id}
            for name in FIELDS:
                value = getattr(row, name) if data_key is not None else None  # erased people keep nothing
                key = search_key(value) if value is not None else ""
                values[f"sealed_{name}"] = (
                    None if value is None else crypto.encrypt(data_key, value, f"core_contact.{name}".encode())
                )
                values[f"{name}_index"] = ring.blind_index(key) if key else None
            sealed.append(values)
        bind.execute(contact.update().where(contact.c.id == sa.bindparam("_id")), sealed)


def downgrade() -> None:
    raise NotImplementedError("0007 sealed job titles and departments at rest; downgrading would write them back in plaintext")
