"""The data subject's own pages in a real browser (Chromium through Playwright, a real `enishi
serve`, SQLite and PostgreSQL): a request made, confirmed with the code the mail transport
delivered, answered by compliance and its export downloaded; the withdrawal link's landing. Each
page is checked by axe-core (no serious or critical violation), loads nothing from elsewhere, logs
no error, and is kept as a screenshot in test-artefacts/console/<database>/subject-*.png.

The browser, axe-core and the checks are the console's (test_console_browser.py); this module
serves its own site, with mail written to files. Skipped where no Chromium is installed."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from email import policy
from email.parser import BytesParser
from pathlib import Path

import httpx
import pytest

from enishi.plugins.privacy.intake import REQUESTS_PER_CLIENT
from tests.e2e import test_console_browser as console_browser
from tests.helpers import graphql_data

CHROMIUM, _cli = console_browser.CHROMIUM, console_browser._cli
# The console's browser and axe-core; `browser_page` opens this module's `console_site`.
axe_source, chromium, browser_page = console_browser.axe_source, console_browser.chromium, console_browser.browser_page

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium on this machine (apt-get install chromium chromium-driver) for the browser tests"
)
EMAIL = "hanako@example.jp"


@dataclass
class Site:
    env: dict
    mail: Path
    withdrawal_link: str
    person: str


def _admin_token(env: dict) -> str:
    return _cli(env, "token", "create", "--role", "admin").split()[-1]


@pytest.fixture(scope="module")
def site_server(enishi_database_url, enishi_migrated_template, enishi_base_settings, tmp_path_factory):
    """One served site for the module's tests, mail kept in files, and an admin's token."""
    home = tmp_path_factory.mktemp("subject")
    template, settings = enishi_migrated_template, enishi_base_settings
    with console_browser.served_site(enishi_database_url, template, settings, home, _admin_token) as site:
        yield site


@pytest.fixture
def console_site(site_server):
    """Overrides the console's site for `browser_page`: the module's site as it was set up, with a
    person with an address and a marketing consent; (url, Site, admin headers)."""
    console_browser.fresh(site_server)
    url, headers = site_server.url, site_server.headers

    async def person() -> Site:
        async with httpx.AsyncClient(base_url=url, headers=headers, trust_env=False) as client:
            created = await graphql_data(
                client,
                'mutation($e: String!) { createContact(input: {familyName: "花山", givenName: "花子", '
                "emails: [{address: $e}]}) { contact { id } } }",
                {"e": EMAIL},
            )
            contact = created["createContact"]["contact"]["id"]
            await graphql_data(
                client,
                'mutation($c: ID!) { recordConsent(input: {contactId: $c, purpose: "marketing", state: "granted"}) '
                "{ userErrors { code } } }",
                {"c": contact},
            )
            link = await graphql_data(
                client, 'query($c: ID!) { consentWithdrawalLink(contactId: $c, purpose: "marketing") }', {"c": contact}
            )
            return Site(site_server.env, site_server.mail, link["consentWithdrawalLink"], contact)

    return url, console_browser.beside_the_browser(person()), headers


def _admin(url: str, headers: dict, query: str, variables: dict | None = None) -> dict:
    # Synchronously: Playwright's own event loop runs in this thread.
    with httpx.Client(base_url=url, headers=headers, trust_env=False) as client:
        body = client.post("/graphql", json={"query": query, "variables": variables or {}}).json()
    assert "errors" not in body, body
    return body["data"]


def _mailed_code(site: Site) -> str:
    """The code the worker's outbox delivered through the file transport."""
    _cli(site.env, "worker", "--once")
    (mail,) = list(site.mail.rglob("*.eml"))
    text = BytesParser(policy=policy.default).parsebytes(mail.read_bytes()).get_body().get_content()  # type: ignore[union-attr]
    return re.search(r"Your verification code for your data request: (\d{6})", text).group(1)  # type: ignore[union-attr]


def test_a_subject_asks_confirms_and_downloads_their_data(browser_page):
    subject, site, headers = browser_page
    page = subject.page
    page.goto(subject.url + "/privacy/requests/new")
    assert page.locator("h1").inner_text() == "ご自身の個人データについての請求"
    subject.check("subject-01-request-form")

    # Sent without an address: said at the top and at the field, the form kept.
    page.get_by_label("ご請求の内容").select_option("access")
    page.get_by_role("button", name="請求を送信する").click()
    assert "入力してください" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("メールアドレス").get_attribute("aria-invalid") == "true"
    assert page.get_by_label("ご請求の内容").input_value() == "access"
    subject.check("subject-02-request-refused", status=422)

    # By keyboard alone: the address typed, Enter sends the form.
    page.get_by_label("メールアドレス").focus()
    page.keyboard.type(EMAIL)
    page.keyboard.press("Enter")
    page.wait_for_url("**/privacy/requests/confirm?**")
    assert "確認コードをお送りしました" in page.get_by_role("status").inner_text()
    subject.check("subject-03-confirm")

    page.get_by_label("確認コード").fill(_mailed_code(site))
    page.get_by_role("button", name="確認する").click()
    assert page.locator("h1").inner_text() == "ご請求を確認しました"
    subject.check("subject-04-confirmed")

    # Compliance answers it (the console's own test drives that part in the browser).
    (edge,) = _admin(subject.url, headers, "{ dataSubjectRequests { edges { node { id status } } } }")["dataSubjectRequests"][
        "edges"
    ]
    assert edge["node"]["status"] == "pending_review"
    request = {"id": edge["node"]["id"]}
    _admin(subject.url, headers, "mutation($id: ID!) { approveDataSubjectRequest(id: $id) { userErrors { code } } }", request)
    _admin(subject.url, headers, "mutation($id: ID!) { executeDataSubjectRequest(id: $id) { userErrors { code } } }", request)
    link = _admin(
        subject.url, headers, 'mutation($id: ID!) { dataSubjectExportLink(requestId: $id, format: "json") { url } }', request
    )["dataSubjectExportLink"]["url"]

    page.goto(subject.url + link)
    assert page.locator("h1").inner_text() == "データの準備ができました"
    subject.check("subject-05-export")
    with page.expect_download() as download:
        page.get_by_role("button", name="ダウンロード").click()
    assert download.value.suggested_filename == "personal-data.json"
    exported = json.loads(Path(download.value.path()).read_text())
    assert exported["sections"]["core"]["contact"]["family_name"] == "花山"

    page.goto(subject.url + link)  # the link worked once
    assert "使用済み" in page.get_by_role("alert").inner_text()
    subject.check("subject-06-export-used", status=410)

    # The language switch, named in its own language.
    page.goto(subject.url + "/privacy/requests/new")
    page.get_by_role("link", name="English").click()
    assert page.locator("h1").inner_text() == "Make a request about your personal data"
    subject.check("subject-07-request-form-english")


def test_the_withdrawal_link_lands_on_a_page_that_withdraws(browser_page):
    subject, site, headers = browser_page
    page = subject.page
    page.goto(subject.url + site.withdrawal_link)
    assert "「マーケティング」への同意を撤回します" in page.locator("main").inner_text()  # not the stored "marketing"
    subject.check("subject-08-withdrawal-landing")
    page.get_by_role("button", name="同意を撤回する").focus()
    page.keyboard.press("Enter")
    assert "同意を撤回しました" in page.get_by_role("status").inner_text()
    subject.check("subject-09-withdrawn")
    consents = _admin(
        subject.url, headers, "query($c: ID!) { node(id: $c) { ... on Contact { consents { state } } } }", {"c": site.person}
    )
    assert consents["node"]["consents"] == [{"state": "withdrawn"}]


def test_one_client_sending_too_many_requests_gets_a_page_saying_when_to_try_again(browser_page):
    subject, _site, _headers = browser_page
    page = subject.page
    # The same client (this machine's address) sent its hour's worth already, through the JSON route.
    with httpx.Client(base_url=subject.url, trust_env=False) as client:
        for number in range(REQUESTS_PER_CLIENT.limit):
            made = client.post("/privacy/requests", json={"type": "access", "email": f"person{number}@example.jp"})
            assert made.status_code == 202, made.text
    page.goto(subject.url + "/privacy/requests/new")
    page.get_by_label("ご請求の内容").select_option("access")
    page.get_by_label("メールアドレス").fill("one-more@example.jp")
    with page.expect_response(subject.url + "/privacy/requests/new") as answer:
        page.get_by_role("button", name="請求を送信する").click()
    # The server's own clock: the hour began with the first of those requests.
    assert answer.value.status == 429 and 0 < int(answer.value.headers["retry-after"]) <= 3600
    assert "このネットワークから送られた請求が多すぎます" in page.get_by_role("alert").inner_text()
    assert page.get_by_label("メールアドレス").input_value() == "one-more@example.jp"  # the form kept
    subject.check("subject-10-too-many-requests", status=429)
