"""One scheduled report's generation (plugin insights, `insights.report_due` delivered), against a
floor measured in the same run, rounds interleaved.

Data (bulk-inserted): N contacts with 1-6 purchases each over the 400 days before the report's
month ended (a tenth refunded, 2 % in another currency), an NPS answer from a tenth of them over
the same days, and a churn-risk row each (random bands). Enishi: `reports.mail_report` for the
last complete month, to a manager (who gets the riskiest customers too): the figures of the month
and the month before, NPS, revenue per day, the bands, then the CSV, the .xlsx, the chart (matplotlib)
and the HTML, mailed to a folder (the file transport). Floor: the same figures by hand-written SQL
(one statement per month, one for the days, one for the bands, one for the riskiest), checked equal
to Enishi's before timing, then the same writers (`report_files`: CSV, .xlsx, chart, HTML), no
mail. Each round also times Enishi's figures alone (`report_files.gather`) against the floor's SQL
alone, to tell the engine's share from the writers'. Every timing has this process's CPU beside
it (on SQLite all the work; on PostgreSQL the client's share). Writes
bench/results/insights_reports.json.

    python bench/insights_reports.py [--customers 20000] [--rounds 5]
    scripts/with-postgres sh -c 'ENISHI_BENCH_DATABASE_URL=$ENISHI_TEST_DATABASE_URL python bench/insights_reports.py'
"""

import argparse
import asyncio
import datetime as dt
import random
import time
import uuid
from collections import defaultdict
from pathlib import Path

from report import database_url, describe_ratios, paired_ratios, save_result, scratch_folder
from sqlalchemy import bindparam, insert, text

from enishi.clock import ManualClock
from enishi.contributions import Event
from enishi.db import UTCDateTime, analyze
from enishi.db.migrate import upgrade
from enishi.models import Contact, Purchase, User
from enishi.plugin import to_global_id
from enishi.plugins.insights import config, report_files, reports
from enishi.plugins.insights.health import BANDS
from enishi.plugins.insights.health_models import InsightsHealth
from enishi.plugins.insights.kpis import Period, add_months
from enishi.plugins.insights.report_models import InsightsReport
from enishi.plugins.insights.survey_models import InsightsSurveyAnswer
from enishi.runtime import Runtime
from enishi.settings import Settings

NOW = dt.datetime(2025, 7, 3, 9, 0, tzinfo=dt.UTC)  # the report: June 2025, and May before it
FIRST, LAST = dt.date(2025, 6, 1), dt.date(2025, 6, 30)
HISTORY_DAYS = 400
BATCH = 5000
SECONDS = {
    "sqlite": "(julianday({later}) - julianday({earlier})) * 86400.0",
    "postgresql": "EXTRACT(EPOCH FROM {later} - {earlier})",
}
# One month's figures (kpis.compute's definitions): counted purchases are the configured
# currency's, not refunded; a customer is active at an instant with a purchase in the active
# window just before it; new customers made their first purchase ever inside the month.
MONTH_SQL = """
WITH counted AS (
  SELECT contact_id AS owner, purchased_at AS at, amount FROM core_purchase
   WHERE contact_id IS NOT NULL AND refunded_at IS NULL AND currency = :currency
), active_at_start AS (
  SELECT DISTINCT owner FROM counted WHERE at >= :start_window AND at < :start
), active_at_end AS (
  SELECT DISTINCT owner FROM counted WHERE at >= :end_window AND at < :end
), bought AS (
  SELECT owner, COUNT(*) AS orders, SUM(amount) AS revenue FROM counted WHERE at >= :start AND at < :end GROUP BY owner
), firsts AS (
  SELECT MIN(at) AS first FROM counted GROUP BY owner
), nps AS (
  SELECT COUNT(*) AS responses, SUM(CASE WHEN score >= 9 THEN 1 ELSE 0 END) AS promoters,
         SUM(CASE WHEN score <= 6 THEN 1 ELSE 0 END) AS detractors
    FROM insights_survey_answer
   WHERE kind = 'nps' AND status = 'answered' AND answered_at >= :start AND answered_at < :end
)
SELECT COALESCE((SELECT SUM(revenue) FROM bought), 0), COALESCE((SELECT SUM(orders) FROM bought), 0),
       (SELECT COUNT(*) FROM bought), (SELECT COUNT(*) FROM bought WHERE orders >= 2),
       (SELECT COUNT(*) FROM firsts WHERE first >= :start AND first < :end),
       (SELECT COUNT(*) FROM active_at_start), (SELECT COUNT(*) FROM active_at_end),
       (SELECT COUNT(*) FROM active_at_start WHERE owner NOT IN (SELECT owner FROM active_at_end)),
       (SELECT responses FROM nps), (SELECT promoters FROM nps), (SELECT detractors FROM nps)
"""
# Revenue per day of the month, days counted from the month's first midnight in the configured
# zone (Asia/Tokyo keeps no summer time: every day is 86,400 s).
DAYS_SQL = """
SELECT CAST(FLOOR({since} / 86400.0) AS INTEGER) AS day, SUM(amount) FROM core_purchase
 WHERE contact_id IS NOT NULL AND refunded_at IS NULL AND currency = :currency AND purchased_at >= :start AND purchased_at < :end
 GROUP BY 1
"""
BANDS_SQL = "SELECT band, COUNT(*) FROM insights_health WHERE contact_id IS NOT NULL GROUP BY band"
RISKIEST_SQL = """
SELECT h.contact_id, h.score FROM insights_health h JOIN core_contact c ON c.id = h.contact_id
 WHERE c.deleted_at IS NULL AND h.band = 'high' ORDER BY h.score DESC, c.id LIMIT :listed
"""


async def load(runtime, customers: int) -> dict:
    rng = random.Random(29)
    contacts, purchases, answers, health = [], [], [], []
    history_start = dt.datetime.combine(LAST, dt.time(), tzinfo=dt.UTC) - dt.timedelta(days=HISTORY_DAYS)
    for _ in range(customers):
        contact_id = uuid.uuid4()
        contacts.append({"id": contact_id, "created_at": NOW, "updated_at": NOW, "kana_sort": "", "name_sort": ""})
        for _ in range(rng.randint(1, 6)):
            when = history_start + dt.timedelta(seconds=rng.uniform(0, (HISTORY_DAYS + 1) * 86400))
            purchases.append(
                {
                    "id": uuid.uuid4(),
                    "contact_id": contact_id,
                    "channel": "direct",
                    "amount": rng.randrange(500, 50000),
                    "currency": "USD" if rng.random() < 0.02 else "JPY",
                    "items": [],
                    "purchased_at": when,
                    "recorded_at": when,
                    "refunded_at": when if rng.random() < 0.1 else None,
                }
            )
        if rng.random() < 0.1:
            when = history_start + dt.timedelta(seconds=rng.uniform(0, (HISTORY_DAYS + 1) * 86400))
            answers.append(
                {
                    "id": uuid.uuid4(),
                    "kind": "nps",
                    "source": "insights",
                    "contact_id": contact_id,
                    "status": "answered",
                    "sent_at": when,
                    "score": rng.randint(0, 10),
                    "answered_at": when,
                }
            )
        score = rng.randint(0, 100)
        band = "high" if score >= 60 else "medium" if score >= 30 else "low"
        health.append(
            {"id": uuid.uuid4(), "contact_id": contact_id, "score": score, "band": band, "reasons": [], "computed_at": NOW}
        )
    manager = uuid.uuid4()
    async with runtime.unit_of_work() as uow:
        tables = ((Contact, contacts), (Purchase, purchases), (InsightsSurveyAnswer, answers), (InsightsHealth, health))
        for model, rows in tables:
            for start in range(0, len(rows), BATCH):
                await uow.session.execute(insert(model), rows[start : start + BATCH])
        uow.session.add(
            User(id=manager, display_name="部長", email="bucho@example.jp", roles=["manager"], is_active=True, created_at=NOW)
        )
        report = InsightsReport(
            name="月次", frequency="month", customer="contact", recipient_user_id=manager, created_at=NOW, updated_at=NOW
        )
        uow.session.add(report)
        await uow.session.flush()
        report_id = report.id
    return {"purchases": len(purchases), "answers": len(answers), "report_id": report_id, "manager": manager}


def _at(statement: str, **instants: dt.datetime):
    return text(statement).bindparams(*(bindparam(name, value, type_=UTCDateTime()) for name, value in instants.items()))


async def _month(session, settings, period: Period) -> dict[str, float | None]:
    window = config.active_window(settings)
    found = await session.execute(
        _at(
            MONTH_SQL,
            start=period.start,
            end=period.end,
            start_window=period.start - window,
            end_window=period.end - window,
        ),
        {"currency": config.currency(settings)},
    )
    revenue, orders, purchasers, repeaters, new, at_start, at_end, lost, responses, promoters, detractors = found.one()
    revenue, orders, responses = int(revenue), int(orders), int(responses or 0)
    nps = round(100 * ((promoters or 0) - (detractors or 0)) / responses, 1) if responses else None
    return {
        "revenue": revenue,
        "orders": orders,
        "purchasers": purchasers,
        "average_order_value": revenue // orders if orders else None,
        "arpu": revenue // purchasers if purchasers else None,
        "new_customers": new,
        "lost_customers": lost,
        "customers_at_end": at_end,
        "churn_rate": lost / at_start if at_start else None,
        "repeat_purchase_rate": repeaters / purchasers if purchasers else None,
        "nps": nps,
        "nps_responses": responses,
    }


async def floor_content(runtime, database: str, title: str) -> report_files.ReportContent:
    """The report's figures by the hand-written statements above."""
    settings, zone = runtime.settings, runtime.settings.zone
    current, previous = Period.of(FIRST, LAST, zone), Period.of(add_months(FIRST, -1), FIRST - dt.timedelta(days=1), zone)
    async with runtime.read_session() as session:
        figures_now, figures_before = await _month(session, settings, current), await _month(session, settings, previous)
        since = SECONDS[database].format(later="purchased_at", earlier=":start")
        days = dict(
            (
                await session.execute(
                    _at(DAYS_SQL.format(since=since), start=current.start, end=current.end),
                    {"currency": config.currency(settings)},
                )
            ).all()
        )
        bands = dict.fromkeys(BANDS, 0) | dict((await session.execute(text(BANDS_SQL))).all())
        riskiest = (await session.execute(text(RISKIEST_SQL), {"listed": report_files.AT_RISK_LISTED})).all()
    return report_files.ReportContent(
        title=title,
        first_day=FIRST,
        last_day=LAST,
        currency=config.currency(settings),
        current=figures_now,
        previous=figures_before,
        revenue_by_day=[(FIRST + dt.timedelta(days=n), float(days.get(n, 0))) for n in range(current.days)],
        bands=bands,
        at_risk=[report_files.AtRisk(to_global_id("Contact", uuid.UUID(str(owner))), score, "") for owner, score in riskiest],
    )


def floor_files(content: report_files.ReportContent, folder: Path) -> None:
    """The writers Enishi's mail carries, without the mail."""
    (folder / "report.csv").write_bytes(report_files.to_csv(content))
    (folder / "report.xlsx").write_bytes(report_files.to_xlsx(content))
    (folder / "chart.png").write_bytes(report_files.chart_png(content))
    (folder / "report.html").write_text(report_files.to_html(content, reports.CHART_ID), encoding="utf-8")


def _event(data: dict) -> Event:
    payload = {"user_id": str(data["manager"]), "first_day": FIRST.isoformat(), "last_day": LAST.isoformat()}
    return Event(
        type=reports.REPORT_DUE.name,
        entity=reports.REPORT_DUE.entity,
        entity_id=data["report_id"],
        occurred_at=NOW,
        actor_id=None,
        payload=payload,
    )


async def enishi_content(runtime, title: str) -> report_files.ReportContent:
    async with runtime.read_session() as session:
        return await report_files.gather(session, runtime.settings, title, "contact", FIRST, LAST, people=True)


def _same(mine: report_files.ReportContent, theirs: report_files.ReportContent) -> None:
    assert mine.current == theirs.current, (mine.current, theirs.current)
    assert mine.previous == theirs.previous, (mine.previous, theirs.previous)
    assert mine.revenue_by_day == theirs.revenue_by_day
    assert mine.bands == theirs.bands
    assert [row.name for row in mine.at_risk or []] == [row.name for row in theirs.at_risk or []]


async def _timed(work, timings: dict[str, list[float]], name: str) -> None:
    """Times `work` into `timings[name]` (wall seconds) and `timings[name + "_cpu"]` (this process's
    CPU seconds: on SQLite all of the work, on PostgreSQL the client's share)."""
    started, cpu_started = time.perf_counter(), time.process_time()
    await work
    timings[name].append(time.perf_counter() - started)
    timings[f"{name}_cpu"].append(time.process_time() - cpu_started)


async def run(customers: int, rounds: int, url: str) -> dict:
    folder = scratch_folder("insights_reports")
    settings = Settings(
        database_url=url,
        environment="production",
        key_encryption_key="dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM=",
        mail_url=f"file://{folder}/mail",
    )
    runtime = Runtime(settings, clock=ManualClock(NOW))
    database = "postgresql" if "postgresql" in url else "sqlite"
    await asyncio.to_thread(upgrade, runtime)
    started = time.perf_counter()
    data = await load(runtime, customers)
    load_seconds = time.perf_counter() - started
    await analyze(runtime.engine)  # PostgreSQL only: see its docstring
    title = "月次"
    _same(await floor_content(runtime, database, title), await enishi_content(runtime, title))
    event = _event(data)
    await reports.mail_report(runtime, event)  # once before timing: fonts registered, matplotlib warmed
    floor_folder = folder / "floor"
    floor_folder.mkdir()

    async def floor() -> None:
        floor_files(await floor_content(runtime, database, title), floor_folder)

    timings: dict[str, list[float]] = defaultdict(list)
    for _ in range(rounds):
        await _timed(floor(), timings, "floor")
        await _timed(reports.mail_report(runtime, event), timings, "enishi")
        await _timed(floor_content(runtime, database, title), timings, "floor_sql")
        await _timed(enishi_content(runtime, title), timings, "enishi_figures")
    mails = list((folder / "mail").glob("*.eml"))
    assert mails, "no report was mailed"
    await runtime.close()
    return {
        "database": database,
        "customers": customers,
        **{k: v for k, v in data.items() if k in ("purchases", "answers")},
        "load_seconds": load_seconds,
        "timings": dict(timings),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    result = asyncio.run(run(args.customers, args.rounds, database_url("insights_reports")))
    timings = result["timings"]
    whole = paired_ratios(timings["enishi"], timings["floor"])
    part = paired_ratios(timings["enishi_figures"], timings["floor_sql"])
    whole_cpu = paired_ratios(timings["enishi_cpu"], timings["floor_cpu"])
    part_cpu = paired_ratios(timings["enishi_figures_cpu"], timings["floor_sql_cpu"])
    ms = {name: round(1000 * sorted(values)[len(values) // 2], 1) for name, values in timings.items()}
    print(
        f"A monthly report over {args.customers} customers ({result['purchases']} purchases, {result['answers']} NPS answers), "
        f"{result['database']}, {args.rounds} rounds"
    )
    print(f"  whole report: floor {ms['floor']} ms, enishi {ms['enishi']} ms: {describe_ratios(whole)}")
    print(f"    process CPU: floor {ms['floor_cpu']} ms, enishi {ms['enishi_cpu']} ms: {describe_ratios(whole_cpu)}")
    print(f"  figures only: floor SQL {ms['floor_sql']} ms, enishi {ms['enishi_figures']} ms: {describe_ratios(part)}")
    print(f"    process CPU: floor {ms['floor_sql_cpu']} ms, enishi {ms['enishi_figures_cpu']} ms: {describe_ratios(part_cpu)}")
    ratios = {"whole": whole, "figures": part, "whole_cpu": whole_cpu, "figures_cpu": part_cpu}
    save_result("insights_reports", {**result, "median_ms": ms, **ratios})


if __name__ == "__main__":
    main()
