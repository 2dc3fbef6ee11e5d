"""The console's staff side in a real browser (test_console_browser.py's server, officer and checks):
sign-in by a one-time mailed link end to end, the page of a throttled sign-in, the Japanese era
calendar chosen in the header, and the access log of one staff member across people. Screenshots
go to test-artefacts/console/<database>/ beside the others."""

from __future__ import annotations

import email
import re
import time
from email import policy
from pathlib import Path

import httpx

from enishi.throttle import SIGN_IN_ACCOUNT
from tests.console.seed import OFFICER
from tests.e2e import test_console_browser as browser

# The server (one for this module too), the browser, the officer's page and its checks, and the
# skip where no Chromium is installed.
axe_source, chromium, browser_page = browser.axe_source, browser.chromium, browser.browser_page
site_server, console_site = browser.site_server, browser.console_site
pytestmark = browser.pytestmark

LINK = re.compile(r"https?://[^/\s]+(/console/sign-in/link\?token=[\w-]+)")


def _mailed_link(directory: Path) -> str:
    """The path of the sign-in link in the first message the server wrote; the server sends it just
    after answering, so it is waited for (bounded: a guard against a mail never sent)."""
    deadline = time.monotonic() + 60
    while not (messages := sorted(directory.glob("*.eml"))):
        assert time.monotonic() < deadline, "no sign-in mail was written"
        time.sleep(0.05)
    message = email.message_from_bytes(messages[0].read_bytes(), policy=policy.default)
    assert message["To"] == OFFICER[0]
    found = LINK.search(message.get_content())
    assert found is not None
    return found.group(1)


def test_signing_in_by_a_mailed_link_once(browser_page, site_server):
    officer, _seeded, _headers = browser_page
    page = officer.page
    page.goto(officer.url + "/console/sign-in")
    page.get_by_label("リンクを送るメールアドレス").fill(OFFICER[0])
    page.get_by_role("button", name="リンクをメールで受け取る").click()
    assert "サインイン用リンクを送りました" in page.get_by_role("status").inner_text()
    officer.check("11-link-asked")

    link = _mailed_link(site_server.mail)
    page.goto(officer.url + link)
    officer.check("12-link-landing")
    page.get_by_role("button", name="サインイン", exact=True).click()
    assert page.locator("h1").inner_text() == "本人からの請求"

    page.get_by_role("button", name="サインアウト").click()
    page.goto(officer.url + link)
    page.get_by_role("button", name="サインイン", exact=True).click()
    assert "このサインイン用リンクは使えません" in page.get_by_role("alert").inner_text()
    officer.check("13-link-used-up", status=400)


def test_too_many_wrong_passwords_show_when_to_try_again(browser_page):
    officer, _seeded, _headers = browser_page
    page = officer.page
    page.goto(officer.url + "/console/sign-in")

    def wrong_password() -> int:
        page.get_by_label("メールアドレス", exact=True).fill(OFFICER[0])
        page.get_by_label("パスワード").fill("まちがったパスワードです")
        with page.expect_response(officer.url + "/console/sign-in") as answer:
            page.get_by_role("button", name="サインイン", exact=True).click()
        return answer.value.status

    assert [wrong_password() for _ in range(SIGN_IN_ACCOUNT.limit - 1)] == [401] * (SIGN_IN_ACCOUNT.limit - 1)
    officer.check("14-wrong-password", status=401)
    assert wrong_password() == 429
    assert "サインインの試行が多すぎます" in page.get_by_role("alert").inner_text()
    assert "(Asia/Tokyo) 以降" in page.get_by_role("alert").inner_text()
    officer.check("15-too-many-attempts", status=429)


def test_the_japanese_era_and_one_staff_members_access_log(browser_page):
    officer, _seeded, _headers = browser_page
    page = officer.page
    officer.sign_in(OFFICER[0])
    page.get_by_label("日付").select_option("japanese")
    page.get_by_role("button", name="切替").click()
    assert "令和" in page.locator("tbody").inner_text()
    officer.check("16-queue-japanese-era")
    # In English the era is romanised, the Western year beside it; back to Japanese after.
    page.get_by_label("言語").select_option("en")
    page.get_by_role("button", name="切替").click()
    dates = page.locator("tbody").inner_text()
    assert "Reiwa" in dates and "令和" not in dates
    officer.check("16b-queue-japanese-era-english")
    page.get_by_label("Language").select_option("ja")
    page.get_by_role("button", name="Switch").click()

    page.locator("tbody tr").first.get_by_role("link").click()
    facts = page.locator("dl.facts").inner_text()
    assert "GDPR" in facts and "電話" in facts and "gdpr" not in facts
    assert "担当者が受付（電話）" in page.locator("ol.history").inner_text()
    officer.check("17-request-japanese-values")

    page.get_by_role("link", name="アクセスログ").click()
    page.get_by_label("または担当者ごとの閲覧（全員分）").select_option(label=OFFICER[1])
    page.get_by_role("button", name="表示").click()
    assert "山田 太郎" in page.locator("tbody").inner_text()
    assert "ハッシュチェーン検証済み" in page.get_by_role("status").inner_text()
    officer.check("18-access-log-by-staff")


def test_editing_a_retention_rule_from_the_overview(browser_page):
    officer, _seeded, headers = browser_page
    page = officer.page
    create = (
        'mutation { createRetentionRule(input: {entity: "contact", action: ANONYMISE, periodMonths: 36, basis: "社内規程"}) '
        "{ rule { id } } }"
    )
    with httpx.Client(base_url=officer.url, headers=headers, trust_env=False) as client:  # Playwright's loop runs in this thread
        assert client.post("/graphql", json={"query": create}).json()["data"]["createRetentionRule"]["rule"]["id"]
    officer.sign_in(OFFICER[0])
    page.get_by_role("link", name="概要").click()
    retention = page.locator("section", has=page.locator("#retention"))
    retention.get_by_label("月数").fill("60")
    retention.get_by_label("根拠").fill("社内規程 第12条")
    retention.get_by_role("button", name="保存").click()
    assert "社内規程 第12条" in retention.locator("tbody").inner_text()
    assert page.url.endswith("/console/overview#retention")
    officer.check("19-overview-retention-edited")
