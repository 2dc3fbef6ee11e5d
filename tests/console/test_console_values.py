"""The access log and the overview show the privacy plugin's stored codes in the reader's language
(graphql/console/values.py), in Japanese and in English: an action, a purpose, a role, a retention
rule's entity and action, an incident's status, reports and triggers, a recipient's kind, country and
transfer route — no cell of either page shows a code as stored."""

from __future__ import annotations

import html
import re

import pytest

from enishi.auth import ROLES
from enishi.graphql.console import i18n, values

CELL = re.compile(r"<td>(.*?)</td>", re.DOTALL)
TAG = re.compile(r"<[^>]+>")
# Every table of codes the two pages translate.
LABELS = {
    **values.ACCESS_ACTION_LABELS,
    **values.PURPOSE_LABELS,
    **values.ROLE_LABELS,
    **values.RETENTION_ENTITY_LABELS,
    **values.RETENTION_ACTION_LABELS,
    **values.INCIDENT_STATUS_LABELS,
    **values.REPORT_KIND_LABELS,
    **values.APPI_TRIGGER_LABELS,
    **values.RECIPIENT_KIND_LABELS,
    **values.TRANSFER_ROUTE_LABELS,
}
INCIDENT = {
    "title": "委託先からの漏えい",
    "cause": "unauthorized_access",
    "discoveredAt": "2024-06-01T08:30:00+09:00",
    "awareAt": "2024-06-01T10:00:00+09:00",
    "affectedCount": 1200,
    "malicious": True,
    "sensitiveData": True,
    "financialHarmRisk": True,
}


def _cell_words(page: str) -> list[str]:
    """Each cell's text, split where a cell lists several values (roles, triggers, reports)."""
    words = []
    for cell in CELL.findall(page):
        for part in re.split(r", |<br>|: ", cell):
            words.append(html.unescape(TAG.sub("", part)).strip())
    return words


async def _a_morning_of_records(api, seeded) -> None:
    """A record behind each code: reads by sales and by compliance, a provision, rules and a sweep,
    an open and a contained incident with a report filed, a recipient abroad."""
    await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { displayName } } }", {"id": seeded.contact}, role="sales"
    )
    await api.graphql(
        "query($id: ID!) { node(id: $id) { ... on Contact { personalData } } }", {"id": seeded.contact}, role="compliance"
    )
    for entity, action in (("contact", "ANONYMISE"), ("support_ticket", "DELETE")):
        rule = {"entity": entity, "action": action, "periodMonths": 36, "basis": "社内規程"}
        assert (await api.mutate("createRetentionRule", rule, "rule { id }", role="compliance"))["userErrors"] == []
    assert (await api.graphql("mutation { runRetentionSweep { userErrors { code } } }", role="compliance"))["runRetentionSweep"][
        "userErrors"
    ] == []
    incident = (await api.mutate("createIncident", INCIDENT, "incident { id }", role="compliance"))["incident"]["id"]
    report = {"incidentId": incident, "kind": "GDPR_AUTHORITY", "reference": "EDPB-1"}
    assert (await api.mutate("recordIncidentReport", report, "incident { id }", role="compliance"))["userErrors"] == []
    other = (await api.mutate("createIncident", {**INCIDENT, "title": "誤送信"}, "incident { id }", role="compliance"))[
        "incident"
    ]
    await api.graphql(
        'mutation($id: ID!) { updateIncidentStatus(incidentId: $id, status: "contained") { incident { status } } }',
        {"id": other["id"]},
        role="compliance",
    )
    recipient = {
        "name": "Cloud Analytics Inc.",
        "kind": "THIRD_PARTY",
        "country": "US",
        "purpose": "分析",
        "transferRoute": "EQUIVALENT_MEASURES",
        "securityMeasures": "基準適合体制（契約で確認）",
    }
    recipient_id = (await api.mutate("registerRecipient", recipient, "recipient { id }", role="compliance"))["recipient"]["id"]
    consent = {"contactId": seeded.contact, "purpose": "third_party_provision", "state": "granted"}
    assert (await api.mutate("recordConsent", consent, "consent { state }", role="compliance"))["userErrors"] == []
    provision = {"recipientId": recipient_id, "contactIds": [seeded.contact], "dataItems": ["氏名"], "purpose": "分析"}
    assert (await api.mutate("recordProvision", provision, "provisions { purpose }", role="compliance"))["userErrors"] == []


@pytest.mark.parametrize(
    ("language", "shown"),
    [
        ("ja", ["閲覧", "全個人データの閲覧", "第三者提供", "顧客管理", "営業", "連絡先", "匿名化", "サポートチケット", "削除",
                "対応中", "封じ込め済み", "不正の目的", "1,000人超", "第三者", "アメリカ合衆国", "同等措置"]),
        ("en", ["all personal data read", "provided to a third party", "managing our customer relationship", "compliance review",
                "contacts", "anonymise", "support tickets", "contained", "GDPR authority notified", "over 1,000 people",
                "third party", "United States", "equivalent measures"]),
    ],
)  # fmt: skip
async def test_no_stored_code_is_shown_on_the_access_log_or_the_overview(api, officer, seeded, language, shown):
    await _a_morning_of_records(api, seeded)
    officer.language = language
    access_log = await officer.get("/console/access-log", contact=seeded.contact)
    overview = await officer.get("/console/overview")
    assert access_log.status_code == overview.status_code == 200
    words = _cell_words(access_log.text) + _cell_words(overview.text)
    gettext = i18n.translations(language).gettext
    # A code whose word in this language is the code itself ("open" in English) is its translation.
    untranslated = {code for code, label in LABELS.items() if gettext(label) != code}
    assert sorted(set(words) & untranslated) == []
    for label in shown:
        assert label in words, (label, language)


def test_the_roles_the_access_log_names_are_the_cores():
    assert tuple(values.ROLE_LABELS) == ROLES


def test_a_purpose_the_plugins_do_not_write_is_shown_as_written():
    gettext = i18n.translations("ja").gettext
    assert values.access_purpose_label("custom_fields.health", gettext) == "custom_fields.health"
    assert values.access_purpose_label("data-subject request 1234 (zip)", gettext) == "本人からの請求 1234（ZIP）"
