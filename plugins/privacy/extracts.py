"""Extracts of the contacts, or of a plugin's records (`enishi_extract_sources`: support's tickets,
loyalty's ledger entries, …), for analysis, made so that no one in them is identified:

* pseudonymised (仮名加工情報, APPI Art. 2(5), 41): names, kana, emails, phones, postal code,
  street address and custom fields are removed; the contact's and its company's ids are replaced
  by keyed HMACs (HMAC-SHA-256 under the extract's own key, `PrivacyExtractKey`: the 削除情報等,
  kept apart, wrapped by the KEK and readable by compliance only); age and prefecture stay exact.
  Such an extract is never provided to a third party (Art. 41(6)): `provide` refuses it.
* anonymised (匿名加工情報, Art. 2(6), 43): no ids at all; the quasi-identifiers are generalised
  (age → ten-year band, address → prefecture) and a row is kept only when its combination of them
  occurs at least `k` times (k-anonymity, default 5, `extra.privacy_anonymisation_k`); the rest
  are suppressed and counted. It may be provided, and each provision is recorded. Only the
  contacts are anonymised: their quasi-identifiers are known here; a plugin's source is offered
  for pseudonymised extracts, its id columns replaced by HMACs under the extract's key (one
  person's id gives the same pseudonym in every column of one extract, and another in the next).

Ages come from the custom field named by `extra.privacy_birth_date_field` (`birth_date`,
`YYYY-MM-DD`), counted in the business's time zone on the day of the extract."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from collections import Counter

from sqlalchemy import func, select

from enishi.plugin import Activity, ActivityTarget, Checker, Contact, ContactAccount, ExtractSource, UnitOfWork

from . import recipients
from .extract_models import PrivacyExtract
from .models import PrivacyProvision
from .provisions import kept_until
from .service import fail

KINDS = ("pseudonymised", "anonymised")
CONTACTS = "contacts"
DEFAULT_K = 5
PSEUDONYMISED_COLUMNS = ["subject", "account", "age", "prefecture", "job_title", "department", "activities", "created_on"]
ANONYMISED_COLUMNS = ["age_band", "prefecture", "activities"]
QUASI_IDENTIFIERS = ("age_band", "prefecture")
UNKNOWN = "不明"
PREFECTURES = [
    "北海道",
    "青森県",
    "岩手県",
    "宮城県",
    "秋田県",
    "山形県",
    "福島県",
    "茨城県",
    "栃木県",
    "群馬県",
    "埼玉県",
    "千葉県",
    "東京都",
    "神奈川県",
    "新潟県",
    "富山県",
    "石川県",
    "福井県",
    "山梨県",
    "長野県",
    "岐阜県",
    "静岡県",
    "愛知県",
    "三重県",
    "滋賀県",
    "京都府",
    "大阪府",
    "兵庫県",
    "奈良県",
    "和歌山県",
    "鳥取県",
    "島根県",
    "岡山県",
    "広島県",
    "山口県",
    "徳島県",
    "香川県",
    "愛媛県",
    "高知県",
    "福岡県",
    "佐賀県",
    "長崎県",
    "熊本県",
    "大分県",
    "宮崎県",
    "鹿児島県",
    "沖縄県",
]


def prefecture(address: str | None) -> str:
    """The prefecture an address begins with (a Japanese address starts with it), or 不明."""
    text = (address or "").strip()
    return next((p for p in PREFECTURES if text.startswith(p)), UNKNOWN)


def age(birth_date, today: dt.date) -> int | None:
    try:
        born = dt.date.fromisoformat(str(birth_date))
    except ValueError:
        return None
    years = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
    return years if 0 <= years < 150 else None


def age_band(years: int | None) -> str:
    """Ten-year bands, the top one open (80-), so that the oldest few are not singled out."""
    if years is None:
        return UNKNOWN
    low = min(years // 10 * 10, 80)
    return "80-" if low == 80 else f"{low}-{low + 9}"


def pseudonym(key: bytes, record_id) -> str:
    return hmac.new(key, f"enishi-extract:{record_id}".encode(), hashlib.sha256).hexdigest()[:32]


def k_anonymous(rows: list[dict], k: int) -> tuple[list[dict], int]:
    """The rows whose quasi-identifiers occur at least `k` times together, ordered by them (never by
    person), and how many were suppressed."""
    counts = Counter(tuple(row[q] for q in QUASI_IDENTIFIERS) for row in rows)
    kept = [row for row in rows if counts[tuple(row[q] for q in QUASI_IDENTIFIERS)] >= k]
    kept.sort(key=lambda row: tuple(str(row[c]) for c in ANONYMISED_COLUMNS))
    return kept, len(rows) - len(kept)


async def _contacts(uow: UnitOfWork):
    """Each live contact with its primary company and how many activities concern them."""
    activities = (
        select(ActivityTarget.contact_id, func.count(Activity.id).label("n"))
        .join(Activity, Activity.id == ActivityTarget.activity_id)
        .where(ActivityTarget.contact_id.is_not(None))
        .group_by(ActivityTarget.contact_id)
        .subquery()
    )
    statement = (
        select(Contact, ContactAccount.account_id, func.coalesce(activities.c.n, 0))
        .outerjoin(ContactAccount, (ContactAccount.contact_id == Contact.id) & ContactAccount.is_primary.is_(True))
        .outerjoin(activities, activities.c.contact_id == Contact.id)
        .where(Contact.deleted_at.is_(None))
        .order_by(Contact.id)
    )
    return (await uow.session.execute(statement)).all()


def plugin_sources(runtime) -> dict[str, ExtractSource]:
    return {source.name: source for _, source in runtime.plugins.contributions("enishi_extract_sources")}


def source_names(runtime) -> list[str]:
    return [CONTACTS, *sorted(plugin_sources(runtime))]


async def _plugin_rows(uow: UnitOfWork, source: ExtractSource, key: bytes) -> list[dict]:
    """A plugin's records, its id columns replaced by pseudonyms (None stays None)."""
    rows = await source.rows(uow.session, uow.settings.zone)
    return [
        {c: (pseudonym(key, row[c]) if c in source.pseudonymise and row[c] is not None else row[c]) for c in source.columns}
        for row in rows
    ]


async def create(uow: UnitOfWork, data: dict) -> tuple[PrivacyExtract, list[dict]]:
    """Make an extract: its record (with a new mapping key when pseudonymised) and its rows."""
    check = Checker()
    kind = check.choice(data, "kind", KINDS)
    source = check.choice(data, "source", tuple(source_names(uow.runtime)))
    plugin_source = plugin_sources(uow.runtime).get(source or "")
    if plugin_source is not None and kind == "anonymised":
        check.fail(
            "source", "only the contacts are anonymised; a plugin's records are extracted pseudonymised", "NOT_ANONYMISABLE"
        )
    purpose = check.text(data, "purpose", max_length=300, required=True)
    k = data.get("k")
    if k is None:
        k = int(uow.settings.extra.get("privacy_anonymisation_k", DEFAULT_K))
    if k < 2:
        check.fail("k", "must be at least 2: k = 1 hides no one", "OUT_OF_RANGE")
    if kind == "pseudonymised" and data.get("k") is not None:
        check.fail("k", "only an anonymised extract is generalised to k", "NOT_ALLOWED")
    check.done()
    today = uow.clock.now().astimezone(uow.settings.zone).date()
    birth_field = uow.settings.extra.get("privacy_birth_date_field", "birth_date")
    columns = list(plugin_source.columns) if plugin_source else PSEUDONYMISED_COLUMNS
    extract = PrivacyExtract(
        kind=kind,
        source=source,
        columns=columns if kind == "pseudonymised" else ANONYMISED_COLUMNS,
        k=k if kind == "anonymised" else None,
        rows=0,
        suppressed=0,
        purpose=purpose,
        created_by=uow.actor_id,
        created_at=uow.clock.now(),
    )
    uow.session.add(extract)
    key = extract.data_key(create=True) if kind == "pseudonymised" else None
    if plugin_source is not None:
        assert key is not None  # a plugin's source is pseudonymised only
        rows = await _plugin_rows(uow, plugin_source, key)
        extract.rows = len(rows)
        await uow.session.flush()
        return extract, rows
    rows = []
    for contact, account_id, activities in await _contacts(uow):
        years = age((contact.custom_fields or {}).get(birth_field), today)
        if key is not None:
            rows.append(
                {
                    "subject": pseudonym(key, contact.id),
                    "account": pseudonym(key, account_id) if account_id else None,
                    "age": years,
                    "prefecture": prefecture(contact.address),
                    "job_title": contact.job_title,
                    "department": contact.department,
                    "activities": activities,
                    "created_on": contact.created_at.astimezone(uow.settings.zone).date().isoformat(),
                }
            )
        else:
            rows.append({"age_band": age_band(years), "prefecture": prefecture(contact.address), "activities": activities})
    if kind == "anonymised":
        rows, extract.suppressed = k_anonymous(rows, k)
    extract.rows = len(rows)
    await uow.session.flush()
    return extract, rows


async def load(session, extract_id) -> PrivacyExtract:
    extract = await session.get(PrivacyExtract, extract_id)
    if extract is None:
        raise fail("extractId", "no such extract", "NOT_FOUND")
    return extract


async def provide(uow: UnitOfWork, extract_id, recipient_name: str | None) -> PrivacyProvision:
    """Record in the provision register that an extract was provided to a registered recipient:
    refused for a pseudonymised one (APPI Art. 41(6): 仮名加工情報 is not provided to third
    parties), nothing written. An anonymised extract names no one: the record has no person, its
    items are the extract's columns, and it is `exempt` (Art. 44, not 第29条)."""
    check = Checker()
    name = check.text({"recipient": recipient_name}, "recipient", max_length=200, required=True)
    check.done()
    extract = await load(uow.session, extract_id)
    if extract.kind == "pseudonymised":
        raise fail(
            "extractId",
            "a pseudonymised extract (仮名加工情報) may not be provided to a third party (APPI Art. 41(6))",
            "PSEUDONYMISED_EXTRACT_NOT_PROVIDABLE",
        )
    recipient = await recipients.by_name(uow, name)
    now = uow.clock.now()
    recorded_on, keep_until = kept_until(uow, now, "individual")
    provision = PrivacyProvision(
        extract_id=extract.id,
        recipient=recipient.name,
        recipient_id=recipient.id,
        purpose=extract.purpose,
        data_items=list(extract.columns),
        basis="anonymised_information",
        exempt=True,
        country=recipient.country,
        record_method="individual",
        recorded_on=recorded_on,
        keep_until=keep_until,
        actor_id=uow.actor_id,
        provided_at=now,
    )
    uow.session.add(provision)
    await uow.session.flush()
    return provision


async def mapping_key(session, extract_id) -> bytes | None:
    """The extract's HMAC key (its 削除情報等); None for an anonymised extract, or once destroyed."""
    return (await load(session, extract_id)).data_key()
