"""provision records (data items, basis, retention), the register of processors and recipients,
cross-border consents, sensitive fields and legal grounds

Revision ID: privacy_0006
Revises: privacy_0005
Create Date: 2026-12-06 09:10:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import enishi.plugin

revision = "privacy_0006"
down_revision = "privacy_0005"
branch_labels = None
depends_on = None

_JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def _instant(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, enishi.plugin.UTCDateTime(timezone=True), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "privacy_recipient",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("transfer_route", sa.String(length=30), nullable=False),
        sa.Column("purpose", sa.String(length=500), nullable=False),
        sa.Column("contract_date", sa.Date(), nullable=True),
        sa.Column("dpa_date", sa.Date(), nullable=True),
        sa.Column("review_date", sa.Date(), nullable=True),
        sa.Column("security_measures", sa.String(length=4000), nullable=True),
        sa.Column("sub_processors", _JSON, nullable=False),
        sa.Column("reviewer_id", sa.Uuid(), nullable=True),
        sa.Column("reminded_for", sa.Date(), nullable=True),
        sa.Column("reminder_task_id", sa.Uuid(), nullable=True),
        sa.Column("created_by", sa.Uuid(), nullable=True),
        _instant("created_at"),
        _instant("updated_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_recipient")),
        sa.UniqueConstraint("name", name=op.f("uq_privacy_recipient_name")),
    )
    # Records written before the register: consent-based, one per provision, kept 3 years from then.
    with op.batch_alter_table("privacy_provision", schema=None) as batch_op:
        batch_op.add_column(sa.Column("recipient_id", sa.Uuid(), nullable=True))
        batch_op.add_column(sa.Column("data_items", _JSON, nullable=False, server_default="[]"))
        batch_op.add_column(sa.Column("basis", sa.String(length=30), nullable=False, server_default="consent"))
        batch_op.add_column(sa.Column("legal_ground", sa.String(length=1000), nullable=True))
        batch_op.add_column(sa.Column("exempt", sa.Boolean(), nullable=False, server_default=sa.false()))
        batch_op.add_column(sa.Column("country", sa.String(length=2), nullable=True))
        batch_op.add_column(sa.Column("record_method", sa.String(length=20), nullable=False, server_default="individual"))
        batch_op.add_column(sa.Column("recorded_on", sa.Date(), nullable=True))
        batch_op.add_column(sa.Column("keep_until", sa.Date(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_privacy_provision_recipient_id_privacy_recipient"), "privacy_recipient", ["recipient_id"], ["id"]
        )
        batch_op.create_index(batch_op.f("ix_privacy_provision_recipient_id"), ["recipient_id"], unique=False)
    op.create_table(
        "privacy_cross_border_consent",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("recipient_id", sa.Uuid(), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("country", sa.String(length=2), nullable=False),
        sa.Column("regime_information", sa.String(length=4000), nullable=False),
        sa.Column("security_measures", sa.String(length=4000), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        _instant("captured_at"),
        sa.ForeignKeyConstraint(
            ["contact_id"],
            ["core_contact.id"],
            name=op.f("fk_privacy_cross_border_consent_contact_id_core_contact"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["recipient_id"],
            ["privacy_recipient.id"],
            name=op.f("fk_privacy_cross_border_consent_recipient_id_privacy_recipient"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_privacy_cross_border_consent")),
    )
    with op.batch_alter_table("privacy_cross_border_consent", schema=None) as batch_op:
        batch_op.create_index("ix_privacy_cross_border_consent_subject", ["contact_id", "recipient_id", "seq"], unique=False)
    op.create_table(
        "privacy_sensitive_field",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("entity", sa.String(length=30), nullable=False),
        sa.Column("field", sa.String(length=120), nullable=False),
        sa.Column("marked_by", sa.Uuid(), nullable=True),
        _instant("marked_at"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_privacy_sensitive_field")),
        sa.UniqueConstraint("entity", "field", name=op.f("uq_privacy_sensitive_field_entity_field")),
    )
    op.create_table(
        "privacy_legal_ground",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("purpose", sa.String(length=60), nullable=False),
        sa.Column("ground", sa.String(length=1000), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        _instant("recorded_at"),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["core_contact.id"], name=op.f("fk_privacy_legal_ground_contact_id_core_contact"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_privacy_legal_ground")),
    )
    with op.batch_alter_table("privacy_legal_ground", schema=None) as batch_op:
        batch_op.create_index("ix_privacy_legal_ground_subject", ["contact_id", "purpose"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("privacy_legal_ground", schema=None) as batch_op:
        batch_op.drop_index("ix_privacy_legal_ground_subject")
    op.drop_table("privacy_legal_ground")
    op.drop_table("privacy_sensitive_field")
    with op.batch_alter_table("privacy_cross_border_consent", schema=None) as batch_op:
        batch_op.drop_index("ix_privacy_cross_border_consent_subject")
    op.drop_table("privacy_cross_border_consent")
    with op.batch_alter_table("privacy_provision", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_privacy_provision_recipient_id"))
        batch_op.drop_constraint(batch_op.f("fk_privacy_provision_recipient_id_privacy_recipient"), type_="foreignkey")
        for column in (
            "keep_until",
            "recorded_on",
            "record_method",
            "country",
            "exempt",
            "legal_ground",
            "basis",
            "data_items",
            "recipient_id",
        ):
            batch_op.drop_column(column)
    op.drop_table("privacy_recipient")
