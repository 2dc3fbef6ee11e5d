"""What a scheduled report holds and how it looks: the figures of one period beside the period
before (customer KPIs, NPS, churn-risk bands), the revenue per day, and — only for a recipient
allowed to take personal data away (report_rules.may_see_people) — the riskiest customers: a
company by its name, a person by their id only (a mail is a file the server may keep — the
development file transport does — outside any person's folder, so it names no one: the id opens
the person in the API or the console, and an erasure leaves nothing behind in old reports).
Rendered as CSV (aggregates only), .xlsx (a sheet per table), a PNG chart drawn by matplotlib's
Agg backend on the server, and a short HTML summary showing the chart."""

from __future__ import annotations

import csv
import datetime as dt
import functools
import html
import io
from dataclasses import dataclass, field
from pathlib import Path

from matplotlib import font_manager
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator
from openpyxl import Workbook
from sqlalchemy import func, select

from enishi.plugin import Account, to_global_id

from . import charts, config, kpis, survey_scores
from .health import BANDS, customer_model, health_column, render
from .health_models import InsightsHealth

# Debian's fonts-ipaexfont-gothic (scripts/ensure-japanese-font installs it): matplotlib's own
# DejaVu Sans has no kana or kanji, which it would draw as empty boxes.
JAPANESE_FONT = Path("/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf")
AT_RISK_LISTED = 20
# (key, Japanese, English, kind): kind says how the value reads — count, yen (minor units), rate, score
ROWS = (
    ("revenue", "売上", "Revenue", "money"),
    ("orders", "注文数", "Orders", "count"),
    ("purchasers", "購入顧客数", "Purchasers", "count"),
    ("average_order_value", "客単価", "Average order value", "money"),
    ("arpu", "ARPU", "ARPU", "money"),
    ("new_customers", "新規顧客", "New customers", "count"),
    ("lost_customers", "離脱顧客", "Lost customers", "count"),
    ("customers_at_end", "期末アクティブ顧客", "Active customers at the end", "count"),
    ("churn_rate", "解約率", "Churn rate", "rate"),
    ("repeat_purchase_rate", "リピート率", "Repeat purchase rate", "rate"),
    ("nps", "NPS", "NPS", "score"),
    ("nps_responses", "NPS回答数", "NPS responses", "count"),
)
BAND_LABELS = {"high": ("高リスク", "High risk"), "medium": ("中リスク", "Medium risk"), "low": ("低リスク", "Low risk")}


@dataclass
class AtRisk:
    name: str
    score: int
    reasons: str  # in Japanese, joined


@dataclass
class ReportContent:
    title: str
    first_day: dt.date
    last_day: dt.date
    currency: str
    current: dict[str, float | None]
    previous: dict[str, float | None]
    revenue_by_day: list[tuple[dt.date, float]]
    bands: dict[str, int]  # now, as last scored
    at_risk: list[AtRisk] | None = field(default=None)  # None: the recipient gets aggregates only


async def _period_figures(session, settings, kind: str, period: kpis.Period) -> dict[str, float | None]:
    values = await kpis.compute(session, settings, kind, period)
    nps = survey_scores.figures(
        "nps", [score for _, score in await survey_scores.answers(session, "nps", period, survey_scores.Audience(), None)]
    )
    found = {key: getattr(values, key, None) for key, *_ in ROWS}
    return found | {"nps": nps.score, "nps_responses": nps.responses}


async def _at_risk(session, kind: str) -> list[AtRisk]:
    model, column = customer_model(kind), health_column(kind)
    rows = await session.execute(
        select(model, InsightsHealth)
        .join(InsightsHealth, column == model.id)
        .where(model.deleted_at.is_(None), InsightsHealth.band == "high")
        .order_by(InsightsHealth.score.desc(), model.id)
        .limit(AT_RISK_LISTED)
    )
    listed = []
    for customer, health in rows:
        name = customer.name if isinstance(customer, Account) else to_global_id("Contact", customer.id)
        reasons = "、".join(render(r["code"], r["params"], "ja") for r in health.reasons)
        listed.append(AtRisk(name, health.score, reasons))
    return listed


async def gather(session, settings, title: str, kind: str, first: dt.date, last: dt.date, *, people: bool) -> ReportContent:
    """The report of [first, last] (days in the configured zone); `people`: list customers by name."""
    zone = settings.zone
    length = (last - first).days + 1
    before_first = first - dt.timedelta(days=length) if length <= 7 else kpis.add_months(first, -1)
    current = await _period_figures(session, settings, kind, kpis.Period.of(first, last, zone))
    previous = await _period_figures(session, settings, kind, kpis.Period.of(before_first, first - dt.timedelta(days=1), zone))
    series = await charts.series(session, settings, charts.InsightsMetric.REVENUE, kind, "day", first, last)
    counted = await session.execute(
        select(InsightsHealth.band, func.count()).where(health_column(kind).is_not(None)).group_by(InsightsHealth.band)
    )
    bands = dict.fromkeys(BANDS, 0) | dict(counted.all())
    return ReportContent(
        title=title,
        first_day=first,
        last_day=last,
        currency=config.currency(settings),
        current=current,
        previous=previous,
        revenue_by_day=[(point.first_day, point.value or 0.0) for point in series],
        bands=bands,
        at_risk=await _at_risk(session, kind) if people else None,
    )


def _shown(value: float | None, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "rate":
        return f"{100 * value:.1f} %"
    if kind == "score":
        return f"{value:.1f}"
    return f"{int(value):,}"


def _summary_rows(content: ReportContent) -> list[tuple[str, str, str, float | None, float | None]]:
    rows = [(key, ja, en, content.current[key], content.previous[key]) for key, ja, en, _ in ROWS]
    rows += [(f"health_{band}", *BAND_LABELS[band], float(content.bands[band]), None) for band in BANDS]
    return rows


def to_csv(content: ReportContent) -> bytes:
    """The figures, one per line, this period and the one before (aggregates only, never people);
    UTF-8 with a byte-order mark, which Excel needs to read Japanese."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(["metric", "指標", "label", f"{content.first_day}〜{content.last_day}", "previous period"])
    for key, ja, en, now, before in _summary_rows(content):
        writer.writerow([key, ja, en, "" if now is None else now, "" if before is None else before])
    return out.getvalue().encode("utf-8-sig")


def to_xlsx(content: ReportContent) -> bytes:
    workbook = Workbook()
    summary = workbook.active
    summary.title = "概要 Summary"
    summary.append(["指標", "Metric", f"{content.first_day}〜{content.last_day}", "前期間 Previous"])
    for _, ja, en, now, before in _summary_rows(content):
        summary.append([ja, en, now, before])
    daily = workbook.create_sheet("日別売上 Revenue")
    daily.append(["日付 Day", f"売上 Revenue ({content.currency})"])
    for day, revenue in content.revenue_by_day:
        daily.append([day, revenue])
    if content.at_risk is not None:
        people = workbook.create_sheet("要注意顧客 At risk")
        people.append(["顧客 Customer", "リスク Risk", "理由 Reasons"])
        for row in content.at_risk:
            people.append([row.name, row.score, row.reasons])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def _label(ja: str, en: str, joiner: str = " ") -> str:
    return f"{ja}{joiner}{en}" if JAPANESE_FONT.exists() else en


@functools.cache
def _japanese_family() -> str | None:
    """The IPAex font's family name, registered with matplotlib once per process; None without it."""
    if not JAPANESE_FONT.exists():
        return None
    font_manager.fontManager.addfont(str(JAPANESE_FONT))
    return font_manager.FontProperties(fname=str(JAPANESE_FONT)).get_name()


def chart_png(content: ReportContent) -> bytes:
    """Revenue per day and the churn-risk bands, side by side. A `Figure` of its own (no pyplot
    state), so concurrent deliveries draw independently."""
    family = _japanese_family()
    font: dict = {"family": family} if family else {}
    figure = Figure(figsize=(9, 3.8), dpi=100, layout="constrained")
    revenue, bands = figure.subplots(1, 2, width_ratios=(2.6, 1))
    days = [day.strftime("%m/%d") for day, _ in content.revenue_by_day]
    revenue.bar(days, [value for _, value in content.revenue_by_day], color="#3b6ea5")
    revenue.set_title(_label("日別売上", f"Revenue per day ({content.currency})"), fontdict=font)
    revenue.tick_params(axis="x", labelrotation=60, labelsize=7)
    revenue.yaxis.set_major_formatter(lambda value, _: f"{value:,.0f}")
    sizes = bands.bar(
        [_label(*BAND_LABELS[band], joiner="\n") for band in BANDS],
        [content.bands[band] for band in BANDS],
        color=["#c0392b", "#e6a23c", "#5a9e6f"],
    )
    bands.bar_label(sizes, fmt="{:,.0f}")
    bands.yaxis.set_major_locator(MaxNLocator(integer=True))  # customers: whole numbers
    bands.margins(y=0.15)  # room for the counts above the bars
    bands.yaxis.set_major_formatter(lambda value, _: f"{value:,.0f}")
    bands.set_title(_label("解約リスク", "Churn risk"), fontdict=font)
    for tick in bands.get_xticklabels():
        tick.set_fontsize(8)
        if font:
            tick.set_family(font["family"])
    figure.suptitle(f"{content.title}  {content.first_day}〜{content.last_day}", fontsize=11, **font)
    out = io.BytesIO()
    figure.savefig(out, format="png")
    return out.getvalue()


def to_html(content: ReportContent, chart_id: str) -> str:
    """A short summary: the main figures against the period before, the chart, what is attached."""
    cells = "".join(
        f'<tr><th scope="row" align="left">{html.escape(ja)}</th><td align="right">{_shown(content.current[key], kind)}</td>'
        f'<td align="right">{_shown(content.previous[key], kind)}</td></tr>'
        for key, ja, _, kind in ROWS
    )
    people = (
        ""
        if content.at_risk is None
        else f"<p>高リスクの顧客 {len(content.at_risk)} 件は添付の .xlsx（要注意顧客）にあります。</p>"
    )
    return (
        f'<!DOCTYPE html><html lang="ja"><head><meta charset="utf-8"><title>{html.escape(content.title)}</title></head><body>'
        f"<h1>{html.escape(content.title)}</h1><p>{content.first_day}〜{content.last_day}（{html.escape(content.currency)}）</p>"
        f"<table><tr><th></th><th>今期間</th><th>前期間</th></tr>{cells}</table>"
        f'<p><img src="cid:{chart_id}" alt="日別売上と解約リスク" width="900"></p>{people}'
        "<p>数値は添付の CSV と .xlsx にもあります。</p></body></html>"
    )


def to_text(content: ReportContent) -> str:
    lines = [f"{content.title} {content.first_day}〜{content.last_day}", ""]
    lines += [
        f"{ja}: {_shown(content.current[key], kind)}（前期間 {_shown(content.previous[key], kind)}）" for key, ja, _, kind in ROWS
    ]
    return "\n".join(lines) + "\n"
