"""Workflow tables: definitions and their versions, runs and every step attempt, the origin of
events a step raised (the loop cut), and record tags.

No personal data: a run keeps its trigger's payload (ids and codes by the kit's rule), and a step
keeps what it was given and what it made (ids, titles the admin wrote)."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, UniqueConstraint, Uuid
from sqlalchemy.dialects.postgresql import insert as postgresql_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from enishi.plugin import Base, JSONType, UTCDateTime, new_id

RUN_STATUSES = ("pending", "succeeded", "stopped", "failed", "cancelled")
FINISHED = ("succeeded", "stopped", "failed", "cancelled")
STEP_STATUSES = ("succeeded", "failed", "skipped")


class AutomationWorkflow(Base):
    """A workflow; its definition lives in its versions, `version` naming the current one."""

    __tablename__ = "automation_workflow"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(String(1000))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AutomationWorkflowVersion(Base):
    """One saved definition, never changed afterwards: a run follows the version it started with.
    `event_type` is the trigger's, kept beside the document so an event finds its workflows by index."""

    __tablename__ = "automation_workflow_version"
    __table_args__ = (UniqueConstraint("workflow_id", "version"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    workflow_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("automation_workflow.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    event_type: Mapped[str] = mapped_column(String(100), index=True)
    definition: Mapped[dict] = mapped_column(JSONType)
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("core_user.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


class AutomationWorkflowRun(Base):
    """One run: unique per (version, trigger occurrence — the event's id), so an event the outbox
    hands over twice starts one run. `step_id` is the next step to take, due at `due_at` (a wait
    puts it later, a failure after its backoff); `attempts` counts the failures of that step.
    `depth` is how many workflow steps led to the triggering event (0: a person or a job did)."""

    __tablename__ = "automation_workflow_run"
    __table_args__ = (
        UniqueConstraint("version_id", "occurrence"),
        Index("ix_automation_workflow_run_due", "status", "due_at"),
        Index("ix_automation_workflow_run_workflow_created", "workflow_id", "created_at", "id"),
        Index("ix_automation_workflow_run_record", "record_id"),  # a data subject's erasure finds their runs
    )

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    workflow_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("automation_workflow.id", ondelete="CASCADE"))
    version_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("automation_workflow_version.id", ondelete="CASCADE"))
    occurrence: Mapped[uuid.UUID] = mapped_column(Uuid)
    event_type: Mapped[str] = mapped_column(String(100))
    entity: Mapped[str] = mapped_column(String(100))
    record_id: Mapped[uuid.UUID | None] = mapped_column(Uuid)
    payload: Mapped[dict] = mapped_column(JSONType, default=dict)
    depth: Mapped[int] = mapped_column(Integer, default=0)
    status: Mapped[str] = mapped_column(String(10), default="pending")  # RUN_STATUSES
    step_id: Mapped[str | None] = mapped_column(String(40))
    due_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    taken: Mapped[int] = mapped_column(Integer, default=0)  # step attempts so far: the next one's `seq`
    error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)


class AutomationWorkflowStep(Base):
    """One attempt of one step of a run: what it was given, what it made or why it failed, when.
    `seq` orders a run's attempts (and two workers cannot both record the same one)."""

    __tablename__ = "automation_workflow_step"
    __table_args__ = (UniqueConstraint("run_id", "seq"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("automation_workflow_run.id", ondelete="CASCADE"), index=True)
    seq: Mapped[int] = mapped_column(Integer)
    step_id: Mapped[str] = mapped_column(String(40))
    type: Mapped[str] = mapped_column(String(60))
    attempt: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(10))  # STEP_STATUSES
    input: Mapped[dict] = mapped_column(JSONType, default=dict)
    output: Mapped[dict] = mapped_column(JSONType, default=dict)
    error: Mapped[str | None] = mapped_column(String(300))
    started_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    duration_ms: Mapped[int] = mapped_column(Integer, default=0)


class AutomationWorkflowEventOrigin(Base):
    """An event a workflow step raised, with the depth of the run that raised it: a run it
    triggers is one deeper, and none starts beyond the depth limit (loops are cut)."""

    __tablename__ = "automation_workflow_event_origin"

    event_id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True)
    run_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("automation_workflow_run.id", ondelete="CASCADE"), index=True)
    depth: Mapped[int] = mapped_column(Integer)


class AutomationRecordTag(Base):
    """A tag workflows put on a record (`add_tag`, `remove_tag`) and conditions test (`tags`)."""

    __tablename__ = "automation_record_tag"
    __table_args__ = (UniqueConstraint("entity", "record_id", "tag"),)

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    entity: Mapped[str] = mapped_column(String(100))
    record_id: Mapped[uuid.UUID] = mapped_column(Uuid)
    tag: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime)


async def insert_new(session: AsyncSession, model: type[Base], **values) -> bool:
    """Insert the row unless one with the same unique key is there (`INSERT … ON CONFLICT DO
    NOTHING`, on either database): True when it was written. One statement where a read and then
    an insert were two — a workflow step is a transaction of a few round trips, and `add_tag`
    writes this way (bench/workflows.py). A concurrent transaction inserting the same key makes
    this one wait for it, then write nothing."""
    return bool(await insert_new_rows(session, model, [values]))


async def insert_new_rows(session: AsyncSession, model: type[Base], rows: list[dict]) -> int:
    """`insert_new` for several rows in one statement; how many were written (none for no rows)."""
    if not rows:
        return 0
    insert = postgresql_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    written = await session.execute(insert(model).values(rows).on_conflict_do_nothing())
    return written.rowcount  # type: ignore[attr-defined]  # a DML statement's result
