"""The issue's example sheet, as .xlsx, CP932 CSV and UTF-8 CSV, through GraphQL over HTTP and the
CLI: 2 accounts, 2 contacts (the second row merged into the first's contact), 3 dated notes;
importing it again creates nothing; an unknown column stops it before anything is written; a dry
run reports exactly what the real run then does, and writes nothing."""

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from tests.core.import_files import (
    EXAMPLE,
    cli_import,
    crm_state,
    example_file,
    graphql_import,
    table_counts,
)

FORMATS = ("xlsx", "cp932", "utf8")
EXPECTED_ROWS = [
    {"row": 2, "action": "created", "mergedIntoRow": None, "problems": []},
    {"row": 3, "action": "merged", "mergedIntoRow": 2, "problems": []},
    {"row": 4, "action": "created", "mergedIntoRow": None, "problems": []},
]


def _check_example_result(state: dict) -> None:
    assert [a["name"] for a in state["accounts"]] == ["ABC商事", "株式会社ABC"]
    assert [a["timeline"]["totalCount"] for a in state["accounts"]] == [1, 2]  # the notes are on the accounts' timelines too
    sato, yamada = state["contacts"]  # ordered by family name: サトウ before ヤマダ
    assert (yamada["familyName"], yamada["givenName"]) == ("山田", "太郎")
    assert yamada["emails"] == [{"address": "taro@abc.co.jp"}] and yamada["phones"] == [{"e164": "+81312345678"}]
    assert yamada["primaryAccount"] == {"name": "株式会社ABC"}
    notes = [edge["node"] for edge in yamada["timeline"]["edges"]]
    assert [(n["type"], n["summary"]) for n in notes] == [("note", "電話フォロー"), ("note", "見積送付")]
    last_contact = dt.datetime.fromisoformat(notes[0]["occurredAt"]).astimezone(ZoneInfo("Asia/Tokyo")).date()
    assert last_contact == dt.date(2024, 4, 15)
    assert (sato["familyName"], sato["givenName"], sato["primaryAccount"]) == ("佐藤", "花子", {"name": "ABC商事"})
    assert [e["node"]["summary"] for e in sato["timeline"]["edges"]] == ["初回訪問"]


@pytest.mark.parametrize("kind", FORMATS)
async def test_the_issue_example_over_graphql(api, kind):
    name, data = example_file(kind)
    before = await table_counts(api)
    preview = (await graphql_import(api, name, data, dryRun=True))["import"]
    assert await table_counts(api) == before  # the dry run wrote nothing
    assert preview["dryRun"] and preview["rows"] == EXPECTED_ROWS
    done = (await graphql_import(api, name, data))["import"]
    assert (done["total"], done["processed"], done["createdCount"], done["mergedCount"], done["errorCount"]) == (3, 3, 2, 1, 0)
    assert done["rows"] == preview["rows"]  # the real run did exactly what the dry run said
    assert done["errorReport"] is None
    _check_example_result(await crm_state(api))

    again = (await graphql_import(api, name, data))["import"]
    assert (again["createdCount"], again["mergedCount"], again["unchangedCount"]) == (0, 0, 3)
    assert [row["action"] for row in again["rows"]] == ["unchanged", "unchanged", "unchanged"]
    _check_example_result(await crm_state(api))  # no second note, no second contact

    with_birthday = [[*row, cell] for row, cell in zip(EXAMPLE, ["誕生日", "1980/1/1", "1980/1/1", "1990/2/2"], strict=True)]
    before = await table_counts(api)
    refused = await graphql_import(api, *example_file(kind, with_birthday))
    assert refused["import"] is None
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [("file", "UNMAPPED_COLUMN")]
    assert "誕生日" in refused["userErrors"][0]["message"]
    assert await table_counts(api) == before


@pytest.mark.parametrize("kind", FORMATS)
async def test_the_issue_example_through_the_cli(enishi_api, enishi_fresh_migrated, tmp_path, kind):
    api = await enishi_api(database_url=enishi_fresh_migrated)
    name, data = example_file(kind)
    before = await table_counts(api)
    dry = cli_import(enishi_fresh_migrated, tmp_path, name, data, "--dry-run").stdout.splitlines()
    assert await table_counts(api) == before
    assert dry[0] == "dry run (nothing written): 3 rows: 2 created, 0 updated, 1 merged, 0 unchanged, 0 rejected"
    real = cli_import(enishi_fresh_migrated, tmp_path, name, data, "--quiet").stdout.splitlines()
    assert real[1].endswith(": 3 rows: 2 created, 0 updated, 1 merged, 0 unchanged, 0 rejected")
    assert real[2:] == dry[1:] == ["  created: rows 2, 4", "  merged: row 3 into row 2"]
    _check_example_result(await crm_state(api))

    again = cli_import(enishi_fresh_migrated, tmp_path, name, data, "--quiet").stdout.splitlines()
    assert again[1].endswith(": 3 rows: 0 created, 0 updated, 0 merged, 3 unchanged, 0 rejected")
    _check_example_result(await crm_state(api))

    with_birthday = [[*row, cell] for row, cell in zip(EXAMPLE, ["誕生日", "1980/1/1", "", ""], strict=True)]
    before = await table_counts(api)
    refused = cli_import(enishi_fresh_migrated, tmp_path, *example_file(kind, with_birthday), check=False)
    assert refused.returncode != 0 and "誕生日" in refused.stderr and "UNMAPPED_COLUMN" in refused.stderr
    assert await table_counts(api) == before
