"""Import files as offices make them, and the two ways in: the CLI (a process of its own) and
GraphQL over HTTP. Workbooks are written with openpyxl here: no binary fixtures."""

from __future__ import annotations

import asyncio
import base64
import csv
import io
from pathlib import Path

from openpyxl import Workbook

from tests.helpers import count_rows, enishi

KEK = "dGVzdC1rZXktZW5jcnlwdGlvbi1rZXktMzItYnl0ZXM="  # enishi_base_settings' key: the CLI and the app share the database
# The example sheet (the dates as Excel shows them; a workbook gets real date cells).
EXAMPLE = [
    ["会社名", "担当者名", "電話番号", "メールアドレス", "最終対応日", "メモ"],
    ["株式会社ABC", "山田太郎", "03-1234-5678", "taro@abc.co.jp", "2024/04/01", "見積送付"],
    ["(株)ABC", "山田 太郎", "０３－１２３４－５６７８", "Taro@ABC.co.jp", "2024/04/15", "電話フォロー"],
    ["ABC商事", "佐藤花子", "06-1111-2222", "hanako@abc-shoji.jp", "2024/03/20", "初回訪問"],
]
IMPORT = (
    "mutation($input: ImportContactsInput!) { importContacts(input: $input) { import { id dryRun status total processed "
    "createdCount updatedCount mergedCount unchangedCount errorCount errors errorReport "
    "rows(first: 1000) { row action mergedIntoRow problems } } userErrors { field message code } } }"
)
STATE = (
    "query($id: ID!) { contactImport(id: $id) { status total processed createdCount updatedCount mergedCount "
    "unchangedCount errorCount errors errorReport rows(first: 1000) { row action mergedIntoRow problems } } }"
)
# What importing may write, to show a dry run wrote nothing.
TABLES = ("core_contact", "core_account", "core_activity", "core_contact_email", "core_import", "core_import_row", "core_outbox")


def csv_bytes(rows: list[list], encoding: str = "utf-8-sig", delimiter: str = ",") -> bytes:
    out = io.StringIO()
    csv.writer(out, delimiter=delimiter, lineterminator="\r\n").writerows(rows)
    return out.getvalue().encode(encoding)


def xlsx_bytes(rows: list[list], sheet: str = "顧客管理表", extra_sheet_first: bool = False) -> bytes:
    workbook = Workbook()
    if extra_sheet_first:
        workbook.active.title = "表紙"
        workbook.active.append(["この表は顧客管理表です"])
        worksheet = workbook.create_sheet(sheet)
    else:
        worksheet = workbook.active
        worksheet.title = sheet
    for row in rows:
        worksheet.append(row)
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def example_file(kind: str, rows: list[list] | None = None) -> tuple[str, bytes]:
    """(file name, content) of the example sheet as `kind`: xlsx, cp932 or utf8."""
    rows = rows or EXAMPLE
    if kind == "xlsx":
        import datetime as dt

        typed = [rows[0]] + [
            [dt.datetime.strptime(cell, "%Y/%m/%d") if i == 4 and "/" in str(cell) else cell for i, cell in enumerate(row)]
            for row in rows[1:]
        ]
        return "顧客管理表.xlsx", xlsx_bytes(typed)
    if kind == "cp932":
        return "顧客管理表.csv", csv_bytes(rows, "cp932")
    return "顧客管理表.csv", csv_bytes(rows, "utf-8-sig")


def cli_env(database_url: str) -> dict:
    return {"ENISHI_DATABASE_URL": database_url, "ENISHI_KEK": KEK}


def cli_import(database_url: str, tmp_path: Path, name: str, data: bytes, *args: str, check: bool = True):
    path = tmp_path / name
    path.write_bytes(data)
    return enishi("import", str(path), *args, env=cli_env(database_url), check=check)


async def graphql_import(api, name: str, data: bytes, **options) -> dict:
    """The payload of `importContacts` with the file base64; a real run is awaited to its end."""
    variables = {"input": {"file": base64.b64encode(data).decode(), "filename": name, **options}}
    payload = (await api.graphql(IMPORT, variables))["importContacts"]
    if payload["import"] is None or options.get("dryRun"):
        return payload
    return {"import": await finished(api, payload["import"]["id"]), "userErrors": payload["userErrors"]}


async def finished(api, import_id: str) -> dict:
    for _ in range(1200):
        state = (await api.graphql(STATE, {"id": import_id}))["contactImport"]
        if state["status"] in ("completed", "failed"):
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"import did not finish: {state}")


async def table_counts(api) -> dict[str, int]:
    return {table: await count_rows(api, table) for table in TABLES}


CONTACTS = (
    "{ contacts(orderBy: [{field: FAMILY_NAME}]) { nodes { id familyName givenName emails { address } phones { e164 } "
    "primaryAccount { name } timeline { totalCount edges { node { type summary occurredAt } } } } } }"
)
ACCOUNTS = "{ accounts(orderBy: [{field: NAME}]) { nodes { name timeline { totalCount } } } }"


async def crm_state(api) -> dict:
    return {
        "contacts": (await api.graphql(CONTACTS))["contacts"]["nodes"],
        "accounts": (await api.graphql(ACCOUNTS))["accounts"]["nodes"],
    }
