"""`complianceDeadlines`: every step the business still owes, across breach incidents (each
report not filed yet) and data-subject requests (each open one), as one SQL view so that the
kit's keyset pagination orders and pages it like any table: by due time, then kind, then id.

The view is mapped on a registry of its own, apart from the plugin's tables: it is a query, not
something migrations create."""

from __future__ import annotations

import datetime as dt
import uuid

from sqlalchemy import String, literal, select, union_all
from sqlalchemy.orm import Mapped, registry

from .models import OPEN_STATUSES, PrivacyIncident, PrivacyRequest

_open = PrivacyIncident.status != "closed"


def _incident_step(kind: str, due, filed, *required):
    return select(literal(kind, String(30)).label("kind"), PrivacyIncident.id.label("reference_id"), due.label("due_at")).where(
        _open, filed.is_(None), *required
    )


STEPS = union_all(
    _incident_step("gdpr_authority", PrivacyIncident.gdpr_authority_due_at, PrivacyIncident.gdpr_authority_filed_at),
    _incident_step(
        "appi_preliminary",
        PrivacyIncident.appi_preliminary_due_at,
        PrivacyIncident.appi_preliminary_filed_at,
        PrivacyIncident.appi_report_required.is_(True),
    ),
    _incident_step(
        "appi_final",
        PrivacyIncident.appi_final_due_at,
        PrivacyIncident.appi_final_filed_at,
        PrivacyIncident.appi_report_required.is_(True),
    ),
    select(
        literal("dsr_response", String(30)).label("kind"),
        PrivacyRequest.id.label("reference_id"),
        PrivacyRequest.due_at.label("due_at"),
    ).where(PrivacyRequest.status.in_(OPEN_STATUSES)),
).subquery("privacy_compliance_step")


class ComplianceStep:
    """One step owed: its kind, the incident or request it belongs to, when it is due."""

    kind: Mapped[str]
    reference_id: Mapped[uuid.UUID]
    due_at: Mapped[dt.datetime]


registry().map_imperatively(ComplianceStep, STEPS, primary_key=[STEPS.c.kind, STEPS.c.reference_id])
