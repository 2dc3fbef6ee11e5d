"""A quote as a document: JSON (every figure of the qualified invoice, in minor units) and a
printable PDF in Japanese (fpdf2, with a TrueType Japanese font embedded as a subset)."""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF

from enishi.plugin import EnishiError

from .models import SalesQuote, SalesQuoteLine
from .tax import CURRENCY_DIGITS

# Debian's fonts-ipaexfont-gothic (IPAex Gothic, IPA Font License); `[extra] sales_pdf_font`
# names another TrueType font with Japanese glyphs.
DEFAULT_FONT = "/usr/share/fonts/opentype/ipaexfont-gothic/ipaexg.ttf"
CATEGORY_LABELS = {"standard": "10%対象", "reduced": "8%対象（軽減税率）", "exempt": "非課税"}


class FontMissing(EnishiError):
    """The configured PDF font is not installed (an operator's fix, not the caller's)."""

    code = "PDF_FONT_MISSING"


def money(amount: int, currency: str) -> str:
    """¥39,072 for yen; 1,234.56 USD for a currency with minor units."""
    digits = CURRENCY_DIGITS.get(currency, 0)
    if currency == "JPY":
        return f"¥{amount:,}"
    whole, fraction = divmod(abs(amount), 10**digits)
    sign = "-" if amount < 0 else ""
    return f"{sign}{whole:,}.{fraction:0{digits}d} {currency}" if digits else f"{sign}{whole:,} {currency}"


def _printable(text: str) -> str:
    """The text with what no PDF can hold (lone surrogates a JSON string may carry) as "?"."""
    return text.encode("utf-8", "replace").decode("utf-8")


def document(quote: SalesQuote, lines: list[SalesQuoteLine], account_name: str, seller_name: str) -> dict:
    """The quote as JSON: what the PDF shows, as numbers (minor units) and ISO dates."""
    return {
        "number": quote.number,
        "version": quote.version,
        "title": quote.title,
        "status": quote.status,
        "issue_date": quote.issue_date.isoformat(),
        "valid_until": quote.valid_until.isoformat() if quote.valid_until else None,
        "seller": {"name": seller_name, "registration_number": quote.seller_registration_number},
        "customer": {"name": account_name},
        "currency": quote.currency,
        "lines": [
            {
                "description": line.description,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "discount": line.discount,
                "tax_category": line.tax_category,
                "amount": line.amount,
            }
            for line in lines
        ],
        "tax_breakdown": quote.tax_breakdown,
        "rounding": quote.rounding,
        "subtotal": quote.subtotal,
        "tax": quote.tax,
        "total": quote.total,
    }


def pdf(quote: SalesQuote, lines: list[SalesQuoteLine], account_name: str, seller_name: str, font_path: str | None) -> bytes:
    """The printable quote (A4): the qualified invoice's items (seller and registration number,
    date, lines with the reduced-rate mark, subtotal and tax per rate, total)."""
    font = Path(font_path or DEFAULT_FONT)
    if not font.is_file():
        raise FontMissing("the PDF font is not installed (apt-get install fonts-ipaexfont-gothic, or set sales_pdf_font)")
    sheet = FPDF(format="A4")
    title, account_name, seller_name = (_printable(t) for t in (quote.title, account_name, seller_name))
    sheet.set_title(f"{title} {quote.number}")
    sheet.add_font("jp", fname=str(font))
    sheet.add_page()
    currency = quote.currency

    sheet.set_font("jp", size=20)
    sheet.cell(0, 12, title, align="C", new_x="LMARGIN", new_y="NEXT")
    sheet.set_font("jp", size=10)
    version = f"（第{quote.version}版）" if quote.version > 1 else ""
    sheet.cell(0, 6, f"見積番号 {quote.number}{version}", align="R", new_x="LMARGIN", new_y="NEXT")
    sheet.cell(0, 6, f"発行日 {quote.issue_date:%Y年%m月%d日}", align="R", new_x="LMARGIN", new_y="NEXT")
    if quote.valid_until:
        sheet.cell(0, 6, f"有効期限 {quote.valid_until:%Y年%m月%d日}", align="R", new_x="LMARGIN", new_y="NEXT")
    sheet.set_font("jp", size=14)
    sheet.cell(0, 10, f"{account_name} 御中", new_x="LMARGIN", new_y="NEXT")
    sheet.set_font("jp", size=10)
    if seller_name:
        sheet.cell(0, 6, seller_name, align="R", new_x="LMARGIN", new_y="NEXT")
    if quote.seller_registration_number:
        sheet.cell(0, 6, f"登録番号 {quote.seller_registration_number}", align="R", new_x="LMARGIN", new_y="NEXT")
    sheet.ln(2)
    sheet.set_font("jp", size=13)
    sheet.cell(0, 10, f"御見積金額 {money(quote.total, currency)}（税込）", border="B", new_x="LMARGIN", new_y="NEXT")
    sheet.ln(4)

    sheet.set_font("jp", size=9)
    widths = (78, 16, 28, 24, 34)
    for text, width in zip(("品名", "数量", "単価", "値引", "金額（税抜）"), widths, strict=True):
        sheet.cell(width, 8, text, border=1, align="C")
    sheet.ln()
    for line in lines:
        mark = "※" if line.tax_category == "reduced" else ""
        cells = (
            (f"{_printable(line.description)}{mark}", "L"),
            (f"{line.quantity:,}", "R"),
            (money(line.unit_price, currency), "R"),
            (money(line.discount, currency) if line.discount else "", "R"),
            (money(line.amount, currency), "R"),
        )
        for (text, align), width in zip(cells, widths, strict=True):
            sheet.cell(width, 8, text, border=1, align=align)
        sheet.ln()
    sheet.ln(4)
    for rate in quote.tax_breakdown:
        label = CATEGORY_LABELS[rate["category"]]
        sheet.cell(
            0,
            6,
            f"{label}  小計 {money(rate['subtotal'], currency)}  消費税 {money(rate['tax'], currency)}",
            align="R",
            new_x="LMARGIN",
            new_y="NEXT",
        )
    sheet.cell(
        0,
        6,
        f"小計 {money(quote.subtotal, currency)}  消費税 {money(quote.tax, currency)}",
        align="R",
        new_x="LMARGIN",
        new_y="NEXT",
    )
    sheet.set_font("jp", size=12)
    sheet.cell(0, 8, f"合計 {money(quote.total, currency)}", align="R", new_x="LMARGIN", new_y="NEXT")
    sheet.set_font("jp", size=8)
    if any(line.tax_category == "reduced" for line in lines):
        sheet.cell(0, 6, "※は軽減税率（8%）対象です。", new_x="LMARGIN", new_y="NEXT")
    sheet.cell(0, 6, "消費税は税率ごとに合計した金額に対して計算しています。", new_x="LMARGIN", new_y="NEXT")
    return bytes(sheet.output())
