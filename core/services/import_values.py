"""Reading the values of an import's cells as people write them in Japanese offices: dates in any
of Excel's and the calendar's spellings, full names in one cell, several emails or phones in one.

Dates: Excel serial numbers, 2024/4/1, 2024-04-01, 2024.4.1, 2024年4月1日, 令和6年4月1日, R6.4.1,
R6/4/1 and 令和元年 (likewise 平成/H, 昭和/S, 大正/T, 明治/M) are all 2024-04-01: a calendar date,
read in the server's time zone (Asia/Tokyo) when it becomes a time.

Full names: a space (half- or full-width) separates family and given name; Latin names are read
given name first ("Taro Yamada" → Yamada, Taro). An unspaced Japanese name is split after the
longest common family name it starts with (`COMMON_FAMILY_NAMES`, the most frequent Japanese family
names) or, failing that, where kanji give way to kana (山田たろう); otherwise the split is ambiguous
and the whole name is kept as the family name, which the import report says."""

from __future__ import annotations

import datetime as dt
import re

from ..normalize import nfkc
from ..wareki import ERAS

# Excel's day 0 (it counts 1900-02-29, which never was, so serials from 61 on are off by one from 1900-01-01).
EXCEL_EPOCH = dt.date(1899, 12, 30)
ERA_LETTERS = {"r": "令和", "h": "平成", "s": "昭和", "t": "大正", "m": "明治"}
_SEPARATED = re.compile(r"^(\d{4})\s*[/.\-年]\s*(\d{1,2})\s*[/.\-月]\s*(\d{1,2})\s*日?(?:[ t]\d{1,2}:\d{2}(?::\d{2})?)?$")
_ERA = re.compile(r"^(令和|平成|昭和|大正|明治|[rhstm])\s*(\d{1,2}|元)\s*[/.\-年]\s*(\d{1,2})\s*[/.\-月]\s*(\d{1,2})\s*日?$")
_SERIAL = re.compile(r"^\d{4,5}(?:\.0+)?$")
# Several values in one cell: `;` (full-width too, NFKC folds it), or one per line.
_VALUE_SEPARATOR = re.compile(r"[;\n\r]+")
_SPACES = re.compile(r"\s+")  # NFKC turns the full-width space into a plain one
# The most frequent Japanese family names (about 40% of the population), longest tried first.
_FAMILY_NAMES = """
佐藤 鈴木 高橋 田中 伊藤 渡辺 渡邊 山本 中村 小林 加藤 吉田 山田 佐々木 山口 松本 井上 木村
斎藤 斉藤 清水 山崎 池田 橋本 阿部 石川 山下 中島 石井 小川 前田 岡田 長谷川 藤田 後藤 近藤
村上 遠藤 青木 坂本 福田 太田 西村 藤井 金子 岡本 藤原 中野 三浦 原田 中川 松田 竹内 小野
田村 中山 和田 石田 森田 上田 内田 柴田 酒井 宮崎 横山 高木 安藤 宮本 大野 小島 谷口 今井
工藤 高田 増田 丸山 杉山 村田 大塚 新井 小山 平野 藤本 河野 上野 野口 武田 松井 千葉 岩崎
菅原 木下 久保 佐野 野村 松尾 市川 菊地 杉本 古川 大西 島田 水野 桜井 高野 渡部 吉川 山内
西田 飯田 菊池 西川 小松 北村 安田 五十嵐 川口 平田 中田 久保田 服部 岩田 土屋 川崎 福島 本田
樋口 秋山 田口 永井 山中 中西 吉村 川上 石原 大橋 松岡 馬場 浜田 森本 星野 矢野 浅野 大久保
松下 小池 荒木 大谷 内藤 松浦 熊谷 黒田 尾崎 永田 川村 望月 田辺 松村 荒井 大島 平井 早川
菅野 栗原 西山 広瀬 横田 石橋 萩原 岩本 片山 関口 宮田 大石 本間 須藤 高山 岡崎 小田 吉岡
宮下 岩瀬 鈴村
"""
COMMON_FAMILY_NAMES = sorted(set(_FAMILY_NAMES.split()), key=len, reverse=True)


def excel_serial_date(serial: float) -> dt.date:
    return EXCEL_EPOCH + dt.timedelta(days=int(serial))


def parse_date(value: object) -> dt.date:
    """A calendar date from a cell (a workbook's date, an Excel serial, or text); ValueError if none."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return excel_serial_date(value)
    text = nfkc(str(value)).strip().lower()
    if _SERIAL.match(text):
        return excel_serial_date(float(text))
    if match := _SEPARATED.match(text):
        return dt.date(*(int(part) for part in match.groups()))
    if match := _ERA.match(text):
        era, year_text, month, day = match.groups()
        offset, began = ERAS[ERA_LETTERS.get(era, era)]
        date = dt.date(offset + (1 if year_text == "元" else int(year_text)), int(month), int(day))
        if date < began:
            raise ValueError("before the era began")
        return date
    raise ValueError("not a date")


def split_values(text: str) -> list[str]:
    """The values of a cell holding several (emails, phones): separated by `;`, `；` or lines."""
    return [part.strip() for part in _VALUE_SEPARATOR.split(nfkc(text)) if part.strip()]


def _is_kanji(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff" or ch in "々〆ヶ"


def _is_kana(ch: str) -> bool:
    return "\u3041" <= ch <= "\u30ff" and ch not in "ヶ"


def split_full_name(full: str) -> tuple[str, str | None, bool]:
    """(family name, given name, ambiguous) of a name written in one cell; see the module's docstring."""
    parts = _SPACES.split(nfkc(full).strip())
    if len(parts) >= 2:
        if all(part.isascii() for part in parts):
            return parts[-1], " ".join(parts[:-1]), False
        return parts[0], " ".join(parts[1:]), False
    name = parts[0]
    if name.isascii():
        return name, None, True
    for family in COMMON_FAMILY_NAMES:
        if name.startswith(family) and len(name) > len(family):
            return family, name[len(family) :], False
    for i in range(1, len(name)):
        if _is_kanji(name[i - 1]) and _is_kana(name[i]) and all(_is_kanji(ch) for ch in name[:i]):
            return name[:i], name[i:], False
    return name, None, True
