"""A compliance officer's morning, as data: one person, an activity of theirs that a hold can keep,
a marketing consent, an erasure request received 40 days ago (overdue) and a fresh access request.
Written through GraphQL as an admin, for the in-process tests and the browser test alike."""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

GraphQL = Callable[[str, dict], Awaitable[dict]]
PASSWORD = "correct horse battery staple"
OFFICER = ("officer@staff.example", "佐藤 花子")


@dataclass
class Seeded:
    contact: str
    activity: str
    overdue_erasure: str
    fresh_access: str


async def seed(graphql: GraphQL, now: dt.datetime) -> Seeded:
    contact = (
        await graphql(
            'mutation { createContact(input: {familyName: "山田", givenName: "太郎", emails: [{address: "taro@example.jp"}]}) '
            "{ contact { id } } }",
            {},
        )
    )["createContact"]["contact"]["id"]
    activity = (
        await graphql(
            'mutation($c: ID!) { logActivity(input: {type: "note", summary: "契約の件で電話", contactIds: [$c]}) '
            "{ activity { id } } }",
            {"c": contact},
        )
    )["logActivity"]["activity"]["id"]
    await graphql(
        'mutation($c: ID!) { recordConsent(input: {contactId: $c, purpose: "marketing", state: "granted", source: "web_form"}) '
        "{ userErrors { code } } }",
        {"c": contact},
    )
    create = """mutation($c: ID!, $t: String!, $at: DateTime) { createDataSubjectRequest(input: {contactId: $c, type: $t,
        channel: "phone", regime: "gdpr", verificationNote: "運転免許証で確認", receivedAt: $at}) { request { id } } }"""
    erasure = await graphql(create, {"c": contact, "t": "erasure", "at": (now - dt.timedelta(days=40)).isoformat()})
    access = await graphql(create, {"c": contact, "t": "access", "at": None})
    return Seeded(
        contact,
        activity,
        erasure["createDataSubjectRequest"]["request"]["id"],
        access["createDataSubjectRequest"]["request"]["id"],
    )
