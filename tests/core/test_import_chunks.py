"""The import's rows written a chunk at a time: a row refused midway leaves nothing behind (its
savepoint), and a dry run leaves other writers free while it reads the file."""

import asyncio
import sqlite3

from sqlalchemy import make_url, text

from enishi.db import is_sqlite
from enishi.plugin import ImportColumn, hookimpl
from tests.core.import_files import csv_bytes, graphql_import, table_counts
from tests.helpers import count_rows, create_contact

HEADER = ["メールアドレス", "会社名"]
ACCOUNTS = "{ accounts(orderBy: [{field: NAME}]) { nodes { name contacts { totalCount } } } }"


async def test_a_row_refused_after_its_account_was_created_leaves_no_account_and_no_event(api):
    # Twenty emails is a contact's most: the row's twenty-first is refused by the update, after
    # the row's company (new to the CRM) became an account.
    await create_contact(api, familyName="満杯", emails=[{"address": f"full{i}@example.jp"} for i in range(20)])
    refused = ["full0@example.jp;new@example.jp", "新会社株式会社"]
    done = (await graphql_import(api, "a.csv", csv_bytes([HEADER, refused, ["other@example.jp", "別会社"]])))["import"]
    assert [(r["row"], r["action"], r["problems"]) for r in done["rows"]] == [
        (2, "rejected", [{"column": "メールアドレス", "code": "TOO_MANY"}]),
        (3, "created", []),
    ]
    assert (await api.graphql(ACCOUNTS))["accounts"]["nodes"] == [{"name": "別会社", "contacts": {"totalCount": 1}}]
    assert await _account_events(api) == 1  # 別会社's: 新会社's went with row 2's savepoint
    assert await count_rows(api, "core_contact_email") == 21  # row 2 added nothing

    # The same company on a later row of the same chunk is created then (not taken for the account
    # the refused row had created).
    done = (await graphql_import(api, "b.csv", csv_bytes([HEADER, refused, ["third@example.jp", "新会社株式会社"]])))["import"]
    assert [(r["row"], r["action"]) for r in done["rows"]] == [(2, "rejected"), (3, "created")]
    assert (await api.graphql(ACCOUNTS))["accounts"]["nodes"] == [
        {"name": "別会社", "contacts": {"totalCount": 1}},
        {"name": "新会社株式会社", "contacts": {"totalCount": 1}},
    ]
    assert await _account_events(api) == 2


async def _account_events(api) -> int:
    async with api.runtime.read_session() as session:
        return (await session.execute(text("SELECT COUNT(*) FROM core_outbox WHERE type = 'account.created'"))).scalar_one()


class HeldColumn:
    """A plugin's import column whose check waits, at its first row, until the test lets it go:
    a dry run is then mid-file for as long as the test needs."""

    def __init__(self) -> None:
        self.reached, self.release = asyncio.Event(), asyncio.Event()

    async def check(self, uow, text: str) -> str:
        self.reached.set()
        await self.release.wait()
        return text

    def apply(self, uow, contact_id, value) -> bool:
        return False

    @hookimpl
    def enishi_import_columns(self):
        return [ImportColumn("held.value", ("待ち",), check=self.check, apply=self.apply)]


async def test_other_writers_go_on_while_a_dry_run_is_mid_file(enishi_api):
    held = HeldColumn()
    api = await enishi_api(plugins=[("held", held)])
    rows = [["メールアドレス", "待ち"], ["taro@example.jp", "1"], ["hanako@example.jp", "2"]]
    before = await table_counts(api)
    dry_run = asyncio.create_task(graphql_import(api, "d.csv", csv_bytes(rows), dryRun=True))
    reached = asyncio.create_task(held.reached.wait())
    await asyncio.wait({dry_run, reached}, return_when=asyncio.FIRST_COMPLETED)
    try:
        assert reached.done(), dry_run  # the dry run has begun the file's rows, and waits
        url = api.runtime.settings.database_url
        if is_sqlite(url):  # the database's write lock is free: taking it does not wait (timeout 0)
            with sqlite3.connect(make_url(url).database, timeout=0) as other_writer:
                other_writer.execute("BEGIN IMMEDIATE")
                other_writer.rollback()
        created = await create_contact(api, familyName="同時", emails=[{"address": "meanwhile@example.jp"}])
        assert created["familyName"] == "同時"
    finally:
        held.release.set()
    report = (await dry_run)["import"]
    assert (report["dryRun"], report["createdCount"], report["total"]) == (True, 2, 2)
    assert await table_counts(api) == {**before, "core_contact": 1, "core_contact_email": 1, "core_outbox": 1}
