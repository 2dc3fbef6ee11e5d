"""The console in a real browser: Debian's Chromium driven by Playwright against a real `enishi
serve`, on SQLite and PostgreSQL. A compliance officer's day end to end, CSRF refusal, a `sales`
user refused, and axe-core on every page (no serious or critical violation). Screenshots go to
test-artefacts/console/<database>/ for a person to look at.

One server and one Chromium serve the module's tests (starting them is most of a test's time):
each test gets a browser context of its own, and the database as the module set it up (`fresh`).

Skipped only where no Chromium is installed (`apt-get install chromium chromium-driver`)."""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import os
import shutil
import subprocess
import sys
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import httpx
import pytest

from enishi.runtime import Runtime
from enishi.settings import Settings
from enishi.testing import new_database, restore, serve, table_rows
from tests.console.seed import OFFICER, PASSWORD, seed
from tests.helpers import graphql_data

ROOT = Path(__file__).resolve().parents[2]
AXE_PACKAGE = Path(__file__).with_name("axe")
AXE_SCRIPT = AXE_PACKAGE / "node_modules" / "axe-core" / "axe.min.js"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SELLER = "seller@staff.example"

pytestmark = pytest.mark.skipif(
    CHROMIUM is None, reason="no Chromium on this machine (apt-get install chromium chromium-driver) for the browser tests"
)


@pytest.fixture(scope="session")
def axe_source() -> str:
    """axe-core's script, installed from npm by its pinned version when it is not there yet."""
    if not AXE_SCRIPT.exists():
        npm = ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(AXE_PACKAGE)]
        subprocess.run(npm, check=True, capture_output=True)
    return AXE_SCRIPT.read_text()


def _cli(env: dict, *args: str, password: str | None = None) -> str:
    command = [sys.executable, "-m", "enishi.cli", *args]
    done = subprocess.run(command, env={**os.environ, **env}, input=password, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return done.stdout


@dataclass
class Served:
    """A module's `enishi serve` on a database of its own, and the rows each test starts from."""

    url: str
    env: dict
    mail: Path
    headers: dict  # an admin's
    settings: Settings  # of this process's runtimes on the database
    rows: dict  # the database as the module set it up (`enishi.testing.table_rows`)


def beside_the_browser(coroutine: Coroutine):
    """Run `coroutine` to its end in a thread of its own: while Playwright's synchronous API is open
    it keeps an event loop running in this one, where `asyncio.run` is refused."""
    with ThreadPoolExecutor(1) as thread:
        return thread.submit(asyncio.run, coroutine).result()


def _in_runtime(settings: Settings, work):
    async def run():
        runtime = Runtime(settings)
        try:
            return await work(runtime)
        finally:
            await runtime.close()

    return beside_the_browser(run())


@contextlib.contextmanager
def served_site(kind: str, template: str, settings: Settings, home: Path, set_up) -> Iterator[Served]:
    """A database of its own (a copy of the migrated `template`), set up through the CLI by
    `set_up(env)`, which returns an admin's token, and one `enishi serve` on it, mail in files."""
    with new_database(kind, home / "site.db", template) as database_url:
        env = {
            "ENISHI_DATABASE_URL": database_url,
            "ENISHI_HOME": str(home / "home"),
            "ENISHI_MAIL_URL": (home / "mail").as_uri(),
        }
        headers = {"Authorization": f"Bearer {set_up(env)}"}
        settings = replace(settings, database_url=database_url)
        with serve(env) as url:  # started before the rows are read: they include the configuration it recorded
            yield Served(url, env, home / "mail", headers, settings, _in_runtime(settings, table_rows))


def fresh(site: Served) -> None:
    """Bring the module's database back to the rows it was set up with and empty its mail folder:
    a test starts from that state, whatever the tests before it did."""
    _in_runtime(site.settings, lambda runtime: restore(runtime, site.rows))
    for message in site.mail.rglob("*.eml"):
        message.unlink()


def _console_staff(env: dict) -> str:
    _cli(env, "user", "create", "--email", OFFICER[0], "--name", OFFICER[1], "--role", "compliance", password=PASSWORD + "\n")
    _cli(env, "user", "create", "--email", SELLER, "--name", "営業 一郎", "--role", "sales", password=PASSWORD + "\n")
    return _cli(env, "token", "create", "--role", "admin").split()[-1]


@pytest.fixture(scope="module")
def site_server(enishi_database_url, enishi_migrated_template, enishi_base_settings, tmp_path_factory) -> Iterator[Served]:
    """One served console for the module's tests: an officer, a seller and an admin's token."""
    home = tmp_path_factory.mktemp("console")
    with served_site(enishi_database_url, enishi_migrated_template, enishi_base_settings, home, _console_staff) as site:
        yield site


@pytest.fixture
def console_site(site_server):
    """The module's console as it was set up, with the seeded morning; (url, seeded, admin headers)."""
    fresh(site_server)

    async def morning():
        async with httpx.AsyncClient(base_url=site_server.url, headers=site_server.headers, trust_env=False) as client:
            served_at = email.utils.parsedate_to_datetime((await client.get("/health")).headers["date"])  # the server's clock
            return await seed(lambda query, variables: graphql_data(client, query, variables), served_at)

    return site_server.url, beside_the_browser(morning()), site_server.headers


class Officer:
    """One browser page, with the checks every step makes: the screenshot kept, axe-core run, and
    no request anywhere but the server, no error in the console (a CSP violation would be one)."""

    def __init__(self, page, url: str, axe_source: str, artefacts: Path) -> None:
        self.page, self.url, self.axe_source, self.artefacts = page, url, axe_source, artefacts
        self.foreign_requests: list[str] = []
        self.console_errors: list[str] = []
        page.on("request", lambda request: None if request.url.startswith(url) else self.foreign_requests.append(request.url))
        page.on("console", lambda message: self.console_errors.append(message.text) if message.type == "error" else None)

    def check(self, name: str, status: int = 200) -> None:
        """`status`: the page's own, when it is a refusal (Chromium logs any 4xx document as an error)."""
        self.page.screenshot(path=str(self.artefacts / f"{name}.png"), full_page=True)
        # Through the DevTools protocol, which the page's CSP does not govern: the page itself may
        # load no script, and loads none.
        self.page.evaluate(self.axe_source)
        violations = self.page.evaluate(
            """async () => (await axe.run(document)).violations
                .map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))"""
        )
        assert [v for v in violations if v["impact"] in ("serious", "critical")] == [], (name, violations)
        # Filtered only now: the browser reports a refused document's status a little after loading it,
        # and the calls above let the report in.
        refusal = f"Failed to load resource: the server responded with a status of {status} "
        self.console_errors = [error for error in self.console_errors if not error.startswith(refusal)]
        assert self.foreign_requests == [] and self.console_errors == [], (name, self.foreign_requests, self.console_errors)

    def sign_in(self, email: str) -> None:
        self.page.goto(self.url + "/console/requests")
        self.page.get_by_label("メールアドレス", exact=True).fill(email)
        self.page.get_by_label("パスワード").fill(PASSWORD)
        self.page.get_by_role("button", name="サインイン").click()


@pytest.fixture(scope="module")
def chromium(site_server):
    """One Chromium for the module's tests; each opens a context of its own (`browser_page`). Started
    after the module's site and closed before it, which is set up and removed with `asyncio.run`."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        with contextlib.closing(browser):
            yield browser


@pytest.fixture
def browser_page(chromium, console_site, axe_source, enishi_database_url):
    """A page in a new browser context (no cookie or storage of an earlier test's) on `console_site`."""
    url, seeded, headers = console_site
    artefacts = ROOT / "test-artefacts" / "console" / ("sqlite" if enishi_database_url.startswith("sqlite") else "postgresql")
    artefacts.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(locale="ja-JP", timezone_id="Asia/Tokyo", viewport={"width": 1280, "height": 900})
    with contextlib.closing(context):
        yield Officer(context.new_page(), url, axe_source, artefacts), seeded, headers


def test_a_compliance_officers_day(browser_page):
    officer, seeded, _headers = browser_page
    page = officer.page
    page.goto(officer.url + "/console/requests")
    assert page.url.endswith("/console/sign-in")
    officer.check("01-sign-in")
    officer.sign_in(OFFICER[0])

    # The queue: the overdue erasure first, in red, with how late it is.
    assert page.locator("h1").inner_text() == "本人からの請求"
    first = page.locator("tbody tr").first
    assert first.get_attribute("class") == "overdue" and "消去" in first.inner_text() and "超過" in first.inner_text()
    officer.check("02-queue")

    # The overview: the erasure is among the deadlines owed, overdue.
    page.get_by_role("link", name="概要").click()
    assert "本人からの請求への回答" in page.locator("tr.overdue").first.inner_text()
    officer.check("02b-overview")
    page.go_back()

    # Extend it, with the reason.
    first.get_by_role("link").click()
    request_url = page.url
    page.get_by_label("延長期間（月）").select_option("1")
    page.get_by_label("延長の理由").fill("対象データが複数の事業部にまたがるため")
    page.get_by_role("button", name="期限を延長する").click()
    assert "対象データが複数の事業部にまたがるため" in page.locator("dl.facts").inner_text()
    officer.check("03-request-extended")

    # A hold on the person's call record, for a lawsuit, before the erasure.
    page.get_by_role("link", name="リーガルホールド").click()
    page.get_by_label("本人を検索（氏名・かな・メール・電話番号）").fill("山田")
    page.get_by_role("button", name="検索").click()
    page.get_by_role("link", name="山田 太郎").click()
    holds_url = page.url
    page.get_by_label("根拠（法令または訴訟）").fill("損害賠償請求訴訟")
    page.get_by_label("参照番号（事件番号）").fill("令和8年(ワ)第123号")
    page.get_by_role("button", name="ホールドを設定する").click()
    assert "損害賠償請求訴訟" in page.locator("tbody").inner_text()
    officer.check("04-hold-placed")

    # Approve and execute the erasure: the held record is kept, and said so.
    page.goto(request_url)
    page.get_by_role("button", name="承認", exact=True).click()
    assert "承認済み" in page.locator("h1").inner_text()
    page.get_by_role("button", name="実行", exact=True).click()
    assert "完了" in page.locator("h1").inner_text()
    results = page.locator("section", has=page.locator("#runs")).inner_text()
    assert "消去" in results and "リーガルホールド" in results
    officer.check("05-erasure-executed")

    # Release the hold.
    page.goto(holds_url)
    page.get_by_role("button", name="解除").click()
    assert page.get_by_role("button", name="解除").count() == 0
    officer.check("06-hold-released")

    # The access log: the chain verifies, and the officer's own reads are in it.
    page.get_by_role("link", name="アクセスログ").click()
    assert "ハッシュチェーン検証済み" in page.get_by_role("status").inner_text()
    page.goto(officer.url + "/console/access-log?" + httpx.QueryParams({"contact": seeded.contact, "staff": "佐藤"}).__str__())
    assert OFFICER[1] in page.locator("tbody").inner_text()
    officer.check("07-access-log")

    # The same page in English, by the officer's choice.
    page.get_by_label("言語").select_option("en")
    page.get_by_role("button", name="切替").click()
    assert page.locator("h1").inner_text() == "Access log"
    officer.check("08-access-log-english")


def test_a_forged_form_and_a_sales_user_are_refused(browser_page):
    officer, seeded, headers = browser_page
    page = officer.page
    officer.sign_in(SELLER)
    assert "コンプライアンス担当と管理者のロールのみ" in page.get_by_role("alert").inner_text()
    officer.check("09-sales-refused", status=403)

    officer.sign_in(OFFICER[0])
    page.goto(officer.url + "/console/request?" + str(httpx.QueryParams({"id": seeded.overdue_erasure})))
    extend = page.locator("form[action='/console/request/extend']")
    extend.locator("input[name=csrf]").evaluate("input => { input.value = 'forged' }")
    page.get_by_label("延長の理由").fill("偽造")
    page.get_by_role("button", name="期限を延長する").click()
    assert "セキュリティトークン" in page.get_by_role("alert").inner_text()
    officer.check("10-csrf-refused", status=403)

    # Synchronously: Playwright's own event loop runs in this thread.
    query = "query($id: ID!) { node(id: $id) { ... on DataSubjectRequest { extended } } }"
    with httpx.Client(base_url=officer.url, headers=headers, trust_env=False) as client:
        body = client.post("/graphql", json={"query": query, "variables": {"id": seeded.overdue_erasure}}).json()
    assert body["data"]["node"]["extended"] is False
