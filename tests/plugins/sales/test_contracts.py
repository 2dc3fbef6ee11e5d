"""Contracts: terms, renewals, the renewal alert raised once per term (issue example 3), even by
two workers at once, expiry and auto-renewal, and ABM's stages following deals and contracts."""

import asyncio
import datetime as dt
import json
import zoneinfo

from sqlalchemy import text

from enishi.db import create_engine, is_sqlite
from enishi.plugin import hookimpl
from enishi.plugins.sales.contracts import run_alerts
from enishi.worker import run_due_jobs
from tests.helpers import backends_waiting_on_a_lock, count_rows, create_account
from tests.plugins.sales.helpers import deal, pipeline, user_id

TOKYO = zoneinfo.ZoneInfo("Asia/Tokyo")
CONTRACT = (
    "contract { id name term startDate endDate value currency billingCycle autoRenew noticeDays noticeDeadline status "
    "previousTerm { id status } deal { id } }"
)


def _at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=9, tzinfo=TOKYO)


async def _contract(api, account_id, **input) -> dict:
    values = {
        "name": "年間保守契約",
        "accountId": account_id,
        "startDate": "2025-01-01",
        "endDate": "2025-12-31",
        "value": 1_200_000,
        "billingCycle": "annual",
        "noticeDays": 90,
        **input,
    }
    payload = await api.mutate("createContract", {k: v for k, v in values.items() if v is not None}, CONTRACT)
    assert payload["userErrors"] == [], payload
    return payload["contract"]


async def _events(api, kind: str) -> list[dict]:
    async with api.runtime.read_session() as session:
        rows = await session.execute(text("SELECT payload FROM core_outbox WHERE type = :t ORDER BY seq"), {"t": kind})
        return [p if isinstance(p, dict) else json.loads(p) for (p,) in rows]


async def _alert_job(runtime) -> None:
    assert "sales.contract_alerts" in await run_due_jobs(runtime)


async def test_issue_example_3_the_renewal_alert_and_task_come_on_2025_09_02_once(api):
    account = await create_account(api, name="継続商事")
    api.clock.set(_at("2025-01-01"))
    contract = await _contract(api, account["id"], ownerId=await user_id(api, "sales"))
    assert contract["noticeDeadline"] == "2025-10-02"
    api.clock.set(_at("2025-09-01"))
    await _alert_job(api.runtime)
    assert await _events(api, "contract.renewal_due") == []
    api.clock.set(_at("2025-09-02"))
    await _alert_job(api.runtime)
    api.clock.advance(hours=2)  # the job runs again the same day: nothing more
    await _alert_job(api.runtime)
    due = await _events(api, "contract.renewal_due")
    assert len(due) == 1 and (due[0]["notice_deadline"], due[0]["end_date"], due[0]["term"]) == ("2025-10-02", "2025-12-31", 1)
    tasks = f'{{ node(id: "{account["id"]}") {{ ... on Account {{ tasks {{ id title dueAt assignee {{ id }} }} }} }} }}'
    listed = (await api.graphql(tasks))["node"]["tasks"]
    assert [t["title"] for t in listed] == ["契約更新の確認: 年間保守契約 (通知期限 2025-10-02)"]
    assert listed[0]["dueAt"] == "2025-10-01T15:00:00+00:00"  # the deadline's midnight in Tokyo
    assert listed[0]["assignee"] == {"id": await user_id(api, "sales")}  # the contract's owner
    assert await count_rows(api, "sales_contract_alert") == 1


class Barrier:
    """Holds the first worker inside the transaction that raises the alert until released."""

    def __init__(self):
        self.entered, self.release = asyncio.Event(), asyncio.Event()

    @hookimpl
    async def enishi_on_event(self, event, uow):
        if event.type == "contract.renewal_due":
            self.entered.set()
            await self.release.wait()


async def _lock_waiters(url: str) -> None:
    """Until a backend waits on a lock: the second worker's alert insert, queued on the first's."""
    engine = create_engine(url)
    try:
        async with engine.connect() as connection:
            for _ in range(6000):
                if await backends_waiting_on_a_lock(connection):
                    return
                await asyncio.sleep(0.01)
        raise AssertionError("the second worker never waited on the first")
    finally:
        await engine.dispose()


async def test_two_workers_at_once_raise_the_alert_once(enishi_api):
    barrier = Barrier()
    first = await enishi_api(plugins=[("barrier", barrier)])
    second = await enishi_api()
    account = await create_account(first)
    first.clock.set(_at("2025-01-01"))
    await _contract(first, account["id"])
    first.clock.set(_at("2025-09-02"))
    # The job itself, as two workers run it when the worker's claim on it expired mid-run: the
    # first records the alert and stops before committing; the second has read the contract as
    # due (the alert is not committed yet) and then writes its own.
    running_first = asyncio.create_task(run_alerts(first.runtime))
    await barrier.entered.wait()
    running_second = asyncio.create_task(run_alerts(second.runtime))
    url = first.runtime.settings.database_url
    try:
        if not is_sqlite(url):  # PostgreSQL: the second insert waits on the first's unique key
            await _lock_waiters(url)
    finally:
        # Released even when the wait fails, so the held transaction cannot hang the teardown.
        barrier.release.set()
    assert sorted(await asyncio.gather(running_first, running_second)) == [0, 1]
    assert len(await _events(first, "contract.renewal_due")) == 1
    assert await count_rows(first, "sales_contract_alert") == 1
    assert await count_rows(first, "core_task") == 1


async def test_an_ended_term_expires_once_and_an_auto_renewing_one_gets_its_next_term(api):
    account = await create_account(api)
    api.clock.set(_at("2025-01-01"))
    ending = await _contract(api, account["id"], name="終了する契約")
    renewing = await _contract(api, account["id"], name="自動更新契約", autoRenew=True)
    api.clock.set(_at("2025-12-31"))
    await _alert_job(api.runtime)
    assert await _events(api, "contract.expired") == []
    api.clock.set(_at("2026-01-01"))
    await _alert_job(api.runtime)
    api.clock.advance(hours=3)
    await _alert_job(api.runtime)
    expired = await _events(api, "contract.expired")
    assert len(expired) == 1 and expired[0]["end_date"] == "2025-12-31"
    terms = f'{{ node(id: "{account["id"]}") {{ ... on Account {{ contracts {{ name term startDate endDate status }} }} }} }}'
    listed = (await api.graphql(terms))["node"]["contracts"]
    assert [(c["name"], c["term"], c["startDate"], c["endDate"], c["status"]) for c in listed] == [
        ("終了する契約", 1, "2025-01-01", "2025-12-31", "expired"),
        ("自動更新契約", 1, "2025-01-01", "2025-12-31", "renewed"),
        ("自動更新契約", 2, "2026-01-01", "2026-12-31", "active"),
    ]
    assert [e["term"] for e in await _events(api, "contract.renewed")] == [2]
    assert (ending["status"], renewing["autoRenew"]) == ("active", True)


async def test_renewing_writes_the_next_term_linked_to_the_old_and_a_won_deal_starts_a_contract(api):
    created = await pipeline(api)
    account = await create_account(api)
    open_deal = await deal(api, created["id"], account["id"], amount=600_000)
    refused = await api.mutate(
        "createContract",
        {"name": "x", "dealId": open_deal["id"], "startDate": "2024-07-01", "endDate": "2025-06-30"},
        "contract { id }",
    )
    assert refused["userErrors"] == [{"field": "dealId", "message": "a contract follows a won deal", "code": "DEAL_NOT_WON"}]
    await api.mutate("markDealWon", {"id": open_deal["id"], "closeDate": "2024-06-10"}, "deal { id }")
    first = await _contract(
        api, None, dealId=open_deal["id"], accountId=None, startDate="2024-07-01", endDate="2025-06-30", value=None
    )
    assert (first["value"], first["currency"], first["deal"]) == (600_000, "JPY", {"id": open_deal["id"]})
    renewed = await api.mutate("renewContract", {"id": first["id"], "value": 650_000}, CONTRACT)
    assert renewed["userErrors"] == []
    second = renewed["contract"]
    assert (second["term"], second["startDate"], second["endDate"], second["value"]) == (2, "2025-07-01", "2026-06-30", 650_000)
    assert second["previousTerm"] == {"id": first["id"], "status": "renewed"}
    again = await api.mutate("renewContract", {"id": first["id"]}, "contract { id }")
    assert again["userErrors"][0]["code"] == "INVALID_STATUS"
    bad = await api.mutate(
        "createContract",
        {
            "name": "x",
            "accountId": account["id"],
            "startDate": "2025-01-02",
            "endDate": "2025-01-01",
            "value": 1,
            "billingCycle": "weekly",
        },
        "contract { id }",
    )
    assert {(e["field"], e["code"]) for e in bad["userErrors"]} == {
        ("endDate", "OUT_OF_RANGE"),
        ("billingCycle", "INVALID_CHOICE"),
    }


async def test_abm_stages_follow_open_deals_and_active_contracts(api):
    """Both bundled plugins installed: ABM asks through its own hook, unchanged."""
    created = await pipeline(api)
    account = await create_account(api, name="ターゲット社")
    await api.mutate("setTargetAccount", {"accountId": account["id"]}, "account { id }")
    stage = f'{{ node(id: "{account["id"]}") {{ ... on Account {{ abm {{ stage }} }} }} }}'
    assert (await api.graphql(stage))["node"]["abm"]["stage"] == "target"
    opportunity = await deal(api, created["id"], account["id"])
    assert (await api.graphql(stage))["node"]["abm"]["stage"] == "opportunity"
    await api.mutate("markDealWon", {"id": opportunity["id"], "closeDate": "2024-06-10"}, "deal { id }")
    await _contract(api, account["id"], startDate="2024-06-10", endDate="2024-12-31", noticeDays=0)
    assert (await api.graphql(stage))["node"]["abm"]["stage"] == "customer"
    api.clock.set(_at("2025-01-01"))
    await run_due_jobs(api.runtime)  # the term expires: ABM's account is no longer a customer
    assert (await api.graphql(stage))["node"]["abm"]["stage"] != "customer"
