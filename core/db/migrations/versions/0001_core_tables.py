"""core tables

Revision ID: 0001
Revises:
Create Date: 2026-11-22 22:35:27.443153
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import enishi.db

revision = "0001"
down_revision = None
branch_labels = ("core",)
depends_on = None


def upgrade() -> None:
    op.create_table(
        "core_outbox",
        sa.Column("seq", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=100), nullable=False),
        sa.Column("entity", sa.String(length=60), nullable=False),
        sa.Column("entity_id", sa.Uuid(), nullable=True),
        sa.Column("payload", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("occurred_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", enishi.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("seq", name=op.f("pk_core_outbox")),
        sa.UniqueConstraint("id", name=op.f("uq_core_outbox_id")),
    )
    with op.batch_alter_table("core_outbox", schema=None) as batch_op:
        batch_op.create_index("ix_core_outbox_pending", ["delivered_at", "seq"], unique=False)
        batch_op.create_index(batch_op.f("ix_core_outbox_type"), ["type"], unique=False)

    op.create_table(
        "core_user",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("display_name", sa.String(length=200), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("roles", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("is_active", sa.Boolean(), nullable=False),
        sa.Column("created_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_user")),
        sa.UniqueConstraint("email", name=op.f("uq_core_user_email")),
    )
    op.create_table(
        "core_account",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=300), nullable=False),
        sa.Column("name_kana", sa.String(length=300), nullable=True),
        sa.Column("match_name", sa.String(length=300), nullable=False),
        sa.Column("domain", sa.String(length=255), nullable=True),
        sa.Column("industry", sa.String(length=100), nullable=True),
        sa.Column("employee_count", sa.Integer(), nullable=True),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("lifecycle_stage", sa.String(length=40), nullable=False),
        sa.Column("custom_fields", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("created_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", enishi.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("merged_into_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["merged_into_id"], ["core_account.id"], name=op.f("fk_core_account_merged_into_id_core_account")
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["core_user.id"], name=op.f("fk_core_account_owner_id_core_user")),
        sa.ForeignKeyConstraint(["parent_id"], ["core_account.id"], name=op.f("fk_core_account_parent_id_core_account")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_account")),
    )
    with op.batch_alter_table("core_account", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_account_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_core_account_domain"), ["domain"], unique=False)
        batch_op.create_index(batch_op.f("ix_core_account_match_name"), ["match_name"], unique=False)
        batch_op.create_index(batch_op.f("ix_core_account_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_core_account_parent_id"), ["parent_id"], unique=False)

    op.create_table(
        "core_activity",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("type", sa.String(length=60), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=True),
        sa.Column("direction", sa.String(length=10), nullable=False),
        sa.Column("occurred_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("duration_seconds", sa.Integer(), nullable=True),
        sa.Column("source_plugin", sa.String(length=60), nullable=False),
        sa.Column("created_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("direction IN ('inbound', 'outbound', 'internal')", name=op.f("ck_core_activity_direction")),
        sa.ForeignKeyConstraint(["actor_id"], ["core_user.id"], name=op.f("fk_core_activity_actor_id_core_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_activity")),
    )
    with op.batch_alter_table("core_activity", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_activity_actor_id"), ["actor_id"], unique=False)
        batch_op.create_index("ix_core_activity_occurred", ["occurred_at", "id"], unique=False)
        batch_op.create_index(batch_op.f("ix_core_activity_type"), ["type"], unique=False)

    op.create_table(
        "core_api_token",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("created_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", enishi.db.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["user_id"], ["core_user.id"], name=op.f("fk_core_api_token_user_id_core_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_api_token")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_core_api_token_token_hash")),
    )
    with op.batch_alter_table("core_api_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_api_token_user_id"), ["user_id"], unique=False)

    op.create_table(
        "core_contact",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("family_name", sa.String(length=200), nullable=True),
        sa.Column("given_name", sa.String(length=200), nullable=True),
        sa.Column("family_name_kana", sa.String(length=200), nullable=True),
        sa.Column("given_name_kana", sa.String(length=200), nullable=True),
        sa.Column("job_title", sa.String(length=200), nullable=True),
        sa.Column("department", sa.String(length=200), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("custom_fields", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("created_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("deleted_at", enishi.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("merged_into_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["merged_into_id"], ["core_contact.id"], name=op.f("fk_core_contact_merged_into_id_core_contact")
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["core_user.id"], name=op.f("fk_core_contact_owner_id_core_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_contact")),
    )
    with op.batch_alter_table("core_contact", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_contact_created_at"), ["created_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_core_contact_owner_id"), ["owner_id"], unique=False)

    op.create_table(
        "core_activity_target",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("activity_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.CheckConstraint("(contact_id IS NULL) <> (account_id IS NULL)", name=op.f("ck_core_activity_target_one_target")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["core_account.id"], name=op.f("fk_core_activity_target_account_id_core_account"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["activity_id"],
            ["core_activity.id"],
            name=op.f("fk_core_activity_target_activity_id_core_activity"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["core_contact.id"], name=op.f("fk_core_activity_target_contact_id_core_contact"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_activity_target")),
    )
    with op.batch_alter_table("core_activity_target", schema=None) as batch_op:
        batch_op.create_index("ix_core_activity_target_account", ["account_id", "activity_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_core_activity_target_activity_id"), ["activity_id"], unique=False)
        batch_op.create_index("ix_core_activity_target_contact", ["contact_id", "activity_id"], unique=False)

    op.create_table(
        "core_contact_account",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["core_account.id"], name=op.f("fk_core_contact_account_account_id_core_account"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["core_contact.id"], name=op.f("fk_core_contact_account_contact_id_core_contact"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_contact_account")),
        sa.UniqueConstraint("contact_id", "account_id", name=op.f("uq_core_contact_account_contact_id_account_id")),
    )
    with op.batch_alter_table("core_contact_account", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_contact_account_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_core_contact_account_contact_id"), ["contact_id"], unique=False)

    op.create_table(
        "core_contact_email",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("address", sa.String(length=320), nullable=False),
        sa.Column("normalized", sa.String(length=320), nullable=False),
        sa.Column("label", sa.String(length=40), nullable=True),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["core_contact.id"], name=op.f("fk_core_contact_email_contact_id_core_contact"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_contact_email")),
    )
    with op.batch_alter_table("core_contact_email", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_contact_email_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index("ix_core_contact_email_normalized", ["normalized"], unique=False)

    op.create_table(
        "core_contact_phone",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("e164", sa.String(length=20), nullable=False),
        sa.Column("label", sa.String(length=40), nullable=True),
        sa.Column("is_primary", sa.Boolean(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["core_contact.id"], name=op.f("fk_core_contact_phone_contact_id_core_contact"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_contact_phone")),
    )
    with op.batch_alter_table("core_contact_phone", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_contact_phone_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index("ix_core_contact_phone_e164", ["e164"], unique=False)

    op.create_table(
        "core_task",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("due_at", enishi.db.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("assignee_id", sa.Uuid(), nullable=True),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", enishi.db.UTCDateTime(timezone=True), nullable=False),
        sa.Column("completed_at", enishi.db.UTCDateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('open', 'done', 'canceled')", name=op.f("ck_core_task_status")),
        sa.ForeignKeyConstraint(
            ["account_id"], ["core_account.id"], name=op.f("fk_core_task_account_id_core_account"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["assignee_id"], ["core_user.id"], name=op.f("fk_core_task_assignee_id_core_user")),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["core_contact.id"], name=op.f("fk_core_task_contact_id_core_contact"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_core_task")),
    )
    with op.batch_alter_table("core_task", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_core_task_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_core_task_assignee_id"), ["assignee_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_core_task_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index("ix_core_task_open_due", ["status", "due_at"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("core_task", schema=None) as batch_op:
        batch_op.drop_index("ix_core_task_open_due")
        batch_op.drop_index(batch_op.f("ix_core_task_contact_id"))
        batch_op.drop_index(batch_op.f("ix_core_task_assignee_id"))
        batch_op.drop_index(batch_op.f("ix_core_task_account_id"))

    op.drop_table("core_task")
    with op.batch_alter_table("core_contact_phone", schema=None) as batch_op:
        batch_op.drop_index("ix_core_contact_phone_e164")
        batch_op.drop_index(batch_op.f("ix_core_contact_phone_contact_id"))

    op.drop_table("core_contact_phone")
    with op.batch_alter_table("core_contact_email", schema=None) as batch_op:
        batch_op.drop_index("ix_core_contact_email_normalized")
        batch_op.drop_index(batch_op.f("ix_core_contact_email_contact_id"))

    op.drop_table("core_contact_email")
    with op.batch_alter_table("core_contact_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_contact_account_contact_id"))
        batch_op.drop_index(batch_op.f("ix_core_contact_account_account_id"))

    op.drop_table("core_contact_account")
    with op.batch_alter_table("core_activity_target", schema=None) as batch_op:
        batch_op.drop_index("ix_core_activity_target_contact")
        batch_op.drop_index(batch_op.f("ix_core_activity_target_activity_id"))
        batch_op.drop_index("ix_core_activity_target_account")

    op.drop_table("core_activity_target")
    with op.batch_alter_table("core_contact", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_contact_owner_id"))
        batch_op.drop_index(batch_op.f("ix_core_contact_created_at"))

    op.drop_table("core_contact")
    with op.batch_alter_table("core_api_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_api_token_user_id"))

    op.drop_table("core_api_token")
    with op.batch_alter_table("core_activity", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_activity_type"))
        batch_op.drop_index("ix_core_activity_occurred")
        batch_op.drop_index(batch_op.f("ix_core_activity_actor_id"))

    op.drop_table("core_activity")
    with op.batch_alter_table("core_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_account_parent_id"))
        batch_op.drop_index(batch_op.f("ix_core_account_owner_id"))
        batch_op.drop_index(batch_op.f("ix_core_account_match_name"))
        batch_op.drop_index(batch_op.f("ix_core_account_domain"))
        batch_op.drop_index(batch_op.f("ix_core_account_created_at"))

    op.drop_table("core_account")
    op.drop_table("core_user")
    with op.batch_alter_table("core_outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_core_outbox_type"))
        batch_op.drop_index("ix_core_outbox_pending")

    op.drop_table("core_outbox")
