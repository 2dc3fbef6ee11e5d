"""The personal-data catalog must be complete: every text, JSON or binary column of a table that points at
a contact is either declared through `enishi_personal_data` or marked not personal on the column
(`mapped_column(..., info={"personal": False})`). Start-up fails otherwise, naming the column."""

from __future__ import annotations

from sqlalchemy import JSON, LargeBinary, MetaData, Text

from .plugin_host import PluginError

CONTACT_TABLE = "core_contact"


def undeclared_columns(metadata: MetaData, declared: set[tuple[str, str]], owners: set[str]) -> list[str]:
    """Columns of installed plugins' tables (named `<plugin>_…`) that look personal and are undeclared."""
    missing = []
    for table in metadata.sorted_tables:
        if table.name.split("_", 1)[0] not in owners:
            continue
        linked = table.name == CONTACT_TABLE or any(
            fk.target_fullname.startswith(f"{CONTACT_TABLE}.") for fk in table.foreign_keys
        )
        if not linked:
            continue
        for column in table.columns:
            # Sealed fields (LargeBinary ciphertext) are personal data too, only unreadable at rest.
            kinds = (Text, JSON, LargeBinary)
            looks_personal = isinstance(column.type, kinds) or isinstance(getattr(column.type, "impl", None), kinds)
            if looks_personal and (table.name, column.name) not in declared and column.info.get("personal") is not False:
                missing.append(f"{table.name}.{column.name}")
    return missing


def check_catalog(metadata: MetaData, plugins) -> None:
    declared = {(field.entity, field.field) for _, field in plugins.contributions("enishi_personal_data")}
    owners = {info.name for info in plugins.installed()}
    missing = undeclared_columns(metadata, declared, owners)
    if missing:
        raise PluginError(
            "personal data not in the catalog (declare it with enishi_personal_data, or mark the column "
            f"info={{'personal': False}}): {', '.join(missing)}"
        )
