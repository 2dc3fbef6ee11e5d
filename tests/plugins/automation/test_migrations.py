"""The automation plugin's data migration: the index of the people a run names (0007) filled for
the runs logged before it — their payloads' contacts and their `send_email` steps' recipients —
so an erasure after the upgrade finds those runs too."""

import asyncio
import dataclasses
import datetime as dt
import uuid

import sqlalchemy as sa

from enishi.db import UTCDateTime, create_engine
from enishi.db.migrate import upgrade
from enishi.runtime import Runtime

NOW = dt.datetime(2026, 12, 1, tzinfo=dt.UTC)


def _run(run_id: uuid.UUID, version_id: uuid.UUID, workflow_id: uuid.UUID, event_type: str, payload: dict) -> dict:
    return {
        "id": run_id,
        "workflow_id": workflow_id,
        "version_id": version_id,
        "occurrence": uuid.uuid4(),
        "event_type": event_type,
        "entity": event_type.split(".")[0],
        "record_id": uuid.uuid4(),
        "payload": payload,
        "depth": 0,
        "status": "succeeded",
        "attempts": 0,
        "taken": 1,
        "created_at": NOW,
    }


async def test_upgrading_indexes_the_people_the_runs_already_logged_name(enishi_fresh_database_url, enishi_base_settings):
    runtime = Runtime(dataclasses.replace(enishi_base_settings, database_url=enishi_fresh_database_url))
    await asyncio.to_thread(upgrade, runtime, "core@head")
    await asyncio.to_thread(upgrade, runtime, "automation_0006")
    workflow_id, version_id = uuid.uuid4(), uuid.uuid4()
    meeting, purchase, mailing, update = (uuid.uuid4() for _ in range(4))
    a, b, c, d = (uuid.uuid4() for _ in range(4))
    workflow = sa.table(
        "automation_workflow",
        *(sa.column(c) for c in ("name", "enabled", "version")),
        sa.column("id", sa.Uuid()),
        sa.column("created_at", UTCDateTime()),
        sa.column("updated_at", UTCDateTime()),
    )
    version = sa.table(
        "automation_workflow_version",
        *(sa.column(c) for c in ("version", "event_type")),
        sa.column("id", sa.Uuid()),
        sa.column("workflow_id", sa.Uuid()),
        sa.column("definition", sa.JSON()),
        sa.column("created_at", UTCDateTime()),
    )
    run = sa.table(
        "automation_workflow_run",
        *(sa.column(c) for c in ("event_type", "entity", "depth", "status", "attempts", "taken")),
        *(sa.column(c, sa.Uuid()) for c in ("id", "workflow_id", "version_id", "occurrence", "record_id")),
        sa.column("payload", sa.JSON()),
        sa.column("created_at", UTCDateTime()),
    )
    step = sa.table(
        "automation_workflow_step",
        *(sa.column(c) for c in ("seq", "step_id", "type", "attempt", "status", "duration_ms")),
        sa.column("id", sa.Uuid()),
        sa.column("run_id", sa.Uuid()),
        *(sa.column(c, sa.JSON()) for c in ("input", "output")),
        *(sa.column(c, UTCDateTime()) for c in ("started_at", "finished_at")),
    )
    engine = create_engine(enishi_fresh_database_url)
    async with engine.begin() as connection:
        await connection.execute(
            workflow.insert().values(id=workflow_id, name="旧", enabled=True, version=1, created_at=NOW, updated_at=NOW)
        )
        await connection.execute(
            version.insert().values(
                id=version_id, workflow_id=workflow_id, version=1, event_type="x", definition={}, created_at=NOW
            )
        )
        await connection.execute(
            run.insert(),
            [
                _run(meeting, version_id, workflow_id, "activity.logged", {"type": "meeting", "contact_ids": [str(a), str(b)]}),
                _run(purchase, version_id, workflow_id, "purchase.recorded", {"contact_id": str(c), "account_id": None}),
                _run(mailing, version_id, workflow_id, "account.created", {}),
                _run(update, version_id, workflow_id, "contact.updated", {"fields": ["job_title"]}),
            ],
        )
        recipients = [{"contact_id": str(a), "skipped": "no_consent"}, {"contact_id": str(d)}]
        await connection.execute(
            step.insert().values(
                id=uuid.uuid4(),
                run_id=mailing,
                seq=1,
                step_id="welcome",
                type="send_email",
                attempt=1,
                status="succeeded",
                duration_ms=1,
                input={"contact_ids": [str(a), str(d)]},
                output={"recipients": recipients, "sent": 1},
                started_at=NOW,
                finished_at=NOW,
            )
        )
    await asyncio.to_thread(upgrade, runtime)
    async with engine.connect() as connection:
        indexed = (await connection.execute(sa.text("SELECT contact_id, run_id FROM automation_workflow_person"))).all()
    await engine.dispose()
    await runtime.close()
    # Read raw (SQLite keeps a UUID as 32 hex digits, PostgreSQL as a uuid).
    assert {(uuid.UUID(str(contact)), uuid.UUID(str(run_id))) for contact, run_id in indexed} == {
        (a, meeting),
        (b, meeting),
        (c, purchase),
        (a, mailing),
        (d, mailing),
    }
