"""The processor register's review reminder: a task for the reviewer when the review date comes
within the notice days, once per review date — across reruns and two workers at once — and again
for a new review date."""

import asyncio
import datetime as dt

from enishi.db import is_sqlite
from enishi.plugin import hookimpl, parse_global_id
from enishi.plugins.privacy.recipients import due_recipients, remind, remind_reviews
from enishi.worker import run_due_jobs
from tests.helpers import count_rows, create_contact
from tests.plugins.privacy.test_provisions import JST, RECIPIENT, codes, provide, records, registered
from tests.plugins.sales.helpers import user_id
from tests.plugins.sales.test_contracts import _lock_waiters


def _at(day: str) -> dt.datetime:
    return dt.datetime.fromisoformat(day).replace(hour=9, tzinfo=JST)


async def _review_job(api) -> None:
    assert "privacy.recipient_reviews" in await run_due_jobs(api.runtime)


async def _recipient(api, recipient_id) -> dict:
    query = f'{{ node(id: "{recipient_id}") {{ ... on ProvisionRecipient {{ {RECIPIENT} }} }} }}'
    return (await api.graphql(query, role="compliance"))["node"]


async def test_the_review_reminder_is_one_task_per_review_date(api):
    api.clock.set(_at("2025-06-01"))
    reviewer = await user_id(api, "compliance")
    processor = await registered(
        api,
        name="コールセンター株式会社",
        kind="PROCESSOR",
        country="JP",
        purpose="問い合わせ対応の委託",
        contractDate="2024-07-01",
        dpaDate="2024-07-01",
        reviewDate="2025-07-15",
        reviewerId=reviewer,
        securityMeasures="入退室管理、アクセスログの月次確認",
    )
    api.clock.set(_at("2025-06-14"))  # 31 days before: not yet
    await _review_job(api)
    assert await count_rows(api, "core_task") == 0
    api.clock.set(_at("2025-06-15"))  # 30 days before (extra.privacy_review_notice_days)
    await _review_job(api)
    api.clock.advance(hours=25)
    await _review_job(api)
    reminded = await _recipient(api, processor["id"])
    assert reminded["remindedFor"] == "2025-07-15" and await count_rows(api, "core_task") == 1
    task = f'{{ node(id: "{reminded["reminderTaskId"]}") {{ ... on Task {{ title dueAt assignee {{ id }} }} }} }}'
    assert (await api.graphql(task))["node"] == {
        "title": "委託先・提供先の見直し: コールセンター株式会社 (期限 2025-07-15)",
        "dueAt": "2025-07-14T15:00:00+00:00",
        "assignee": {"id": reviewer},
    }
    moved = await api.mutate(
        "updateRecipient", {"id": processor["id"], "reviewDate": "2026-07-15"}, "recipient { id }", role="compliance"
    )
    assert moved["userErrors"] == []
    api.clock.set(_at("2025-07-01"))
    assert await remind_reviews(api.runtime) == 0  # the next review is a year away
    api.clock.set(_at("2026-06-20"))
    assert await remind_reviews(api.runtime) == 1
    assert (await _recipient(api, processor["id"]))["remindedFor"] == "2026-07-15"
    assert await count_rows(api, "core_task") == 2


class Barrier:
    """Holds the first worker inside the transaction that raises the reminder until released."""

    def __init__(self):
        self.entered, self.release = asyncio.Event(), asyncio.Event()

    @hookimpl
    async def enishi_on_event(self, event, uow):
        if event.type == "task.created":
            self.entered.set()
            await self.release.wait()


async def test_two_workers_at_once_raise_the_reminder_once(enishi_api):
    barrier = Barrier()
    first = await enishi_api(plugins=[("barrier", barrier)])
    second = await enishi_api()
    first.clock.set(_at("2025-06-20"))
    await registered(first, name="監査法人", kind="PROCESSOR", country="JP", purpose="監査", reviewDate="2025-07-01")
    # Both workers have read the recipient as due; the first has claimed it and created its task
    # and stops before committing; then the second tries its claim.
    stale = await due_recipients(second.runtime)
    running_first = asyncio.create_task(remind_reviews(first.runtime))
    await barrier.entered.wait()
    running_second = asyncio.create_task(remind(second.runtime, stale))
    url = first.runtime.settings.database_url
    if not is_sqlite(url):  # PostgreSQL: the second claim waits on the first's row lock
        await _lock_waiters(url)
    barrier.release.set()
    assert sorted(await asyncio.gather(running_first, running_second)) == [0, 1]
    assert await count_rows(first, "core_task") == 1
    assert await remind(second.runtime, stale) == 0  # and later, with the same stale list
    assert await count_rows(first, "core_task") == 1


async def test_a_recipient_is_deleted_or_retired_when_records_name_it(api):
    api.clock.set(_at("2025-06-20"))
    delete = "mutation($id: ID!) { deleteRecipient(id: $id) { deletedId recipient { retiredAt } userErrors { field code } } }"
    unused = await registered(api, name="削除テスト未使用", kind="PROCESSOR", country="JP", purpose="試用")
    gone = (await api.graphql(delete, {"id": unused["id"]}, role="compliance"))["deleteRecipient"]
    assert gone == {"deletedId": unused["id"], "recipient": None, "userErrors": []}
    assert (await api.graphql(f'{{ node(id: "{unused["id"]}") {{ id }} }}', role="compliance"))["node"] is None

    used = await registered(
        api, name="削除テスト委託先", kind="PROCESSOR", country="JP", purpose="発送の委託", reviewDate="2025-07-01"
    )
    person = await create_contact(api, familyName="委託")
    assert (await provide(api, used["id"], [person["id"]]))["userErrors"] == []
    retired = (await api.graphql(delete, {"id": used["id"]}, role="compliance"))["deleteRecipient"]
    assert (retired["deletedId"], retired["recipient"]) == (None, {"retiredAt": "2025-06-20T00:00:00+00:00"})
    kept = await records(api, recipientId=used["id"])
    assert len(kept) == 1  # the record stays, naming the recipient
    assert codes(await provide(api, used["id"], [person["id"]])) == [("recipientId", "RECIPIENT_RETIRED")]
    again = (await api.graphql(delete, {"id": used["id"]}, role="compliance"))["deleteRecipient"]
    assert again["userErrors"] == [{"field": "id", "code": "RECIPIENT_RETIRED"}]
    assert parse_global_id(used["id"], "ProvisionRecipient", "id") not in await due_recipients(api.runtime)  # no reminder
    denied = await api.errors(delete, {"id": used["id"]}, role="sales")
    assert denied[0]["extensions"]["code"] == "FORBIDDEN"
