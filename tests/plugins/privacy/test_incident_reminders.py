"""The scheduled reminders of an incident's reports over GraphQL: a task for the officer and the
event `incident.report_due` before each deadline of the issue's example (GDPR 72 hours, APPI 速報
and 確報), none for a report filed or an incident closed, and once only — on reruns and with two
workers at once."""

import asyncio
import datetime as dt

from enishi.db import is_sqlite
from enishi.plugins.privacy.incident_reminders import due_reminders, remind, remind_incidents
from enishi.worker import run_due_jobs
from tests.helpers import count_rows
from tests.plugins.privacy.test_incidents import JST, _create, _events
from tests.plugins.privacy.test_processors import Barrier
from tests.plugins.sales.helpers import user_id
from tests.plugins.sales.test_contracts import _lock_waiters

TASKS = "{ tasks(first: 20) { nodes { title dueAt assignee { id } } } }"


async def _reminded_at(api, month: int, day: int, hour: int, minute: int) -> int:
    """How many reminders the job raises at that minute of 2025 in Tokyo."""
    api.clock.set(dt.datetime(2025, month, day, hour, minute, tzinfo=JST))
    return await remind_incidents(api.runtime)


async def test_each_report_is_reminded_once_before_its_deadline_unless_filed(enishi_api, enishi_fresh_migrated):
    api = await enishi_api(database_url=enishi_fresh_migrated)
    api.clock.set(dt.datetime(2025, 6, 3, 9, 0, tzinfo=JST))
    officer = await user_id(api, "compliance")
    incident = (await _create(api))["incident"]  # the example: aware 2 June 10:00, malicious, 1,200 people
    closed = (await _create(api, title="誤送信 (解決済み)"))["incident"]
    await api.graphql(
        'mutation($id: ID!) { updateIncidentStatus(incidentId: $id, status: "closed") { incident { status } } }',
        {"id": closed["id"]},
        role="compliance",
    )
    assert "privacy.incident_reminders" in await run_due_jobs(api.runtime)
    assert await count_rows(api, "core_task") == 0
    assert await _reminded_at(api, 6, 4, 9, 59) == 0
    assert await _reminded_at(api, 6, 4, 10, 0) == 1  # 24 hours before the 72 hours run out
    assert await _reminded_at(api, 6, 4, 11, 0) == 0  # once
    gdpr = {
        "title": "監督機関への通知 (GDPR 第33条, 72時間): 不正アクセスによる顧客データベースの漏えい (期限 2025-06-05 10:00)",
        "dueAt": "2025-06-05T01:00:00+00:00",
        "assignee": {"id": officer},
    }
    assert (await api.graphql(TASKS, role="compliance"))["tasks"]["nodes"] == [gdpr]
    filed = await api.mutate(
        "recordIncidentReport",
        {"incidentId": incident["id"], "kind": "APPI_PRELIMINARY", "filedAt": "2025-06-04T10:30:00+09:00"},
        "incident { id }",
        role="compliance",
    )
    assert filed["userErrors"] == []
    assert await _reminded_at(api, 6, 5, 0, 0) == 0  # the 速報 was filed before its reminder
    assert await _reminded_at(api, 7, 25, 23, 59) == 0
    assert await _reminded_at(api, 7, 26, 0, 0) == 1  # 7 days before the end of 1 August
    final = {
        "title": "個人情報保護委員会への確報: 不正アクセスによる顧客データベースの漏えい (期限 2025-08-01)",
        "dueAt": "2025-08-01T15:00:00+00:00",
        "assignee": {"id": officer},
    }
    assert (await api.graphql(TASKS, role="compliance"))["tasks"]["nodes"] == [gdpr, final]
    assert [e for e in await _events(api, incident["id"]) if e[0] == "incident.report_due"] == [
        ("incident.report_due", {"kind": "gdpr_authority", "due_at": "2025-06-05T01:00:00+00:00"}),
        ("incident.report_due", {"kind": "appi_final", "due_at": "2025-08-01T15:00:00+00:00"}),
    ]
    assert "incident.report_due" not in [kind for kind, _ in await _events(api, closed["id"])]
    timeline = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Incident { timeline { kind detail actor { id } } } } }", {"id": incident["id"]}
    )
    assert [e for e in timeline["node"]["timeline"] if e["kind"] == "reminder"] == [
        {"kind": "reminder", "detail": "gdpr_authority", "actor": None},
        {"kind": "reminder", "detail": "appi_final", "actor": None},
    ]


async def test_two_workers_at_once_raise_a_reminder_once(enishi_api, enishi_fresh_migrated):
    barrier = Barrier()
    first = await enishi_api(plugins=[("barrier", barrier)], database_url=enishi_fresh_migrated)
    second = await enishi_api(database_url=enishi_fresh_migrated)
    first.clock.set(dt.datetime(2025, 6, 3, 9, 0, tzinfo=JST))
    await _create(first, malicious=False, affectedCount=10, cause="loss")  # owes the GDPR report only
    first.clock.set(dt.datetime(2025, 6, 4, 10, 0, tzinfo=JST))
    second.clock.set(dt.datetime(2025, 6, 4, 10, 0, tzinfo=JST))
    # Both workers have read the reminder as due; the first has claimed it and created its task and
    # stops before committing; then the second tries its claim.
    stale = await due_reminders(second.runtime)
    assert [kind for _, kind in stale] == ["gdpr_authority"]
    running_first = asyncio.create_task(remind_incidents(first.runtime))
    await barrier.entered.wait()
    running_second = asyncio.create_task(remind(second.runtime, stale))
    url = first.runtime.settings.database_url
    if not is_sqlite(url):  # PostgreSQL: the second claim waits on the first's row lock
        await _lock_waiters(url)
    barrier.release.set()
    assert sorted(await asyncio.gather(running_first, running_second)) == [0, 1]
    assert await remind(second.runtime, stale) == 0  # and later, with the same stale list
    assert await count_rows(first, "core_task") == 1
