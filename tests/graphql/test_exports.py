"""Exports over GraphQL and their single-use download links: CSV in UTF-8 with a BOM or CP932,
.xlsx with typed cells, the contacts filter, permissions, the access log, quiet server logs."""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from urllib.parse import urlsplit

from openpyxl import load_workbook
from sqlalchemy import text

from tests.helpers import create_account, create_contact, log_activity

CONTACT_HEADERS = [
    "ID",
    "姓",
    "名",
    "セイ",
    "メイ",
    "メールアドレス",
    "電話番号",
    "会社名",
    "部署",
    "役職",
    "郵便番号",
    "住所",
    "担当",
    "最終対応日",
]


async def yamada(api) -> dict:
    """A contact with everything an export writes: two emails and phones, kana, a company, custom
    fields, an owner, and two activities (the later one is the last contact)."""
    account = await create_account(api, name="株式会社ABC")
    await api.token("sales")
    owner = (await api.graphql("{ users { id email } }"))["users"]
    owner_id = next(user["id"] for user in owner if user["email"] == "sales@staff.example")
    person = await create_contact(
        api,
        familyName="山田",
        givenName="太郎",
        familyNameKana="ヤマダ",
        givenNameKana="タロウ",
        jobTitle="部長",
        department="営業部",
        postalCode="100-0005",
        address="東京都千代田区丸の内1-1-1",
        emails=[{"address": "taro.home@example.jp"}, {"address": "taro@abc.co.jp", "primary": True}],
        phones=[{"number": "03-1234-5678", "primary": True}, {"number": "+1 650 253 0000"}],
        accounts=[{"accountId": account["id"], "primary": True}],
        ownerId=owner_id,
        customFields={"ランク": "A", "points": 120},
    )
    await log_activity(api, contactIds=[person["id"]], occurredAt="2024-04-01T10:00:00+09:00")
    await log_activity(api, contactIds=[person["id"]], occurredAt="2024-04-15T23:30:00+09:00")
    return person


async def export_link(api, mutation: str = "exportContacts", role: str = "sales", token: str | None = None, **input) -> str:
    payload = await api.mutate(mutation, input, "url expiresAt", role=role, token=token)
    assert payload["userErrors"] == [], payload
    return urlsplit(payload["url"]).path


async def download(api, path: str):
    response = await api.client.get(path)  # the link alone: no Authorization header
    assert response.status_code == 200, response.text
    return response


def csv_rows(data: bytes, encoding: str = "utf-8-sig") -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(encoding), newline="")))


async def test_contacts_csv_is_utf8_with_a_bom_in_the_import_columns_and_the_link_works_once(api):
    person = await yamada(api)
    path = await export_link(api)
    response = await download(api, path)
    assert response.headers["content-type"].startswith("text/csv; charset=utf-8")
    assert response.headers["cache-control"] == "no-store"
    assert response.content.startswith(b"\xef\xbb\xbf")  # Excel reads UTF-8 Japanese only with it
    header, row = csv_rows(response.content)
    assert header == [*CONTACT_HEADERS, "custom:points", "custom:ランク", "ポイント残高", "会員ランク"]
    assert dict(zip(header, row, strict=True)) == {
        "ID": person["id"],
        "姓": "山田",
        "名": "太郎",
        "セイ": "ヤマダ",
        "メイ": "タロウ",
        "メールアドレス": "taro@abc.co.jp;taro.home@example.jp",  # primary first
        "電話番号": "03-1234-5678;+1 650-253-0000",  # Japanese in national form, the rest international
        "会社名": "株式会社ABC",
        "部署": "営業部",
        "役職": "部長",
        "郵便番号": "100-0005",
        "住所": "東京都千代田区丸の内1-1-1",
        "担当": "sales@staff.example",
        "最終対応日": "2024-04-15",  # the later activity, as a date in Tokyo
        "custom:points": "120",
        "custom:ランク": "A",
        "ポイント残高": "",  # the loyalty plugin's columns: not a member
        "会員ランク": "",
    }
    second = await api.client.get(path)
    assert second.status_code == 410 and second.json()["errors"][0]["extensions"]["code"] == "EXPORT_LINK_GONE"
    async with api.runtime.read_session() as session:
        stored = (await session.execute(text("SELECT token_hash, sealed_request, used_at FROM core_export_link"))).one()
    token = path.rsplit("/", 1)[1]
    assert token not in stored.token_hash and stored.sealed_request is None and stored.used_at is not None


async def test_a_link_expires_and_an_unknown_one_is_not_found(api):
    await create_contact(api, familyName="期限")
    path = await export_link(api)
    api.clock.advance(minutes=16)
    assert (await api.client.get(path)).status_code == 410
    assert (await api.client.get(path[:-4] + "abcd")).status_code == 404
    assert (await api.client.get("/exports/not-a-token")).status_code == 404


async def test_a_link_stops_working_when_its_creator_may_no_longer_export(api):
    await create_contact(api, familyName="退職")
    path = await export_link(api)
    async with api.runtime.unit_of_work() as uow:
        await uow.session.execute(text("UPDATE core_user SET is_active = :no"), {"no": False})
    assert (await api.client.get(path)).status_code == 404


async def test_cp932_csv_decodes_and_writes_what_it_cannot_encode_as_geta(api):
    await create_contact(api, familyName="髙橋", givenName="𠮷男", emails=[{"address": "yoshio@example.jp"}])
    path = await export_link(api, encoding="CP932")
    response = await download(api, path)
    assert response.headers["content-type"] == "text/csv; charset=shift_jis"
    assert not response.content.startswith(b"\xef\xbb\xbf")
    header, row = csv_rows(response.content, "cp932")
    assert header[:3] == ["ID", "姓", "名"] and row[1:3] == ["髙橋", "〓男"]  # 髙 is in CP932 (IBM extension); 𠮷 is not


async def test_xlsx_has_date_cells_and_text_phone_numbers(api):
    await yamada(api)
    await create_contact(api, familyName='=HYPERLINK("http://evil")', phones=[{"number": "0120-123-456"}])
    response = await download(api, await export_link(api, format="XLSX"))
    assert response.headers["content-type"] == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows())
    assert [cell.value for cell in rows[0]] == [*CONTACT_HEADERS, "custom:points", "custom:ランク", "ポイント残高", "会員ランク"]
    column = {cell.value: index for index, cell in enumerate(rows[0])}
    by_name = {row[column["姓"]].value: row for row in rows[1:]}
    phone = by_name["山田"][column["電話番号"]]
    assert (phone.value, phone.data_type, phone.number_format) == ("03-1234-5678;+1 650-253-0000", "s", "@")
    free_dial = by_name['=HYPERLINK("http://evil")'][column["電話番号"]]
    assert (free_dial.value, free_dial.data_type) == ("0120-123-456", "s")  # the leading zero stays
    assert by_name['=HYPERLINK("http://evil")'][column["姓"]].data_type == "s"  # text, never a formula
    points = by_name["山田"][column["custom:points"]]
    assert (points.value, points.data_type) == (120, "n")  # a custom field's number stays a number
    last = by_name["山田"][column["最終対応日"]]
    assert last.is_date and last.value == dt.datetime(2024, 4, 15) and last.number_format == "yyyy-mm-dd"


async def test_the_contacts_filter_is_honoured_and_a_bad_one_is_a_user_error(api):
    await yamada(api)
    await create_contact(api, familyName="佐藤", emails=[{"address": "sato@example.jp"}])
    response = await download(api, await export_link(api, filter={"email": {"eq": "SATO@example.jp"}}))
    assert [row[1] for row in csv_rows(response.content)[1:]] == ["佐藤"]
    refused = await api.mutate("exportContacts", {"filter": {"email": {"contains": "sato"}}}, "url", role="sales")
    assert refused["url"] is None
    assert [(e["field"], e["code"]) for e in refused["userErrors"]] == [("filter", "INVALID_ARGUMENT")]
    assert "use `search` for parts" in refused["userErrors"][0]["message"]
    bad_id = await api.mutate("exportContacts", {"filter": {"ownerId": {"eq": "nope"}}}, "url", role="sales")
    assert [(e["field"], e["code"]) for e in bad_id["userErrors"]] == [("filter.ownerId", "INVALID_ID")]
    async with api.runtime.read_session() as session:
        assert (await session.execute(text("SELECT COUNT(*) FROM core_export_link"))).scalar_one() == 1  # refusals store nothing


async def test_accounts_and_activities_export_with_their_columns(api):
    person = await yamada(api)
    response = await download(api, await export_link(api, "exportAccounts", filter={"search": "ABC"}))
    header, row = csv_rows(response.content)
    assert header == ["ID", "会社名", "会社名カナ", "ドメイン", "業種", "従業員数", "親会社", "担当"]
    assert row[1] == "株式会社ABC"
    response = await download(api, await export_link(api, "exportActivities", format="XLSX"))
    rows = [[cell.value for cell in row] for row in load_workbook(io.BytesIO(response.content)).active.iter_rows()]
    assert rows[0] == ["ID", "日時", "種別", "チャネル", "方向", "件名", "本文", "担当", "対象"]
    assert sorted(row[1] for row in rows[1:]) == [dt.datetime(2024, 4, 1, 10), dt.datetime(2024, 4, 15, 23, 30)]
    assert {row[8] for row in rows[1:]} == {person["id"]}


async def test_exporting_needs_crm_export_and_its_scope(api):
    for role in ("support", "integration", "compliance"):
        errors = await api.errors("mutation { exportContacts(input: {}) { url } }", role=role)
        assert errors[0]["extensions"]["code"] == "FORBIDDEN"
    read_only = await api.scoped_token("sales", ["contacts:read"])
    body = (await api.post("mutation { exportContacts(input: {}) { url } }", token=read_only)).json()
    assert body["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    scoped = await api.scoped_token("sales", ["contacts:read", "contacts:export"])
    await create_contact(api, familyName="範囲")
    await download(api, await export_link(api, token=scoped))


async def test_the_access_log_shows_whom_an_export_read_and_the_server_logs_no_personal_data(api, caplog):
    caplog.set_level(logging.DEBUG, logger="enishi")  # the server's own logs, every level
    person = await yamada(api)
    other = await create_contact(api, familyName="対象外")
    caplog.clear()
    await download(api, await export_link(api, filter={"search": "山田"}))
    await download(api, await export_link(api, "exportActivities"))

    async def reads_of(contact) -> list:
        log = await api.graphql(
            "query($id: ID!) { accessLog(contactId: $id) { action roles user { displayName } } }",
            {"id": contact["id"]},
            role="compliance",
        )
        return [(e["action"], e["roles"], e["user"]["displayName"]) for e in log["accessLog"] if e["roles"] == ["sales"]]

    assert await reads_of(person) == [("read", ["sales"], "test sales")]
    assert await reads_of(other) == []
    for secret in ("山田", "ヤマダ", "taro@abc.co.jp", "1234-5678", "営業部"):
        assert secret not in caplog.text
    exports = [r.kind for r in caplog.records if r.name == "enishi.http" and r.getMessage() == "export"]
    assert exports == ["contacts", "activities"]
