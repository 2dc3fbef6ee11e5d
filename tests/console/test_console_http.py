"""The console over HTTP, in process: sign-in, sessions, CSRF, roles, languages, and pages that
read through the API's own operations (the access log records them)."""

from __future__ import annotations

import hashlib

from sqlalchemy import func, select

from enishi.graphql.console.values import STATUS_LABELS, TYPE_LABELS
from enishi.models import ConsoleSession, User
from enishi.plugins.privacy import models as privacy_models
from tests.console.conftest import ConsoleClient, add_user
from tests.console.seed import OFFICER

REQUEST = "query($id: ID!) { node(id: $id) { ... on DataSubjectRequest { status extended extensionReason } } }"


async def _sessions(api) -> int:
    async with api.runtime.read_session() as session:
        return (await session.execute(select(func.count()).select_from(ConsoleSession))).scalar_one()


async def test_sign_in_sets_a_strict_cookie_and_keeps_only_its_hash(api):
    await add_user(api, OFFICER[0], OFFICER[1], ["compliance"])
    client = ConsoleClient(api)
    response = await client.sign_in(OFFICER[0])
    assert response.status_code == 303 and response.headers["location"] == "/console/requests"
    cookie = next(h for h in response.headers.get_list("set-cookie") if h.startswith("enishi_console="))
    attributes = {part.strip().split("=")[0].lower() for part in cookie.split(";")[1:]}
    assert {"secure", "httponly", "path", "samesite"} <= attributes and "samesite=strict" in cookie.lower()
    session_id = client.cookies["enishi_console"]
    async with api.runtime.read_session() as session:
        stored = (await session.execute(select(ConsoleSession.session_hash))).scalars().all()
    assert stored == [hashlib.sha256(session_id.encode()).hexdigest()]
    page = await client.get("/console/requests")
    assert page.status_code == 200
    policy = page.headers["content-security-policy"]
    assert "default-src 'none'" in policy and "unsafe-inline" not in policy and "script-src" not in policy
    assert page.headers["x-frame-options"] == "DENY" and page.headers["cache-control"] == "no-store"


async def test_a_wrong_password_and_an_unknown_address_get_the_same_refusal(api):
    await add_user(api, OFFICER[0], OFFICER[1], ["compliance"])
    wrong = await ConsoleClient(api).sign_in(OFFICER[0], "not the password at all")
    unknown = await ConsoleClient(api).sign_in("nobody@staff.example")
    assert wrong.status_code == unknown.status_code == 401
    assert "The email address or the password is not right." in wrong.text and "enishi_console=" not in str(wrong.headers)
    assert await _sessions(api) == 0


async def test_a_sales_user_is_refused_with_403_and_gets_no_session(api):
    await add_user(api, "seller@staff.example", "営業", ["sales"])
    client = ConsoleClient(api)
    response = await client.sign_in("seller@staff.example")
    assert response.status_code == 403 and "compliance and admin roles only" in response.text
    assert await _sessions(api) == 0
    assert (await client.get("/console/requests")).status_code == 303  # back to the sign-in page


async def test_a_form_without_the_session_csrf_token_is_refused_and_changes_nothing(api, officer, seeded):
    forged = await officer.post("/console/request/extend", {"id": seeded.overdue_erasure, "months": "1", "reason": "x"})
    wrong = await officer.post(
        "/console/request/extend", {"csrf": "0" * 64, "id": seeded.overdue_erasure, "months": "1", "reason": "x"}
    )
    assert forged.status_code == wrong.status_code == 403 and "security token" in forged.text
    assert (await api.graphql(REQUEST, {"id": seeded.overdue_erasure}))["node"]["extended"] is False
    sign_in_without_cookie = await api.client.post("/console/sign-in", data={"csrf": "a" * 43, "email": OFFICER[0]})
    assert sign_in_without_cookie.status_code == 403


async def test_extending_through_the_console_is_the_api_mutation(api, officer, seeded):
    page = f"/console/request?id={seeded.overdue_erasure}"
    response = await officer.post(
        "/console/request/extend",
        {"id": seeded.overdue_erasure, "months": "2", "reason": "複雑な請求のため"},
        csrf_from=page,
    )
    assert response.status_code == 303
    assert (await api.graphql(REQUEST, {"id": seeded.overdue_erasure}))["node"] == {
        "status": "pending_review",
        "extended": True,
        "extensionReason": "複雑な請求のため",
    }
    again_form = {"id": seeded.overdue_erasure, "months": "1", "reason": "再"}
    again = await officer.post("/console/request/extend", again_form, csrf_from=page)
    assert again.status_code == 422 and "ALREADY_EXTENDED" in again.text  # the service's refusal, shown


async def test_a_role_change_ends_the_session_at_the_next_request(api, officer):
    assert (await officer.get("/console/requests")).status_code == 200
    async with api.runtime.unit_of_work() as uow:
        user = (await uow.session.execute(select(User).where(User.email == OFFICER[0]))).scalar_one()
        user.roles = ["compliance", "support"]
    response = await officer.get("/console/requests")
    assert response.status_code == 303 and response.headers["location"] == "/console/sign-in"
    assert await _sessions(api) == 0


async def test_sign_out_ends_the_session(api, officer):
    response = await officer.post("/console/sign-out", {}, csrf_from="/console/requests")
    assert response.status_code == 303 and await _sessions(api) == 0
    assert (await officer.get("/console/requests")).status_code == 303


async def test_the_queue_puts_the_overdue_request_first_in_red(officer, seeded):
    page = (await officer.get("/console/requests")).text
    overdue_row = page.index('<tr class="overdue">')
    assert overdue_row < page.index(seeded.fresh_access.replace("=", "%3D"))
    assert page.count('<tr class="overdue">') == 1 and "Overdue by " in page
    only_overdue = (await officer.get("/console/requests", overdue="1")).text
    assert seeded.fresh_access.replace("=", "%3D") not in only_overdue
    only_access = (await officer.get("/console/requests", type="access")).text
    assert '<tr class="overdue">' not in only_access


async def test_a_page_that_shows_personal_data_leaves_the_same_access_log_entry_as_graphql(api, officer, seeded):
    log = "query($c: ID!) { accessLog(contactId: $c) { user { displayName } action } }"
    before = (await api.graphql(log, {"c": seeded.contact}, role="compliance"))["accessLog"]
    page = await officer.get("/console/request", id=seeded.overdue_erasure)
    assert page.status_code == 200 and "山田 太郎" in page.text and "運転免許証で確認" in page.text
    after = (await api.graphql(log, {"c": seeded.contact}, role="compliance"))["accessLog"]
    new = after[len(before) :]
    assert {"user": {"displayName": OFFICER[1]}, "action": "read"} in new


async def test_the_language_follows_the_browser_then_the_users_choice(api, officer):
    officer.language = "ja-JP,ja;q=0.9,en;q=0.8"
    assert "<h1>本人からの請求</h1>" in (await officer.get("/console/requests")).text
    officer.language = "en-GB,en;q=0.9"
    assert "<h1>Data-subject requests</h1>" in (await officer.get("/console/requests")).text
    switched = await officer.post("/console/language", {"locale": "ja", "next": "/console/holds"}, csrf_from="/console/requests")
    assert switched.headers["location"] == "/console/holds"
    assert '<html lang="ja">' in (await officer.get("/console/holds")).text  # the user's choice beats the browser
    evil = await officer.post("/console/language", {"locale": "en", "next": "//evil.example/"}, csrf_from="/console/holds")
    assert evil.headers["location"] == "/console"


def test_the_queue_filters_offer_the_privacy_plugins_statuses_and_types():
    assert tuple(STATUS_LABELS) == privacy_models.REQUEST_STATUSES
    assert tuple(TYPE_LABELS) == privacy_models.REQUEST_TYPES


async def test_the_overview_shows_an_incidents_clocks_and_what_is_overdue(api, officer, seeded):
    incident = {
        "title": "委託先からの顧客リスト流出",
        "cause": "unauthorized_access",
        "discoveredAt": "2024-06-03T09:00:00+09:00",
        "awareAt": "2024-06-03T10:00:00+09:00",
        "affectedCount": 1200,
        "malicious": True,
    }
    assert (await api.mutate("createIncident", incident, "incident { id }"))["userErrors"] == []
    officer.language = "ja"
    page = (await officer.get("/console/overview")).text
    row = page[page.index("委託先からの顧客リスト流出") :].split("</tr>")[0]
    # 72 hours after awareness; 確報 due on day 60 (malicious); over 1,000 people and malicious.
    assert "2024/06/06 10:00:00 (Asia/Tokyo)" in row and "<td>2024/08/02</td>" in row
    assert "必要: 不正の目的, 1,000人超" in row and "MALICIOUS" not in row
    deadlines = page[page.index('id="deadlines"') : page.index('id="incidents"')]
    # On 10 June: the authority's 72 hours, the 速報's 3 days and the erasure request are past.
    assert deadlines.count('<tr class="overdue">') == 3


async def test_a_session_ends_after_eight_hours_and_when_its_user_is_deactivated(api, officer):
    api.clock.advance(hours=7, minutes=59)
    assert (await officer.get("/console/requests")).status_code == 200
    api.clock.advance(minutes=1)
    assert (await officer.get("/console/requests")).headers["location"] == "/console/sign-in"
    assert (await officer.sign_in(OFFICER[0])).status_code == 303
    async with api.runtime.unit_of_work() as uow:
        (await uow.session.execute(select(User).where(User.email == OFFICER[0]))).scalar_one().is_active = False
    assert (await officer.get("/console/requests")).headers["location"] == "/console/sign-in"
    assert await _sessions(api) == 0
    assert (await officer.sign_in(OFFICER[0])).status_code == 401


def _is_secure(response, name: str) -> bool:
    cookie = next(header for header in response.headers.get_list("set-cookie") if header.startswith(name + "="))
    return "secure" in {part.strip().lower() for part in cookie.split(";")[1:]}


async def test_cookies_are_secure_when_the_public_address_or_the_request_is_https(enishi_api):
    """Over plain HTTP (a server on the office network, ENISHI_PUBLIC_URL http) a browser would drop
    a Secure cookie and no form could be sent; behind TLS they are Secure."""
    plain = await enishi_api(public_url="http://crm.intranet.example")
    await add_user(plain, OFFICER[0], OFFICER[1], ["compliance"])
    client = ConsoleClient(plain)
    assert not _is_secure(await client.get("/console/sign-in"), "enishi_console_signin")
    signed_in = await client.sign_in(OFFICER[0])
    assert signed_in.status_code == 303 and not _is_secure(signed_in, "enishi_console")
    assert (await client.get("/console/requests")).status_code == 200
    assert not _is_secure(await client.get("/privacy/requests/new"), "enishi_public_csrf")
    # The same server reached over https: Secure.
    over_tls = await plain.client.get("https://enishi.test/console/sign-in")
    assert _is_secure(over_tls, "enishi_console_signin")
    # An https public address (behind a proxy that ends TLS, the request reaches the app as http): Secure.
    behind_tls = ConsoleClient(await enishi_api(public_url="https://crm.example.test"))
    assert _is_secure(await behind_tls.get("/console/sign-in"), "enishi_console_signin")
    assert _is_secure(await behind_tls.sign_in(OFFICER[0]), "enishi_console")
    assert _is_secure(await behind_tls.get("/privacy/requests/new"), "enishi_public_csrf")


async def test_a_form_of_over_a_thousand_fields_gets_a_page_in_the_readers_language(api, officer):
    """Starlette reads at most 1,000 fields; its own refusal would be a plain-text 400."""
    fields = b"&".join(b"f%d=1" % number for number in range(1001))
    for language, says in (("ja", "このフォームは読み取れませんでした"), ("en", "This form could not be read")):
        officer.language = language
        headers = {**officer._headers(), "content-type": "application/x-www-form-urlencoded"}
        for path in ("/console/request/approve", "/console/sign-in", "/console/sign-in/link/use"):
            refused = await api.client.post(path, content=fields, headers=headers)
            assert refused.status_code == 400 and refused.headers["content-type"].startswith("text/html"), (path, refused.text)
            assert says in refused.text and "default-src 'none'" in refused.headers["content-security-policy"]
