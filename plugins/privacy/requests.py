"""Data-subject requests (GDPR Arts. 15–21, APPI Arts. 33–35): intake, deadlines, review, and
execution across every installed plugin with one report per plugin.

Modelled on ethyca/fides (request → per-system runs → report) and going further where it falls
short: calendar-month deadlines with one extension, legal holds that keep records through an
erasure and a nightly job that finishes it when they end, retries of only the failed plugins, and
status history kept as proof.

This module holds a request's status, with its history, and the officer's review (approve, deny,
cancel, extend, complete by hand). Intake is in `intake.py`, deadlines in `deadlines.py`, execution
in `execution.py`, legal holds in `legal_holds.py`, the prepared exports in `export_delivery.py`."""

from __future__ import annotations

from sqlalchemy import select

from enishi.plugin import Checker, UnitOfWork

from . import deadlines
from .events import REQUEST_STATUS_CHANGED
from .models import OPEN_STATUSES, PrivacyRequest, PrivacyRequestEvent
from .service import fail

MAX_EXTENSION_MONTHS = 2


async def transition(uow: UnitOfWork, request: PrivacyRequest, status: str, note: str | None = None) -> None:
    request.status = status
    uow.session.add(
        PrivacyRequestEvent(request_id=request.id, status=status, note=note, actor_id=uow.actor_id, at=uow.clock.now())
    )
    await uow.session.flush()
    await uow.emit(REQUEST_STATUS_CHANGED, request.id, {"type": request.type, "status": status})


async def load(uow: UnitOfWork, request_id, statuses: tuple[str, ...], action: str) -> PrivacyRequest:
    request = (
        await uow.session.execute(select(PrivacyRequest).where(PrivacyRequest.id == request_id).with_for_update())
    ).scalar_one_or_none()
    if request is None:
        raise fail("id", "no such request", "NOT_FOUND")
    if request.status not in statuses:
        raise fail("id", f"a request that is {request.status} cannot be {action}", "INVALID_STATUS")
    return request


async def approve(uow: UnitOfWork, request_id) -> PrivacyRequest:
    request = await load(uow, request_id, ("pending_review",), "approved")
    await transition(uow, request, "approved")
    return request


async def deny(uow: UnitOfWork, request_id, reason: str | None) -> PrivacyRequest:
    check = Checker()
    reason = check.text({"reason": reason}, "reason", max_length=1000, required=True)
    check.done()
    request = await load(uow, request_id, ("received", "pending_review", "approved"), "denied")
    if request.type == "objection":
        raise fail("id", "an objection to direct marketing cannot be refused (GDPR Art. 21(3))", "NOT_ALLOWED")
    request.decision_reason, request.completed_at = reason, uow.clock.now()
    await transition(uow, request, "denied", reason)
    return request


async def cancel(uow: UnitOfWork, request_id, reason: str | None) -> PrivacyRequest:
    request = await load(
        uow, request_id, ("received", "identity_unverified", "pending_review", "approved", "awaiting_manual"), "canceled"
    )
    request.decision_reason = (reason or "").strip()[:1000] or None
    await transition(uow, request, "canceled", request.decision_reason)
    return request


async def extend(uow: UnitOfWork, request_id, months: int, reason: str | None) -> PrivacyRequest:
    """GDPR Art. 12(3): once, by up to two further months, with the reason told to the subject."""
    check = Checker()
    reason = check.text({"reason": reason}, "reason", max_length=1000, required=True)
    if not 1 <= months <= MAX_EXTENSION_MONTHS:
        check.fail("months", f"must be 1 to {MAX_EXTENSION_MONTHS}", "OUT_OF_RANGE")
    check.done()
    request = await load(uow, request_id, OPEN_STATUSES, "extended")
    if request.regime != "gdpr":
        raise fail("id", "only GDPR deadlines can be extended", "NOT_ALLOWED")
    if request.extended:
        raise fail("id", "the deadline was already extended once", "ALREADY_EXTENDED")
    request.extended, request.extension_reason = True, reason
    request.due_at = deadlines.end_of(uow.settings, deadlines.due_date(uow.settings, request.regime, request.received_at, months))
    await transition(uow, request, request.status, f"deadline extended by {months} month(s): {reason}")
    return request


async def complete_manual(uow: UnitOfWork, request_id, note: str | None) -> PrivacyRequest:
    """Close a request that needed a person's work (a rectification applied by hand)."""
    request = await load(uow, request_id, ("awaiting_manual",), "completed")
    request.completed_at = uow.clock.now()
    await transition(uow, request, "completed", (note or "").strip()[:1000] or "done by hand")
    return request
