"""Customer health: a churn risk from 0 (healthy) to 100 per contact and per account, its band
(high, medium, low) and the reasons behind it (Gainsight-style), from five signals:

* **purchase**: days since the last purchase against the customer's own rhythm (the median gap
  between their purchases; two purchases at least);
* **activity**: days since the last timeline activity against the usual gap between activities;
* **support**: tickets and SLA breaches in the signal window, as a support plugin reports them;
* **nps**: the latest NPS answer, as a survey plugin reports it;
* **loyalty**: days since the last points movement, as a loyalty plugin reports it.

Each signal gives a risk from 0 to 1 (`_overdue`, `_support`, `_nps`, `_loyalty`); the score is
Σ weight × risk, the weights (configurable, 100 in all by default) bounding each signal's share.
A signal nobody can report (no rhythm yet, no support plugin) adds no risk. A signal whose risk
reaches `REASON_FROM` is listed as a reason, the heaviest first. Other plugins report through
`enishi_customer_signals` (`CustomerSignal` names the facts): nothing here imports them.

Scores are stored (`insights_health`) and kept fresh by events (a purchase, a refund, an
activity on the customer's timeline rescoring them) and by the daily `insights.health` job, which
scores every live customer again (SLA breaches surface through it: a breach is a timer passing
its due time, not an event on the customer)."""

from __future__ import annotations

import datetime as dt
import json
import uuid
from collections import Counter
from dataclasses import dataclass, field

from sqlalchemy import Integer, Text, Uuid, cast, delete, func, insert, literal, literal_column, select
from sqlalchemy.dialects.postgresql import JSONB

from enishi.plugin import Account, Contact, CustomerSignal, UnitOfWork, UTCDateTime, new_id, one_at_a_time

from .config import ConfigError, extra_setting, positive_int
from .health_models import InsightsHealth, InsightsHealthCount
from .rfm import KINDS, lock_customers, random_id_sql
from .rhythm import Rhythm, customer_rhythms

BATCH = 5000
SIGNAL_BATCH = 1000  # customers per `enishi_customer_signals` call: an IN list every database takes
DAY = 86400.0
REASON_FROM = 0.25  # a signal at a quarter of its weight or more is worth telling the caller
DEFAULT_WEIGHTS = {"purchase": 40, "activity": 15, "support": 20, "nps": 15, "loyalty": 10}
DEFAULT_BANDS = {"high": 60, "medium": 30}
BANDS = ("high", "medium", "low")
LOYALTY_IDLE_DAYS = 90  # no points movement for this long starts to count


# --- settings -----------------------------------------------------------------------------------


def weights(settings) -> dict[str, int]:
    """`insights_health_weights` (`{purchase = 40, activity = 15, support = 20, nps = 15,
    loyalty = 10}`): each signal's most points; the keys left out keep their default."""
    value = extra_setting(settings, "health_weights", {})
    if not isinstance(value, dict) or set(value) - set(DEFAULT_WEIGHTS):
        raise ConfigError(f"[extra] insights_health_weights takes the keys {', '.join(DEFAULT_WEIGHTS)}")
    merged = DEFAULT_WEIGHTS | value
    if any(not isinstance(w, int) or isinstance(w, bool) or w < 0 for w in merged.values()) or sum(merged.values()) != 100:
        raise ConfigError("[extra] insights_health_weights must be whole numbers, 0 or more, adding up to 100")
    return merged


def band_floors(settings) -> dict[str, int]:
    """`insights_health_bands` (`{high = 60, medium = 30}`): the lowest score of each band."""
    value = DEFAULT_BANDS | extra_setting(settings, "health_bands", {})
    if set(value) != set(DEFAULT_BANDS) or not all(isinstance(v, int) for v in value.values()):
        raise ConfigError("[extra] insights_health_bands takes whole numbers for high and medium")
    if not 0 < value["medium"] < value["high"] <= 100:
        raise ConfigError("[extra] insights_health_bands needs 0 < medium < high <= 100")
    return value


def signal_window(settings) -> dt.timedelta:
    """`insights_health_window_days` (30): how far back tickets and SLA breaches count."""
    return dt.timedelta(days=positive_int(settings, "health_window_days", 30))


def band_of(score: int, floors: dict[str, int]) -> str:
    return "high" if score >= floors["high"] else "medium" if score >= floors["medium"] else "low"


# --- reasons ------------------------------------------------------------------------------------

# code → (English, Japanese); params fill the braces.
REASON_TEXTS = {
    "NO_PURCHASE": ("no purchase for {days} days (usual {usual})", "{days}日間購入なし（通常{usual}日ごと）"),
    "NO_ACTIVITY": ("no activity for {days} days (usual {usual})", "{days}日間やり取りなし（通常{usual}日ごと）"),
    "SLA_BREACHES": ("{count} SLA breach{plural} in {days} days", "{days}日間にSLA違反{count}件"),
    "TICKETS": ("{count} ticket{plural} in {days} days", "{days}日間に問い合わせ{count}件"),
    "NPS": ("NPS {score} on {date}", "{date}のNPS {score}"),
    "NO_LOYALTY_ACTIVITY": ("no loyalty activity for {days} days", "{days}日間ポイントの利用なし"),
}
PLURALS = {"SLA_BREACHES": "es", "TICKETS": "s"}


def render(code: str, params: dict, language: str) -> str:
    english, japanese = REASON_TEXTS[code]
    plural = PLURALS.get(code, "") if params.get("count") != 1 else ""
    return (japanese if language == "ja" else english).format(plural=plural, **params)


@dataclass(frozen=True)
class Reason:
    code: str
    params: dict
    points: float  # how much of the score it explains: the order of the list


# --- scoring ------------------------------------------------------------------------------------


@dataclass
class Facts:
    """What is known of one customer when scoring them: their purchase and activity rhythms
    (None below two of them) and the plugins' signals."""

    purchases: Rhythm | None = None
    activities: Rhythm | None = None
    signals: dict[str, CustomerSignal] = field(default_factory=dict)


# A signal's risk from 0 to 1 with the code and params of the reason it would give, or None when
# nothing is known of it. The reason itself (`Reason`) is made only for the risks listed.
Risk = tuple[float, str, dict] | None


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


def _overdue(rhythm: Rhythm, now: dt.datetime, code: str) -> Risk:
    """Risk 0 until the last instant is one and a half usual gaps old (the usual gap: the median
    between consecutive ones, a day at least; half a gap late is ordinary variation), rising to 1
    at three and a half: (since ÷ usual − 1.5) ÷ 2."""
    usual = max(rhythm.usual_seconds / DAY, 1.0)
    since = rhythm.seconds_since(now) / DAY
    return _clamp((since / usual - 1.5) / 2), code, {"days": int(since), "usual": round(usual)}


def _support(facts: Facts, window_days: int) -> Risk:
    """Half per SLA breach; a quarter per ticket beyond the second. One reason: breaches when
    there are any, else tickets."""
    breaches = facts.signals["support.sla_breaches"].value if "support.sla_breaches" in facts.signals else 0
    tickets = facts.signals["support.tickets"].value if "support.tickets" in facts.signals else 0
    risk = _clamp(breaches / 2 + max(0, tickets - 2) / 4)
    if breaches:
        return risk, "SLA_BREACHES", {"count": breaches, "days": window_days}
    return risk, "TICKETS", {"count": tickets, "days": window_days}


def _nps(facts: Facts, zone) -> Risk:
    """A detractor's answer (0-6) counts (7 − score) ÷ 7; passives and promoters none."""
    answer = facts.signals.get("survey.nps")
    if answer is None or answer.at is None:
        return None
    risk = _clamp((7 - answer.value) / 7)
    return risk, "NPS", {"score": answer.value, "date": answer.at.astimezone(zone).date().isoformat()}


def _loyalty(facts: Facts, now: dt.datetime) -> Risk:
    """A member idle for LOYALTY_IDLE_DAYS starts to count, fully at twice as long."""
    last = facts.signals.get("loyalty.last_activity")
    if last is None or last.at is None:
        return None
    days = (now - last.at).total_seconds() / DAY
    return _clamp(days / LOYALTY_IDLE_DAYS - 1), "NO_LOYALTY_ACTIVITY", {"days": int(days)}


@dataclass(frozen=True)
class Health:
    score: int
    band: str
    reasons: list[Reason]


@dataclass(frozen=True)
class Rules:
    """The settings a score needs, read (and checked) once per run rather than per customer."""

    weights: dict[str, int]
    floors: dict[str, int]
    window_days: int
    zone: dt.tzinfo

    @classmethod
    def of(cls, settings) -> Rules:
        return cls(weights(settings), band_floors(settings), signal_window(settings).days, settings.zone)


def score(facts: Facts, now: dt.datetime, rules: Rules) -> Health:
    """Σ weight × risk over the signals known of the customer, in a fixed order; the reasons are
    the risks of `REASON_FROM` or more, the heaviest first (the first known on a tie).

    Why it reads as it does: the daily job scores 100,000 customers, most of whom have one or two
    signals. A signal nothing is known of (no rhythm, no plugin's signal) is skipped rather than
    scored 0: the same sum (x + 0.0 is x). Each risk is added and tested in one pass, a `Reason`
    made only for a listed one, and a list of fewer than two is not sorted."""
    risks = []
    if facts.purchases is not None:
        risks.append(("purchase", _overdue(facts.purchases, now, "NO_PURCHASE")))
    if facts.activities is not None:
        risks.append(("activity", _overdue(facts.activities, now, "NO_ACTIVITY")))
    if facts.signals:
        risks.append(("support", _support(facts, rules.window_days)))
        risks.append(("nps", _nps(facts, rules.zone)))
        risks.append(("loyalty", _loyalty(facts, now)))
    total, reasons = 0.0, []
    for name, known in risks:
        if known is None:
            continue
        risk, code, params = known
        weight = rules.weights[name]
        total += weight * risk
        if risk >= REASON_FROM and weight:
            reasons.append(Reason(code, params, weight * risk))
    if len(reasons) > 1:
        reasons.sort(key=lambda r: -r.points)
    value = min(100, round(total))
    return Health(value, band_of(value, rules.floors), reasons)


# --- facts from the database --------------------------------------------------------------------


def health_column(kind: str):
    return InsightsHealth.contact_id if kind == "contact" else InsightsHealth.account_id


def customer_model(kind: str):
    return Contact if kind == "contact" else Account


def live_customers(kind: str):
    model = customer_model(kind)
    return select(model.id).where(model.deleted_at.is_(None))


async def _facts(session, plugins, settings, kind: str, owners: list[uuid.UUID] | None, now) -> dict[uuid.UUID, Facts]:
    """Facts of every live customer of `kind` (of `owners` only when given; the others are left
    out): who is live and both rhythms in one statement (rhythm.py), the signals from the plugins."""
    connection = await session.connection()
    found = await customer_rhythms(connection, live_customers(kind), kind, now, owners, BATCH)
    facts = {owner: Facts(purchases, activities) for owner, (purchases, activities) in found.items()}
    ids = list(facts)
    if plugins.has_hook("enishi_customer_signals"):
        since = now - signal_window(settings)
        # Everyone's run asks once for every customer a plugin knows of (None), not in IN lists.
        chunks = [None] if owners is None else [ids[n : n + SIGNAL_BATCH] for n in range(0, len(ids), SIGNAL_BATCH)]
        for chunk in chunks:
            answers = await plugins.call(
                "enishi_customer_signals", session=session, kind=kind, customer_ids=chunk, since=since, now=now
            )
            for _, signals in answers:
                for signal in signals or []:
                    if signal.customer_id in facts:
                        facts[signal.customer_id].signals[signal.name] = signal
    return facts


def _stored_reasons(health: Health) -> list[dict]:
    """A health row's `reasons`: `[{code, params}]`, rendered when read."""
    return [{"code": r.code, "params": r.params} for r in health.reasons]


def _store_rows(dialect: str, kind: str, scored: list[tuple[uuid.UUID, Health]], now: dt.datetime):
    """The job's rows as one JSON document: an `INSERT … SELECT` over its elements (PostgreSQL's
    `jsonb_array_elements`, SQLite's `json_each`), the ids made by the database (`random_id_sql`,
    as RFM's) and the one `computed_at` written in the statement. Why: 100,000 rows sent as
    parameters (executemany) took 6.5 s on PostgreSQL, each row's values bound and its JSON
    serialised one by one; the document is serialised once and the server reads it whole. Each
    element is made straight from the customer's `Health` (no row dict in between)."""
    owner = health_column(kind).key
    document = json.dumps([[customer.hex, h.score, h.band, _stored_reasons(h)] for customer, h in scored])
    if dialect == "postgresql":
        elements = func.jsonb_array_elements(cast(literal(document, Text), JSONB)).table_valued("value")
    else:
        elements = func.json_each(literal(document, Text)).table_valued("value")

    def item(n: int, as_json: bool = False):
        """A row's element `n`: a scalar as its SQL text or number, or (`as_json`) JSON as it is.
        SQLite's `json_extract` gives both (an array as its JSON text); its `->` operators would
        need SQLite 3.38."""
        if dialect != "postgresql":
            return func.json_extract(elements.c.value, f"$[{n}]", type_=Text)
        return elements.c.value.op("->" if as_json else "->>", return_type=Text)(literal_column(str(n)))

    columns = {
        "id": random_id_sql(dialect),
        owner: cast(item(0), Uuid) if dialect == "postgresql" else item(0),  # SQLite keeps 32 hex digits
        "score": cast(item(1), Integer),
        "band": item(2),
        "reasons": item(3, as_json=True),
        "computed_at": literal(now, UTCDateTime()),
    }
    return insert(InsightsHealth).from_select(list(columns), select(*columns.values()).select_from(elements))


def lock_name(kind: str) -> str:
    """Held alone by the full run replacing a kind's health rows, shared by rescorings of one
    customer (as RFM's `lock_name`)."""
    return f"insights.health.{kind}"


async def recompute_all(runtime) -> int:
    """The `insights.health` job: every live contact and account scored again, one transaction
    per kind (readers see the old scores or the new). Idempotent."""
    settings, now, total = runtime.settings, runtime.clock.now(), 0
    for kind in KINDS:
        async with runtime.read_session() as session:
            facts = await _facts(session, runtime.plugins, settings, kind, None, now)
        rules = Rules.of(settings)
        scored = [(owner, score(f, now, rules)) for owner, f in facts.items()]
        day = now.astimezone(settings.zone).date()
        bands = Counter(health.band for _, health in scored)
        async with runtime.unit_of_work() as uow:
            await one_at_a_time(uow, lock_name(kind))
            connection = await uow.session.connection()
            await connection.execute(delete(InsightsHealth).where(health_column(kind).is_not(None)))
            await connection.execute(_store_rows(connection.dialect.name, kind, scored, now))
            # The day's distribution, for charts: a second run the same day replaces it.
            await connection.execute(
                delete(InsightsHealthCount).where(InsightsHealthCount.day == day, InsightsHealthCount.customer == kind)
            )
            await connection.execute(
                insert(InsightsHealthCount),
                [{"id": new_id(), "day": day, "customer": kind, "band": band, "customers": bands[band]} for band in BANDS],
            )
        total += len(scored)
    return total


async def recompute_customer(uow: UnitOfWork, kind: str, owner_id: uuid.UUID) -> InsightsHealth | None:
    """One customer's health again, in the caller's transaction (after their purchase, refund or
    activity). A customer no longer live loses their score."""
    return (await recompute_customers(uow, kind, [owner_id])).get(owner_id)


async def recompute_customers(uow: UnitOfWork, kind: str, owner_ids: list[uuid.UUID]) -> dict[uuid.UUID, InsightsHealth]:
    """`recompute_customer` for several customers of `kind` at once (an import's notes), in a few
    statements whatever their number; the rows of those still live."""
    await lock_customers(uow, lock_name(kind), owner_ids)
    now = uow.clock.now()
    column = health_column(kind)
    owners = list(dict.fromkeys(owner_ids))
    rows = {
        getattr(row, column.key): row
        for row in (await uow.session.execute(select(InsightsHealth).where(column.in_(owners)))).scalars()
    }
    facts = await _facts(uow.session, uow.runtime.plugins, uow.settings, kind, owners, now)
    for gone in set(owners) - set(facts):
        if gone in rows:
            await uow.session.delete(rows.pop(gone))
    rules = Rules.of(uow.settings)
    for owner, known in facts.items():
        health = score(known, now, rules)
        row = rows.get(owner)
        if row is None:
            row = rows[owner] = InsightsHealth(**{column.key: owner})
            uow.session.add(row)
        row.score, row.band, row.reasons, row.computed_at = health.score, health.band, _stored_reasons(health), now
    await uow.session.flush()
    return rows
