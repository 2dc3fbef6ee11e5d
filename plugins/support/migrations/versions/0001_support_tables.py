"""support tables

Revision ID: support_0001
Revises:
Create Date: 2026-11-23 00:02:21.063771
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import enishi.plugin

revision = "support_0001"
down_revision = None
branch_labels = ("support",)
depends_on = "0001"


def upgrade() -> None:
    op.create_table(
        "support_calendar",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("timezone", sa.String(length=60), nullable=False),
        sa.Column("weekly_hours", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("holidays", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("holiday_country", sa.String(length=2), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_calendar")),
    )
    op.create_table(
        "support_group",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("assignment", sa.String(length=20), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_group")),
        sa.UniqueConstraint("name", name=op.f("uq_support_group_name")),
    )
    op.create_table(
        "support_kb_category",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("locale", sa.String(length=5), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["parent_id"],
            ["support_kb_category.id"],
            name=op.f("fk_support_kb_category_parent_id_support_kb_category"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_kb_category")),
    )
    op.create_table(
        "support_macro",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("reply", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=True),
        sa.Column("add_tags", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("remove_tags", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_macro")),
        sa.UniqueConstraint("name", name=op.f("uq_support_macro_name")),
    )
    op.create_table(
        "support_settings",
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("auto_close_hours", sa.Integer(), nullable=False),
        sa.Column("csat_delay_hours", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_support_settings")),
    )
    op.create_table(
        "support_group_member",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("group_id", sa.Uuid(), nullable=False),
        sa.Column("user_id", sa.Uuid(), nullable=False),
        sa.Column("away", sa.Boolean(), nullable=False),
        sa.Column("last_assigned_at", enishi.plugin.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["group_id"], ["support_group.id"], name=op.f("fk_support_group_member_group_id_support_group"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["core_user.id"], name=op.f("fk_support_group_member_user_id_core_user"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_group_member")),
        sa.UniqueConstraint("group_id", "user_id", name=op.f("uq_support_group_member_group_id_user_id")),
    )
    with op.batch_alter_table("support_group_member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_support_group_member_group_id"), ["group_id"], unique=False)

    op.create_table(
        "support_kb_article",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("category_id", sa.Uuid(), nullable=True),
        sa.Column("locale", sa.String(length=5), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("search_text", sa.Text(), nullable=False),
        sa.Column("updated_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.Column("published_at", enishi.plugin.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["category_id"],
            ["support_kb_category.id"],
            name=op.f("fk_support_kb_article_category_id_support_kb_category"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_kb_article")),
    )
    with op.batch_alter_table("support_kb_article", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_support_kb_article_category_id"), ["category_id"], unique=False)

    op.create_table(
        "support_sla_policy",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("conditions", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("targets", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("calendar_id", sa.Uuid(), nullable=True),
        sa.ForeignKeyConstraint(
            ["calendar_id"],
            ["support_calendar.id"],
            name=op.f("fk_support_sla_policy_calendar_id_support_calendar"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_sla_policy")),
    )
    op.create_table(
        "support_escalation_rule",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("policy_id", sa.Uuid(), nullable=False),
        sa.Column("timer", sa.String(length=20), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("percent", sa.Integer(), nullable=True),
        sa.Column("minutes_after_breach", sa.Integer(), nullable=True),
        sa.Column("reassign_group_id", sa.Uuid(), nullable=True),
        sa.Column("raise_priority", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["support_sla_policy.id"],
            name=op.f("fk_support_escalation_rule_policy_id_support_sla_policy"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reassign_group_id"],
            ["support_group.id"],
            name=op.f("fk_support_escalation_rule_reassign_group_id_support_group"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_escalation_rule")),
    )
    with op.batch_alter_table("support_escalation_rule", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_support_escalation_rule_policy_id"), ["policy_id"], unique=False)

    op.create_table(
        "support_ticket",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("subject", sa.String(length=300), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("priority", sa.String(length=10), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("requester_id", sa.Uuid(), nullable=True),
        sa.Column("account_id", sa.Uuid(), nullable=True),
        sa.Column("group_id", sa.Uuid(), nullable=True),
        sa.Column("assignee_id", sa.Uuid(), nullable=True),
        sa.Column("tags", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("custom_fields", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False),
        sa.Column("policy_id", sa.Uuid(), nullable=True),
        sa.Column("follow_up_of_id", sa.Uuid(), nullable=True),
        sa.Column("merged_into_id", sa.Uuid(), nullable=True),
        sa.Column("created_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.Column("solved_at", enishi.plugin.UTCDateTime(timezone=True), nullable=True),
        sa.Column("closed_at", enishi.plugin.UTCDateTime(timezone=True), nullable=True),
        sa.Column("reopened_count", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["core_account.id"], name=op.f("fk_support_ticket_account_id_core_account"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["assignee_id"], ["core_user.id"], name=op.f("fk_support_ticket_assignee_id_core_user"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["follow_up_of_id"],
            ["support_ticket.id"],
            name=op.f("fk_support_ticket_follow_up_of_id_support_ticket"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["group_id"], ["support_group.id"], name=op.f("fk_support_ticket_group_id_support_group"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["merged_into_id"],
            ["support_ticket.id"],
            name=op.f("fk_support_ticket_merged_into_id_support_ticket"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["policy_id"],
            ["support_sla_policy.id"],
            name=op.f("fk_support_ticket_policy_id_support_sla_policy"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["requester_id"], ["core_contact.id"], name=op.f("fk_support_ticket_requester_id_core_contact"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_ticket")),
        sa.UniqueConstraint("number", name=op.f("uq_support_ticket_number")),
    )
    with op.batch_alter_table("support_ticket", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_support_ticket_account_id"), ["account_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_support_ticket_assignee_id"), ["assignee_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_support_ticket_requester_id"), ["requester_id"], unique=False)
        batch_op.create_index("ix_support_ticket_status_created", ["status", "created_at"], unique=False)

    op.create_table(
        "support_article",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("public", sa.Boolean(), nullable=False),
        sa.Column("author_type", sa.String(length=10), nullable=False),
        sa.Column("author_user_id", sa.Uuid(), nullable=True),
        sa.Column("author_contact_id", sa.Uuid(), nullable=True),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("created_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["author_contact_id"],
            ["core_contact.id"],
            name=op.f("fk_support_article_author_contact_id_core_contact"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["author_user_id"], ["core_user.id"], name=op.f("fk_support_article_author_user_id_core_user"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["support_ticket.id"], name=op.f("fk_support_article_ticket_id_support_ticket"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_article")),
    )
    with op.batch_alter_table("support_article", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_support_article_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "support_csat",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("send_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.Column("rating", sa.Integer(), nullable=True),
        sa.Column("comment", sa.Text(), nullable=True),
        sa.Column("answered_at", enishi.plugin.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["ticket_id"], ["support_ticket.id"], name=op.f("fk_support_csat_ticket_id_support_ticket"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_csat")),
        sa.UniqueConstraint("token_hash", name=op.f("uq_support_csat_token_hash")),
    )
    with op.batch_alter_table("support_csat", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_support_csat_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "support_escalation_fired",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("rule_id", sa.Uuid(), nullable=False),
        sa.Column("cycle", sa.String(length=40), nullable=False),
        sa.Column("fired_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["rule_id"],
            ["support_escalation_rule.id"],
            name=op.f("fk_support_escalation_fired_rule_id_support_escalation_rule"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["support_ticket.id"],
            name=op.f("fk_support_escalation_fired_ticket_id_support_ticket"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_escalation_fired")),
        sa.UniqueConstraint("ticket_id", "rule_id", "cycle", name=op.f("uq_support_escalation_fired_ticket_id_rule_id_cycle")),
    )
    with op.batch_alter_table("support_escalation_fired", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_support_escalation_fired_ticket_id"), ["ticket_id"], unique=False)

    op.create_table(
        "support_status_change",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("ticket_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("changed_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["ticket_id"],
            ["support_ticket.id"],
            name=op.f("fk_support_status_change_ticket_id_support_ticket"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_support_status_change")),
    )
    with op.batch_alter_table("support_status_change", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_support_status_change_ticket_id"), ["ticket_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("support_status_change", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_support_status_change_ticket_id"))

    op.drop_table("support_status_change")
    with op.batch_alter_table("support_escalation_fired", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_support_escalation_fired_ticket_id"))

    op.drop_table("support_escalation_fired")
    with op.batch_alter_table("support_csat", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_support_csat_ticket_id"))

    op.drop_table("support_csat")
    with op.batch_alter_table("support_article", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_support_article_ticket_id"))

    op.drop_table("support_article")
    with op.batch_alter_table("support_ticket", schema=None) as batch_op:
        batch_op.drop_index("ix_support_ticket_status_created")
        batch_op.drop_index(batch_op.f("ix_support_ticket_requester_id"))
        batch_op.drop_index(batch_op.f("ix_support_ticket_assignee_id"))
        batch_op.drop_index(batch_op.f("ix_support_ticket_account_id"))

    op.drop_table("support_ticket")
    with op.batch_alter_table("support_escalation_rule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_support_escalation_rule_policy_id"))

    op.drop_table("support_escalation_rule")
    op.drop_table("support_sla_policy")
    with op.batch_alter_table("support_kb_article", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_support_kb_article_category_id"))

    op.drop_table("support_kb_article")
    with op.batch_alter_table("support_group_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_support_group_member_group_id"))

    op.drop_table("support_group_member")
    op.drop_table("support_settings")
    op.drop_table("support_macro")
    op.drop_table("support_kb_category")
    op.drop_table("support_group")
    op.drop_table("support_calendar")
