"""Quotes (見積書): consumption tax per rate rounded once, registration numbers, versions, the
status flow, and gapless numbers under concurrent requests to a real server."""

import asyncio
import base64
import os
from pathlib import Path

import httpx
import pymupdf
import pytest
from sqlalchemy import text

from enishi.db import create_engine, is_sqlite
from enishi.plugin import InputError, UserError, hookimpl
from enishi.worker import run_due_jobs
from tests.helpers import cli_token, create_account, graphql_data
from tests.plugins.sales.helpers import on_team

QUOTE = (
    "quote { id number version status subtotal tax total rounding sellerRegistrationNumber "
    "taxBreakdown { category ratePercent subtotal tax } lines { description quantity unitPrice discount taxCategory amount } }"
)
REGISTRATION = "T7000012050002"  # the National Tax Agency's own corporate number, check digit 7


async def _product(api, code, unit_price, tax_category) -> str:
    payload = await api.mutate(
        "createProduct",
        {"code": code, "name": f"商品 {code}", "unitPrice": unit_price, "taxCategory": tax_category},
        "product { id }",
        role="manager",
    )
    assert payload["userErrors"] == [], payload
    return payload["product"]["id"]


async def _example_1(api, account_id, **extra) -> dict:
    """3 × ¥12,800 (standard) with ¥5,000 off, 2 × ¥1,080 (reduced)."""
    software = await _product(api, "SW", 12_800, "standard")
    food = await _product(api, "FD", 1_080, "reduced")
    return await api.mutate(
        "createQuote",
        {
            "title": "御見積書",
            "accountId": account_id,
            "sellerRegistrationNumber": REGISTRATION,
            "lines": [{"productId": software, "quantity": 3, "discount": 5_000}, {"productId": food, "quantity": 2}],
            **extra,
        },
        QUOTE,
    )


async def test_issue_example_1_tax_per_rate_rounded_once_totals_39072_yen(api):
    account = await create_account(api)
    payload = await _example_1(api, account["id"])
    assert payload["userErrors"] == []
    quote = payload["quote"]
    assert quote["taxBreakdown"] == [
        {"category": "standard", "ratePercent": 10, "subtotal": 33_400, "tax": 3_340},
        {"category": "reduced", "ratePercent": 8, "subtotal": 2_160, "tax": 172},  # 172.8, rounded down once
    ]
    assert (quote["subtotal"], quote["tax"], quote["total"], quote["rounding"]) == (35_560, 3_512, 39_072, "floor")
    assert [(li["quantity"], li["unitPrice"], li["discount"], li["amount"]) for li in quote["lines"]] == [
        (3, 12_800, 5_000, 33_400),
        (2, 1_080, 0, 2_160),
    ]
    assert (quote["number"], quote["version"], quote["status"]) == ("Q-000001", 1, "draft")


@pytest.mark.parametrize(("rounding", "reduced_tax", "total"), [("half_up", 173, 39_073), ("ceil", 173, 39_073)])
async def test_the_rounding_of_each_rate_is_configurable(enishi_api, rounding, reduced_tax, total):
    api = await enishi_api(extra={"sales_tax_rounding": rounding, "sales_quote_prefix": "見積-"})
    account = await create_account(api)
    quote = (await _example_1(api, account["id"]))["quote"]
    assert quote["taxBreakdown"][1]["tax"] == reduced_tax and quote["total"] == total
    assert quote["number"] == "見積-000001" and quote["rounding"] == rounding


async def test_registration_numbers_and_lines_are_checked(api):
    account = await create_account(api)
    for number, message in (
        ("T1000012050002", "check digit does not match"),
        ("7000012050002", "must be T followed by 13 digits"),
        ("T70000120500０2", "must be T followed by 13 digits"),
    ):
        bad = await api.mutate(
            "createQuote",
            {
                "title": "x",
                "accountId": account["id"],
                "sellerRegistrationNumber": number,
                "lines": [{"description": "a", "unitPrice": 1}],
            },
            "quote { id }",
        )
        assert bad["userErrors"] == [
            {"field": "sellerRegistrationNumber", "message": message, "code": "INVALID_REGISTRATION_NUMBER"}
        ]
    lines = await api.mutate(
        "createQuote",
        {
            "title": "x",
            "accountId": account["id"],
            "lines": [
                {"description": "a", "unitPrice": 100, "quantity": 2, "discount": 201},
                {"description": "b", "unitPrice": 100, "quantity": 0},
                {"description": "c", "unitPrice": 100, "taxCategory": "luxury"},
            ],
        },
        "quote { id }",
    )
    assert {(e["field"], e["code"]) for e in lines["userErrors"]} == {
        ("lines.0.discount", "OUT_OF_RANGE"),
        ("lines.1.quantity", "OUT_OF_RANGE"),
        ("lines.2.taxCategory", "INVALID_CHOICE"),
    }
    assert (await api.graphql("{ quotes { totalCount } }"))["quotes"]["totalCount"] == 0
    # Nothing was numbered: the next quote is still the first.
    assert (await _example_1(api, account["id"]))["quote"]["number"] == "Q-000001"


class RefuseFirstQuote:
    """An approval plugin that vetoes the first quote written, from `enishi_on_event` inside the
    quote's own transaction: after its number was drawn from the locked counter row."""

    def __init__(self):
        self.refused: list[str] = []

    @hookimpl
    async def enishi_on_event(self, event, uow):
        if event.type == "quote.created" and not self.refused:
            self.refused.append(event.payload["number"])
            raise InputError([UserError("lines", "needs the sales director's approval", "NOT_APPROVED")])


async def test_a_quote_failing_after_its_number_was_drawn_gives_the_number_back(enishi_api):
    veto = RefuseFirstQuote()
    api = await enishi_api(plugins=[("approval", veto)])
    account = await create_account(api)
    refused = await _example_1(api, account["id"])
    assert refused["userErrors"] == [{"field": "lines", "message": "needs the sales director's approval", "code": "NOT_APPROVED"}]
    assert veto.refused == ["Q-000001"]  # the number was drawn, then the transaction rolled back
    assert (await api.graphql("{ quotes { totalCount } }"))["quotes"]["totalCount"] == 0
    plain = {"title": "次", "accountId": account["id"], "lines": [{"description": "a", "unitPrice": 1}]}
    accepted = await api.mutate("createQuote", plain, QUOTE)
    assert accepted["userErrors"] == [] and accepted["quote"]["number"] == "Q-000001"  # the same number: no gap
    assert (await api.mutate("createQuote", plain, QUOTE))["quote"]["number"] == "Q-000002"


async def test_a_quote_whose_total_would_pass_what_an_amount_carries_is_refused_before_numbering(api):
    account = await create_account(api)
    huge = {"description": "大口", "unitPrice": 10**12, "quantity": 10**6}
    for lines in ([huge], [huge] * 200):  # ¥1.1 × 10^18 with tax; 200 lines pass the database's BIGINT
        refused = await api.mutate("createQuote", {"title": "x", "accountId": account["id"], "lines": lines}, "quote { id }")
        assert refused["userErrors"] == [
            {
                "field": "lines",
                "message": "the quote's total with tax must be at most 9007199254740991 minor units",
                "code": "OUT_OF_RANGE",
            }
        ]
    assert (await _example_1(api, account["id"]))["quote"]["number"] == "Q-000001"


async def test_a_revision_keeps_the_old_version_and_the_status_moves_draft_sent_accepted(api):
    account = await create_account(api)
    first = (await _example_1(api, account["id"], validUntil="2024-06-30"))["quote"]
    sent = await api.mutate("sendQuote", {"id": first["id"]}, "quote { status }")
    assert sent["quote"]["status"] == "sent"
    again = await api.mutate("sendQuote", {"id": first["id"]}, "quote { status }")
    assert again["userErrors"][0]["code"] == "INVALID_STATUS"
    revised = await api.mutate(
        "reviseQuote",
        {"id": first["id"], "lines": [{"description": "値引後", "unitPrice": 30_000, "quantity": 1}]},
        QUOTE + " quote { previousVersion { id status total } }",
    )
    assert revised["userErrors"] == []
    quote = revised["quote"]
    assert (quote["number"], quote["version"], quote["status"], quote["total"]) == ("Q-000001", 2, "draft", 33_000)
    assert quote["sellerRegistrationNumber"] == REGISTRATION
    assert quote["previousVersion"] == {"id": first["id"], "status": "superseded", "total": 39_072}
    versions = (await api.graphql('{ quotes(number: "Q-000001") { edges { node { version status } } } }'))["quotes"]["edges"]
    assert [e["node"] for e in versions] == [{"version": 2, "status": "draft"}, {"version": 1, "status": "superseded"}]
    stale = await api.mutate("reviseQuote", {"id": first["id"], "title": "x"}, "quote { id }")
    assert stale["userErrors"][0]["code"] == "INVALID_STATUS"
    await api.mutate("sendQuote", {"id": quote["id"]}, "quote { status }")
    accepted = await api.mutate("acceptQuote", {"id": quote["id"]}, "quote { status decidedAt }")
    assert accepted["quote"] == {"status": "accepted", "decidedAt": api.clock.now().isoformat()}


async def test_a_configured_sequence_numbers_its_own_quotes_and_a_sent_quote_can_be_declined(enishi_api):
    default = await enishi_api()
    account = await create_account(default)
    plain = {
        "title": "x",
        "accountId": account["id"],
        "sellerRegistrationNumber": REGISTRATION,
        "lines": [{"description": "a", "unitPrice": 1}],
    }
    assert (await default.mutate("createQuote", plain, QUOTE))["quote"]["number"] == "Q-000001"
    fiscal = await enishi_api(extra={"sales_quote_sequence": "fy2025", "sales_quote_prefix": "2025-"})
    admin = await default.token()  # the same database: the first app's admin

    async def in_fiscal(name: str, input: dict, selection: str) -> dict:
        return await fiscal.mutate(name, input, selection, token=admin)

    quote = (await in_fiscal("createQuote", plain, QUOTE))["quote"]
    assert quote["number"] == "2025-000001"  # its own counter, from 1
    assert (await default.mutate("createQuote", plain, QUOTE))["quote"]["number"] == "Q-000002"
    assert (await in_fiscal("sendQuote", {"id": quote["id"]}, "quote { status }"))["quote"] == {"status": "sent"}
    declined = await in_fiscal("declineQuote", {"id": quote["id"]}, "quote { status decidedAt }")
    assert declined["quote"] == {"status": "declined", "decidedAt": fiscal.clock.now().isoformat()}
    accepted = await in_fiscal("acceptQuote", {"id": quote["id"]}, "quote { status }")
    assert accepted["userErrors"][0]["code"] == "INVALID_STATUS"


async def test_a_sent_quote_past_its_validity_expires_once(api):
    account = await create_account(api)
    quote = (await _example_1(api, account["id"], validUntil="2024-06-11"))["quote"]
    await api.mutate("sendQuote", {"id": quote["id"]}, "quote { status }")
    status = f'{{ node(id: "{quote["id"]}") {{ ... on SalesQuote {{ status }} }} }}'
    api.clock.advance(days=1)  # 11 June in Tokyo: still valid
    await run_due_jobs(api.runtime)
    assert (await api.graphql(status))["node"]["status"] == "sent"
    api.clock.advance(days=1)
    await run_due_jobs(api.runtime)
    assert (await api.graphql(status))["node"]["status"] == "expired"
    declined = await api.mutate("declineQuote", {"id": quote["id"]}, "quote { status }")
    assert declined["userErrors"][0]["code"] == "INVALID_STATUS"


async def test_a_rep_quotes_only_for_accounts_of_their_team(api):
    account = await create_account(api)
    refused = await api.mutate(
        "createQuote",
        {"title": "x", "accountId": account["id"], "lines": [{"description": "a", "unitPrice": 1}]},
        "quote { id }",
        role="sales",
    )
    assert refused["userErrors"][0] == {"field": "accountId", "message": "no such account", "code": "NOT_FOUND"}
    await on_team(api, account["id"])
    made = await api.mutate(
        "createQuote",
        {"title": "x", "accountId": account["id"], "lines": [{"description": "a", "unitPrice": 1}]},
        "quote { id }",
        role="sales",
    )
    assert made["userErrors"] == []
    assert (await api.graphql("{ quotes { totalCount } }", role="sales"))["quotes"]["totalCount"] == 1
    assert (await api.errors("{ quotes { totalCount } }", role="support"))[0]["extensions"]["code"] == "FORBIDDEN"


CREATE = (
    'mutation($a: ID!) { createQuote(input: {title: "並行", accountId: $a, lines: [{description: "x", unitPrice: 100}]}) '
    "{ quote { number } userErrors { code } } }"
)
PARALLEL = 20


async def _wait_for_lock_waiters(connection, count: int) -> None:
    """Until `count` backends wait on a lock (the 20 requests, queued behind the test's row lock)."""
    for _ in range(6000):
        waiting = (
            await connection.execute(
                text(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database()"  # not other test processes'
                )
            )
        ).scalar_one()
        await connection.rollback()  # the activity view is a snapshot per transaction: take a new one
        if waiting >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"{count} requests never queued on the counter row")


def test_issue_example_4_twenty_parallel_quotes_get_twenty_consecutive_numbers(enishi_fresh_migrated, enishi_server):
    token = cli_token(enishi_fresh_migrated)

    async def scenario(url):
        async with httpx.AsyncClient(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as client:
            account = (await graphql_data(client, 'mutation { createAccount(input: {name: "並行商事"}) { account { id } } }'))[
                "createAccount"
            ]
            account_id = account["account"]["id"]
            first = (await graphql_data(client, CREATE, {"a": account_id}))["createQuote"]["quote"]["number"]
            burst = [graphql_data(client, CREATE, {"a": account_id}) for _ in range(PARALLEL)]
            if is_sqlite(enishi_fresh_migrated):
                # SQLite: every writer transaction takes the database's one write lock up front.
                return first, await asyncio.gather(*burst)
            # PostgreSQL: hold the counter row so that all 20 requests are inside their
            # transactions, queued on it, before any of them may take a number.
            engine = create_engine(enishi_fresh_migrated)
            try:
                async with engine.connect() as holder, engine.connect() as watcher:
                    await holder.execute(text("SELECT next_value FROM sales_sequence WHERE name = 'quote' FOR UPDATE"))
                    running = asyncio.gather(*burst)
                    await _wait_for_lock_waiters(watcher, PARALLEL)
                    await holder.commit()
                    return first, await running
            finally:
                await engine.dispose()

    with enishi_server({"ENISHI_DATABASE_URL": enishi_fresh_migrated}) as url:
        first, results = asyncio.run(scenario(url))
    assert first == "Q-000001"
    assert all(r["createQuote"]["userErrors"] == [] for r in results)
    numbers = sorted(r["createQuote"]["quote"]["number"] for r in results)
    assert numbers == [f"Q-{n:06d}" for n in range(2, 2 + PARALLEL)]


# Where the rendered quote is kept for a person to look at (ignored by git, as build/ is).
ARTEFACTS = Path(os.environ.get("ENISHI_TEST_ARTEFACTS", Path(__file__).parents[3] / "build" / "test-artefacts"))


def _render(pdf: bytes, name: str) -> tuple[str, set[str], Path]:
    """The first page's text and font names, and its picture saved among the test artefacts."""
    with pymupdf.open(stream=pdf, filetype="pdf") as rendered:
        page = rendered[0]
        ARTEFACTS.mkdir(parents=True, exist_ok=True)
        page.get_pixmap(dpi=110).save(ARTEFACTS / name)
        return page.get_text(), {font[3] for font in page.get_fonts()}, ARTEFACTS / name


async def test_the_quote_renders_to_a_japanese_pdf_and_to_json(enishi_api):
    api = await enishi_api(extra={"sales_seller_name": "縁システム株式会社"})
    account = await create_account(api, name="株式会社テスト商事")
    quote = (await _example_1(api, account["id"], validUntil="2024-07-10"))["quote"]
    data = await api.graphql(f'{{ node(id: "{quote["id"]}") {{ ... on SalesQuote {{ document pdf }} }} }}')
    document = data["node"]["document"]
    assert document["seller"] == {"name": "縁システム株式会社", "registration_number": REGISTRATION}
    assert document["customer"] == {"name": "株式会社テスト商事"}
    assert (document["subtotal"], document["tax"], document["total"]) == (35_560, 3_512, 39_072)
    assert document["tax_breakdown"][1] == {"category": "reduced", "rate_percent": 8, "subtotal": 2_160, "tax": 172}
    pdf = base64.b64decode(data["node"]["pdf"])
    assert pdf.startswith(b"%PDF")
    words, fonts, png = _render(pdf, "sales-quote-example-1.png")
    assert png.stat().st_size > 10_000
    assert any("IPAexGothic" in name for name in fonts), fonts  # embedded, not left to the reader
    for expected in (
        "御見積書",
        "株式会社テスト商事 御中",
        "縁システム株式会社",
        "登録番号 T7000012050002",
        "見積番号 Q-000001",
        "商品 SW",
        "商品 FD※",
        "10%対象",
        "8%対象（軽減税率）",
        "消費税 ¥172",
        "合計 ¥39,072",
        "※は軽減税率（8%）対象です。",
    ):
        assert expected in words, (expected, words)
