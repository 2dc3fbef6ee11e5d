"""CSV import of contacts over GraphQL and the CLI: Excel's Shift_JIS and UTF-8 with a BOM, Japanese
and English headers, row errors without values, duplicates, and an import killed midway that
`enishi import --resume` finishes without losing or repeating a row."""

import asyncio
import base64
import os
import signal
import subprocess
import sys

from sqlalchemy import text

from enishi.services.imports import BATCH
from tests.core.test_cli import enishi
from tests.helpers import create_account, create_contact, query_row

IMPORT = (
    "mutation($input: ImportContactsInput!) { importContacts(input: $input) { import { id status totalRows } "
    "userErrors { field code } } }"
)
STATE = (
    "query($id: ID!) { node(id: $id) { ... on ContactImport { status processedRows createdCount duplicateCount "
    "errorCount mergedCount errors encoding } } }"
)


async def _import(api, data: bytes, role="sales"):
    payload = await api.graphql(IMPORT, {"input": {"file": base64.b64encode(data).decode(), "filename": "名簿.csv"}}, role=role)
    return payload["importContacts"]


async def _finished(api, import_id):
    for _ in range(200):
        state = (await api.graphql(STATE, {"id": import_id}, role="sales"))["node"]
        if state["status"] == "completed":
            return state
        await asyncio.sleep(0.05)
    raise AssertionError(f"import did not finish: {state}")


async def test_excel_shift_jis_file_with_japanese_headers(api):
    account = await create_account(api, name="株式会社ＡＢＣ")
    await create_contact(api, familyName="既存", emails=[{"address": "kizon@example.jp"}])
    rows = [
        "姓,名,セイ,メイ,メールアドレス,電話番号,会社名,役職",
        "山田,太郎,ヤマダ,タロウ,Ｔａｒｏ＠ＡＢＣ.co.jp,０３－１２３４－５６７８,ABC株式会社,部長",
        "佐藤,花子,サトウ,ハナコ,hanako@example.jp,090-1111-2222,新規商事株式会社,",
        "鈴木,一郎,スズキ,イチロウ,not-an-address,,幻商事,",
        ",,,,,,,",
        "既存,さん,,,KIZON@example.jp,,,",
        f"田中,次郎,,,jiro@example.jp,,{'長' * 301},",
    ]
    started = await _import(api, "\r\n".join(rows).encode("cp932"))
    assert started["userErrors"] == [] and started["import"]["totalRows"] == 5
    done = await _finished(api, started["import"]["id"])
    assert (done["encoding"], done["createdCount"], done["duplicateCount"], done["errorCount"]) == ("cp932", 2, 1, 2)
    assert done["errors"] == [
        {"row": 4, "column": "メールアドレス", "code": "INVALID_EMAIL"},  # no values, only where
        {"row": 7, "column": "会社名", "code": "TOO_LONG"},
    ]
    found = await api.graphql(
        '{ contacts(filter: {search: "やまだ"}) { nodes { familyNameKana primaryEmail phones { e164 } '
        "jobTitle primaryAccount { id } } } }"
    )
    assert found["contacts"]["nodes"] == [
        {
            "familyNameKana": "ヤマダ",
            "primaryEmail": "Taro@ABC.co.jp",
            "phones": [{"e164": "+81312345678"}],
            "jobTitle": "部長",
            "primaryAccount": {"id": account["id"]},
        }
    ]
    accounts = await api.graphql('{ accounts(filter: {search: "新規商事"}) { totalCount } }')
    assert accounts["accounts"]["totalCount"] == 1  # a company not yet known becomes an account
    unused = await api.graphql('{ accounts(filter: {search: "幻商事"}) { totalCount } }')
    assert unused["accounts"]["totalCount"] == 0  # but not the company of a row that was refused
    async with api.runtime.read_session() as session:
        assert (await session.execute(text("SELECT source FROM core_import"))).scalar_one() is None  # the upload is wiped


async def test_utf8_with_bom_and_english_headers_and_a_full_name_column(api):
    data = "\ufeffName,Email,Company\r\n山田 花子,hanako.yamada@example.jp,Acme Inc.\r\nJohn Smith,john@example.com,Acme Inc.\r\n"
    done = await _finished(api, (await _import(api, data.encode("utf-8")))["import"]["id"])
    assert (done["encoding"], done["createdCount"]) == ("utf-8-sig", 2)
    names = await api.graphql(
        "{ contacts(orderBy: [{field: FAMILY_NAME}]) { nodes { familyName givenName primaryAccount { name } } } }"
    )
    assert names["contacts"]["nodes"] == [
        {"familyName": "Smith", "givenName": "John", "primaryAccount": {"name": "Acme Inc."}},
        {"familyName": "山田", "givenName": "花子", "primaryAccount": {"name": "Acme Inc."}},
    ]


async def test_a_row_repeating_a_refused_rows_email_is_created_not_counted_as_a_duplicate(api):
    data = (
        "Name,Email,Phone\r\n"
        "山田 太郎,taro@example.jp,12\r\n"  # refused: the phone is not a number
        "山田 太郎,TARO@example.jp,03-1234-5678\r\n"  # the corrected row: created
        "山田 太郎,taro@example.jp,03-1234-5678\r\n"
    )  # now the same person as the created one: merged into it
    done = await _finished(api, (await _import(api, data.encode("utf-8")))["import"]["id"])
    assert (done["createdCount"], done["mergedCount"], done["errorCount"]) == (1, 1, 1)
    assert done["errors"] == [{"row": 2, "column": "Phone", "code": "INVALID_PHONE"}]
    assert (await api.graphql("{ contacts { totalCount } }"))["contacts"]["totalCount"] == 1


async def test_the_importer_counts_as_duplicates_exactly_what_create_contact_offers(api):
    kept = await create_contact(
        api, familyName="山田", emails=[{"address": "taro@abc.co.jp"}], phones=[{"number": "03-1234-5678"}]
    )
    gone = await create_contact(api, familyName="削除", emails=[{"address": "gone@abc.co.jp"}])
    await api.mutate("deleteContact", {"id": gone["id"]}, "contact { id }")
    selection = "possibleDuplicates { matchedOn contact { id } }"
    api.clock.advance(minutes=1)
    for spelling in ("TARO@abc.co.jp", "ｔａｒｏ＠ａｂｃ．ｃｏ．ｊｐ"):
        offered = await api.mutate("createContact", {"familyName": "山田", "emails": [{"address": spelling}]}, selection)
        assert offered["possibleDuplicates"][0] == {"matchedOn": "EMAIL", "contact": {"id": kept["id"]}}  # the oldest first
    revived = await api.mutate(
        "createContact", {"familyName": "削除", "emails": [{"address": "GONE@abc.co.jp"}]}, "contact { id } " + selection
    )
    assert revived["possibleDuplicates"] == []
    await api.mutate("deleteContact", {"id": revived["contact"]["id"]}, "contact { id }")  # gone again, for the import
    data = (
        "氏名,メールアドレス,電話番号\r\n"
        "山田 太郎,Ｔａｒｏ＠ＡＢＣ.co.jp,\r\n"  # the email of a live contact: a duplicate
        "佐藤 花子,sato@abc.co.jp,03-1234-5678\r\n"  # a phone shared under another name (a switchboard): created
        "削除 さん,gone@ABC.co.jp,\r\n"
    )  # a deleted contact's email: created again
    done = await _finished(api, (await _import(api, data.encode("utf-8")))["import"]["id"])
    assert (done["createdCount"], done["duplicateCount"], done["errorCount"]) == (2, 1, 0)


async def test_bad_files_are_refused_and_change_nothing(api):
    assert (await _import(api, b"\x89PNG\r\n\x1a\n\xff\xfe\x00"))["userErrors"] == [{"field": "file", "code": "INVALID_ENCODING"}]
    assert (await _import(api, "色,形\n赤,丸\n".encode()))["userErrors"] == [{"field": "file", "code": "UNMAPPED_COLUMN"}] * 2
    assert (await _import(api, "会社名\nABC\n".encode()))["userErrors"] == [{"field": "file", "code": "UNKNOWN_COLUMNS"}]
    assert (await _import(api, b""))["userErrors"] == [{"field": "file", "code": "EMPTY_FILE"}]
    not_base64 = await api.graphql(IMPORT, {"input": {"file": "!!"}})
    assert not_base64["importContacts"]["userErrors"] == [{"field": "file", "code": "INVALID_BASE64"}]
    forbidden = await api.errors(IMPORT, {"input": {"file": base64.b64encode(b"email\na@b.jp").decode()}}, role="support")
    assert forbidden[0]["extensions"]["code"] == "FORBIDDEN"
    assert (await api.graphql("{ contacts { totalCount } }"))["contacts"]["totalCount"] == 0


def test_an_import_killed_midway_is_resumed_without_losing_or_repeating_rows(enishi_fresh_migrated, tmp_path):
    env = {"ENISHI_DATABASE_URL": enishi_fresh_migrated}
    rows = ["氏名,メールアドレス,電話番号,会社名"] + [
        f"山田 太郎{i},taro{i}@example.jp,03-5555-{i:04d},縁商事{i % 7}株式会社" for i in range(3000)
    ]
    path = tmp_path / "meibo.csv"
    path.write_bytes("\r\n".join(rows).encode("cp932"))
    process = subprocess.Popen(
        [sys.executable, "-m", "enishi.cli", "import", str(path)], env={**os.environ, **env}, stdout=subprocess.PIPE, text=True
    )
    import_id = process.stdout.readline().split()[1].rstrip(":")
    for line in process.stdout:  # a progress line per committed batch
        if line.startswith(f"{BATCH}/"):
            break
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=10)
    assert process.returncode == -signal.SIGKILL

    state = asyncio.run(query_row(enishi_fresh_migrated, "SELECT status, processed_rows, created_count FROM core_import"))
    assert state[0] == "running" and BATCH <= state[1] < 3000 and state[2] == state[1]  # each batch committed whole
    resumed = enishi("import", "--resume", import_id, env=env).stdout
    assert "3000 created, 0 updated, 0 merged, 0 unchanged, 0 rejected" in resumed  # counted over both runs
    counts = asyncio.run(
        query_row(
            enishi_fresh_migrated,
            "SELECT (SELECT COUNT(*) FROM core_contact), "
            "(SELECT COUNT(DISTINCT address_index) FROM core_contact_email), "
            "(SELECT COUNT(*) FROM core_account), (SELECT status FROM core_import), "
            "(SELECT created_count FROM core_import)",
        )
    )
    assert counts == (3000, 3000, 7, "completed", 3000)
    assert "is not waiting to run" in enishi("import", "--resume", import_id, env=env, check=False).stderr
