"""support_article.merged_from_id: where a message moved in by a merge was written (it then
fulfils none of the survivor's SLA targets). Messages merged before it are not marked: which
ticket they came from was not recorded.

Revision ID: support_0004
Revises: support_0003
"""

import sqlalchemy as sa
from alembic import op

revision = "support_0004"
down_revision = "support_0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("support_article", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merged_from_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_support_article_merged_from_id_support_ticket"), "support_ticket", ["merged_from_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("support_article", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_support_article_merged_from_id_support_ticket"), type_="foreignkey")
        batch_op.drop_column("merged_from_id")
