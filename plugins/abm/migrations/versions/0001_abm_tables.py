"""abm tables

Revision ID: abm_0001
Revises:
Create Date: 2026-11-22 23:19:30.105469
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import enishi.plugin

revision = "abm_0001"
down_revision = None
branch_labels = ("abm",)
depends_on = "0001"


def upgrade() -> None:
    op.create_table(
        "abm_config",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("values", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("updated_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_abm_config")),
    )
    op.create_table(
        "abm_account_plan",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("objectives", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("target_close", sa.Date(), nullable=True),
        sa.Column("review_cadence", sa.String(length=20), nullable=True),
        sa.Column("notes", sa.Text(), nullable=True),
        sa.Column("updated_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["core_account.id"], name=op.f("fk_abm_account_plan_account_id_core_account"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_abm_account_plan")),
        sa.UniqueConstraint("account_id", name=op.f("uq_abm_account_plan_account_id")),
    )
    op.create_table(
        "abm_department",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["core_account.id"], name=op.f("fk_abm_department_account_id_core_account"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["abm_department.id"], name=op.f("fk_abm_department_parent_id_abm_department"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_abm_department")),
        sa.UniqueConstraint("account_id", "name", name=op.f("uq_abm_department_account_id_name")),
    )
    with op.batch_alter_table("abm_department", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_abm_department_account_id"), ["account_id"], unique=False)

    op.create_table(
        "abm_target_account",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("tier", sa.String(length=10), nullable=True),
        sa.Column("tier_set_by_hand", sa.Boolean(), nullable=False),
        sa.Column("icp_score", sa.Integer(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("rationale", sa.Text(), nullable=True),
        sa.Column("stage", sa.String(length=20), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("raw", sa.Float(), nullable=False),
        sa.Column("scored_at", enishi.plugin.UTCDateTime(timezone=True), nullable=True),
        sa.Column("created_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["core_account.id"], name=op.f("fk_abm_target_account_account_id_core_account"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["owner_id"], ["core_user.id"], name=op.f("fk_abm_target_account_owner_id_core_user")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_abm_target_account")),
        sa.UniqueConstraint("account_id", name=op.f("uq_abm_target_account_account_id")),
    )
    with op.batch_alter_table("abm_target_account", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_abm_target_account_owner_id"), ["owner_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_abm_target_account_stage"), ["stage"], unique=False)
        batch_op.create_index(batch_op.f("ix_abm_target_account_tier"), ["tier"], unique=False)

    op.create_table(
        "abm_buying_role",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("account_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("role", sa.String(length=30), nullable=False),
        sa.Column("department_id", sa.Uuid(), nullable=True),
        sa.Column("seniority", sa.String(length=20), nullable=True),
        sa.ForeignKeyConstraint(
            ["account_id"], ["core_account.id"], name=op.f("fk_abm_buying_role_account_id_core_account"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["core_contact.id"], name=op.f("fk_abm_buying_role_contact_id_core_contact"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["department_id"],
            ["abm_department.id"],
            name=op.f("fk_abm_buying_role_department_id_abm_department"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_abm_buying_role")),
        sa.UniqueConstraint("account_id", "contact_id", name=op.f("uq_abm_buying_role_account_id_contact_id")),
    )
    with op.batch_alter_table("abm_buying_role", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_abm_buying_role_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_abm_buying_role_contact_id"), ["contact_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("abm_buying_role", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_abm_buying_role_contact_id"))
        batch_op.drop_index(batch_op.f("ix_abm_buying_role_account_id"))

    op.drop_table("abm_buying_role")
    with op.batch_alter_table("abm_target_account", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_abm_target_account_tier"))
        batch_op.drop_index(batch_op.f("ix_abm_target_account_stage"))
        batch_op.drop_index(batch_op.f("ix_abm_target_account_owner_id"))

    op.drop_table("abm_target_account")
    with op.batch_alter_table("abm_department", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_abm_department_account_id"))

    op.drop_table("abm_department")
    op.drop_table("abm_account_plan")
    op.drop_table("abm_config")
