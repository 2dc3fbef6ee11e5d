"""Reports for regulators and the public, generated from the personal-data catalog
(`enishi_personal_data`: what every plugin holds, for which purposes, how it is erased), the
retention rules, the provision records, and what only the business can say (its name, address,
complaints desk, security measures), set in the config file's `[extra]` table:

* records of processing activities (GDPR Art. 30(1)), one activity per purpose;
* the APPI public statement (保有個人データに関する事項の公表, Art. 32(1) and 施行令第10条);
* consent records as CSV.

Each renders as JSON, CSV or a printable HTML page. An item the configuration does not supply is
listed under `missing`, so the officer sees what to add before publishing. Other sections
(processors, cross-border transfers) join through `SECTIONS`; other regulator CSVs through
`REGULATOR_CSV` (provision records are to be added there)."""

from __future__ import annotations

import html
import json
from collections.abc import Awaitable, Callable

from sqlalchemy import func, select

from . import export, retention
from .extract_models import PrivacyExtract, PrivacyExtractProvision
from .models import PrivacyConsent, PrivacyProvision
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
# Extension point: `async (session, runtime) -> {section name: JSON value}` added to both reports
# (the processor register and cross-border transfers belong here).
SECTIONS: list[Callable[..., Awaitable[dict]]] = []


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
    rows = await session.execute(select(PrivacyProvision.recipient, PrivacyProvision.purpose).distinct())
    return [{"recipient": recipient, "purpose": purpose} for recipient, purpose in sorted(rows.all())]


async def _sections(runtime, session) -> dict:
    found: dict = {}
    for section in SECTIONS:
        found |= await section(session, runtime)
    return found


def _controller(runtime) -> dict:
    return dict(_extra(runtime, "privacy_controller", {}))


async def records_of_processing(runtime, session) -> dict:
    """GDPR Art. 30(1): controller, purposes, categories of people and data, recipients, transfers,
    time limits for erasure, security measures."""
    controller = _controller(runtime)
    retained = await _retention_by_table(runtime, session)
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
        "transfers": _extra(runtime, "privacy_transfers", []),
        "security_measures": BUILT_IN_MEASURES + list(_extra(runtime, "privacy_security_measures", [])),
        **await _sections(runtime, session),
        "missing": [f"controller.{item}" for item in CONTROLLER_ITEMS if not controller.get(item)],
    }


async def _anonymised(runtime, session) -> list[dict]:
    """APPI Art. 43(3)–(4): the items of each anonymised extract made, and how many times it was
    provided to a third party (as a CSV file)."""
    provided = (
        select(PrivacyExtractProvision.extract_id, func.count().label("n"))
        .group_by(PrivacyExtractProvision.extract_id)
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
        "anonymised_information": await _anonymised(runtime, session),
        **await _sections(runtime, session),
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


CONSENT_COLUMNS = ["seq", "contact_id", "purpose", "state", "notice_id", "notice_version", "source", "method", "captured_at"]
# Extension point: regulator CSVs by name — (rows function, columns). Provision records go here.
REGULATOR_CSV: dict[str, tuple[Callable[..., Awaitable[list[dict]]], list[str]]] = {
    "consent_records": (consent_records, CONSENT_COLUMNS),
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
    assert isinstance(document, dict)
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
