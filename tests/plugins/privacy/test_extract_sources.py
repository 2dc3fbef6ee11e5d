"""Pseudonymised extracts of plugins' records over GraphQL (`enishi_extract_sources`): support's
tickets and loyalty's ledger entries with every identifier and text left out and their ids —
the record's, its person's — replaced by HMACs under the extract's key; such a source is not
anonymised, and an unknown one is refused."""

import base64
import hashlib
import hmac

from enishi.plugin import ExtractSource, hookimpl
from tests.helpers import create_contact
from tests.plugins.loyalty.helpers import program
from tests.plugins.privacy.helpers import raw_id
from tests.plugins.privacy.test_documents import EXTRACT, _download, _rows

KEY = "query($id: ID!) { privacyExtractMappingKey(extractId: $id) }"


async def _extract(api, source: str) -> tuple[list[dict], str, bytes]:
    """The extract's rows, its raw file and its mapping key (read by compliance)."""
    made = await api.mutate(
        "createPrivacyExtract", {"kind": "PSEUDONYMISED", "source": source, "purpose": "傾向の分析"}, EXTRACT, role="marketing"
    )
    assert made["userErrors"] == [], made
    body = (await _download(api, made["url"])).content.decode("utf-8-sig")
    key = (await api.graphql(KEY, {"id": made["extract"]["id"]}, role="compliance"))["privacyExtractMappingKey"]
    return _rows(body.encode()), body, base64.b64decode(key)


def _pseudonym(key: bytes, global_id: str) -> str:
    return hmac.new(key, f"enishi-extract:{raw_id(global_id)}".encode(), hashlib.sha256).hexdigest()[:32]


async def test_plugin_records_are_extracted_without_identifiers_under_keyed_hmacs(api):
    person = await create_contact(api, familyName="抽出", givenName="花子", emails=[{"address": "extract@example.jp"}])
    ticket = (
        await api.mutate(
            "createTicket",
            {"subject": "返金の件", "body": "電話は 03-5555-0000 まで", "requesterId": person["id"]},
            "ticket { id }",
            role="support",
        )
    )["ticket"]
    member = (await api.mutate("enrollMember", {"programId": await program(api), "contactId": person["id"]}, "member { id }"))[
        "member"
    ]
    await api.mutate("adjustPoints", {"memberId": member["id"], "amount": 10, "reason": "抽出様へのお詫び"}, "entry { id }")
    sources = (await api.graphql("{ privacyExtractSources }", role="marketing"))["privacyExtractSources"]
    assert sources == ["contacts", "loyalty_entries", "support_tickets"]

    rows, body, key = await _extract(api, "support_tickets")
    assert list(rows[0]) == [
        "ticket",
        "requester",
        "account",
        "status",
        "priority",
        "channel",
        "tags",
        "created_on",
        "solved_on",
        "closed_on",
        "reopened",
    ]
    (theirs,) = [r for r in rows if r["requester"] == _pseudonym(key, person["id"])]
    assert theirs["ticket"] == _pseudonym(key, ticket["id"]) and theirs["status"] == "new"
    for clear in ("返金", "03-5555", "抽出", "花子", "extract@", str(raw_id(person["id"])), str(raw_id(ticket["id"]))):
        assert clear not in body

    rows, body, other_key = await _extract(api, "loyalty_entries")
    assert other_key != key  # each extract has its own key: pseudonyms do not link across extracts
    (entry,) = [r for r in rows if r["person"] == _pseudonym(other_key, person["id"])]
    assert (entry["member"], entry["amount"]) == (_pseudonym(other_key, member["id"]), "10")
    for clear in ("お詫び", "抽出", str(raw_id(person["id"])), str(raw_id(member["id"]))):
        assert clear not in body

    selection = "extract { id }"
    anonymised = await api.mutate(
        "createPrivacyExtract", {"kind": "ANONYMISED", "source": "support_tickets", "purpose": "x"}, selection, role="marketing"
    )
    assert [(e["field"], e["code"]) for e in anonymised["userErrors"]] == [("source", "NOT_ANONYMISABLE")]
    unknown = await api.mutate(
        "createPrivacyExtract", {"kind": "PSEUDONYMISED", "source": "wishlist", "purpose": "x"}, selection, role="marketing"
    )
    assert [(e["field"], e["code"]) for e in unknown["userErrors"]] == [("source", "INVALID_CHOICE")]


class Wishlists:
    """A third-party plugin offering its records: a product code and the person's id."""

    def __init__(self):
        self.wishes: list[dict] = []

    @hookimpl
    def enishi_extract_sources(self):
        async def rows(session, zone):
            return list(self.wishes)

        return [ExtractSource("wishlist_items", ("person", "product"), ("person",), rows, "wished products")]


async def test_hook_enishi_extract_sources_and_a_plugins_records_extracted_pseudonymised(enishi_api):
    wishlists = Wishlists()
    api = await enishi_api(plugins=[("wishlists", wishlists)])
    person = await create_contact(api, familyName="欲しい物")
    wishlists.wishes = [{"person": raw_id(person["id"]), "product": "SKU-1"}, {"person": None, "product": "SKU-2"}]
    assert "wishlist_items" in (await api.graphql("{ privacyExtractSources }", role="marketing"))["privacyExtractSources"]
    rows, body, key = await _extract(api, "wishlist_items")
    assert rows == [{"person": _pseudonym(key, person["id"]), "product": "SKU-1"}, {"person": "", "product": "SKU-2"}]
    assert str(raw_id(person["id"])) not in body
