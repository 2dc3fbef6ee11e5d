"""Export → import loses nothing: contacts exported from one database and imported with
`enishi import` into a fresh one read the same through GraphQL, field by field.

A CSV has no types: without a definition a custom field holding a number comes back as text, so
the CSV round trip here holds text custom fields only (one that looks like a number, `0120`, must
stay text); the .xlsx one holds a number too. With typed custom-field definitions a CSV keeps
numbers, dates and booleans: tests/core/test_custom_field_round_trip.py. Re-importing an export
into its own database (its 最終対応日 adds no dated note, and the rows count as unchanged) is
tested here."""

from __future__ import annotations

import csv
import datetime as dt
import io
from zoneinfo import ZoneInfo

import pytest

from tests.core.import_files import cli_env, csv_bytes, graphql_import
from tests.core.test_exports import export
from tests.graphql.test_exports import yamada
from tests.helpers import count_rows, create_contact, enishi
from tests.plugins.loyalty.helpers import program

STATE = """{ contacts(orderBy: [{field: KANA}]) { nodes {
  familyName givenName familyNameKana givenNameKana jobTitle department postalCode address customFields
  emails { address isPrimary } phones { e164 isPrimary } primaryAccount { name } owner { email }
  loyalty { balance } timeline(first: 1) { edges { node { occurredAt } } } } } }"""
TOKYO = ZoneInfo("Asia/Tokyo")


async def contacts_as_read(api) -> list[dict]:
    """Every contact as GraphQL reads it, its timeline reduced to the day of its latest entry in
    Tokyo (what 最終対応日 carries)."""
    contacts = (await api.graphql(STATE))["contacts"]["nodes"]
    for contact in contacts:
        edges = contact.pop("timeline")["edges"]
        latest = edges[0]["node"]["occurredAt"] if edges else None
        contact["lastContacted"] = dt.datetime.fromisoformat(latest).astimezone(TOKYO).date() if latest else None
        # The export writes the primary first, then the others in their order: the order it keeps.
        for name in ("emails", "phones"):
            contact[name].sort(key=lambda item: not item["isPrimary"])
    return contacts


TEXT_ONLY = {"ランク": "A", "会員番号": "0120"}
WITH_NUMBER = {**TEXT_ONLY, "points": 120}


async def database_a(api, custom_fields: dict) -> None:
    """Several emails and phones, kana, a company, custom fields, an owner, a loyalty balance (a
    plugin's column), a last contact; and a contact with little else."""
    person = await yamada(api)
    updated = await api.mutate("updateContact", {"id": person["id"], "customFields": custom_fields}, "contact { id }")
    assert updated["userErrors"] == []
    await create_contact(api, familyName="佐藤", givenName="花子", emails=[{"address": "hanako@example.jp"}])
    await program(api)
    points = await graphql_import(api, "points.csv", csv_bytes([["メールアドレス", "ポイント残高"], ["taro@abc.co.jp", "1200"]]))
    assert [row["action"] for row in points["import"]["rows"]] == ["updated"]


@pytest.mark.parametrize(("format", "custom_fields"), [("csv", TEXT_ONLY), ("xlsx", WITH_NUMBER)])
async def test_an_export_imports_into_a_fresh_database_as_it_was(
    enishi_api, enishi_fresh_migrated, api, tmp_path, format, custom_fields
):
    await database_a(api, custom_fields)
    exported = tmp_path / f"contacts.{format}"
    export(api, "contacts", "--format", format, "--output", str(exported))
    b = await enishi_api(database_url=enishi_fresh_migrated)
    await b.token("sales")  # the owner, known in B by the same email
    await program(b)
    imported = enishi("import", str(exported), "--quiet", env=cli_env(enishi_fresh_migrated)).stdout.splitlines()
    assert imported[1].endswith(": 2 rows: 2 created, 0 updated, 0 merged, 0 unchanged, 0 rejected"), imported
    in_a, in_b = await contacts_as_read(api), await contacts_as_read(b)
    assert in_a[1]["customFields"] == custom_fields and in_a[1]["loyalty"] == {"balance": 1200}
    assert len(in_b) == len(in_a)
    assert differences(in_a, in_b) == {}


def differences(before: list[dict], after: list[dict]) -> dict:
    """(family name, field) → (before, after) for every field that differs."""
    return {
        (old["familyName"], name): (value, new[name])
        for old, new in zip(before, after, strict=True)
        for name, value in old.items()
        if new[name] != value
    }


@pytest.mark.parametrize("format", ["csv", "xlsx"])
async def test_importing_an_export_back_creates_nobody_and_changes_no_field(api, tmp_path, format):
    await database_a(api, WITH_NUMBER if format == "xlsx" else TEXT_ONLY)
    exported = tmp_path / f"contacts.{format}"
    export(api, "contacts", "--format", format, "--output", str(exported))
    before, activities = await contacts_as_read(api), await count_rows(api, "core_activity")
    again = enishi("import", str(exported), "--quiet", env=cli_env(api.runtime.settings.database_url)).stdout.splitlines()
    assert again[1].endswith(": 2 rows: 0 created, 0 updated, 0 merged, 2 unchanged, 0 rejected"), again
    assert differences(before, await contacts_as_read(api)) == {}
    assert await count_rows(api, "core_contact") == 2
    # 最終対応日 comes back as a bare date the timeline already reaches: no note for it
    assert await count_rows(api, "core_activity") == activities


async def test_cells_a_spreadsheet_would_run_as_formulas_are_escaped_and_import_as_they_were(
    enishi_api, enishi_fresh_migrated, api, tmp_path
):
    formula = '=HYPERLINK("http://example.com/x","開く")'
    await create_contact(
        api,
        familyName=formula,
        givenName="@SUM(A1)",
        jobTitle="-部長",
        emails=[{"address": "formula@example.jp"}],
        # A number abroad is written as +1 …: escaped too (Excel would read it as a sum); a
        # Japanese one as 03-…, which needs nothing.
        phones=[{"number": "+1 415-555-0100"}, {"number": "+81 3-1234-5678"}],
    )
    exported = tmp_path / "contacts.csv"
    export(api, "contacts", "--output", str(exported))
    header, row = csv.reader(io.StringIO(exported.read_text("utf-8-sig")))
    cells = dict(zip(header, row, strict=True))
    assert (cells["姓"], cells["名"], cells["役職"]) == ("'" + formula, "'@SUM(A1)", "'-部長")
    assert cells["電話番号"] == "'+1 415-555-0100;03-1234-5678"
    b = await enishi_api(database_url=enishi_fresh_migrated)
    imported = enishi("import", str(exported), "--quiet", env=cli_env(enishi_fresh_migrated)).stdout.splitlines()
    assert imported[1].endswith(": 1 rows: 1 created, 0 updated, 0 merged, 0 unchanged, 0 rejected"), imported
    in_a, in_b = await contacts_as_read(api), await contacts_as_read(b)
    assert (in_b[0]["familyName"], in_b[0]["phones"][0]["e164"]) == (formula, "+14155550100")
    assert differences(in_a, in_b) == {}
