"""Which field each column of an import file fills: recognised by its header (Japanese or English,
any case or width), or mapped explicitly (`--map "列名=field"`, the `mapping` input), or ignored
explicitly. A column that is none of these stops the import before anything is written
(`UNMAPPED_COLUMN`, naming it): nothing is ever dropped without a word.

Targets: the core's fields (`FIELDS`), `custom:<key>` for a custom field, and the keys of the
columns plugins contribute (`enishi_import_columns`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ..contributions import ImportColumn
from ..errors import InputError, UserError
from ..normalize import nfkc

CUSTOM_PREFIX = "custom:"
IGNORED = "ignore"
# The export writes the first spelling of each; the import reads every one (after `header_key`).
HEADERS: dict[str, tuple[str, ...]] = {
    "id": ("ID", "enishi id", "contact id", "連絡先ID"),
    "family_name": ("姓", "氏", "苗字", "family name", "last name", "surname"),
    "given_name": ("名", "下の名前", "given name", "first name"),
    "family_name_kana": ("セイ", "姓カナ", "姓(カナ)", "姓ふりがな", "せい", "family name kana", "last name kana"),
    "given_name_kana": ("メイ", "名カナ", "名(カナ)", "名ふりがな", "めい", "given name kana", "first name kana"),
    "full_name": ("氏名", "担当者名", "名前", "お名前", "担当者", "顧客名", "name", "full name", "contact name"),
    "full_name_kana": ("フリガナ", "ふりがな", "カナ", "氏名カナ", "氏名(カナ)", "よみがな", "furigana", "kana", "name kana"),
    "email": ("メールアドレス", "メール", "Eメール", "email", "e-mail", "mail", "email address", "e-mail address"),
    "phone": ("電話番号", "電話", "携帯", "携帯電話", "携帯番号", "TEL", "phone", "phone number", "mobile", "telephone"),
    "company": ("会社名", "会社", "企業名", "法人名", "取引先", "取引先名", "company", "company name", "account", "organization"),
    "department": ("部署", "部署名", "部門", "department"),
    "job_title": ("役職", "肩書", "肩書き", "job title", "title", "position"),
    "postal_code": ("郵便番号", "〒", "postal code", "zip", "zip code", "postcode"),
    "address": ("住所", "所在地", "address"),
    "owner": ("担当", "担当営業", "営業担当", "owner", "contact owner", "sales rep"),
    "last_contacted": ("最終対応日", "最終接触日", "最終連絡日", "最終コンタクト日", "last contacted", "last contact date"),
    "memo": ("メモ", "備考", "ノート", "notes", "note", "memo", "comment", "comments"),
    # The error report's extra column: its file re-imports as it is once the rows are fixed.
    IGNORED: ("エラー", "error", "errors", "import errors"),
}
FIELDS = tuple(HEADERS)
# Fields a row holds several values of (one per column, or several in a cell: `split_values`).
LIST_FIELDS = frozenset({"email", "phone"})


def header_key(header: str) -> str:
    """A header as matched: NFKC (full-width letters, half-width kana), lower case, no spaces or underscores."""
    return "".join(nfkc(header).lower().split()).replace("_", "")


_FIELD_OF = {header_key(spelling): name for name, spellings in HEADERS.items() for spelling in (name, *spellings)}


@dataclass(frozen=True)
class Column:
    index: int
    header: str
    target: str | None  # a field of FIELDS, `custom:<key>`, a plugin column's key; None: no header
    plugin: ImportColumn | None = None


@dataclass
class ColumnPlan:
    """The file's columns, each with what it fills; `ignored` ones are read and left alone."""

    header: list[str]
    columns: list[Column] = field(default_factory=list)

    def of(self, target: str) -> list[Column]:
        return [column for column in self.columns if column.target == target]


def _fail(field_name: str, message: str, code: str) -> InputError:
    return InputError(UserError(field_name, message, code))


def _target(text: str, plugin_columns: dict[str, ImportColumn]) -> str | None:
    """What a header or a mapping's right side names, or None."""
    stripped = nfkc(text).strip()
    if stripped.lower().startswith(CUSTOM_PREFIX):
        key = stripped[len(CUSTOM_PREFIX) :].strip()
        return CUSTOM_PREFIX + key if key else None
    if stripped in plugin_columns:
        return stripped
    key = header_key(stripped)
    if key in _FIELD_OF:
        return _FIELD_OF[key]
    for plugin_key, column in plugin_columns.items():
        if key in {header_key(spelling) for spelling in column.headers}:
            return plugin_key
    camel = "".join("_" + ch.lower() if ch.isupper() else ch for ch in stripped)  # familyName → family_name
    return camel if camel in HEADERS else None


def plan_columns(
    header: list[str],
    plugin_columns: list[ImportColumn],
    mapping: dict[str, str] | None = None,
    ignore: list[str] | None = None,
) -> ColumnPlan:
    """The plan for a file's header row; InputError (nothing written yet) for a column nobody
    recognised, mapped or ignored (`UNMAPPED_COLUMN`), a mapping naming no column of the file
    (`UNKNOWN_COLUMN`) or no field (`UNKNOWN_FIELD`)."""
    by_key = {column.key: column for column in plugin_columns}
    mapping, ignore = mapping or {}, ignore or []
    names = [nfkc(str(cell or "")).strip() for cell in header]
    errors = []
    for i, column_name in enumerate(mapping):
        if nfkc(column_name).strip() not in names:
            errors.append(UserError(f"mapping.{i}", f"the file has no column {column_name!r}", "UNKNOWN_COLUMN"))
        elif _target(mapping[column_name], by_key) is None:
            errors.append(UserError(f"mapping.{i}", f"{mapping[column_name]!r} is no field", "UNKNOWN_FIELD"))
    for i, column_name in enumerate(ignore):
        if nfkc(column_name).strip() not in names:
            errors.append(UserError(f"ignore.{i}", f"the file has no column {column_name!r}", "UNKNOWN_COLUMN"))
    if errors:
        raise InputError(errors)
    mapped = {nfkc(name).strip(): _target(value, by_key) for name, value in mapping.items()}
    ignored = {nfkc(name).strip() for name in ignore}
    plan = ColumnPlan(header=[str(cell or "") for cell in header])
    unmapped = []
    for index, name in enumerate(names):
        if not name:
            target = None
        elif name in ignored:
            target = IGNORED
        else:
            target = mapped.get(name) or _target(name, by_key)
        if name and target is None:
            unmapped.append(name)
        plan.columns.append(Column(index, name, target, by_key.get(target or "")))
    if unmapped:
        raise InputError(
            [
                UserError(
                    "file",
                    f'column {name!r} is neither recognised nor mapped: map it to a field (--map "{name}=field") '
                    f"or ignore it (--ignore {name!r})",
                    "UNMAPPED_COLUMN",
                )
                for name in unmapped
            ]
        )
    if not {"id", "family_name", "given_name", "full_name", "email", "phone"} & {c.target for c in plan.columns}:
        raise _fail(
            "file", "the first row must name the columns, with at least a name, an email or a phone column", "UNKNOWN_COLUMNS"
        )
    return plan
