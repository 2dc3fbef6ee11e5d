"""Scheduled reports (定期報告, issue #24): managed over GraphQL by managers, mailed through the
outbox once per period after it ends in Asia/Tokyo — with a CSV, an .xlsx and an HTML summary
showing a chart drawn on the server — and the customers' names only to a recipient whose role may
export personal data."""

import asyncio
import csv
import datetime as dt
import io
import os
from pathlib import Path

from openpyxl import load_workbook

from enishi.db import is_sqlite
from enishi.outbox import deliver_pending
from enishi.plugin import hookimpl, split_global_id
from enishi.plugins.insights.reports import report_due_periods
from enishi.worker import run_due_jobs
from tests.plugins.insights.helpers import customer
from tests.plugins.sales.helpers import user_id
from tests.plugins.sales.test_contracts import _lock_waiters

JST = dt.timezone(dt.timedelta(hours=9))
ARTEFACTS = Path(os.environ.get("ENISHI_TEST_ARTEFACTS", Path(__file__).parents[3] / "test-artefacts")) / "insights"
REPORT = "report { id name frequency customer recipientRole recipientUser { id } runs { firstDay lastDay recipients } }"
BANDS = {"insights_health_bands": {"high": 35, "medium": 20}}  # no purchase for a long while alone is high


async def _schedule(api, role: str = "manager", **input) -> dict:
    payload = await api.mutate("createScheduledReport", input, REPORT, role=role)
    return {**payload, "userErrors": [(e["field"], e["code"]) for e in payload["userErrors"]]}


def _parts(mail) -> dict[str, bytes | str]:
    """A mail's parts by file name (the bodies as "text/plain" and "text/html")."""
    found: dict[str, bytes | str] = {}
    for part in mail.walk():
        if part.is_multipart():
            continue
        found[part.get_filename() or part.get_content_type()] = part.get_content()
    return found


def _cells(xlsx: bytes) -> dict[str, list[list]]:
    workbook = load_workbook(io.BytesIO(xlsx))
    return {sheet.title: [list(row) for row in sheet.iter_rows(values_only=True)] for sheet in workbook}


async def _week_of_purchases(api) -> None:
    """Wednesday 4 June 2025: a regular customer bought 7,000 this week and 4,000 the week before;
    離反 bought every 10 days until two months ago (churn risk high, with its reason)."""
    api.clock.set(dt.datetime(2025, 6, 4, 12, 0, tzinfo=JST))
    await customer(api, "常連", [(0, 5000), (1, 2000), (5, 4000)])
    await customer(api, "離反", [(60 + 10 * n, 3000) for n in range(5)])


async def test_a_weekly_report_goes_out_once_after_the_week_with_people_only_for_those_who_may_export(
    enishi_api, enishi_sent_mail
):
    api = await enishi_api(extra=BANDS)
    await _week_of_purchases(api)
    manager, _ = await user_id(api, "manager"), await user_id(api, "support")
    to_role = await _schedule(api, name="週次 サポート", frequency="WEEK", recipientRole="support")
    to_user = await _schedule(api, name="週次 部長", frequency="WEEK", recipientUserId=manager)
    assert to_role["userErrors"] == to_user["userErrors"] == []
    assert to_user["report"]["recipientUser"] == {"id": manager} and to_role["report"]["recipientRole"] == "support"
    await run_due_jobs(api.runtime)  # the week is not over: nothing yet
    assert await report_due_periods(api.runtime) == 0

    api.clock.set(dt.datetime(2025, 6, 9, 0, 30, tzinfo=JST))  # Monday in Tokyo, still Sunday in UTC
    await run_due_jobs(api.runtime)  # the daily health job scores, then the reports job queues
    await deliver_pending(api.runtime)
    mails = {mail["To"]: mail for mail in enishi_sent_mail().values() if "定期報告" in mail["Subject"]}
    assert sorted(mails) == ["manager@staff.example", "support@staff.example"]
    assert mails["manager@staff.example"]["Subject"] == "定期報告 / Report: 週次 部長 2025-06-02〜2025-06-08"

    for address, mail in mails.items():
        parts = _parts(mail)
        assert sorted(parts) == ["chart.png", "insights-2025-06-02.csv", "insights-2025-06-02.xlsx", "text/html", "text/plain"]
        assert 'src="cid:chart@enishi"' in parts["text/html"] and parts["chart.png"][:8] == b"\x89PNG\r\n\x1a\n"
        table = mail.get_payload()[-2]  # the CSV's bytes as sent (a text part's content would be decoded)
        assert table.get_filename() == "insights-2025-06-02.csv"
        rows = {row[0]: row for row in csv.reader(io.StringIO(table.get_payload(decode=True).decode("utf-8-sig")))}
        assert rows["revenue"][1:] == ["売上", "Revenue", "7000", "4000"]
        assert (rows["orders"][3], rows["health_high"][3]) == ("2", "1.0")
        sheets = _cells(parts["insights-2025-06-02.xlsx"])
        assert ["売上", "Revenue", 7000, 4000] in sheets["概要 Summary"]
        assert sheets["日別売上 Revenue"][1:] == [
            [dt.datetime(2025, 6, day), 2000.0 if day == 3 else 5000.0 if day == 4 else 0.0] for day in range(2, 9)
        ]
        everything = "".join(str(p) for p in parts.values()) + repr(sheets)
        assert "離反" not in everything and "常連" not in everything  # a mail names no one
        if address == "manager@staff.example":  # a manager may export contacts: the call list, by id
            [_, (customer, _, reasons)] = sheets["要注意顧客 At risk"]
            assert split_global_id(customer, "Contact", "customer")[0] == "Contact" and "購入なし" in reasons
        else:  # support may read insights but not export people: aggregates only
            assert "要注意顧客 At risk" not in sheets
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        database = "sqlite" if is_sqlite(api.runtime.settings.database_url) else "postgresql"
        (ARTEFACTS / f"weekly-report-chart-{database}.png").write_bytes(parts["chart.png"])

    # Later the same week, and by a second worker: nothing more.
    api.clock.set(dt.datetime(2025, 6, 12, 9, 0, tzinfo=JST))
    assert await report_due_periods(api.runtime) == 0
    listed = await api.graphql("{ scheduledReports { name runs { firstDay lastDay recipients } } }", role="manager")
    assert listed["scheduledReports"] == [
        {"name": "週次 サポート", "runs": [{"firstDay": "2025-06-02", "lastDay": "2025-06-08", "recipients": 1}]},
        {"name": "週次 部長", "runs": [{"firstDay": "2025-06-02", "lastDay": "2025-06-08", "recipients": 1}]},
    ]


class HeldReport:
    """Holds the first worker inside the transaction that queues a report's mail until released."""

    def __init__(self):
        self.entered, self.release = asyncio.Event(), asyncio.Event()

    @hookimpl
    async def enishi_on_event(self, event, uow):
        if event.type == "insights.report_due":
            self.entered.set()
            await self.release.wait()


async def test_two_workers_at_once_report_a_period_once(enishi_api, enishi_fresh_migrated):
    held = HeldReport()
    first = await enishi_api(plugins=[("held", held)], database_url=enishi_fresh_migrated)
    second = await enishi_api(database_url=enishi_fresh_migrated)
    first.clock.set(dt.datetime(2025, 5, 20, 12, 0, tzinfo=JST))
    await user_id(first, "marketing")
    assert (await _schedule(first, name="月次", frequency="MONTH", recipientRole="marketing"))["userErrors"] == []
    first.clock.set(dt.datetime(2025, 6, 1, 0, 5, tzinfo=JST))  # May is over in Tokyo
    # The first worker has recorded May and queued its mail, and stops before committing; the
    # second looks for due periods meanwhile.
    running_first = asyncio.create_task(report_due_periods(first.runtime))
    await held.entered.wait()
    running_second = asyncio.create_task(report_due_periods(second.runtime))
    url = first.runtime.settings.database_url
    if not is_sqlite(url):  # PostgreSQL: the second waits on the first's lock of the report
        await _lock_waiters(url)
    held.release.set()
    assert sorted(await asyncio.gather(running_first, running_second)) == [0, 1]
    listed = await first.graphql("{ scheduledReports { runs { firstDay lastDay recipients } } }", role="manager")
    assert listed["scheduledReports"] == [{"runs": [{"firstDay": "2025-05-01", "lastDay": "2025-05-31", "recipients": 1}]}]


async def test_reports_are_managed_by_managers_with_typed_errors(api):
    manager = await user_id(api, "manager")
    for input, errors in (
        ({"recipientRole": "support", "recipientUserId": manager}, [("recipientUserId", "REQUIRED")]),
        ({}, [("recipientUserId", "REQUIRED")]),
        ({"recipientRole": "chairman"}, [("recipientRole", "INVALID_CHOICE")]),
        ({"recipientRole": "compliance"}, [("recipientRole", "RECIPIENT_NOT_ALLOWED")]),  # may not read insights
        ({"recipientUserId": await user_id(api, "integration")}, [("recipientUserId", "RECIPIENT_NOT_ALLOWED")]),
        ({"recipientRole": "sales", "name": " "}, [("name", "REQUIRED")]),
    ):
        payload = await _schedule(api, **{"name": "報告", "frequency": "MONTH", **input})
        assert (payload["report"], payload["userErrors"]) == (None, errors), input
    created = await _schedule(api, name="報告", frequency="MONTH", recipientRole="sales")
    assert (await _schedule(api, name="報告", frequency="WEEK", recipientRole="sales"))["userErrors"] == [("name", "DUPLICATE")]
    errors = await api.errors("{ scheduledReports { name } }", role="marketing")
    assert [e["extensions"]["code"] for e in errors] == ["FORBIDDEN"]
    refused = await api.errors(
        'mutation { createScheduledReport(input: {name: "x", frequency: WEEK, recipientRole: "sales"}) { report { id } } }',
        role="sales",
    )
    assert [e["extensions"]["code"] for e in refused] == ["FORBIDDEN"]

    report_id = created["report"]["id"]
    updated = await api.mutate(
        "updateScheduledReport",
        {"id": report_id, "frequency": "WEEK", "customer": "ACCOUNT", "recipientUserId": manager},
        REPORT,
        role="manager",
    )
    assert updated["userErrors"] == []
    assert {k: updated["report"][k] for k in ("name", "frequency", "customer", "recipientRole", "recipientUser")} == {
        "name": "報告",
        "frequency": "WEEK",
        "customer": "ACCOUNT",
        "recipientRole": None,
        "recipientUser": {"id": manager},
    }
    deleted = await api.mutate("deleteScheduledReport", {"id": report_id}, "deletedId", role="manager")
    assert deleted == {"deletedId": report_id, "userErrors": []}
    assert (await api.graphql("{ scheduledReports { name } }", role="manager"))["scheduledReports"] == []
    # Gone: the error says what was not found.
    for mutation in ("updateScheduledReport", "deleteScheduledReport"):
        missing = await api.mutate(mutation, {"id": report_id}, role="manager")
        assert missing["userErrors"] == [{"field": "id", "message": "no such scheduled report", "code": "NOT_FOUND"}]
