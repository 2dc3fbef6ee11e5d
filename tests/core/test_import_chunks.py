"""The import's rows written a chunk at a time: a row refused midway leaves nothing behind (its
savepoint), a dry run leaves other writers free while it reads the file, and the file is read as
it goes, never whole."""

import asyncio
import io
import sqlite3

from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import make_url, text

from enishi.db import is_sqlite
from enishi.errors import InputError, UserError
from enishi.models import Contact
from enishi.plugin import ImportColumn, hookimpl
from enishi.services.imports import create_import, run_import
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


class ReadsRecorded(io.BytesIO):
    """A file that remembers the most it was asked for at once (None: everything)."""

    def __init__(self, data: bytes) -> None:
        super().__init__(data)
        self.largest: int | None = 0

    def _asked(self, size) -> None:
        if self.largest is not None:
            self.largest = None if size is None or size < 0 else max(self.largest, size)

    def read(self, size=-1, /) -> bytes:
        self._asked(size)
        return super().read(size)

    def read1(self, size=-1, /) -> bytes:
        self._asked(size)
        return super().read1(size)


async def test_an_import_reads_its_file_a_piece_at_a_time(enishi_api):
    api = await enishi_api(import_chunk_bytes=1 << 15)
    rows = [[*HEADER, "役職"]] + [[f"person{i}@example.jp", f"会社{i % 7}", "営業" * 75] for i in range(300)]
    file = ReadsRecorded(csv_bytes(rows))  # 300 rows of 450 bytes and more
    async with api.runtime.unit_of_work() as uow:
        job = await create_import(uow, file, "big.csv")
    assert file.largest is not None and file.largest <= 1 << 16  # a chunk read to check it, a piece to store it
    assert len(file.getvalue()) > 1 << 17
    done = await run_import(api.runtime, job.id)
    assert done is not None and (done.status, done.created_count, done.error_count) == ("completed", 300, 0)
    assert await count_rows(api, "core_contact") == 300


class RefusesSome:
    """Vetoes a contact created under the family name 拒否, as a plugin's `contact.created` hook may."""

    @hookimpl
    async def enishi_on_events(self, events, uow):
        for event in events:
            await self.enishi_on_event(event, uow)

    @hookimpl
    async def enishi_on_event(self, event, uow):
        if event.type == "contact.created":
            contact = await uow.session.get(Contact, event.entity_id)
            if contact.family_name == "拒否":
                raise InputError(UserError("familyName", "refused by a plugin", "REFUSED"))


async def test_a_row_refused_by_a_hook_on_its_new_contact_is_rejected_alone(enishi_api):
    api = await enishi_api(plugins=[("refuses", RefusesSome())])
    rows = [
        ["姓", "名", "メールアドレス", "会社名"],
        ["山田", "太郎", "taro@example.jp", "縁商事"],
        ["拒否", "一郎", "ichiro@example.jp", "拒否商事"],
        ["佐藤", "花子", "hanako@example.jp", "縁商事"],
        ["山田", "太郎", "taro@example.jp", "縁商事"],  # row 2's person again: merged into it
    ]
    done = (await graphql_import(api, "a.csv", csv_bytes(rows)))["import"]
    assert [(r["row"], r["action"], r["mergedIntoRow"], r["problems"]) for r in done["rows"]] == [
        (2, "created", None, []),
        (3, "rejected", None, [{"column": "姓", "code": "REFUSED"}]),
        (4, "created", None, []),
        (5, "merged", 2, []),
    ]
    assert (await api.graphql(ACCOUNTS))["accounts"]["nodes"] == [{"name": "縁商事", "contacts": {"totalCount": 2}}]
    assert await _account_events(api) == 1  # 拒否商事's went with row 3
    assert await count_rows(api, "core_contact") == 2


async def test_an_import_sends_as_many_statements_for_two_hundred_rows_as_for_twenty(enishi_api):
    """A chunk's statements do not grow with its rows: on PostgreSQL each customer whose health a
    note rescores is locked (insights' `lock_customers`), and those locks are one statement a
    chunk (`one_at_a_time` with several names), not one a customer."""
    api = await enishi_api()
    twenty, two_hundred = await _statements_of_import(api, 20), await _statements_of_import(api, 200)
    assert two_hundred == twenty, (twenty, two_hundred)


async def _statements_of_import(api, rows: int) -> int:
    """The SQL statements an import of `rows` new people, each with a dated note, sends."""
    header = ["メールアドレス", "会社名", "最終対応日", "メモ"]
    lines = [[f"count{rows}-{i}@example.jp", f"数会社{rows}-{i}", "2024/4/1", f"対応{i}"] for i in range(rows)]
    statements: list[str] = []

    def record(_connection, _cursor, statement, *_) -> None:
        statements.append(statement)

    sqlalchemy_event.listen(api.runtime.engine.sync_engine, "before_cursor_execute", record)
    try:
        async with api.runtime.unit_of_work() as uow:
            job = await create_import(uow, csv_bytes([header, *lines]), "count.csv")
        done = await run_import(api.runtime, job.id)
    finally:
        sqlalchemy_event.remove(api.runtime.engine.sync_engine, "before_cursor_execute", record)
    assert done is not None and (done.created_count, done.error_count) == (rows, 0)
    return len(statements)
