"""The access/portability export: one JSON document with a section per plugin and the GDPR
Art. 15 metadata, and the same data as a zip of CSV files (UTF-8 with a BOM, so Excel opens
Japanese text correctly)."""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import zipfile

SCHEMA_VERSION = "enishi.dsr-export/1"
EXCEL_BOM = "\ufeff"


def document(request, sections: dict, catalog: list, recipients: list[str], generated_at: dt.datetime) -> dict:
    """`catalog` is the personal-data catalog (plugin, PersonalDataField) pairs: what the subject is
    told about purposes, categories, retention and sources comes from there."""
    holding = {plugin for plugin, section in sections.items() if section}
    fields = [f for plugin, f in catalog if plugin in holding]
    return {
        "schema": SCHEMA_VERSION,
        "generated_at": generated_at.isoformat(),
        "request": {
            "id": str(request.id),
            "type": request.type,
            "regime": request.regime,
            "received_at": request.received_at.isoformat(),
        },
        "metadata": {
            "purposes": sorted({p for f in fields for p in f.purposes}),
            "categories": sorted({f.category for f in fields}),
            "sources": sorted({f.provenance for f in fields}),
            "recipients": sorted(set(recipients)),
            "retention": {f"{f.entity}.{f.field}": f.erasure for f in fields},
        },
        "sections": {plugin: sections[plugin] for plugin in sorted(holding)},
    }


def to_json(doc: dict) -> bytes:
    return json.dumps(doc, ensure_ascii=False, indent=2).encode("utf-8")


def to_csv_zip(doc: dict) -> bytes:
    """One CSV per list of records (`<plugin>/<key>.csv`); nested values are written as JSON."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("metadata.csv", csv_text([{"key": k, "value": v} for k, v in doc["metadata"].items()]))
        for plugin, section in doc["sections"].items():
            for key, value in section.items():
                rows = value if isinstance(value, list) else [value]
                archive.writestr(f"{plugin}/{key}.csv", csv_text([r if isinstance(r, dict) else {key: r} for r in rows]))
    return buffer.getvalue()


def csv_text(rows: list[dict], columns: list[str] | None = None) -> str:
    """UTF-8 with a BOM, Excel's line ends, formula-like cells quoted; `columns` heads even an empty table."""
    columns = columns or list(dict.fromkeys(name for row in rows for name in row))
    out = io.StringIO()
    out.write(EXCEL_BOM)
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue()


def _cell(value):
    if value is None or isinstance(value, (int, float)):
        return value
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    # A cell starting like a formula would run in Excel (CSV injection): quote it as text.
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
