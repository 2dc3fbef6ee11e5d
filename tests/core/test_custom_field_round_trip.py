"""Typed custom fields through files: an import coerces a cell's text to the field's definition
("１２０" → 120, 令和6年4月1日 → 2024-04-01, はい → true) and rejects the row naming the column when
it cannot; an export of typed fields, as CSV and as .xlsx, imports into a fresh database with the
same definitions to the same values, types included (the CSV round trip that used to turn a
number into text)."""

from __future__ import annotations

import pytest

from tests.core.import_files import cli_env, csv_bytes, graphql_import
from tests.core.test_exports import export
from tests.graphql.test_custom_field_definitions import contact_fields
from tests.helpers import create_contact, enishi

TYPED = {
    "points": 1200.5,
    "visits": 3,
    "契約日": "2024-04-01",
    "dm_ok": False,
    "ランク": "ゴールド",
    "memo_no": "0120",
    "自由項目": "未定義",
}
CUSTOM = "{ contacts { nodes { familyName customFields } } }"


async def custom_fields_by_name(api) -> dict[str, dict]:
    return {node["familyName"]: node["customFields"] for node in (await api.graphql(CUSTOM))["contacts"]["nodes"]}


async def test_an_import_coerces_cells_to_the_definitions_and_rejects_what_it_cannot(api):
    await contact_fields(api)
    header = [
        "姓",
        "メールアドレス",
        "custom:points",
        "custom:visits",
        "custom:契約日",
        "custom:dm_ok",
        "custom:ランク",
        "custom:memo_no",
    ]
    rows = [
        header,
        ["山田", "taro@example.jp", "１，２００", "３", "令和6年4月1日", "はい", "ゴールド", "007"],
        ["佐藤", "hanako@example.jp", "abc", "2", "R6.4.1", "no", "シルバー", ""],
    ]
    payload = await graphql_import(api, "typed.csv", csv_bytes(rows))
    assert [(row["action"], row["problems"]) for row in payload["import"]["rows"]] == [
        ("created", []),
        ("rejected", [{"column": "custom:points", "code": "INVALID_NUMBER"}]),
    ]
    assert (await custom_fields_by_name(api))["山田"] == {
        "points": 1200,
        "visits": 3,
        "契約日": "2024-04-01",
        "dm_ok": True,
        "ランク": "ゴールド",
        "memo_no": "007",
    }


@pytest.mark.parametrize("format", ["csv", "xlsx"])
async def test_typed_fields_survive_an_export_and_an_import_into_a_fresh_database(
    enishi_api, enishi_fresh_migrated, api, tmp_path, format
):
    await contact_fields(api)
    await create_contact(api, familyName="山田", emails=[{"address": "taro@example.jp"}], customFields=TYPED)
    await create_contact(api, familyName="佐藤", emails=[{"address": "hanako@example.jp"}], customFields={"dm_ok": True})
    exported = tmp_path / f"contacts.{format}"
    export(api, "contacts", "--format", format, "--output", str(exported))
    b = await enishi_api(database_url=enishi_fresh_migrated)
    await contact_fields(b)
    imported = enishi("import", str(exported), "--quiet", env=cli_env(enishi_fresh_migrated)).stdout.splitlines()
    assert imported[1].endswith(": 2 rows: 2 created, 0 updated, 0 merged, 0 unchanged, 0 rejected"), imported
    in_a, in_b = await custom_fields_by_name(api), await custom_fields_by_name(b)
    assert in_a == {"山田": TYPED, "佐藤": {"dm_ok": True}}
    assert in_b == in_a

    again = enishi("import", str(exported), "--quiet", env=cli_env(api.runtime.settings.database_url)).stdout.splitlines()
    assert again[1].endswith(": 2 rows: 0 created, 0 updated, 0 merged, 2 unchanged, 0 rejected"), again
