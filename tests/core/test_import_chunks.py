"""The import's rows written a chunk at a time: a row refused midway leaves nothing behind (its
savepoint), and a dry run leaves other writers free while it reads the file."""

from sqlalchemy import text

from tests.core.import_files import csv_bytes, graphql_import
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
