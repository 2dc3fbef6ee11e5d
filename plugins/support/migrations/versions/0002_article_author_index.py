"""index support_article.author_contact_id (erasure and access requests look messages up by author)

Revision ID: support_0002
Revises: support_0001
"""

from alembic import op

revision = "support_0002"
down_revision = "support_0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("support_article", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_support_article_author_contact_id"), ["author_contact_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("support_article", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_support_article_author_contact_id"))
