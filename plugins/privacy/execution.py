"""Carrying out an approved data-subject request across every installed plugin, one transaction
and one report per plugin, and the proof that an erasure left nothing behind. Separate from intake
and review: it is the part that runs in a worker, resumes after a crash and retries.

Execution is resumable by construction: every plugin's part is its own transaction that records
its report, so a crash midway leaves finished parts finished, and running the request again
(an expired lease lets another worker take it) completes the rest. Erasure hooks are idempotent."""

from __future__ import annotations

import datetime as dt
import json
import logging

from sqlalchemy import LargeBinary, or_, select, update

from enishi.plugin import (
    Base,
    Contact,
    DataSubject,
    Sealable,
    UnitOfWork,
    checkpoint,
    delete_contact,
    encrypt,
    subject_key,
)

from . import access_log, requests, service
from .export_delivery import prepare_exports
from .legal_holds import active_holds
from .models import PrivacyRequest, PrivacyRequestRun

log = logging.getLogger("enishi.privacy")

COLLECTING = ("access", "portability", "appi_disclosure")
DEFAULT_LEASE_SECONDS = 15 * 60
# Privacy erases last: its part destroys the subject's key, which the others' parts may still need.
ERASE_LAST = ("core", "privacy")


def lease(settings) -> dt.timedelta:
    """How long a worker holds a request it runs: longer than any execution takes, since another
    worker may take the request once it ran out (`extra.privacy_request_lease_seconds`)."""
    return dt.timedelta(seconds=int(settings.extra.get("privacy_request_lease_seconds", DEFAULT_LEASE_SECONDS)))


def _plan(runtime, request_type: str) -> list[tuple[str, str]]:
    """(plugin, action) in the order they run."""
    if request_type in COLLECTING:
        return [(impl.plugin_name, "collect") for impl in runtime.plugins.implementations("enishi_subject_collect")]
    if request_type == "erasure":
        names = [impl.plugin_name for impl in runtime.plugins.implementations("enishi_subject_erase")]
        return [(name, "erase") for name in sorted(names, key=lambda n: ERASE_LAST.index(n) + 1 if n in ERASE_LAST else 0)]
    return []


async def _subject(uow: UnitOfWork, contact_id) -> DataSubject:
    holds = await active_holds(uow.session, contact_id, uow.clock.now().astimezone(uow.settings.zone).date())
    return DataSubject(
        contact_id,
        held={
            (h.entity, h.record_id): {
                "basis": h.basis,
                "reference": h.reference,
                "until": h.until.isoformat() if h.until else None,
            }
            for h in holds
        },
    )


async def _claim(runtime, request_id, actor_id, statuses: tuple[str, ...]) -> bool:
    """Take the request for this worker: one conditional UPDATE, so two callers never run it at once.
    An in-progress request whose lease ran out was left by a crash and may be taken again."""
    now = runtime.clock.now()
    async with runtime.unit_of_work(actor_id) as uow:
        taken = (
            await uow.session.execute(
                update(PrivacyRequest)
                .where(
                    PrivacyRequest.id == request_id,
                    PrivacyRequest.status.in_(statuses)
                    | ((PrivacyRequest.status == "in_progress") & (PrivacyRequest.lease_until < now)),
                )
                .values(lease_until=now + lease(runtime.settings))
                .execution_options(synchronize_session=False)
            )
        ).rowcount
        if not taken:
            return False
        request = await uow.session.get(PrivacyRequest, request_id)
        if request.status != "in_progress":
            await requests.transition(uow, request, "in_progress")
        if request.type == "erasure":
            await take_out_of_use(uow, request.contact_id)
            # Who ran it (or retried it, or the nightly job: no user), when, which request: ids only.
            await access_log.append(
                uow, request.contact_id, "dsr_erasure_executed", f"data-subject request {request.id} (erasure)"
            )
        known = {
            (r.plugin, r.action)
            for r in (
                await uow.session.execute(select(PrivacyRequestRun).where(PrivacyRequestRun.request_id == request_id))
            ).scalars()
        }
        for position, (plugin, action) in enumerate(_plan(runtime, request.type)):
            if (plugin, action) not in known:
                uow.session.add(PrivacyRequestRun(request_id=request_id, plugin=plugin, action=action, position=position))
    return True


async def take_out_of_use(uow: UnitOfWork, contact_id) -> None:
    """Before any part of an erasure runs, the person leaves circulation: locked (so writes that
    share-locked them commit first, and the parts see what they wrote), then soft-deleted, so every
    later write naming them finds no one. Otherwise a ticket created after the support part ran
    and before the core part would outlive the erasure."""
    contact = (await uow.session.execute(select(Contact).where(Contact.id == contact_id).with_for_update())).scalar_one_or_none()
    if contact is not None and contact.deleted_at is None:
        await delete_contact(uow, contact_id)


async def execute(runtime, request_id, actor_id=None, *, statuses: tuple[str, ...] = ("approved",)) -> None:
    """Run an approved request (or continue one). Raises InputError when it cannot be run now."""
    if not await _claim(runtime, request_id, actor_id, statuses):
        async with runtime.unit_of_work(actor_id) as uow:
            await requests.load(uow, request_id, statuses, "run now")  # raises, saying why: not found, or its status
    async with runtime.read_session() as session:
        runs = (
            (
                await session.execute(
                    select(PrivacyRequestRun)
                    .where(PrivacyRequestRun.request_id == request_id, PrivacyRequestRun.status != "done")
                    .order_by(PrivacyRequestRun.position)
                )
            )
            .scalars()
            .all()
        )
    for run in runs:
        await _run_one(runtime, request_id, run, actor_id)
    async with runtime.unit_of_work(actor_id) as uow:
        request = await uow.session.get(PrivacyRequest, request_id, with_for_update=True)
        await _finish(uow, request)
    if request.type == "erasure" and request.status != "failed":
        # The erased rows were zeroed (secure_delete); now the WAL copy of them goes too.
        await checkpoint(runtime.engine)


async def _run_one(runtime, request_id, planned: PrivacyRequestRun, actor_id) -> None:
    hook = {"collect": "enishi_subject_collect", "erase": "enishi_subject_erase"}
    try:
        async with runtime.unit_of_work(actor_id) as uow:
            run = await uow.session.get(PrivacyRequestRun, planned.id, with_for_update=True)
            request = await uow.session.get(PrivacyRequest, request_id)
            impl = next((i for i in runtime.plugins.implementations(hook[run.action]) if i.plugin_name == run.plugin), None)
            if impl is None:
                raise LookupError("the plugin is no longer installed")
            result = await runtime.plugins.call_one(impl, uow=uow, subject=await _subject(uow, request.contact_id))
            if run.action == "collect":
                if result:
                    if (key := await subject_key(uow, request.contact_id)) is None:
                        raise LookupError("the subject's key was destroyed")
                    run.section = encrypt(key, json.dumps(result, ensure_ascii=False, default=str), b"privacy-section")
            else:
                affected = dict(run.affected or {})
                for name, count in result.affected.items():
                    affected[name] = affected.get(name, 0) + count
                run.affected, run.retained = affected, list(result.retained)
            run.status, run.attempts, run.error, run.finished_at = "done", run.attempts + 1, None, uow.clock.now()
    except Exception as exc:  # noqa: BLE001 - one plugin's failure is recorded and retried, never lost
        log.error(
            "data-subject request part failed",
            extra={"request": str(request_id), "plugin": planned.plugin, "error": type(exc).__name__},
        )
        async with runtime.unit_of_work(actor_id) as uow:
            run = await uow.session.get(PrivacyRequestRun, planned.id, with_for_update=True)
            run.status, run.attempts, run.error, run.finished_at = "failed", run.attempts + 1, type(exc).__name__, uow.clock.now()


async def _finish(uow: UnitOfWork, request: PrivacyRequest) -> None:
    runs = (
        (
            await uow.session.execute(
                select(PrivacyRequestRun).where(PrivacyRequestRun.request_id == request.id).order_by(PrivacyRequestRun.position)
            )
        )
        .scalars()
        .all()
    )
    request.lease_until = None
    failed = [r.plugin for r in runs if r.status != "done"]
    if failed:
        # Nothing is released: no export, no "completed", until a retry finishes the failed parts.
        await requests.transition(uow, request, "failed", f"failed in: {', '.join(failed)}")
        return
    if request.type in COLLECTING:
        await prepare_exports(uow, request, runs)
    elif request.type in ("restriction", "appi_stop_use"):
        await service.restrict(
            uow, request.contact_id, "stop_use" if request.type == "appi_stop_use" else "restriction", request.id
        )
    elif request.type in ("objection", "appi_stop_provision"):
        purpose = "marketing" if request.type == "objection" else "third_party_provision"
        await service.record_consent(
            uow, request.contact_id, {"purpose": purpose, "state": "withdrawn", "source": "dsr", "method": request.type}
        )
    elif request.type == "rectification":
        await requests.transition(uow, request, "awaiting_manual", "apply the corrections, then complete the request")
        return
    if request.type == "erasure":
        expected = {item["entity"] for r in runs for item in (r.retained or [])}
        if left := {table: rows for table, rows in (await leftovers(uow, request.contact_id)).items() if table not in expected}:
            # Every plugin said it erased, yet personal data is still linked to the person: not done.
            await requests.transition(
                uow,
                request,
                "failed",
                "verification found personal data left in: "
                + ", ".join(f"{table} ({rows})" for table, rows in sorted(left.items())),
            )
            return
    kept = [item for r in runs for item in (r.retained or []) if item.get("legal_hold")]
    request.completed_at = uow.clock.now()
    await requests.transition(
        uow,
        request,
        "completed_with_exceptions" if kept else "completed",
        "kept under legal hold: " + "; ".join(f"{k['entity']} ({k['basis']})" for k in kept) if kept else None,
    )


EMPTY: tuple[object, ...] = (None, "", {}, [])


async def leftovers(uow: UnitOfWork, contact_id) -> dict[str, int]:
    """The erasure's proof, from the catalog rather than from the plugins' word: every table linked
    to the contact by a foreign key, and the contact row itself, is read for declared personal
    fields still holding something. A sealed field (binary) counts while the key it is sealed
    under is alive: a message the person wrote on someone else's ticket is readable under that
    ticket's key. The privacy plugin's own binary columns are sealed under the person's key."""
    declared: dict[str, list[str]] = {}
    for _, field in uow.runtime.plugins.contributions("enishi_personal_data"):
        declared.setdefault(field.entity, []).append(field.field)
    sealable = {mapper.local_table.name: mapper.class_ for mapper in Base.registry.mappers if issubclass(mapper.class_, Sealable)}  # type: ignore[attr-defined]  # a mapper's local_table is typed FromClause; ours are Tables
    found = {}
    for table in Base.metadata.sorted_tables:
        links = [c for c in table.columns if any(fk.target_fullname == "core_contact.id" for fk in c.foreign_keys)]
        if table.name == "core_contact":
            links = [table.c.id]
        fields = [table.c[name] for name in declared.get(table.name, ()) if name in table.c]
        plain = [c for c in fields if not isinstance(c.type, LargeBinary)]
        sealed = [c for c in fields if isinstance(c.type, LargeBinary)] if table.name in sealable else []
        if not links or not (plain or sealed):
            continue
        linked = or_(*(link == contact_id for link in links))
        if sealed:
            rows = (
                (await uow.session.execute(select(sealable[table.name]).where(linked).execution_options(populate_existing=True)))
                .scalars()
                .all()
            )
            count = sum(
                1
                for row in rows
                if any(getattr(row, c.name) not in EMPTY for c in plain)
                or (_key_alive(row) and any(getattr(row, c.name) is not None for c in sealed))
            )
        else:
            count = sum(
                1 for row in (await uow.session.execute(select(*plain).where(linked))).all() if any(v not in EMPTY for v in row)
            )
        if count:
            found[table.name] = count
    return found


def _key_alive(row) -> bool:
    """From the key row as stored (read again with the row), not a data key the session may still hold."""
    return row.wrapped_key is not None


async def retry(runtime, request_id, actor_id=None) -> None:
    """Run again only the parts that failed."""
    await execute(runtime, request_id, actor_id, statuses=("failed",))


async def finish_held_erasures(runtime) -> int:
    """Nightly: erasures that kept records under a legal hold are finished once no hold stands,
    and requests left in progress by a crash are picked up again."""
    now = runtime.clock.now()
    async with runtime.read_session() as session:
        waiting = (
            await session.execute(
                select(PrivacyRequest.id, PrivacyRequest.contact_id).where(
                    PrivacyRequest.type == "erasure", PrivacyRequest.status == "completed_with_exceptions"
                )
            )
        ).all()
        stalled = (
            (
                await session.execute(
                    select(PrivacyRequest.id).where(PrivacyRequest.status == "in_progress", PrivacyRequest.lease_until < now)
                )
            )
            .scalars()
            .all()
        )
        today = now.astimezone(runtime.settings.zone).date()
        ready = [request_id for request_id, contact_id in waiting if not await active_holds(session, contact_id, today)]
    for request_id in ready:
        async with runtime.unit_of_work() as uow:
            await uow.session.execute(
                update(PrivacyRequestRun)
                .where(PrivacyRequestRun.request_id == request_id)
                .values(status="pending")
                .execution_options(synchronize_session=False)
            )
        await execute(runtime, request_id, statuses=("completed_with_exceptions",))
    for request_id in stalled:
        await execute(runtime, request_id, statuses=())
    return len(ready) + len(stalled)
