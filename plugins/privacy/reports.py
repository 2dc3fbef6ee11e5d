"""Reports for regulators and the public, generated from the personal-data catalog
(`enishi_personal_data`: what every plugin holds, for which purposes, how it is erased), the
retention rules, the provision records, and what only the business can say (its name, address,
complaints desk, security measures), set in the config file's `[extra]` table:

* records of processing activities (GDPR Art. 30(1)), one activity per purpose;
* the APPI public statement (保有個人データに関する事項の公表, Art. 32(1) and 施行令第10条);
* consent records and provision records as CSV.

Each renders as JSON, CSV or a printable HTML page. An item the configuration does not supply is
listed under `missing`, so the officer sees what to add before publishing. The processor register
(GDPR Art. 28, 30(1)(d)) and the transfers abroad with their safeguards (Art. 30(1)(e), APPI
法第28条) come from the register of recipients; the statement names the foreign countries where
personal data is handled (外的環境の把握, a security measure to publish under 施行令第10条第1号)."""

from __future__ import annotations

import html
import json
from collections.abc import Awaitable, Callable

from sqlalchemy import func, select

from . import export, retention
from .extract_models import PrivacyExtract
from .models import PrivacyConsent, PrivacyProvision
from .provision_models import PrivacyRecipient
from .recipients import HOME_COUNTRY
from .retention_models import PrivacyRetentionRule

RECORDS_SCHEMA = "enishi.records-of-processing/1"
STATEMENT_SCHEMA = "enishi.appi-public-statement/1"
# What the bundled plugins' purposes mean, as a statement says it; `extra.privacy_purposes` overrides.
PURPOSES = {
    "crm": "顧客・見込み客との連絡、商談および取引の管理",
    "support": "お問い合わせ・サポートへの対応",
    "surveys": "顧客満足度などのアンケートの送付と集計",
    "loyalty": "ポイントプログラムの運営",
    "sales": "営業活動、見積および契約の管理",
    "account_based_marketing": "法人のお客様へのマーケティング",
    "legal_obligation": "法令に基づく記録の作成・保存 (同意、開示等の請求、第三者提供、漏えい等の記録)",
    "security": "セキュリティの確保および不正利用の防止",
}
# Technical measures the system itself takes; the organisational ones come from the configuration.
BUILT_IN_MEASURES = [
    "個人データの暗号化 (本人ごとの鍵による AES-256-GCM、消去時は鍵を破棄) / encryption of personal fields under per-person keys",
    "役割と権限による閲覧・操作の制限、範囲を限定したトークン / role-based permissions and scoped tokens",
    "改ざんを検知できる閲覧記録 (ハッシュチェーン) / hash-chained access log of reads and exports",
]
CONTROLLER_ITEMS = ("name", "address", "representative", "contact")


def _extra(runtime, key: str, default):
    return runtime.settings.extra.get(key, default)


def _purpose_text(runtime, purpose: str) -> str:
    return {**PURPOSES, **_extra(runtime, "privacy_purposes", {})}.get(purpose, purpose)


async def _retention_by_table(runtime, session) -> dict[str, str]:
    entities = retention.entities(runtime)
    rules = (await session.execute(select(PrivacyRetentionRule).where(PrivacyRetentionRule.active.is_(True)))).scalars()
    return {
        entities[r.entity].table: f"{r.period_months} months after {entities[r.entity].since}, then {r.action}"
        for r in rules
        if r.entity in entities
    }


async def _recipients(session) -> list[dict]:
    """GDPR Art. 30(1)(d): each recipient and purpose the provision records name; one retired from
    the register (it receives nothing more) carries when it was retired."""
    rows = await session.execute(
        select(PrivacyProvision.recipient, PrivacyProvision.purpose, PrivacyRecipient.retired_at)
        .outerjoin(PrivacyRecipient, PrivacyRecipient.id == PrivacyProvision.recipient_id)
        .distinct()
    )
    return [
        {"recipient": recipient, "purpose": purpose, "retired_at": _iso(retired_at)}
        for recipient, purpose, retired_at in sorted(rows.all(), key=lambda row: (row[0], row[1]))
    ]


async def _register(session) -> list[PrivacyRecipient]:
    return list((await session.execute(select(PrivacyRecipient).order_by(PrivacyRecipient.name))).scalars())


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def _processors(register: list[PrivacyRecipient]) -> list[dict]:
    """GDPR Art. 28 and 30(1)(d): who processes personal data for us, under which contract and DPA,
    with which measures and sub-processors, and when they are reviewed next; one retired from the
    register (kept because records name it, processing nothing more) says since when."""
    return [
        {
            "name": r.name,
            "country": r.country,
            "purpose": r.purpose,
            "contract_date": _iso(r.contract_date),
            "dpa_date": _iso(r.dpa_date),
            "review_date": _iso(r.review_date),
            "security_measures": r.security_measures,
            "sub_processors": list(r.sub_processors or []),
            "retired_at": _iso(r.retired_at),
        }
        for r in register
        if r.kind == "processor"
    ]


def _transfers_abroad(register: list[PrivacyRecipient]) -> list[dict]:
    """GDPR Art. 30(1)(e) and APPI 法第28条: each recipient or sub-processor outside Japan, its
    country and the route that makes the transfer lawful (with the safeguards it relies on); a
    retired recipient's (and its sub-processors') say since when it receives nothing more."""
    transfers = [
        {
            "recipient": r.name,
            "kind": r.kind,
            "country": r.country,
            "route": r.transfer_route,
            "safeguards": r.security_measures,
            "retired_at": _iso(r.retired_at),
        }
        for r in register
        if r.country != HOME_COUNTRY
    ]
    transfers += [
        {
            "recipient": f"{r.name} / {sub['name']}",
            "kind": "sub_processor",
            "country": sub["country"],
            "route": None,
            "safeguards": None,
            "retired_at": _iso(r.retired_at),
        }
        for r in register
        for sub in r.sub_processors or []
        if sub.get("country") and sub["country"] != HOME_COUNTRY
    ]
    return transfers


def _controller(runtime) -> dict:
    return dict(_extra(runtime, "privacy_controller", {}))


async def records_of_processing(runtime, session) -> dict:
    """GDPR Art. 30(1): controller, purposes, categories of people and data, recipients, transfers,
    time limits for erasure, security measures."""
    controller = _controller(runtime)
    retained = await _retention_by_table(runtime, session)
    register = await _register(session)
    by_purpose: dict[str, list] = {}
    for plugin, field in runtime.plugins.contributions("enishi_personal_data"):
        for purpose in field.purposes:
            by_purpose.setdefault(purpose, []).append((plugin, field))
    activities = [
        {
            "purpose": purpose,
            "description": _purpose_text(runtime, purpose),
            "data_subjects": _extra(runtime, "privacy_data_subjects", ["customers and prospects (contacts)"]),
            "data_categories": sorted({f.category for _, f in fields}),
            "sensitive": any(f.sensitive for _, f in fields),
            "fields": [
                {
                    "plugin": plugin,
                    "entity": f.entity,
                    "field": f.field,
                    "category": f.category,
                    "provenance": f.provenance,
                    "sensitive": f.sensitive,
                    "erasure": f.erasure,
                    "retention": retained.get(f.entity),
                }
                for plugin, f in fields
            ],
        }
        for purpose, fields in sorted(by_purpose.items())
    ]
    return {
        "schema": RECORDS_SCHEMA,
        "generated_at": runtime.clock.now().isoformat(),
        "controller": controller,
        "dpo": _extra(runtime, "privacy_dpo", None),
        "activities": activities,
        "recipients": await _recipients(session),
        "processors": _processors(register),
        "transfers": _extra(runtime, "privacy_transfers", []),
        "transfers_abroad": _transfers_abroad(register),
        "security_measures": BUILT_IN_MEASURES + list(_extra(runtime, "privacy_security_measures", [])),
        "missing": [f"controller.{item}" for item in CONTROLLER_ITEMS if not controller.get(item)],
    }


async def _anonymised(runtime, session) -> list[dict]:
    """APPI Art. 43(3)–(4): the items of each anonymised extract made, and how many times it was
    provided to a third party (as a CSV file)."""
    provided = (
        select(PrivacyProvision.extract_id, func.count().label("n"))
        .where(PrivacyProvision.extract_id.is_not(None))
        .group_by(PrivacyProvision.extract_id)
        .subquery()
    )
    rows = await session.execute(
        select(PrivacyExtract, func.coalesce(provided.c.n, 0))
        .outerjoin(provided, provided.c.extract_id == PrivacyExtract.id)
        .where(PrivacyExtract.kind == "anonymised")
        .order_by(PrivacyExtract.created_at, PrivacyExtract.id)
    )
    return [
        {
            "created_on": extract.created_at.astimezone(runtime.settings.zone).date().isoformat(),
            "items": list(extract.columns),
            "provided_as_csv": times,
        }
        for extract, times in rows.all()
    ]


async def appi_public_statement(runtime, session) -> dict:
    """APPI Art. 32(1): the business's name, address and representative (i), the purposes of use of
    all retained personal data (ii), how to make a request and its fee (iii, Arts. 33–38), and, by
    施行令第10条, the security measures taken, where to complain, and the accredited personal
    information protection organisation if any."""
    controller = _controller(runtime)
    purposes = sorted({p for _, f in runtime.plugins.contributions("enishi_personal_data") for p in f.purposes})
    procedure = _extra(runtime, "privacy_request_procedure", None)
    complaints = _extra(runtime, "privacy_complaints_contact", None)
    statement = {
        "schema": STATEMENT_SCHEMA,
        "generated_at": runtime.clock.now().isoformat(),
        "business": {item: controller.get(item) for item in ("name", "address", "representative")},
        "purposes_of_use": [_purpose_text(runtime, p) for p in purposes],
        "request_procedure": procedure,
        "request_fee": _extra(runtime, "privacy_request_fee", None),
        "security_measures": BUILT_IN_MEASURES + list(_extra(runtime, "privacy_security_measures", [])),
        "complaints_contact": complaints,
        "accredited_organisation": _extra(runtime, "privacy_accredited_organisation", None),
        # 外的環境の把握 (通則編 10-7): the countries where a recipient handles personal data for us
        # now — a retired one handles none (the record of processing still lists it, retired).
        "foreign_countries": sorted(
            {t["country"] for t in _transfers_abroad(await _register(session)) if t["retired_at"] is None}
        ),
        "anonymised_information": await _anonymised(runtime, session),
    }
    statement["missing"] = [
        name
        for name, value in (
            *((f"business.{item}", statement["business"][item]) for item in ("name", "address", "representative")),
            ("request_procedure", procedure),
            ("complaints_contact", complaints),
        )
        if not value
    ]
    return statement


async def consent_records(runtime, session) -> list[dict]:
    """Every consent event, oldest first: ids, purpose, state, notice, source and time (no evidence,
    which is the person's own words under their key)."""
    rows = (await session.execute(select(PrivacyConsent).order_by(PrivacyConsent.seq))).scalars()
    return [
        {
            "seq": r.seq,
            "contact_id": str(r.contact_id),
            "purpose": r.purpose,
            "state": r.state,
            "notice_id": r.notice_id,
            "notice_version": r.notice_version,
            "source": r.source,
            "method": r.method,
            "captured_at": r.captured_at.isoformat(),
        }
        for r in rows
    ]


async def provision_records(runtime, session) -> list[dict]:
    """Every provision record (法第29条, 規則第20条; an anonymised extract's has no person), oldest
    first: ids, recipient and its country (and since when it is retired from the register, if it
    is), purpose, items, basis, whether exempt, and how long it is kept. No one is named."""
    rows = await session.execute(
        select(PrivacyProvision, PrivacyRecipient.retired_at)
        .outerjoin(PrivacyRecipient, PrivacyRecipient.id == PrivacyProvision.recipient_id)
        .order_by(PrivacyProvision.seq)
    )
    return [
        {
            "seq": r.seq,
            "contact_id": str(r.contact_id) if r.contact_id else None,
            "extract_id": str(r.extract_id) if r.extract_id else None,
            "recipient": r.recipient,
            "recipient_id": str(r.recipient_id) if r.recipient_id else None,
            "recipient_retired_at": _iso(retired_at),
            "country": r.country,
            "purpose": r.purpose,
            "data_items": "; ".join(r.data_items or []),
            "basis": r.basis,
            "legal_ground": r.legal_ground,
            "exempt": r.exempt,
            "record_method": r.record_method,
            "provided_at": r.provided_at.isoformat(),
            "recorded_on": _iso(r.recorded_on),
            "keep_until": _iso(r.keep_until),
        }
        for r, retired_at in rows.all()
    ]


CONSENT_COLUMNS = ["seq", "contact_id", "purpose", "state", "notice_id", "notice_version", "source", "method", "captured_at"]
PROVISION_COLUMNS = [
    "seq",
    "contact_id",
    "extract_id",
    "recipient",
    "recipient_id",
    "recipient_retired_at",
    "country",
    "purpose",
    "data_items",
    "basis",
    "legal_ground",
    "exempt",
    "record_method",
    "provided_at",
    "recorded_on",
    "keep_until",
]
# Regulator CSVs by name: (rows function, columns).
REGULATOR_CSV: dict[str, tuple[Callable[..., Awaitable[list[dict]]], list[str]]] = {
    "consent_records": (consent_records, CONSENT_COLUMNS),
    "provision_records": (provision_records, PROVISION_COLUMNS),
}
DOCUMENTS = {"records_of_processing": records_of_processing, "appi_public_statement": appi_public_statement}
TITLES = {
    "records_of_processing": "処理活動の記録 / Records of processing activities (GDPR Art. 30)",
    "appi_public_statement": "保有個人データに関する事項の公表 (個人情報保護法第32条)",
}


def _flatten(document: dict) -> list[dict]:
    """A report as rows of (section, item, value): one per field of a processing activity, one per
    line of the statement."""
    rows = []
    for key, value in document.items():
        if key == "activities":
            for activity in value:
                for field in activity["fields"]:
                    rows.append({"section": f"activity:{activity['purpose']}", "item": activity["description"], **field})
        elif isinstance(value, list):
            rows.extend({"section": key, "item": json.dumps(v, ensure_ascii=False) if isinstance(v, dict) else v} for v in value)
        elif isinstance(value, dict):
            rows.extend({"section": key, "item": k, "value": v} for k, v in value.items())
        else:
            rows.append({"section": key, "item": value})
    return rows


def render(name: str, document: dict | list, format: str) -> bytes:
    if format == "json":
        return json.dumps(document, ensure_ascii=False, indent=2).encode()
    if format == "csv":
        rows = document if isinstance(document, list) else _flatten(document)
        columns = REGULATOR_CSV[name][1] if name in REGULATOR_CSV else None
        return export.csv_text(rows, columns).encode()
    assert isinstance(document, dict)  # check() allows HTML only for DOCUMENTS, which build dicts
    return _html(TITLES[name], document).encode()


def _html_value(value) -> str:
    if isinstance(value, list):
        return "<ul>" + "".join(f"<li>{_html_value(v)}</li>" for v in value) + "</ul>" if value else "—"
    if isinstance(value, dict):
        return (
            "<table>"
            + "".join(f"<tr><th>{html.escape(str(k))}</th><td>{_html_value(v)}</td></tr>" for k, v in value.items())
            + "</table>"
        )
    return html.escape("—" if value in (None, "") else str(value))


def _html(title: str, document: dict) -> str:
    """A page to print or publish: every section a heading, lists as lists, records as tables."""
    body = "".join(
        f"<section><h2>{html.escape(key)}</h2>{_html_value(value)}</section>"
        for key, value in document.items()
        if key not in ("schema",)
    )
    return (
        '<!doctype html><html lang="ja"><head><meta charset="utf-8">'
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.5}"
        "table{border-collapse:collapse;width:100%}th,td{border:1px solid #999;padding:.3em;text-align:left;"
        "vertical-align:top}section{break-inside:avoid}@media print{body{margin:0}}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )


async def build(runtime, session, name: str) -> dict | list:
    if name in DOCUMENTS:
        return await DOCUMENTS[name](runtime, session)
    return await REGULATOR_CSV[name][0](runtime, session)


def check(name: str, format: str) -> str | None:
    """Why `name` cannot be had in `format`, or None."""
    if name in DOCUMENTS:
        return None if format in ("json", "csv", "html") else "a report is JSON, CSV or HTML"
    if name in REGULATOR_CSV:
        return None if format == "csv" else "regulator records are CSV"
    return "no such report"
