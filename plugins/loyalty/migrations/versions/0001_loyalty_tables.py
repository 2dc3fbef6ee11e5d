"""loyalty tables

Revision ID: loyalty_0001
Revises:
Create Date: 2026-11-22 23:02:11.173971
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import enishi.plugin

revision = "loyalty_0001"
down_revision = None
branch_labels = ("loyalty",)
depends_on = "0001"


def upgrade() -> None:
    op.create_table(
        "loyalty_program",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("expiry_mode", sa.String(length=20), nullable=False),
        sa.Column("expiry_days", sa.Integer(), nullable=True),
        sa.Column("lock_days", sa.Integer(), nullable=False),
        sa.Column("downgrade_mode", sa.String(length=20), nullable=False),
        sa.Column("created_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_program")),
    )
    op.create_table(
        "loyalty_rule",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("per_amount", sa.Integer(), nullable=True),
        sa.Column(
            "excluded_categories", sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql"), nullable=False
        ),
        sa.Column("activity_type", sa.String(length=60), nullable=True),
        sa.Column("limit_count", sa.Integer(), nullable=True),
        sa.Column("limit_period", sa.String(length=10), nullable=True),
        sa.Column("starts_at", enishi.plugin.UTCDateTime(timezone=True), nullable=True),
        sa.Column("ends_at", enishi.plugin.UTCDateTime(timezone=True), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["loyalty_program.id"], name=op.f("fk_loyalty_rule_program_id_loyalty_program"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_rule")),
    )
    with op.batch_alter_table("loyalty_rule", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loyalty_rule_program_id"), ["program_id"], unique=False)

    op.create_table(
        "loyalty_tier",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("multiplier_percent", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["program_id"], ["loyalty_program.id"], name=op.f("fk_loyalty_tier_program_id_loyalty_program"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_tier")),
        sa.UniqueConstraint("program_id", "name", name=op.f("uq_loyalty_tier_program_id_name")),
    )
    with op.batch_alter_table("loyalty_tier", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loyalty_tier_program_id"), ["program_id"], unique=False)

    op.create_table(
        "loyalty_member",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("tier_id", sa.Uuid(), nullable=True),
        sa.Column("balance", sa.Integer(), nullable=False),
        sa.Column("referral_code", sa.String(length=40), nullable=True),
        sa.Column("enrolled_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["contact_id"], ["core_contact.id"], name=op.f("fk_loyalty_member_contact_id_core_contact"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["program_id"], ["loyalty_program.id"], name=op.f("fk_loyalty_member_program_id_loyalty_program"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tier_id"], ["loyalty_tier.id"], name=op.f("fk_loyalty_member_tier_id_loyalty_tier"), ondelete="SET NULL"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_member")),
        sa.UniqueConstraint("program_id", "contact_id", name=op.f("uq_loyalty_member_program_id_contact_id")),
    )
    with op.batch_alter_table("loyalty_member", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loyalty_member_contact_id"), ["contact_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_loyalty_member_program_id"), ["program_id"], unique=False)

    op.create_table(
        "loyalty_reward",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("cost", sa.Integer(), nullable=False),
        sa.Column("stock", sa.Integer(), nullable=True),
        sa.Column("per_member_limit", sa.Integer(), nullable=True),
        sa.Column("min_tier_id", sa.Uuid(), nullable=True),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(
            ["min_tier_id"], ["loyalty_tier.id"], name=op.f("fk_loyalty_reward_min_tier_id_loyalty_tier"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["program_id"], ["loyalty_program.id"], name=op.f("fk_loyalty_reward_program_id_loyalty_program"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_reward")),
    )
    with op.batch_alter_table("loyalty_reward", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loyalty_reward_program_id"), ["program_id"], unique=False)

    op.create_table(
        "loyalty_entry",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("balance_after", sa.Integer(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("actor_id", sa.Uuid(), nullable=True),
        sa.Column("source_type", sa.String(length=40), nullable=True),
        sa.Column("source_id", sa.String(length=200), nullable=True),
        sa.Column("idempotency_key", sa.String(length=200), nullable=True),
        sa.Column("request_hash", sa.String(length=64), nullable=True),
        sa.Column("tier_points", sa.Integer(), nullable=False),
        sa.Column("created_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "kind IN ('earn', 'unlock', 'spend', 'expire', 'adjust', 'reverse')", name=op.f("ck_loyalty_entry_kind")
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["loyalty_member.id"], name=op.f("fk_loyalty_entry_member_id_loyalty_member"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["program_id"], ["loyalty_program.id"], name=op.f("fk_loyalty_entry_program_id_loyalty_program"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_entry")),
        sa.UniqueConstraint("member_id", "seq", name=op.f("uq_loyalty_entry_member_id_seq")),
        sa.UniqueConstraint("program_id", "idempotency_key", name=op.f("uq_loyalty_entry_program_id_idempotency_key")),
    )
    with op.batch_alter_table("loyalty_entry", schema=None) as batch_op:
        batch_op.create_index("ix_loyalty_entry_member_created", ["member_id", "created_at"], unique=False)

    op.create_table(
        "loyalty_purchase",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("program_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("order_ref", sa.String(length=200), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("eligible", sa.Integer(), nullable=False),
        sa.Column("points", sa.Integer(), nullable=False),
        sa.Column("purchased_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.Column("refunded_at", enishi.plugin.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"], ["loyalty_member.id"], name=op.f("fk_loyalty_purchase_member_id_loyalty_member"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["program_id"],
            ["loyalty_program.id"],
            name=op.f("fk_loyalty_purchase_program_id_loyalty_program"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_purchase")),
        sa.UniqueConstraint("program_id", "order_ref", name=op.f("uq_loyalty_purchase_program_id_order_ref")),
    )
    with op.batch_alter_table("loyalty_purchase", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loyalty_purchase_member_id"), ["member_id"], unique=False)

    op.create_table(
        "loyalty_lot",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=True),
        sa.Column("purchase_id", sa.Uuid(), nullable=True),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("earned_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.Column("unlocks_at", enishi.plugin.UTCDateTime(timezone=True), nullable=True),
        sa.Column("expires_at", enishi.plugin.UTCDateTime(timezone=True), nullable=True),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["loyalty_entry.id"], name=op.f("fk_loyalty_lot_entry_id_loyalty_entry"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["loyalty_member.id"], name=op.f("fk_loyalty_lot_member_id_loyalty_member"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_lot")),
    )
    with op.batch_alter_table("loyalty_lot", schema=None) as batch_op:
        batch_op.create_index("ix_loyalty_lot_due", ["status", "expires_at"], unique=False)
        batch_op.create_index("ix_loyalty_lot_member_status", ["member_id", "status"], unique=False)

    op.create_table(
        "loyalty_redemption",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("reward_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("redeemed_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["loyalty_entry.id"], name=op.f("fk_loyalty_redemption_entry_id_loyalty_entry"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["loyalty_member.id"], name=op.f("fk_loyalty_redemption_member_id_loyalty_member"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["reward_id"], ["loyalty_reward.id"], name=op.f("fk_loyalty_redemption_reward_id_loyalty_reward"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_redemption")),
    )
    with op.batch_alter_table("loyalty_redemption", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loyalty_redemption_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_loyalty_redemption_reward_id"), ["reward_id"], unique=False)

    op.create_table(
        "loyalty_rule_award",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("rule_id", sa.Uuid(), nullable=False),
        sa.Column("member_id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("awarded_at", enishi.plugin.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["loyalty_entry.id"], name=op.f("fk_loyalty_rule_award_entry_id_loyalty_entry"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["member_id"], ["loyalty_member.id"], name=op.f("fk_loyalty_rule_award_member_id_loyalty_member"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["rule_id"], ["loyalty_rule.id"], name=op.f("fk_loyalty_rule_award_rule_id_loyalty_rule"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_rule_award")),
    )
    with op.batch_alter_table("loyalty_rule_award", schema=None) as batch_op:
        batch_op.create_index("ix_loyalty_rule_award_member_rule", ["member_id", "rule_id", "awarded_at"], unique=False)

    op.create_table(
        "loyalty_lot_use",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("entry_id", sa.Uuid(), nullable=False),
        sa.Column("lot_id", sa.Uuid(), nullable=False),
        sa.Column("amount", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["entry_id"], ["loyalty_entry.id"], name=op.f("fk_loyalty_lot_use_entry_id_loyalty_entry"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["lot_id"], ["loyalty_lot.id"], name=op.f("fk_loyalty_lot_use_lot_id_loyalty_lot"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_loyalty_lot_use")),
    )
    with op.batch_alter_table("loyalty_lot_use", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_loyalty_lot_use_entry_id"), ["entry_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_loyalty_lot_use_lot_id"), ["lot_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("loyalty_lot_use", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loyalty_lot_use_lot_id"))
        batch_op.drop_index(batch_op.f("ix_loyalty_lot_use_entry_id"))

    op.drop_table("loyalty_lot_use")
    with op.batch_alter_table("loyalty_rule_award", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_rule_award_member_rule")

    op.drop_table("loyalty_rule_award")
    with op.batch_alter_table("loyalty_redemption", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loyalty_redemption_reward_id"))
        batch_op.drop_index(batch_op.f("ix_loyalty_redemption_member_id"))

    op.drop_table("loyalty_redemption")
    with op.batch_alter_table("loyalty_lot", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_lot_member_status")
        batch_op.drop_index("ix_loyalty_lot_due")

    op.drop_table("loyalty_lot")
    with op.batch_alter_table("loyalty_purchase", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loyalty_purchase_member_id"))

    op.drop_table("loyalty_purchase")
    with op.batch_alter_table("loyalty_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_loyalty_entry_member_created")

    op.drop_table("loyalty_entry")
    with op.batch_alter_table("loyalty_reward", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loyalty_reward_program_id"))

    op.drop_table("loyalty_reward")
    with op.batch_alter_table("loyalty_member", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loyalty_member_program_id"))
        batch_op.drop_index(batch_op.f("ix_loyalty_member_contact_id"))

    op.drop_table("loyalty_member")
    with op.batch_alter_table("loyalty_tier", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loyalty_tier_program_id"))

    op.drop_table("loyalty_tier")
    with op.batch_alter_table("loyalty_rule", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_loyalty_rule_program_id"))

    op.drop_table("loyalty_rule")
    op.drop_table("loyalty_program")
