"""Normalisation for matching and search, where Japanese input is the common case.

Everything that compares two spellings of one thing goes through here, so that ＡＢＣ and abc,
ヤマダ and やまだ, ０３－１２３４－５６７８ and +81312345678 meet."""

from __future__ import annotations

import functools
import re
import unicodedata

import phonenumbers

_HIRAGANA_START, _HIRAGANA_END = 0x3041, 0x3096
_KATAKANA_OFFSET = 0x60

# Legal forms stripped when matching company names, longest first so (株) does not eat 株式会社.
_LEGAL_FORMS = sorted(
    [
        "株式会社",
        "有限会社",
        "合同会社",
        "合資会社",
        "合名会社",
        "一般社団法人",
        "一般財団法人",
        "公益社団法人",
        "公益財団法人",
        "特定非営利活動法人",
        "医療法人",
        "学校法人",
        "社会福祉法人",
        "(株)",
        "(有)",
        "(同)",
        "㈱",
        "㈲",
        "inc.",
        "inc",
        "incorporated",
        "corp.",
        "corp",
        "corporation",
        "co., ltd.",
        "co.,ltd.",
        "co. ltd.",
        "co ltd",
        "co.",
        "ltd.",
        "ltd",
        "limited",
        "llc",
        "l.l.c.",
        "plc",
        "gmbh",
        "ag",
        "s.a.",
        "sa",
        "k.k.",
        "kk",
        "g.k.",
        "gk",
        "pte. ltd.",
        "pty ltd",
        "company",
    ],
    key=len,
    reverse=True,
)
_SPACE = re.compile(r"\s+")
_EDGE_PUNCT = " ,.・-"


def nfkc(value: str) -> str:
    """Full-width ASCII to half-width, half-width katakana to full-width, compatibility forms folded."""
    return unicodedata.normalize("NFKC", value)


def hiragana_to_katakana(value: str) -> str:
    return "".join(chr(ord(ch) + _KATAKANA_OFFSET) if _HIRAGANA_START <= ord(ch) <= _HIRAGANA_END else ch for ch in value)


def fold(value: str | None) -> str:
    """The search form of any text: NFKC, lower case, hiragana as katakana, spaces collapsed."""
    if not value:
        return ""
    return _SPACE.sub(" ", hiragana_to_katakana(nfkc(value).lower())).strip()


def search_key(value: str | None) -> str:
    """`fold` without spaces, so 山田太郎 finds 山田 太郎 and ヤマダタロウ finds ヤマダ タロウ."""
    return fold(value).replace(" ", "")


_PHONE_LIKE = re.compile(r"^\+?[\d\s\-().]{3,}$")


def search_query_key(query: str) -> str:
    """What a search box's text is matched as: phone-like input (03-1234, (090) 1234) loses its
    punctuation, because the search text stores phone numbers as digits."""
    text = nfkc(query).strip()
    if _PHONE_LIKE.match(text):
        return re.sub(r"\D", "", text)
    return search_key(text)


def normalize_email(value: str) -> str:
    """An email address as stored and compared: NFKC, trimmed, lower case."""
    return nfkc(value).strip().lower()


EMAIL_PATTERN = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def is_valid_email(value: str) -> bool:
    """Whether `value` looks like one email address (local@domain.tld, at most 320 characters)."""
    return bool(EMAIL_PATTERN.match(normalize_email(value))) and len(value) <= 320


class InvalidPhoneNumber(ValueError):
    pass


def normalize_phone(value: str, default_region: str = "JP") -> str:
    """E.164 form of a phone number written any way a person writes it (full-width digits included)."""
    text = nfkc(value).strip()
    try:
        parsed = phonenumbers.parse(text, default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhoneNumber("not a phone number") from exc
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidPhoneNumber("not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def display_phone(e164: str) -> str:
    """A stored E.164 number as people write it: Japanese numbers in national form (03-1234-5678),
    others in international form (+1 650-253-0000); `normalize_phone` reads both back."""
    parsed = phonenumbers.parse(e164)
    national = parsed.country_code == 81
    return phonenumbers.format_number(
        parsed, phonenumbers.PhoneNumberFormat.NATIONAL if national else phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )


@functools.lru_cache(maxsize=4096)  # an import asks it of each row's company several times (a fifth of its CPU)
def company_match_name(name: str) -> str:
    """Company name for duplicate detection: 株式会社ABC, ABC Inc. and ＡＢＣ（株） all give `abc`."""
    text = nfkc(name).lower()
    changed = True
    while changed:
        changed = False
        stripped = text.strip(_EDGE_PUNCT)
        for form in _LEGAL_FORMS:
            if stripped.startswith(form) and (
                len(stripped) == len(form) or not form.isascii() or not stripped[len(form)].isalnum()
            ):
                stripped, changed = stripped[len(form) :], True
                break
            if stripped.endswith(form) and (
                len(stripped) == len(form) or not form.isascii() or not stripped[-len(form) - 1].isalnum()
            ):
                stripped, changed = stripped[: -len(form)], True
                break
        text = stripped
    return search_key(text)


def like_pattern(fragment: str) -> str:
    """A LIKE pattern matching `fragment` anywhere; the escape character is backslash."""
    escaped = fragment.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"
