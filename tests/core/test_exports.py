"""`enishi export` as an operator runs it: CSV on stdout (UTF-8 with a BOM, or CP932), .xlsx into
a file, the contacts filter as JSON, errors in one line, and its reads in the access log."""

from __future__ import annotations

import csv
import io
import subprocess

from openpyxl import load_workbook

from tests.graphql.test_exports import CONTACT_HEADERS, yamada
from tests.helpers import create_contact, enishi


def operator_env(api) -> dict:
    """The environment of an `enishi` process on the test's database, with the test's key."""
    settings = api.runtime.settings
    return {
        "ENISHI_DATABASE_URL": settings.database_url,
        "ENISHI_KEK": settings.key_encryption_key,
        "ENISHI_ENVIRONMENT": "production",
        "ENISHI_PUBLIC_URL": settings.public_url,
    }


def export(api, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    return enishi("export", *args, env=operator_env(api), check=check)


async def test_csv_goes_to_stdout_with_a_bom_and_honours_the_filter(api):
    person = await yamada(api)
    await create_contact(api, familyName="佐藤")
    out = export(api, "contacts", "--filter", '{"search": "やまだ"}').stdout
    assert out.startswith("\ufeff")
    header, *rows = csv.reader(io.StringIO(out.removeprefix("\ufeff")))
    assert header[: len(CONTACT_HEADERS)] == CONTACT_HEADERS
    assert [(row[0], row[1], row[6]) for row in rows] == [(person["id"], "山田", "03-1234-5678;+1 650-253-0000")]
    everyone = export(api, "contacts").stdout
    assert "佐藤" in everyone and "山田" in everyone


async def test_xlsx_needs_an_output_file_and_keeps_types(api, tmp_path):
    await yamada(api)
    refused = export(api, "contacts", "--format", "xlsx", check=False)
    assert refused.returncode == 1 and refused.stderr == "enishi: error: an .xlsx file is binary: name it with --output FILE\n"
    target = tmp_path / "顧客.xlsx"
    assert export(api, "contacts", "--format", "xlsx", "--output", str(target)).stdout == ""
    rows = list(load_workbook(target).active.iter_rows())
    column = {cell.value: index for index, cell in enumerate(rows[0])}
    assert rows[1][column["電話番号"]].data_type == "s" and rows[1][column["最終対応日"]].is_date
    assert [path.name for path in tmp_path.iterdir()] == ["顧客.xlsx"]  # no partial file left beside it


async def test_cp932_says_how_many_characters_became_geta(api, tmp_path):
    await create_contact(api, familyName="𠮷田", givenName="髙子")
    target = tmp_path / "contacts.csv"
    result = export(api, "contacts", "--encoding", "cp932", "--output", str(target))
    assert result.stderr.startswith("enishi: CP932 cannot encode 1 of the exported characters: written as 〓")
    rows = list(csv.reader(io.StringIO(target.read_bytes().decode("cp932"))))
    assert rows[1][1:3] == ["〓田", "髙子"]


async def test_a_bad_filter_is_one_line_and_writes_nothing(api, tmp_path):
    await create_contact(api, familyName="山田")
    target = tmp_path / "out.csv"
    for bad, message in (
        ("{nope", "enishi: error: --filter is not JSON"),
        ('["search"]', "enishi: error: filter: must be a JSON object"),
        ('{"surname": "山田"}', "enishi: error: filter: Expected value of type 'ContactFilter' not to include unknown field"),
        ('{"email": {"contains": "x"}}', "enishi: error: filter: filter `email` matches whole values"),
        ('{"ownerId": {"eq": "nope"}}', "enishi: error: filter.ownerId: is not a valid id (INVALID_ID)"),
    ):
        result = export(api, "contacts", "--filter", bad, "--output", str(target), check=False)
        assert result.returncode == 1 and result.stderr.startswith(message), (bad, result.stderr)
        assert len(result.stderr.splitlines()) == 1 and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


async def test_the_operators_export_is_in_the_access_log(api):
    person = await yamada(api)
    export(api, "contacts")
    log = await api.graphql(
        "query($id: ID!) { accessLog(contactId: $id) { action roles user { id } } }", {"id": person["id"]}, role="compliance"
    )
    # The console acts as no user: the entry has no user and no roles, but it is there.
    assert {"action": "read", "roles": [], "user": None} in log["accessLog"]
