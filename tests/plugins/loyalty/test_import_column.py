"""The loyalty plugin's import column (`enishi_import_columns`): a points balance in the contact
spreadsheet enrols the contact and adjusts the balance to it, once; a bad figure rejects the row."""

from tests.core.import_files import csv_bytes, graphql_import
from tests.helpers import count_rows
from tests.plugins.loyalty.helpers import program

SHEET = [  # 会員ランク is export-only: recognised (no UNMAPPED_COLUMN) and left alone
    ["氏名", "メールアドレス", "ポイント残高", "会員ランク"],
    ["山田 太郎", "taro@example.jp", "1,200", "Gold"],
    ["佐藤 花子", "hanako@example.jp", "たくさん", ""],
]
BALANCES = "{ contacts { nodes { familyName loyalty { balance } } } }"


async def test_hook_enishi_import_columns(api):
    refused = await graphql_import(api, "points.csv", csv_bytes(SHEET))  # no program to hold the points yet
    assert [row["problems"] for row in refused["import"]["rows"]] == [
        [{"column": "ポイント残高", "code": "NO_PROGRAM"}],
        [{"column": "ポイント残高", "code": "INVALID_NUMBER"}],
    ]
    assert await count_rows(api, "core_contact") == 0  # a rejected row writes nothing
    await program(api)
    done = (await graphql_import(api, "points.csv", csv_bytes(SHEET)))["import"]
    assert [(row["action"], row["problems"]) for row in done["rows"]] == [
        ("created", []),
        ("rejected", [{"column": "ポイント残高", "code": "INVALID_NUMBER"}]),
    ]
    assert (await api.graphql(BALANCES))["contacts"]["nodes"] == [{"familyName": "山田", "loyalty": {"balance": 1200}}]
    entries = await count_rows(api, "loyalty_entry")
    again = (await graphql_import(api, "points.csv", csv_bytes(SHEET[:2])))["import"]
    assert [row["action"] for row in again["rows"]] == ["unchanged"]
    assert await count_rows(api, "loyalty_entry") == entries  # the balance was already there: no second adjustment
    raised = (await graphql_import(api, "points.csv", csv_bytes([SHEET[0], ["山田 太郎", "taro@example.jp", "1500", ""]])))[
        "import"
    ]
    assert [row["action"] for row in raised["rows"]] == ["updated"]
    assert (await api.graphql(BALANCES))["contacts"]["nodes"] == [{"familyName": "山田", "loyalty": {"balance": 1500}}]
