"""The import's rules over GraphQL: file formats and date spellings, column mapping, names, custom
fields and addresses, the upsert's match keys and conflicts, malformed files and the error report,
and the multipart upload."""

import base64
import datetime as dt
import json
from zoneinfo import ZoneInfo

from sqlalchemy import text

from enishi.services.imports import create_import, run_import
from tests.core.import_files import IMPORT, csv_bytes, graphql_import, table_counts, xlsx_bytes
from tests.helpers import count_rows, create_account, create_contact

NOTES = "{ contacts(orderBy: [{field: FAMILY_NAME}]) { nodes { familyName timeline { edges { node { occurredAt } } } } } }"
TOKYO = ZoneInfo("Asia/Tokyo")


def _dates(nodes) -> dict[str, dt.date]:
    return {
        n["familyName"]: dt.datetime.fromisoformat(n["timeline"]["edges"][0]["node"]["occurredAt"]).astimezone(TOKYO).date()
        for n in nodes
    }


async def test_every_format_and_date_spelling_reads_the_same(api):
    spellings = ["2024/4/1", "2024-04-01", "令和6年4月1日", "R6.4.1", "45383", "２０２４／４／１"]
    header = ["姓", "メールアドレス", "最終対応日"]
    rows = [header] + [[f"日付{i}", f"d{i}@example.jp", s] for i, s in enumerate(spellings)]
    files = {
        "utf8.csv": csv_bytes(rows, "utf-8"),  # no BOM
        "bom.tsv": csv_bytes(rows, "utf-8-sig", "\t"),
        "unicode.txt": csv_bytes(rows, "utf-16", "\t"),  # Excel's "Unicode text"
        "sjis.csv": csv_bytes(rows, "cp932"),
    }
    for name, data in files.items():
        done = (await graphql_import(api, name, data))["import"]
        assert (done["total"], done["errorCount"]) == (len(spellings), 0), (name, done)
        assert set(_dates((await api.graphql(NOTES))["contacts"]["nodes"]).values()) == {dt.date(2024, 4, 1)}, name
    heisei = [
        ["姓", "メールアドレス", "最終対応日"],
        ["平成", "h@example.jp", "平成31年4月30日"],
        ["H", "hh@example.jp", "H31.4.30"],
    ]
    await graphql_import(api, "heisei.csv", csv_bytes(heisei))
    dates = _dates((await api.graphql(NOTES))["contacts"]["nodes"])
    assert dates["平成"] == dates["H"] == dt.date(2019, 4, 30)
    # A workbook: the second sheet by name, a real date cell and an Excel serial number.
    sheet = [
        ["姓", "メールアドレス", "最終対応日"],
        ["ブック", "book@example.jp", dt.datetime(2024, 4, 1)],
        ["シリアル", "s@example.jp", 45383],
    ]
    workbook = xlsx_bytes(sheet, sheet="顧客", extra_sheet_first=True)
    wrong_sheet = await graphql_import(api, "book.xlsx", workbook)
    assert [e["code"] for e in wrong_sheet["userErrors"]] == ["UNMAPPED_COLUMN"]  # the cover sheet's text is no header
    missing = await graphql_import(api, "book.xlsx", workbook, sheet="存在しない")
    assert [(e["field"], e["code"]) for e in missing["userErrors"]] == [("sheet", "UNKNOWN_SHEET")]
    done = (await graphql_import(api, "book.xlsx", workbook, sheet="顧客"))["import"]
    assert (done["createdCount"], done["errorCount"]) == (2, 0)
    dates = _dates((await api.graphql(NOTES))["contacts"]["nodes"])
    assert dates["ブック"] == dates["シリアル"] == dt.date(2024, 4, 1)


async def test_mapping_ignoring_names_custom_fields_and_addresses(api):
    header = ["氏名", "フリガナ", "TEL2", "社員番号", "社内メモ", "メールアドレス", "郵便番号", "住所", "担当"]
    yamada_row = ["山田　太郎", "ヤマダ タロウ", "090-1111-2222", "E-7", "不要", "a@example.jp；b@example.jp", "100-0001"]
    rows = [
        header,
        [*yamada_row, "東京都千代田区1-1", "test admin"],
        ["Taro Suzuki", "", "", "E-8", "", "suzuki@example.jp", "", "", "ADMIN@staff.example"],
        ["真由美", "", "", "", "", "mayumi@example.jp", "", "", ""],
        ["幽霊 さん", "", "", "", "", "ghost@example.jp", "", "", "誰か"],
    ]
    data = csv_bytes(rows)
    unmapped = await graphql_import(api, "m.csv", data)
    assert sorted(e["message"].split("'")[1] for e in unmapped["userErrors"]) == ["TEL2", "社内メモ", "社員番号"]
    bad_mapping = await graphql_import(
        api, "m.csv", data, mapping=[{"column": "TEL2", "field": "誕生日"}, {"column": "無い列", "field": "phone"}]
    )
    assert [(e["field"], e["code"]) for e in bad_mapping["userErrors"]] == [
        ("mapping.0", "UNKNOWN_FIELD"),
        ("mapping.1", "UNKNOWN_COLUMN"),
    ]
    assert await table_counts(api) == dict.fromkeys(await table_counts(api), 0)
    options = {"mapping": [{"column": "TEL2", "field": "電話番号"}, {"column": "社員番号", "field": "custom:employee_no"}]}
    done = (await graphql_import(api, "m.csv", data, ignore=["社内メモ"], **options))["import"]
    assert [(r["row"], r["action"], r["problems"]) for r in done["rows"]] == [
        (2, "created", []),
        (3, "created", []),
        (4, "created", [{"column": "氏名", "code": "NAME_NOT_SPLIT"}]),  # ambiguous: kept whole as the family name
        (5, "rejected", [{"column": "担当", "code": "UNKNOWN_USER"}]),  # an owner who is no user
    ]
    contacts = await api.graphql(
        "{ contacts(orderBy: [{field: CREATED_AT}]) { nodes { familyName givenName familyNameKana givenNameKana "
        "emails { address } phones { e164 } customFields postalCode address owner { email } } } }"
    )
    by_family = {node["familyName"]: node for node in contacts["contacts"]["nodes"]}
    yamada, suzuki, mayumi = by_family["山田"], by_family["Suzuki"], by_family["真由美"]
    assert (yamada["familyName"], yamada["givenName"], yamada["familyNameKana"], yamada["givenNameKana"]) == (
        "山田",
        "太郎",
        "ヤマダ",
        "タロウ",
    )
    assert yamada["emails"] == [{"address": "a@example.jp"}, {"address": "b@example.jp"}]
    assert yamada["phones"] == [{"e164": "+819011112222"}] and yamada["customFields"] == {"employee_no": "E-7"}
    assert (yamada["postalCode"], yamada["address"]) == ("100-0001", "東京都千代田区1-1")
    assert (suzuki["familyName"], suzuki["givenName"]) == ("Suzuki", "Taro")
    assert yamada["owner"] == suzuki["owner"] == {"email": "admin@staff.example"}  # by display name, by email
    assert mayumi["owner"] is None
    assert (mayumi["familyName"], mayumi["givenName"]) == ("真由美", None)


async def test_a_full_name_refused_once_split_is_reported_on_its_column(api):
    # ㍿ is one character in the cell and 株式会社 once normalised: each half is then too long.
    rows = [
        ["氏名", "メールアドレス"],
        ["㍿" * 60 + " 太郎", "family@example.jp"],
        ["山田 " + "㍿" * 60, "given@example.jp"],
    ]
    done = (await graphql_import(api, "n.csv", csv_bytes(rows)))["import"]
    assert done["errors"] == [{"row": 2, "column": "氏名", "code": "TOO_LONG"}, {"row": 3, "column": "氏名", "code": "TOO_LONG"}]
    report = base64.b64decode(done["errorReport"]).decode("utf-8-sig")
    assert [line.rsplit(",", 1)[1] for line in report.splitlines()[1:]] == ["氏名: TOO_LONG"] * 2
    assert await count_rows(api, "core_contact") == 0


async def test_upsert_matches_by_id_then_email_then_phone_then_name_and_company(api):
    account = await create_account(api, name="株式会社ＡＢＣ")
    by_id = await create_contact(api, familyName="井上", jobTitle="課長", emails=[{"address": "old@abc.jp"}])
    by_phone = await create_contact(api, familyName="小林", phones=[{"number": "03-9999-0000"}])
    by_name = await create_contact(
        api, familyName="中村", givenName="一郎", accounts=[{"accountId": account["id"], "primary": True}]
    )
    rows = [
        ["ID", "姓", "名", "メールアドレス", "電話番号", "会社名", "役職"],
        [by_id["id"], "井上", "", "new@abc.jp", "", "", "部長"],  # the ID wins over a new email; 役職 conflicts
        ["", "小林", "花子", "", "+81 3 9999 0000", "", ""],  # the phone, in E.164 spelling; fills the given name
        ["", "中村", "一郎", "", "", "ＡＢＣ㈱", ""],  # the name within the same company (any legal form or width)
        ["", "加藤", "", "", "03-9999-0000", "", ""],  # the same phone under another name: someone else
    ]
    done = (await graphql_import(api, "u.csv", csv_bytes(rows)))["import"]
    assert [(r["action"], r["problems"]) for r in done["rows"]] == [
        ("updated", [{"column": "役職", "code": "CONFLICT"}]),
        ("updated", []),
        ("unchanged", []),
        ("created", []),
    ]
    query = "query($id: ID!) { node(id: $id) { ... on Contact { givenName jobTitle emails { address } } } }"
    inoue = (await api.graphql(query, {"id": by_id["id"]}))["node"]
    assert inoue["jobTitle"] == "課長" and inoue["emails"] == [{"address": "old@abc.jp"}, {"address": "new@abc.jp"}]
    assert (await api.graphql(query, {"id": by_phone["id"]}))["node"]["givenName"] == "花子"
    assert (await api.graphql("{ accounts { totalCount } }"))["accounts"]["totalCount"] == 1
    overwritten = (await graphql_import(api, "u.csv", csv_bytes(rows[:2]), overwrite=True))["import"]
    assert [(r["action"], r["problems"]) for r in overwritten["rows"]] == [("updated", [])]
    assert (await api.graphql(query, {"id": by_id["id"]}))["node"]["jobTitle"] == "部長"
    assert (await api.graphql(query, {"id": by_name["id"]}))["node"]["givenName"] == "一郎"


async def test_an_unclosed_quote_is_refused_with_its_row_and_rejected_rows_come_back_as_a_file(api):
    broken = '氏名,メールアドレス\r\n山田 太郎,taro@example.jp\r\n"佐藤 花子,hanako@example.jp\r\n鈴木 一郎,ichiro@example.jp\r\n'
    refused = await graphql_import(api, "q.csv", broken.encode("cp932"))
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [("file", "UNCLOSED_QUOTE")]
    assert refused["userErrors"][0]["message"].startswith("row 3 ")
    assert await table_counts(api) == dict.fromkeys(await table_counts(api), 0)  # not one row half-understood

    rows = [["氏名", "メールアドレス", "電話番号"], ["山田 太郎", "taro@example.jp", ""], ["佐藤 花子", "佐藤@", "12"]]
    done = (await graphql_import(api, "e.csv", csv_bytes(rows, "cp932")))["import"]
    assert done["errors"] == [
        {"row": 3, "column": "メールアドレス", "code": "INVALID_EMAIL"},
        {"row": 3, "column": "電話番号", "code": "INVALID_PHONE"},
    ]
    report = base64.b64decode(done["errorReport"]).decode("cp932")  # the input's encoding, for Excel
    assert report.splitlines() == [
        "氏名,メールアドレス,電話番号,エラー",
        "佐藤 花子,佐藤@,12,メールアドレス: INVALID_EMAIL; 電話番号: INVALID_PHONE",
    ]
    fixed = report.replace("佐藤@,12", "hanako@example.jp,06-1111-2222").encode("cp932")
    again = (await graphql_import(api, "fixed.csv", fixed))["import"]  # the error column is ignored
    assert (again["createdCount"], again["errorCount"], again["errorReport"]) == (1, 0, None)


async def test_a_file_uploaded_per_the_graphql_multipart_request_spec(enishi_api):
    api = await enishi_api(max_upload_bytes=50_000)
    data = csv_bytes([["氏名", "メールアドレス"], ["山田 太郎", "taro@example.jp"]], "cp932")
    operations = {"query": IMPORT, "variables": {"input": {"upload": None, "dryRun": True}}}
    token = await api.token("admin")
    response = await api.client.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.input.upload"]})},
        files={"0": ("名簿.csv", data, "text/csv")},
        headers={"Authorization": f"Bearer {token}"},
    )
    payload = response.json()["data"]["importContacts"]
    assert payload["userErrors"] == [] and [r["action"] for r in payload["import"]["rows"]] == ["created"]
    too_big = await api.client.post(
        "/graphql",
        data={"operations": json.dumps(operations), "map": json.dumps({"0": ["variables.input.upload"]})},
        files={"0": ("big.csv", b"x" * (api.runtime.settings.max_upload_bytes + 1), "text/csv")},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert too_big.status_code == 413 and too_big.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"
    both = await api.graphql(IMPORT, {"input": {}})
    assert [(e["field"], e["code"]) for e in both["importContacts"]["userErrors"]] == [("file", "REQUIRED")]


async def test_the_file_is_kept_sealed_in_pieces_read_back_a_few_at_a_time_and_wiped(enishi_api):
    api = await enishi_api(import_chunk_bytes=300)  # rows cross the pieces' edges
    rows = [["氏名", "メールアドレス", "メモ"]] + [
        [f"山田 太郎{i}", f"taro{i}@example.jp", "見積送付" * (i % 7)] for i in range(150)
    ]
    data = csv_bytes(rows, "cp932")
    async with api.runtime.unit_of_work() as uow:
        job = await create_import(uow, data, "p.csv")
    async with api.runtime.read_session() as session:
        pieces = [bytes(p) for p in (await session.execute(text("SELECT sealed_data FROM core_import_chunk"))).scalars()]
    assert len(pieces) == -(-len(data) // 300) and not any(b"taro1" in piece for piece in pieces)
    await run_import(api.runtime, job.id)
    assert (await api.graphql("{ contacts { totalCount } }"))["contacts"]["totalCount"] == 150
    assert await count_rows(api, "core_import_chunk") == 0
