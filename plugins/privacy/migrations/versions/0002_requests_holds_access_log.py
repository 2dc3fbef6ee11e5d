"""data-subject requests, holds, access log

Revision ID: privacy_0002
Revises: privacy_0001
Create Date: 2026-11-23 03:21:43.236625
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import enishi.plugin

revision = "privacy_0002"
down_revision = "privacy_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "privacy_access_log",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=True),
        sa.Column("roles", sa.String(length=200), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("action", sa.String(length=60), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("prev_hash", sa.String(length=64), nullable=False),
        sa.Column("hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_privacy_access_log")),
        sa.UniqueConstraint("hash", name=op.f("uq_privacy_access_log_hash")),
    )
    with op.batch_alter_table("privacy_access_log", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_privacy_access_log_contact_id"), ["contact_id"], unique=False)

    op.create_table(
        "privacy_legal_hold",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("node_type", sa.String(length=60), nullable=False),
        sa.Column("record_id", sa.Uuid(), nullable=False),
        sa.Column("basis", sa.String(length=300), nullable=False),
        sa.Column("reference", sa.String(length=200), nullable=True),
        sa.Column("until", sa.Date(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("created_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.Column("released_at", enishi.plugin.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["core_contact.id"], name=op.f("fk_privacy_legal_hold_contact_id_core_contact"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_legal_hold")),
    )
    with op.batch_alter_table("privacy_legal_hold", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_privacy_legal_hold_contact_id"), ["contact_id"], unique=False)

    op.create_table(
        "privacy_provision",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("recipient", sa.String(length=300), nullable=False),
        sa.Column("purpose", sa.String(length=200), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("provided_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["core_contact.id"], name=op.f("fk_privacy_provision_contact_id_core_contact"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_privacy_provision")),
    )
    with op.batch_alter_table("privacy_provision", schema=None) as batch_op:
        batch_op.create_index("ix_privacy_provision_contact", ["contact_id", "seq"], unique=False)

    op.create_table(
        "privacy_request",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=30), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("regime", sa.String(length=10), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("address_index", sa.String(length=64), nullable=True),
        sa.Column("received_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.Column("due_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.Column("extended", sa.Boolean(), nullable=False),
        sa.Column("extension_reason", sa.String(length=1000), nullable=True),
        sa.Column("details", sa.LargeBinary(), nullable=True),
        sa.Column("code_hash", sa.String(length=64), nullable=True),
        sa.Column("code_expires_at", enishi.plugin.UTCDateTime(timezone=True), nullable=True),
        sa.Column("code_attempts", sa.Integer(), nullable=False),
        sa.Column("decision_reason", sa.String(length=1000), nullable=True),
        sa.Column("lease_until", enishi.plugin.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        sa.Column("completed_at", enishi.plugin.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["core_contact.id"], name=op.f("fk_privacy_request_contact_id_core_contact"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_request")),
    )
    with op.batch_alter_table("privacy_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_privacy_request_address_index"), ["address_index"], unique=False)
        batch_op.create_index(batch_op.f("ix_privacy_request_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index("ix_privacy_request_status_due", ["status", "due_at"], unique=False)

    op.create_table(
        "privacy_restriction",
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=True),
        sa.Column("since", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["core_contact.id"], name=op.f("fk_privacy_restriction_contact_id_core_contact"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("contact_id", name=op.f("pk_privacy_restriction")),
    )
    op.create_table(
        "privacy_export",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("format", sa.String(length=10), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=True),
        sa.Column("link_expires_at", enishi.plugin.UTCDateTime(timezone=True), nullable=True),
        sa.Column("downloaded_at", enishi.plugin.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["privacy_request.id"], name=op.f("fk_privacy_export_request_id_privacy_request"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_export")),
        sa.UniqueConstraint("request_id", "format", name=op.f("uq_privacy_export_request_id_format")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_privacy_export_token_hash")),
    )
    op.create_table(
        "privacy_request_event",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("note", sa.String(length=1000), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["privacy_request.id"],
            name=op.f("fk_privacy_request_event_request_id_privacy_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_privacy_request_event")),
    )
    with op.batch_alter_table("privacy_request_event", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_privacy_request_event_request_id"), ["request_id"], unique=False)

    op.create_table(
        "privacy_request_run",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("request_id", sa.Uuid(), nullable=False),
        sa.Column("plugin", sa.String(length=60), nullable=False),
        sa.Column("action", sa.String(length=10), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("affected", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("retained", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("section", sa.LargeBinary(), nullable=True),
        sa.Column("finished_at", enishi.plugin.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["request_id"],
            ["privacy_request.id"],
            name=op.f("fk_privacy_request_run_request_id_privacy_request"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_request_run")),
        sa.UniqueConstraint("request_id", "plugin", "action", name=op.f("uq_privacy_request_run_request_id_plugin_action")),
    )
    with op.batch_alter_table("privacy_request_run", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_privacy_request_run_request_id"), ["request_id"], unique=False)

    with op.batch_alter_table("privacy_subject_key", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kek_id", sa.String(length=16), nullable=True))

    _refuse_changes_to_access_log()


def _refuse_changes_to_access_log() -> None:
    """The access log is append-only in the database itself, not only by convention."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""CREATE FUNCTION privacy_access_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
                      BEGIN RAISE EXCEPTION 'privacy_access_log is append-only'; END $$""")
        op.execute("""CREATE TRIGGER privacy_access_log_append_only BEFORE UPDATE OR DELETE ON privacy_access_log
                      FOR EACH ROW EXECUTE FUNCTION privacy_access_log_append_only()""")
    else:
        for action in ("UPDATE", "DELETE"):
            op.execute(f"""CREATE TRIGGER privacy_access_log_no_{action.lower()} BEFORE {action} ON privacy_access_log
                           BEGIN SELECT RAISE(ABORT, 'privacy_access_log is append-only'); END""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER privacy_access_log_append_only ON privacy_access_log")
        op.execute("DROP FUNCTION privacy_access_log_append_only()")
    with op.batch_alter_table("privacy_subject_key", schema=None) as batch_op:
        batch_op.drop_column("kek_id")

    with op.batch_alter_table("privacy_request_run", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_request_run_request_id"))

    op.drop_table("privacy_request_run")
    with op.batch_alter_table("privacy_request_event", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_request_event_request_id"))

    op.drop_table("privacy_request_event")
    op.drop_table("privacy_export")
    op.drop_table("privacy_restriction")
    with op.batch_alter_table("privacy_request", schema=None) as batch_op:
        batch_op.drop_index("ix_privacy_request_status_due")
        batch_op.drop_index(batch_op.f("ix_privacy_request_contact_id"))
        batch_op.drop_index(batch_op.f("ix_privacy_request_address_index"))

    op.drop_table("privacy_request")
    with op.batch_alter_table("privacy_provision", schema=None) as batch_op:
        batch_op.drop_index("ix_privacy_provision_contact")

    op.drop_table("privacy_provision")
    with op.batch_alter_table("privacy_legal_hold", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_legal_hold_contact_id"))

    op.drop_table("privacy_legal_hold")
    with op.batch_alter_table("privacy_access_log", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_access_log_contact_id"))

    op.drop_table("privacy_access_log")
