"""automation: the people a workflow run names beyond its record, by index (a data subject's erasure
finds their runs there), filled for the runs already logged

Revision ID: automation_0007
Revises: automation_0006
Create Date: 2026-12-07
"""

import uuid

import sqlalchemy as sa
from alembic import op

revision = "automation_0007"
down_revision = "automation_0006"
branch_labels = None
depends_on = None

BATCH = 1000


def _ids(value) -> list[uuid.UUID]:
    """The contact ids in a payload's or a log's value; what is no id (a third party's payload) is skipped."""
    ids = []
    for v in value if isinstance(value, list) else [value]:
        try:
            ids.append(uuid.UUID(str(v)))
        except ValueError:
            continue
    return ids


def _named(bind) -> set[tuple[uuid.UUID, uuid.UUID]]:
    """(contact, run) for what the code indexes from now on: the payload's contact references —
    every event type declaring one (`names_contact`) calls it `contact_id` or `contact_ids`, and a
    one-time search of the text is fine here, unlike in every erasure — and the recipients of
    `send_email` steps: all of them, a send withdrawn at delivery having left no send to find the
    run by (the code indexes only those from now on, and the skipped)."""
    run = sa.table("automation_workflow_run", sa.column("id", sa.Uuid()), sa.column("payload", sa.JSON()))
    step = sa.table("automation_workflow_step", sa.column("run_id", sa.Uuid()), sa.column("type"), sa.column("output", sa.JSON()))
    named = set()
    runs = sa.select(run.c.id, run.c.payload).where(sa.cast(run.c.payload, sa.Text).like('%"contact_id%'))
    for run_id, payload in bind.execute(runs):
        for key in ("contact_id", "contact_ids"):
            named.update((contact_id, run_id) for contact_id in _ids((payload or {}).get(key)))
    for run_id, output in bind.execute(sa.select(step.c.run_id, step.c.output).where(step.c.type == "send_email")):
        for recipient in (output or {}).get("recipients", []):
            named.update((contact_id, run_id) for contact_id in _ids(recipient.get("contact_id")))
    return named


def upgrade() -> None:
    person = op.create_table(
        "automation_workflow_person",
        sa.Column("contact_id", sa.Uuid(), nullable=False),
        sa.Column("run_id", sa.Uuid(), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"],
            ["automation_workflow_run.id"],
            name=op.f("fk_automation_workflow_person_run_id_automation_workflow_run"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("contact_id", "run_id", name=op.f("pk_automation_workflow_person")),
    )
    op.create_index(op.f("ix_automation_workflow_person_run_id"), "automation_workflow_person", ["run_id"], unique=False)
    rows = [{"contact_id": contact_id, "run_id": run_id} for contact_id, run_id in sorted(_named(op.get_bind()))]
    for start in range(0, len(rows), BATCH):
        op.bulk_insert(person, rows[start : start + BATCH])


def downgrade() -> None:
    op.drop_index(op.f("ix_automation_workflow_person_run_id"), table_name="automation_workflow_person")
    op.drop_table("automation_workflow_person")
