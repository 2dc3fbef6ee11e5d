"""contacts' custom fields sealed under the person's key, filtered by HMAC'd terms

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-23 19:00:00

Sealed with the configured key-encryption key (ENISHI_KEK); their filter terms go to
core_contact_search_token; the plaintext column is dropped. One way only, like 0005-0008.
"""

import sqlalchemy as sa
from alembic import op

import enishi.db

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("core_contact", schema=None) as batch_op:
        batch_op.add_column(sa.Column("sealed_custom_fields", sa.LargeBinary(), nullable=True))

    _seal_existing_rows()

    with op.batch_alter_table("core_contact", schema=None) as batch_op:
        batch_op.drop_column("custom_fields")


def _seal_existing_rows() -> None:
    import json

    from enishi import crypto

    bind = op.get_bind()
    contact = sa.table(
        "core_contact",
        sa.column("id", sa.Uuid()),
        sa.column("custom_fields", enishi.db.JSONType),
        sa.column("sealed_custom_fields", sa.LargeBinary()),
    )
    key_table = sa.table(
        "core_subject_key",
        sa.column("contact_id", sa.Uuid()),
        sa.column("kek_id", sa.String()),
        sa.column("wrapped_key", sa.LargeBinary()),
    )
    token_table = sa.table("core_contact_search_token", sa.column("contact_id", sa.Uuid()), sa.column("token", sa.String()))
    ring = crypto.KeyRing(op.get_context().config.attributes["settings"])
    last = None
    while True:
        query = (
            sa.select(contact.c.id, contact.c.custom_fields, key_table.c.kek_id, key_table.c.wrapped_key)
            .join(key_table, key_table.c.contact_id == contact.c.id)
            .order_by(contact.c.id)
            .limit(BATCH)
        )
        rows = bind.execute(query if last is None else query.where(contact.c.id > last)).all()
        if not rows:
            return
        last = rows[-1].id
        sealed, tokens = [], []
        for row in rows:
            if not row.custom_fields or row.wrapped_key is None:  # none, or an erased person's: nothing to keep
                continue
            data_key = ring.unwrap(row.kek_id, row.wrapped_key)
            plaintext = json.dumps(row.custom_fields, ensure_ascii=False)
            sealed.append(
                {"_id": row.id, "sealed_custom_fields": crypto.encrypt(data_key, plaintext, b"core_contact.custom_fields")}
            )
            tokens += [{"contact_id": row.id, "token": token} for token in ring.term_tokens(_terms(row.custom_fields))]
        if sealed:
            bind.execute(contact.update().where(contact.c.id == sa.bindparam("_id")), sealed)
        if tokens:
            bind.execute(token_table.insert(), tokens)


def _terms(fields: dict) -> set[str]:
    """A frozen copy of enishi.services.contacts.custom_field_terms as of this revision."""
    from enishi.crypto import grams
    from enishi.normalize import search_key

    def term(key, kind="", value=""):
        return f"{len(key)}:{key}{kind}{value}"

    def whole(value):
        if isinstance(value, bool):
            return "b" + str(value).lower()
        if isinstance(value, (int, float)):
            try:
                return "n" + repr(float(value))
            except OverflowError:
                return "n" + str(value)
        if isinstance(value, str):
            return "s" + search_key(value)
        return None

    terms = set()
    for key, value in fields.items():
        terms.add(term(key))
        if (value_term := whole(value)) is not None:
            terms.add(term(key, "=", value_term))
        if isinstance(value, str):
            terms.update(term(key, "~", gram) for gram in grams(search_key(value)))
    return terms


def downgrade() -> None:
    raise NotImplementedError("0009 sealed contacts' custom fields at rest; downgrading would write them back in plaintext")
