"""The data subject's own pages over HTTP: a request made and confirmed with the mailed code, the
withdrawal link's landing, the export link's landing and download; in both languages, the same
answer whether or not an address is known, and a page error (4xx, never a 500) for hostile input.
The browser, axe-core and screenshots: tests/e2e/test_subject_browser.py."""

from __future__ import annotations

import json
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from sqlalchemy import select

from enishi.models import ThrottleCount
from enishi.plugins.privacy.intake import REQUESTS_PER_CLIENT
from tests.console.conftest import CSRF_FIELD, ConsoleClient
from tests.helpers import create_contact
from tests.plugins.privacy.helpers import mailed_codes, run_request

NEW = "/privacy/requests/new"
CONFIRM = "/privacy/requests/confirm"


class Subject(ConsoleClient):
    """A browser without a session: it asks for HTML, keeps its cookies, sends the page's token."""

    def _headers(self) -> dict:
        return {**super()._headers(), "accept": "text/html,application/xhtml+xml"}

    async def get(self, path: str, **params):
        """`path` may carry its query, as a redirect's location does."""
        path, _, query = path.partition("?")
        return await super().get(path, **{name: values[0] for name, values in parse_qs(query).items()}, **params)

    async def make_request(self, email: str, kind: str = "access", **extra):
        return await self.post(NEW, {"type": kind, "email": email, "lang": self.language, **extra}, csrf_from=NEW)

    async def confirm(self, confirm_url: str, code: str):
        page = await self.get(confirm_url)
        request_id = re.search(r'name="request" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
        token = CSRF_FIELD.search(page.text).group(1)  # type: ignore[union-attr]
        return await self.post(CONFIRM, {"csrf": token, "request": request_id, "code": code, "lang": self.language})


@pytest.fixture
def subject(api) -> Subject:
    return Subject(api, language="ja")


async def _person(api, email: str = "hanako@example.jp") -> dict:
    return await create_contact(api, familyName="花山", givenName="花子", emails=[{"address": email}])


def _request_id(confirm_url: str) -> str:
    return parse_qs(urlsplit(confirm_url).query)["request"][0]


async def test_a_request_made_on_the_page_is_confirmed_with_the_mailed_code(api, subject, enishi_sent_mail):
    await _person(api)
    form = await subject.get(NEW)
    assert form.status_code == 200 and "<h1>ご自身の個人データについての請求</h1>" in form.text
    policy = form.headers["content-security-policy"]
    assert "script-src" not in policy and "default-src 'none'" in policy
    assert '<label for="email">メールアドレス</label>' in form.text and 'lang="ja"' in form.text

    made = await subject.make_request("Hanako@Example.jp", details="契約時の記録も含めてください")
    assert made.status_code == 303 and made.headers["location"].startswith(CONFIRM + "?request=")
    confirm_url = made.headers["location"]
    page = await subject.get(confirm_url)
    assert page.status_code == 200 and "確認コード" in page.text

    wrong = await subject.confirm(confirm_url, "000000")
    assert wrong.status_code == 422 and "確認コードが正しくありません" in wrong.text and 'aria-invalid="true"' in wrong.text
    (code,) = (await mailed_codes(api, enishi_sent_mail)).values()
    # As typed on a Japanese keyboard: full-width digits, a space between the groups.
    typed = "".join(chr(ord(digit) + 0xFEE0) for digit in code[:3]) + " " + code[3:]
    done = await subject.confirm(confirm_url, typed)
    assert done.status_code == 200 and "ご請求を確認しました" in done.text

    request = await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on DataSubjectRequest { status type channel } } }",
        {"id": _request_id(confirm_url)},
        role="compliance",
    )
    assert request["node"] == {"status": "pending_review", "type": "access", "channel": "web"}


async def test_an_unknown_address_gets_the_same_pages_as_a_known_one(api, subject, enishi_sent_mail):
    await _person(api)
    known, unknown = await subject.make_request("hanako@example.jp"), await subject.make_request("nobody@example.jp")
    assert known.status_code == unknown.status_code == 303
    pages = [await subject.get(made.headers["location"]) for made in (known, unknown)]
    # Less each page's own request id (a global id: base64 of "DataSubjectRequest:…") and token.
    strip = re.compile(r'name="csrf" value="[^"]+"|RGF0YVN1YmplY3RSZXF1ZXN0O[A-Za-z0-9%+/=]+')
    assert strip.sub("", pages[0].text) == strip.sub("", pages[1].text)
    refused = [await subject.confirm(made.headers["location"], "123456") for made in (known, unknown)]
    assert [r.status_code for r in refused] == [422, 422]
    assert strip.sub("", refused[0].text) == strip.sub("", refused[1].text)
    assert len(await mailed_codes(api, enishi_sent_mail)) == 1  # only the known address was mailed


async def test_the_pages_follow_the_browser_and_the_switch(api, subject):
    subject.language = "en-GB,en;q=0.9,ja;q=0.5"
    english = await subject.get(NEW)
    assert "<h1>Make a request about your personal data</h1>" in english.text and '<html lang="en">' in english.text
    switched = await subject.get(NEW, lang="ja")
    assert "<h1>ご自身の個人データについての請求</h1>" in switched.text
    # The switch names each language in itself, and the form keeps the language chosen.
    assert 'lang="en" hreflang="en"' in switched.text and ">English</a>" in switched.text
    refused = await subject.post(NEW, {"type": "access", "email": "not-an-address", "lang": "ja"}, csrf_from=NEW)
    assert refused.status_code == 422 and "メールアドレスの形式ではありません" in refused.text


async def test_a_refused_request_says_what_and_where_and_changes_nothing(api, subject):
    missing = await subject.post(NEW, {"email": "", "details": "x" * 5001}, csrf_from=NEW)
    assert missing.status_code == 422
    for field in ("type", "email", "details"):
        assert f'id="{field}-problem"' in missing.text and f'<a href="#{field}">' in missing.text
    for _ in range(3):
        assert (await subject.make_request("hanako@example.jp")).status_code == 303
    limited = await subject.make_request("hanako@example.jp")
    assert limited.status_code == 429 and "明日もう一度お試しください" in limited.text
    count = await api.graphql("{ dataSubjectRequests { totalCount } }", role="compliance")
    assert count["dataSubjectRequests"]["totalCount"] == 3


async def test_one_client_asking_for_many_addresses_is_stopped_with_429_for_an_hour(api, subject):
    """Each address may be new (the per-address limit never bites): the client's own count does."""
    limit, window = REQUESTS_PER_CLIENT.limit, int(REQUESTS_PER_CLIENT.window.total_seconds())
    for number in range(limit):
        assert (await subject.make_request(f"person{number}@example.jp")).status_code == 303
    refused = await subject.make_request("one-more@example.jp", details="急ぎです")
    assert refused.status_code == 429 and refused.headers["retry-after"] == str(window)
    assert "このネットワークから送られた請求が多すぎます" in refused.text and 'value="one-more@example.jp"' in refused.text
    subject.language = "en"
    english = await subject.make_request("one-more@example.jp")
    assert english.status_code == 429 and "Too many requests were sent from your network in the last hour" in english.text
    # The JSON route counts with the form: the same client is refused there too.
    by_api = await api.client.post("/privacy/requests", json={"type": "access", "email": "api@example.jp"})
    assert by_api.status_code == 429 and by_api.headers["retry-after"] == str(window)
    assert by_api.json()["errors"][0]["code"] == "RATE_LIMITED"
    submit = """mutation { submitDataSubjectRequest(input: {type: "access", email: "gql@example.jp"}) {
        requestId userErrors { code } } }"""
    by_graphql = (await api.client.post("/graphql", json={"query": submit})).json()["data"]["submitDataSubjectRequest"]
    assert by_graphql == {"requestId": None, "userErrors": [{"code": "RATE_LIMITED"}]}  # without a token, counted too
    count = await api.graphql("{ dataSubjectRequests { totalCount } }", role="compliance")
    assert count["dataSubjectRequests"]["totalCount"] == limit  # nothing was made past the limit
    async with api.runtime.read_session() as session:
        keys = (await session.execute(select(ThrottleCount.key_hash))).scalars().all()
    assert keys and all("127.0.0.1" not in key and "testclient" not in key for key in keys)  # a blind index only

    api.clock.advance(seconds=window)
    assert (await subject.make_request("later@example.jp")).status_code == 303


async def test_a_form_without_this_sites_token_is_refused(api, subject):
    await subject.get(NEW)  # the cookie is set
    forged = await subject.post(NEW, {"csrf": "forged", "type": "access", "email": "hanako@example.jp"})
    assert forged.status_code == 403 and "セキュリティトークン" in forged.text
    subject.cookies.clear()
    no_cookie = await subject.post(NEW, {"type": "access", "email": "hanako@example.jp"}, csrf_from=NEW)
    assert no_cookie.status_code == 303  # the page just visited set the cookie again
    subject.cookies.clear()
    page = await subject.get(NEW)
    token = CSRF_FIELD.search(page.text).group(1)
    subject.cookies.clear()
    replayed = await subject.post(NEW, {"csrf": token, "type": "access", "email": "hanako@example.jp"})
    assert replayed.status_code == 403
    count = await api.graphql("{ dataSubjectRequests { totalCount } }", role="compliance")
    assert count["dataSubjectRequests"]["totalCount"] == 1


@pytest.mark.parametrize(
    ("method", "path", "body", "status"),
    [
        ("GET", CONFIRM, None, 404),
        ("GET", CONFIRM + "?request=%%%", None, 404),
        ("GET", CONFIRM + "?request=" + "A" * 5000, None, 404),
        ("GET", CONFIRM + "?request=Q29udGFjdDo4ZjM2ZDM3Ny0wYzE5LTQ2YjctYTNkNy0wMTIzNDU2Nzg5YWI=", None, 404),  # a Contact's id
        ("GET", "/privacy/withdraw/not-a-token", None, 404),
        ("GET", "/privacy/withdraw/" + "x" * 3000 + ".sig", None, 404),
        ("GET", "/privacy/exports/" + "x" * 3000, None, 410),
        ("GET", "/privacy/exports/%F0%9F%92%A5", None, 410),
        ("POST", NEW, b"csrf=%ZZ&type=\xff\xfe&email=%00", 403),
        ("POST", NEW, b"\x00\x01\x02", 403),
        ("POST", NEW, b"&".join(b"f%d=1" % n for n in range(5000)), 403),
        ("POST", "/privacy/withdraw/not-a-token", b"&".join(b"csrf=%d" % n for n in range(5000)), 404),
        ("POST", "/privacy/exports/whatever", b"&".join(b"f%d=1" % n for n in range(5000)), 403),
        ("POST", CONFIRM, b"code=123456", 403),
        ("POST", "/privacy/exports/whatever", b"csrf=x", 403),
        ("POST", "/privacy/withdraw/not-a-token", b"csrf=x", 404),
    ],
)
async def test_hostile_input_gets_a_page_error(api, subject, method, path, body, status):
    headers = {**subject._headers(), "content-type": "application/x-www-form-urlencoded"}
    response = await api.client.request(method, path, content=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]


async def test_hostile_form_values_get_a_page_error(api, subject, enishi_sent_mail):
    await _person(api)
    nul = await subject.post(NEW, {"type": "access", "email": "hanako@example.jp", "details": "a\x00b"}, csrf_from=NEW)
    assert nul.status_code == 422 and 'id="details-problem"' in nul.text
    odd_type = await subject.post(NEW, {"type": "<script>", "email": "hanako@example.jp"}, csrf_from=NEW)
    assert odd_type.status_code == 422 and "<script>" not in odd_type.text
    too_long = await subject.post(NEW, {"type": "access", "email": "hanako@example.jp", "details": "x" * 25_000}, csrf_from=NEW)
    assert too_long.status_code == 403  # longer than any field a page serves
    multipart = await api.client.post(NEW, files={"email": ("a.txt", b"hanako@example.jp")}, headers=subject._headers())
    assert multipart.status_code == 403
    made = await subject.make_request("hanako@example.jp")
    for code in ("", "１２３４５６７８９０" * 10, "' OR 1=1 --"):
        assert (await subject.confirm(made.headers["location"], code)).status_code == 422


async def _withdrawal_link(api, contact_id: str) -> str:
    await api.mutate("recordConsent", {"contactId": contact_id, "purpose": "marketing", "state": "granted"}, "consent { state }")
    link = await api.graphql(
        'query($id: ID!) { consentWithdrawalLink(contactId: $id, purpose: "marketing") }', {"id": contact_id}
    )
    return link["consentWithdrawalLink"]


async def _consents(api, contact_id: str) -> list:
    found = await api.graphql("query($id: ID!) { node(id: $id) { ... on Contact { consents { state } } } }", {"id": contact_id})
    return found["node"]["consents"]


async def test_the_withdrawal_link_lands_on_a_page_whose_button_withdraws(api, subject):
    person = await _person(api)
    link = await _withdrawal_link(api, person["id"])
    landing = await subject.get(link)
    # The purpose by its name in the reader's language, not as stored ("marketing").
    assert landing.status_code == 200 and "「マーケティング」への同意を撤回します" in landing.text
    assert "花山" not in landing.text and "hanako" not in landing.text  # nothing about whose link it is
    assert await _consents(api, person["id"]) == [{"state": "granted"}]  # opening the link changed nothing
    done = await subject.post(link, {"lang": "ja"}, csrf_from=link)
    assert done.status_code == 200 and "同意を撤回しました" in done.text
    assert await _consents(api, person["id"]) == [{"state": "withdrawn"}]
    # A mail client's one-click POST (RFC 8058) and API clients still get JSON.
    one_click = await api.client.post(link, data={"List-Unsubscribe": "One-Click"})
    assert one_click.json() == {"withdrawn": True, "purpose": "marketing"}
    assert (await subject.post(link, {"csrf": "forged"})).status_code == 403
    unreadable = b"&".join(b"f%d=1" % n for n in range(5000))  # more fields than Starlette reads
    refused = await api.client.post(link, content=unreadable, headers={"content-type": "application/x-www-form-urlencoded"})
    assert refused.status_code == 403 and refused.headers["content-type"].startswith("text/html")


async def _exported(api, subject: Subject, enishi_sent_mail) -> str:
    """An access request made and confirmed on the pages, approved and run by compliance: its link."""
    await _person(api)
    made = await subject.make_request("hanako@example.jp")
    (code,) = (await mailed_codes(api, enishi_sent_mail)).values()
    assert (await subject.confirm(made.headers["location"], code)).status_code == 200
    (request_id,) = [
        edge["node"]["id"]
        for edge in (await api.graphql("{ dataSubjectRequests { edges { node { id } } } }", role="compliance"))[
            "dataSubjectRequests"
        ]["edges"]
    ]
    assert (await run_request(api, request_id))["status"] == "completed"
    link = await api.graphql(
        'mutation($id: ID!) { dataSubjectExportLink(requestId: $id, format: "json") { url } }',
        {"id": request_id},
        role="compliance",
    )
    return link["dataSubjectExportLink"]["url"]


async def test_the_export_link_lands_on_a_page_whose_button_downloads_once(api, subject, enishi_sent_mail):
    url = await _exported(api, subject, enishi_sent_mail)
    landing = await subject.get(url)
    assert landing.status_code == 200 and "データの準備ができました" in landing.text and "JSON 形式の文書" in landing.text
    assert "花山" not in landing.text and "hanako" not in landing.text
    assert (await subject.get(url)).status_code == 200  # opening it again: still there (a mail scanner uses nothing up)
    downloaded = await subject.post(url, {"lang": "ja"}, csrf_from=url)
    assert downloaded.status_code == 200
    assert downloaded.headers["content-disposition"] == 'attachment; filename="personal-data.json"'
    assert json.loads(downloaded.content)["sections"]["core"]["contact"]["family_name"] == "花山"
    gone = await subject.get(url)
    assert gone.status_code == 410 and "使用済み" in gone.text
    assert (await subject.post(url, {"lang": "ja"}, csrf_from=NEW)).status_code == 410


async def test_an_api_client_still_downloads_the_export_directly(api, subject, enishi_sent_mail):
    url = await _exported(api, subject, enishi_sent_mail)
    response = await api.client.get(url)  # Accept: */*
    assert response.status_code == 200
    assert json.loads(response.content)["schema"] == "enishi.dsr-export/1"
