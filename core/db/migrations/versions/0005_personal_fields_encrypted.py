"""names, kana, emails and phones encrypted at rest under per-subject keys; blind indexes,
sort prefixes and HMAC'd search tokens; subject keys move from the privacy plugin to the core

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23 10:00:00

Existing rows are sealed with the configured key-encryption key (ENISHI_KEK), then the plaintext
columns are dropped. One way only: a downgrade would have to write the plaintext back.
"""

import sqlalchemy as sa
from alembic import op

import enishi.db

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

NAME_FIELDS = ("family_name", "given_name", "family_name_kana", "given_name_kana")
BATCH = 1000


def upgrade() -> None:
    op.create_table(
        "core_subject_key",
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("wrapped_key", sa.LargeBinary(), nullable=True),
        sa.Column("kek_id", sa.String(length=16), nullable=True),
        sa.Column("created_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("destroyed_at", enishi.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["core_contact.id"], name=op.f("fk_core_subject_key_contact_id_core_contact"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_core_subject_key")),
    )
    op.create_table(
        "core_contact_search_token",
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("token", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["core_contact.id"],
            name=op.f("fk_core_contact_search_token_contact_id_core_contact"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contact_id", "token", name=op.f("pk_core_contact_search_token")),
        sqlite_with_rowid=False,
    )
    with op.batch_alter_table("core_contact_search_token", schema=None) as batch_op:
        batch_op.create_index("ix_core_contact_search_token_token", ["token", "contact_id"], unique=False)
    with op.batch_alter_table("core_contact", schema=None) as batch_op:
        for name in NAME_FIELDS:
            batch_op.add_column(sa.Column(f"sealed_{name}", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("kana_sort", sa.String(length=2), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("name_sort", sa.String(length=1), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("name_index", sa.String(length=64), nullable=True))
    with op.batch_alter_table("core_contact_email", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed_address", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("address_index", sa.String(length=64), nullable=True))
    with op.batch_alter_table("core_contact_phone", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed_e164", sa.LargeBinary(), nullable=True))
        batch_op.add_column(sa.Column("e164_index", sa.String(length=64), nullable=True))

    _seal_existing_rows()

    with op.batch_alter_table("core_contact", schema=None) as batch_op:
        for name in (*NAME_FIELDS, "search_text"):
            batch_op.drop_column(name)
        batch_op.alter_column("kana_sort", server_default=None)
        batch_op.alter_column("name_sort", server_default=None)
        batch_op.create_index(batch_op.f("ix_core_contact_name_index"), ["name_index"], unique=False)
    with op.batch_alter_table("core_contact_email", schema=None) as batch_op:
        batch_op.drop_index("ix_core_contact_email_normalized")
        batch_op.drop_column("address")
        batch_op.drop_column("normalized")
        batch_op.alter_column("sealed_address", existing_type=sa.LargeBinary(), nullable=False)
        batch_op.alter_column("address_index", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index(batch_op.f("ix_core_contact_email_address_index"), ["address_index"], unique=False)
    with op.batch_alter_table("core_contact_phone", schema=None) as batch_op:
        batch_op.drop_index("ix_core_contact_phone_e164")
        batch_op.drop_column("e164")
        batch_op.alter_column("sealed_e164", existing_type=sa.LargeBinary(), nullable=False)
        batch_op.alter_column("e164_index", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_index(batch_op.f("ix_core_contact_phone_e164_index"), ["e164_index"], unique=False)


def _seal_existing_rows() -> None:
    """Every contact gets a subject key (the privacy plugin's, where it made one), and its
    plaintext is sealed under it, with the indexes and tokens the code now searches by."""
    from enishi import crypto

    # The normalisers are shared with the running code on purpose: indexes must match what its
    # queries compute, and a change to them comes with a migration that re-indexes.
    from enishi.normalize import normalize_email, search_key

    bind = op.get_bind()
    meta = sa.MetaData()
    contact = sa.Table("core_contact", meta, autoload_with=bind)
    email = sa.Table("core_contact_email", meta, autoload_with=bind)
    phone = sa.Table("core_contact_phone", meta, autoload_with=bind)
    key_table = sa.Table("core_subject_key", meta, autoload_with=bind)
    token_table = sa.Table("core_contact_search_token", meta, autoload_with=bind)
    if bind.execute(sa.select(sa.func.count()).select_from(contact)).scalar_one() == 0:
        return
    ring = crypto.KeyRing(op.get_context().config.attributes["settings"])
    if sa.inspect(bind).has_table("privacy_subject_key"):
        old = sa.Table("privacy_subject_key", meta, autoload_with=bind)
        columns = [
            old.c.contact_id,
            old.c.wrapped_key,
            old.c.kek_id if "kek_id" in old.c else sa.null(),
            old.c.created_at,
            old.c.destroyed_at,
        ]
        bind.execute(
            key_table.insert().from_select(
                ["contact_id", "wrapped_key", "kek_id", "created_at", "destroyed_at"], sa.select(*columns)
            )
        )
    last = None
    while True:
        query = sa.select(contact.c.id, *(contact.c[name] for name in NAME_FIELDS)).order_by(contact.c.id).limit(BATCH)
        rows = bind.execute(query if last is None else query.where(contact.c.id > last)).all()
        if not rows:
            return
        last = rows[-1].id
        ids = [row.id for row in rows]
        keys = {r.contact_id: r for r in bind.execute(sa.select(key_table).where(key_table.c.contact_id.in_(ids)))}
        emails, phones = {}, {}
        for row in bind.execute(
            sa.select(email.c.id, email.c.contact_id, email.c.address, email.c.normalized).where(email.c.contact_id.in_(ids))
        ):
            emails.setdefault(row.contact_id, []).append(row)
        for row in bind.execute(sa.select(phone.c.id, phone.c.contact_id, phone.c.e164).where(phone.c.contact_id.in_(ids))):
            phones.setdefault(row.contact_id, []).append(row)
        new_keys, contact_rows, email_rows, phone_rows, token_rows = [], [], [], [], []
        for row in rows:
            stored = keys.get(row.id)
            if stored is None:
                data_key, wrapped = ring.new_data_key()
                new_keys.append({"contact_id": row.id, "wrapped_key": wrapped, "kek_id": ring.current_id})
            elif stored.wrapped_key is None:
                data_key = None  # erased: its names were anonymised already
            else:
                data_key = ring.unwrap(stored.kek_id, stored.wrapped_key)
            names = {name: getattr(row, name) for name in NAME_FIELDS}
            contact_rows.append(
                {
                    "_id": row.id,
                    **_name_columns(ring, search_key, names),
                    **{f"sealed_{name}": _seal(data_key, value, f"core_contact.{name}") for name, value in names.items()},
                }
            )
            email_rows += [
                {
                    "_id": item.id,
                    "sealed_address": _seal(data_key, item.address, "core_contact_email.address"),
                    "address_index": ring.blind_index(item.normalized),
                }
                for item in emails.get(row.id, [])
            ]
            phone_rows += [
                {
                    "_id": item.id,
                    "sealed_e164": _seal(data_key, item.e164, "core_contact_phone.e164"),
                    "e164_index": ring.blind_index(item.e164),
                }
                for item in phones.get(row.id, [])
            ]
            keys_of_row = _search_keys(
                search_key,
                names,
                [normalize_email(e.address) for e in emails.get(row.id, [])],
                [p.e164 for p in phones.get(row.id, [])],
            )
            token_rows += [{"contact_id": row.id, "token": token} for token in ring.search_tokens(keys_of_row)]
        # One executemany per table and batch: row-by-row statements would take hours at a million people.
        for statement, params in (
            (key_table.insert().values(created_at=sa.func.now()), new_keys),
            (contact.update().where(contact.c.id == sa.bindparam("_id")), contact_rows),
            (email.update().where(email.c.id == sa.bindparam("_id")), email_rows),
            (phone.update().where(phone.c.id == sa.bindparam("_id")), phone_rows),
            (token_table.insert(), token_rows),
        ):
            if params:
                bind.execute(statement, params)


# Frozen copies of the application's helpers as they were at this revision: a later change to the
# code must not change what an old database upgraded through 0005 gets.
def _name_columns(ring, search_key, names: dict) -> dict:
    full_name = search_key((names.get("family_name") or "") + (names.get("given_name") or ""))
    return {
        "kana_sort": search_key((names.get("family_name_kana") or "") + (names.get("given_name_kana") or ""))[:2],
        "name_sort": search_key(names.get("family_name"))[:1],
        "name_index": ring.blind_index(full_name) if full_name else None,
    }


def _search_keys(search_key, names: dict, emails: list, phones: list) -> list:
    family, given = names.get("family_name") or "", names.get("given_name") or ""
    family_kana, given_kana = names.get("family_name_kana") or "", names.get("given_name_kana") or ""
    parts = [family + given, given + family, family_kana + given_kana, given_kana + family_kana, *emails]
    parts += [phone.lstrip("+") for phone in phones]
    parts += ["0" + phone[3:] for phone in phones if phone.startswith("+81")]
    return list(dict.fromkeys(key for key in map(search_key, parts) if key))


def _seal(data_key, value, context: str):
    if value is None or data_key is None:
        return None
    from enishi import crypto

    return crypto.encrypt(data_key, value, context.encode())


def downgrade() -> None:
    raise NotImplementedError("0005 sealed personal data at rest; downgrading would write it back in plaintext")
