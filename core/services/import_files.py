"""Reading an import file row by row: `.xlsx` (openpyxl, read-only: one row at a time), CSV and
TSV in UTF-8 (BOM or not), UTF-16 (Excel's "Unicode text": tab-separated, with a BOM) and CP932
(Excel's Shift_JIS). Nothing here holds the whole file, decodes it at once or keeps its rows: a file
is an open binary file (an upload spooled to disk, the CLI's file; bytes are taken too), every
reader is a generator, and the format is found by reading it in chunks. A text cell's leading `'` before
a formula's first character is the escape Enishi's CSV files write (`escape_formula`): read without it.

Rows carry their number as Excel shows it (the header is row 1; blank rows keep their numbers; a
quoted cell spanning lines is one row). A file Python's csv module cannot read whole (a quote that
never closes swallows every row after it) is refused with the row where the quote opened."""

from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from ..errors import InputError, UserError

XLSX = "xlsx"
XLSX_MAGIC = b"PK\x03\x04"
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)
# The encodings an import is read in, as stored on the job: tried in this order for text files.
TEXT_ENCODINGS = ("utf-8-sig", "cp932")
_CHUNK = 1 << 16
_TEXT_BUFFER = 1 << 13  # what a stream hands the decoder at a time
csv.field_size_limit(1 << 20)  # a memo of a megabyte is still a cell; past that, a broken file

Cell = str | int | float | bool | dt.datetime | dt.date | dt.time | None
# What makes a spreadsheet run a CSV cell as a formula ("CSV injection": `=HYPERLINK(…)`, `@SUM(…)`,
# `+1 415…`, `-2+3`): the CSV files Enishi writes put such a cell behind a `'` (`escape_formula`),
# which Excel shows as text, and the import takes exactly that `'` off again (`unescape_formula`).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_formula(text: str) -> str:
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def unescape_formula(text: str) -> str:
    return text[1:] if text.startswith("'") and text[1:].startswith(FORMULA_STARTS) else text


def file_error(message: str, code: str, field: str = "file") -> InputError:
    return InputError(UserError(field, message, code))


@dataclass(frozen=True)
class FileFormat:
    """How to read a file: `encoding` is xlsx for a workbook; `delimiter` is "," or "\\t" for text."""

    encoding: str
    delimiter: str = ","
    sheet: str | None = None

    @property
    def is_xlsx(self) -> bool:
        return self.encoding == XLSX


def binary_file(data: bytes | BinaryIO) -> BinaryIO:
    """A file's bytes as a file (callers holding bytes: a base64 upload, tests)."""
    return io.BytesIO(data) if isinstance(data, bytes) else data


def _chunks(file: BinaryIO) -> Iterator[bytes]:
    file.seek(0)
    while chunk := file.read(_CHUNK):
        yield chunk


def _decodes(file: BinaryIO, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        for chunk in _chunks(file):
            decoder.decode(chunk)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def detect_format(data: bytes | BinaryIO, filename: str | None = None, sheet: str | None = None) -> FileFormat:
    """The format of a file: a workbook by its zip signature, UTF-16 by its BOM, else UTF-8 if it
    decodes, else CP932; tab-separated for `.tsv`, UTF-16 and a first line with more tabs than commas."""
    file = binary_file(data)
    blank, nul = True, False
    for chunk in _chunks(file):
        blank, nul = blank and not chunk.strip(), nul or b"\x00" in chunk
    if blank:
        raise file_error("is empty", "EMPTY_FILE")
    file.seek(0)
    start = file.read(_CHUNK)
    if start.startswith(XLSX_MAGIC):
        return FileFormat(XLSX, sheet=sheet)
    if start.startswith(UTF16_BOMS):
        encoding = "utf-16"
    elif nul:  # CP932 decodes almost any bytes; NUL is how binary files give themselves away
        raise file_error("is neither a workbook nor a text file", "INVALID_ENCODING")
    else:
        encoding = next((e for e in TEXT_ENCODINGS if _decodes(file, e)), "")
        if not encoding:
            raise file_error("is neither UTF-8, UTF-16 nor Shift_JIS text", "INVALID_ENCODING")
    first_line = start[: start.find(b"\n") if b"\n" in start else _CHUNK].decode(encoding, errors="replace")
    tabbed = encoding == "utf-16" or (filename or "").lower().endswith(".tsv") or first_line.count("\t") > first_line.count(",")
    return FileFormat(encoding, "\t" if tabbed else ",")


def read_rows(data: bytes | BinaryIO | io.RawIOBase, file_format: FileFormat) -> Iterator[tuple[int, list[Cell]]]:
    """(row number, cells) for every row, the header first, blank rows included: from the start of
    a file (or its bytes), or for a text file from a stream of them as they come
    (`import_source.SourceStream`)."""
    if isinstance(data, io.RawIOBase):
        assert not file_format.is_xlsx, "a workbook is read from a file: a zip needs to seek"
        return _text_rows(io.BufferedReader(data, _TEXT_BUFFER), file_format)
    file = binary_file(data)
    file.seek(0)
    return _xlsx_rows(file, file_format.sheet) if file_format.is_xlsx else _text_rows(file, file_format)


def _text_rows(binary: BinaryIO | io.BufferedReader, file_format: FileFormat) -> Iterator[tuple[int, list[Cell]]]:
    text = io.TextIOWrapper(binary, encoding=file_format.encoding, newline="")
    try:
        yield from _csv_rows(text, file_format)
    finally:
        text.detach()  # the file stays open: its owner reads it again (a dry run) or closes it


def _csv_rows(text: io.TextIOWrapper, file_format: FileFormat) -> Iterator[tuple[int, list[Cell]]]:
    # strict: a quote left open is an error at the end of the file, not the rest of the file in one cell
    reader = csv.reader(text, delimiter=file_format.delimiter, strict=True)
    number = 0
    while True:
        number += 1
        started_on_line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error:
            raise file_error(
                f"row {number} (line {started_on_line}): a quote opens and never closes properly, so the rows after it "
                "cannot be told apart; close the quote and import again",
                "UNCLOSED_QUOTE",
            ) from None
        yield number, [unescape_formula(cell) for cell in row]


def _xlsx_rows(file: BinaryIO, sheet: str | None) -> Iterator[tuple[int, list[Cell]]]:
    from openpyxl import load_workbook  # imported here: only workbooks need it

    try:  # read-only: openpyxl parses the sheet's XML a row at a time, straight from the zip in the file
        workbook = load_workbook(file, read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise file_error("is not an .xlsx workbook Enishi can read", "INVALID_WORKBOOK") from None
    try:
        if sheet is not None and sheet not in workbook.sheetnames:
            raise file_error("names no sheet of the workbook", "UNKNOWN_SHEET", "sheet")
        worksheet = workbook[sheet] if sheet is not None else workbook.worksheets[0]
        for number, values in enumerate(worksheet.iter_rows(values_only=True), start=1):
            yield number, list(values)
    finally:
        workbook.close()


def cell_text(value: Cell) -> str:
    """A cell as text: whole numbers without `.0` (Excel stores 123 as 123.0), dates as ISO."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime) and value.time() == dt.time():
        return value.date().isoformat()
    if isinstance(value, (dt.date, dt.time)):
        return value.isoformat()
    return str(value).strip()


def write_csv(header: list[str], rows: list[list[str]], file_format: FileFormat) -> bytes:
    """A CSV of `rows` under `header`, in the file's own encoding and delimiter (a workbook's as
    UTF-8 with a BOM, which Japanese Excel opens without garbling); characters the encoding
    cannot hold become `?`, cells a spreadsheet would run as formulas are escaped."""
    out = io.StringIO()
    writer = csv.writer(out, delimiter=file_format.delimiter, lineterminator="\r\n")
    writer.writerow([escape_formula(cell) for cell in header])
    writer.writerows([escape_formula(cell) for cell in row] for row in rows)
    encoding = "utf-8-sig" if file_format.is_xlsx else file_format.encoding
    return out.getvalue().encode(encoding, errors="replace")
