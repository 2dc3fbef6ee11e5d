"""What the console shows: dates in the Japanese era calendar by the user's choice, the privacy
plugin's stored values in the reader's language, and the access log searched by staff member across
people (through the API's own `accessLog`, with the chain's verification)."""

from __future__ import annotations

import datetime as dt

from enishi.graphql.console.values import note_label
from enishi.wareki import english_era_year, era_date
from tests.console.conftest import ConsoleClient, add_user
from tests.console.seed import OFFICER

STAFF_LOG = """query($u: ID, $c: ID, $last: Int) {
  accessLog(userId: $u, contactId: $c, last: $last) { user { displayName } contactId action } }"""


def test_era_dates_begin_each_era_with_its_first_year():
    assert era_date(dt.date(2026, 12, 6)) == "令和8年12月6日"
    assert era_date(dt.date(2019, 5, 1)) == "令和元年5月1日"
    assert era_date(dt.date(2019, 4, 30)) == "平成31年4月30日"
    assert era_date(dt.date(1989, 1, 7)) == "昭和64年1月7日"
    assert english_era_year(dt.date(2026, 12, 6)) == "Reiwa 8 (2026)"
    assert english_era_year(dt.date(2019, 5, 1)) == "Reiwa 1 (2019)"
    assert english_era_year(dt.date(2019, 4, 30)) == "Heisei 31 (2019)"
    assert english_era_year(dt.date(1868, 1, 24)) == "1868"  # before Meiji's calendar


async def test_an_officer_who_chose_the_japanese_era_sees_its_dates(api, officer, seeded):
    officer.language = "ja"
    page = f"/console/request?id={seeded.overdue_erasure}"
    # The erasure was received 40 days before the test clock's 10 June 2024, 09:00 in Tokyo.
    assert "<dd>2024/05/01 9:00:00 (Asia/Tokyo)</dd>" in (await officer.get(page)).text
    chosen = await officer.post("/console/language", {"locale": "ja", "calendar": "japanese", "next": page}, csrf_from=page)
    assert chosen.status_code == 303
    shown = (await officer.get(page)).text
    assert "<dd>令和6年5月1日 9:00:00 (Asia/Tokyo)</dd>" in shown
    assert 'value="japanese" selected' in shown
    # A language switch without the calendar field keeps the choice; an unknown calendar is refused.
    # In English the era is romanised, the Western year beside it: no 令和 inside an English date.
    await officer.post("/console/language", {"locale": "en", "next": page}, csrf_from=page)
    english = (await officer.get(page)).text
    assert "<dd>Reiwa 6 (2024) May 1, 9:00:00\u202fAM (Asia/Tokyo)</dd>" in english
    facts = english[english.index('<dl class="facts">') : english.index("</dl>")]
    assert "令和" not in facts and "年" not in facts
    bad = await officer.post("/console/language", {"locale": "ja", "calendar": "mayan"}, csrf_from=page)
    assert bad.status_code == 400


async def test_the_request_page_shows_stored_values_in_japanese(officer, seeded):
    officer.language = "ja"
    page = (await officer.get("/console/request", id=seeded.overdue_erasure)).text
    facts = page[page.index('<dl class="facts">') : page.index("</dl>")]
    assert "<dd>GDPR</dd>" in facts and "<dd>電話</dd>" in facts and "gdpr" not in facts and "phone" not in facts
    history = page[page.index('<ol class="history">') :]
    assert "担当者が受付（電話）" in history and "担当者が本人確認済み" in history and "taken by an agent" not in history


def test_notes_the_plugin_writes_are_translated_and_others_shown_as_written():
    japanese = {
        "taken by an agent (%(channel)s)": "担当者が受付（%(channel)s）",
        "letter": "郵便",
        "deadline extended by %(months)s month(s): %(reason)s": "期限を %(months)s か月延長：%(reason)s",
        "%(note)s; an objection to direct marketing needs no review": "%(note)s（審査不要）",
        "identity verified by one-time code": "コードで確認",
    }

    def gettext(message: str) -> str:
        return japanese[message]

    assert note_label("taken by an agent (letter)", gettext) == "担当者が受付（郵便）"
    assert note_label("deadline extended by 2 month(s): 複雑\nな請求", gettext) == "期限を 2 か月延長：複雑\nな請求"
    assert (
        note_label("identity verified by one-time code; objection to direct marketing needs no review", gettext)
        == "コードで確認（審査不要）"
    )
    assert note_label("電話で本人と話した", gettext) == "電話で本人と話した"


async def test_the_access_log_is_searched_by_staff_member_across_people(api, officer, seeded):
    other = (await api.mutate("createContact", {"familyName": "鈴木", "givenName": "一郎"}, "contact { id }"))["contact"]["id"]
    await add_user(api, "auditor@staff.example", "監査 次郎", ["compliance"])
    auditor = ConsoleClient(api)
    await auditor.sign_in("auditor@staff.example")
    await officer.get("/console/request", id=seeded.overdue_erasure)  # the officer reads 山田 太郎
    await officer.get("/console/consent", contact=other)  # and 鈴木 一郎
    await auditor.get("/console/consent", contact=seeded.contact)  # the auditor reads 山田 太郎 only

    officer_id = next(u["id"] for u in await _users(api) if u["displayName"] == OFFICER[1])
    entries = (await api.graphql(STAFF_LOG, {"u": officer_id}, role="compliance"))["accessLog"]
    assert {e["contactId"] for e in entries} == {seeded.contact, other}
    assert {e["user"]["displayName"] for e in entries} == {OFFICER[1]}
    both = (await api.graphql(STAFF_LOG, {"u": officer_id, "c": other}, role="compliance"))["accessLog"]
    assert {e["contactId"] for e in both} == {other}
    newest = (await api.graphql(STAFF_LOG, {"u": officer_id, "last": 1}, role="compliance"))["accessLog"]
    assert newest == entries[-1:]
    assert (await api.errors(STAFF_LOG, {}, role="compliance"))[0]["extensions"]["code"] == "INVALID_ARGUMENT"
    assert (await api.errors(STAFF_LOG, {"u": officer_id, "last": 0}, role="compliance"))[0]["extensions"]["code"] == (
        "INVALID_ARGUMENT"
    )
    assert (await api.errors(STAFF_LOG, {"u": officer_id}, role="sales"))[0]["extensions"]["code"] == "FORBIDDEN"

    page = (await auditor.get("/console/access-log", user=officer_id)).text
    table = page[page.index("<tbody>") :]
    assert "山田 太郎" in table and "鈴木 一郎" in table and "Hash chain verified" in page
    assert f'<option value="{officer_id}" selected>' in page


async def _users(api) -> list[dict]:
    return (await api.graphql("{ users { id displayName } }"))["users"]
