"""The `send_email` step: a message from the step's templates to contacts of the trigger's record,
sent through the outbox.

    {"id": "renewal_mail", "type": "send_email", "to": "account_contacts", "purpose": "marketing",
     "subject": "{{ record.name }}の更新のご案内",
     "body": "{{ contact.family_name }} 様\\n\\n{{ record.end_date }}に満了します。"}

* `to`: `contact` (the trigger's record when it is a contact, else the contact its `contact_id`
  names) or `account_contacts` (every contact linked to the trigger's account: itself, or the
  one its `account_id` names). Each recipient is judged on its own, in contact-id order.
* A recipient is skipped — the reason in the step's output, never a failure — when it has no
  primary address (`no_email`), has not granted the step's `purpose` where a consent ledger is
  installed (`no_consent`; the privacy plugin; with none installed the purpose is not checked),
  or the purpose's frequency cap on `email` is reached (`frequency_cap`, frequency_caps.py). A
  step sending to nobody is `skipped`, its output's `skipped` naming the reasons.
* The step, in the transaction that moves the run on (a retried step sends nothing twice),
  records each send for the caps and emits `automation.workflow_email` per recipient: ids only.
  The outbox's delivery of that event reads the address, renders the templates and sends
  (`send_for_event`: Message-ID is the event's id; the file transport files it under the contact,
  and erasure deletes it). Nothing rendered — names, addresses — is stored anywhere.

Templates (email_templates.py) are Jinja2 in a sandbox, checked when the definition is saved;
`subject` and `body` are plain text, the optional `html` is escaped automatically. Variables:
`contact` (`family_name`, `given_name`, `family_name_kana`, `given_name_kana` of the recipient),
`record` (the trigger's record: its columns, never sealed ones), `account` (the account's
columns, when there is one), `event` (the run's trigger payload) and `unsubscribe_url` (the link
withdrawing the recipient's consent to the step's purpose: the privacy plugin's one-click
`/privacy/withdraw/{token}` under ENISHI_PUBLIC_URL, also sent as the `List-Unsubscribe` header;
empty without a consent ledger). A missing one renders empty."""

from __future__ import annotations

import logging
import uuid
from typing import TYPE_CHECKING, Any

from jinja2 import TemplateError
from sqlalchemy import Row, delete, select

from enishi.plugin import (
    Account,
    Contact,
    ContactAccount,
    ContactEmail,
    EventType,
    PayloadField,
    Runtime,
    UnitOfWork,
    send_for_event,
)

from .email_templates import render, variables_named
from .frequency_caps import AutomationContactSend, AutomationFrequencyCap, capped
from .workflow_definition import steps_by_id, version_definition
from .workflow_models import AutomationWorkflowRun
from .workflow_people import note_recipients
from .workflow_records import Record, resolve

if TYPE_CHECKING:
    from .workflow_steps import StepContext

log = logging.getLogger("enishi.automation.workflows")

CHANNEL = "email"
NO_EMAIL, NO_CONSENT, CAPPED, NO_RECIPIENT = "no_email", "no_consent", "frequency_cap", "no_recipient"

WORKFLOW_EMAIL = EventType(
    "automation.workflow_email",
    "contact",
    "A workflow's `send_email` step mails a contact: the outbox's delivery renders the step's templates and sends them "
    "to the contact's primary address.",
    (
        PayloadField("workflow_id", str, "the workflow"),
        PayloadField("run_id", str, "the run"),
        PayloadField("step_id", str, "the step's id in the run's version"),
        PayloadField("purpose", str, "the purpose the message serves (`marketing`)"),
        PayloadField("account_id", str | None, "the account of the trigger's record, for the templates' `account`"),
    ),
    fires="by the scheduled job automation.workflows, in the transaction that takes the step",
)


async def _recipients(record: Record, to: str, account_id: Any) -> list[str]:
    if to == "contact":
        if record.table is not None and record.table.name == Contact.__tablename__:
            return [str(record.record_id)] if record.record_id else []
        contact_id = await resolve({"field": "contact_id"}, record)
        return [str(contact_id)] if contact_id else []
    if account_id is None:
        return []
    linked = await record.session.scalars(
        select(ContactAccount.contact_id)
        .join(Contact, Contact.id == ContactAccount.contact_id)
        .where(ContactAccount.account_id == uuid.UUID(str(account_id)), Contact.deleted_at.is_(None))
        .order_by(ContactAccount.contact_id)
    )
    return [str(contact_id) for contact_id in linked]


async def prepare(step: dict, record: Record, account_id: Any) -> dict:
    """Who the step mails, and for what: ids only (a dry run and the step's log show this)."""
    return {
        "to": step["to"],
        "purpose": step["purpose"],
        "account_id": account_id,
        "contact_ids": await _recipients(record, step["to"], account_id),
    }


async def _consenting(uow: UnitOfWork, contact_ids: list[uuid.UUID], purpose: str) -> set[uuid.UUID] | None:
    """The contacts who granted the purpose, per every consent ledger installed; None without one."""
    plugins = uow.runtime.plugins
    if not contact_ids or not plugins.implementations("enishi_consent_check"):
        return None
    ledgers = await plugins.call("enishi_consent_check", uow=uow, contact_ids=contact_ids, purpose=purpose)
    answers = [answer or {} for _, answer in ledgers]
    return {c for c in contact_ids if all(answer.get(c) is True for answer in answers)}


async def _standing(uow: UnitOfWork, contact_id: uuid.UUID, purpose: str, *, lock: bool) -> Row | None:
    """One read of what decides a recipient (a step is a transaction of a dozen round trips, and
    this is one per recipient instead of three): whether the contact is there — with `lock`, not
    deleted, and its row locked until the transaction ends (`FOR UPDATE OF` the contact only: the
    address and the cap are outer-joined), so the cap's count holds —, whether it has a primary
    address, and the purpose's cap on e-mail. None: no such contact (with `lock`, or a deleted one)."""
    cap = AutomationFrequencyCap
    primary = (ContactEmail.contact_id == Contact.id) & ContactEmail.is_primary.is_(True)
    query = (
        select(ContactEmail.id.label("address"), cap.max_sends, cap.period_days)
        .select_from(Contact)
        .outerjoin(ContactEmail, primary)
        .outerjoin(cap, (cap.channel == CHANNEL) & (cap.purpose == purpose))
        .where(Contact.id == contact_id)
        .limit(1)
    )
    if lock:
        query = query.where(Contact.deleted_at.is_(None)).with_for_update(of=Contact)
    return (await uow.session.execute(query)).first()


async def verdicts(uow: UnitOfWork, given: dict, *, lock: bool) -> list[tuple[uuid.UUID, str | None]]:
    """Each recipient with why it is skipped (None: it is sent). `lock`: the contact's row is
    locked first, so the cap's count holds until the transaction ends."""
    contact_ids = [uuid.UUID(contact_id) for contact_id in given["contact_ids"]]
    consenting = await _consenting(uow, contact_ids, given["purpose"])
    now = uow.clock.now()
    judged: list[tuple[uuid.UUID, str | None]] = []
    for contact_id in contact_ids:
        standing = await _standing(uow, contact_id, given["purpose"], lock=lock)
        cap = None if standing is None or standing.max_sends is None else (standing.max_sends, standing.period_days)
        if lock and standing is None:
            reason: str | None = NO_RECIPIENT
        elif standing is None or standing.address is None:
            reason = NO_EMAIL
        elif consenting is not None and contact_id not in consenting:
            reason = NO_CONSENT
        elif await capped(uow.session, contact_id, CHANNEL, given["purpose"], now, cap):
            reason = CAPPED
        else:
            reason = None
        judged.append((contact_id, reason))
    return judged


def _summary(recipients: list[dict]) -> dict:
    output: dict[str, Any] = {"recipients": recipients, "sent": sum("skipped" not in r for r in recipients)}
    if output["sent"] == 0:
        output["skipped"] = ", ".join(sorted({r["skipped"] for r in recipients})) or NO_RECIPIENT
    return output


async def preview(uow: UnitOfWork, given: dict) -> dict:
    """What the step would do now (the dry run): each recipient sent or skipped, and why."""
    judged = await verdicts(uow, given, lock=False)
    return {**given, **_summary([_recipient(c, reason) for c, reason in judged])}


def _recipient(contact_id: uuid.UUID, reason: str | None) -> dict:
    return {"contact_id": str(contact_id), **({"skipped": reason} if reason else {})}


async def apply(ctx: StepContext, given: dict) -> dict:
    """Record each send and queue its message; the skipped ones with their reason. A data
    subject's erasure finds the run through either: a send names it, and a skipped recipient is
    indexed (workflow_people.py) — a step mailing everyone writes no index row."""
    recipients = []
    judged = await verdicts(ctx.uow, given, lock=True)
    await note_recipients(ctx.uow.session, ctx.run_id, (contact_id for contact_id, reason in judged if reason))
    for contact_id, reason in judged:
        if reason is None:
            ctx.uow.session.add(
                AutomationContactSend(
                    contact_id=contact_id,
                    channel=CHANNEL,
                    purpose=given["purpose"],
                    run_id=ctx.run_id,
                    step_id=ctx.step["id"],
                    sent_at=ctx.uow.clock.now(),
                )
            )
            payload = {
                "workflow_id": str(ctx.workflow_id),
                "run_id": str(ctx.run_id),
                "step_id": ctx.step["id"],
                "purpose": given["purpose"],
                "account_id": given["account_id"],
            }
            await ctx.uow.emit(WORKFLOW_EMAIL, contact_id, payload)
        recipients.append(_recipient(contact_id, reason))
    await ctx.uow.session.flush()
    return _summary(recipients)


async def _variables(
    session, step: dict, run: AutomationWorkflowRun, contact: Contact, account_id: str | None, unsubscribe: str | None
) -> dict:
    """The templates' variables; the trigger's record and the account read only when a template names them."""
    named = variables_named(step)
    return {
        "contact": {
            "family_name": contact.family_name,
            "given_name": contact.given_name,
            "family_name_kana": contact.family_name_kana,
            "given_name_kana": contact.given_name_kana,
        },
        "record": await Record(session, run.entity, run.record_id).fields() if "record" in named else {},
        "account": await Record(session, Account.__tablename__, uuid.UUID(account_id)).fields()
        if account_id and "account" in named
        else {},
        "event": run.payload,
        "unsubscribe_url": unsubscribe or "",
    }


async def _withdrawal_link(runtime: Runtime, contact_id: uuid.UUID, purpose: str) -> str | None:
    """The consent ledger's link withdrawing the purpose's consent (the privacy plugin's); None without one."""
    answers = await runtime.plugins.call(
        "enishi_consent_withdrawal_link", settings=runtime.settings, contact_id=contact_id, purpose=purpose
    )
    return answers[0][1] if answers else None


async def _unsent(uow: UnitOfWork, payload: dict, contact_id: uuid.UUID, why: str, *, logged: bool = True) -> None:
    """The message is not sent after all: its send no longer counts against the frequency cap.
    The step's log (`logged`: the run is still there) names the recipient still, and no send leads
    a data subject's erasure to the run any more: the recipient is indexed instead."""
    run_id = uuid.UUID(payload["run_id"])
    removed = await uow.session.execute(
        delete(AutomationContactSend).where(
            AutomationContactSend.run_id == run_id,
            AutomationContactSend.step_id == payload["step_id"],
            AutomationContactSend.contact_id == contact_id,
        )
    )
    if logged and removed.rowcount:  # type: ignore[attr-defined]  # a DML statement's result
        await note_recipients(uow.session, run_id, [contact_id])
    log.info("workflow e-mail not sent: %s", why, extra={"run_id": payload["run_id"], "step_id": payload["step_id"]})


async def deliver(runtime: Runtime, event) -> None:
    """Render the step's templates for the contact and send the message (the outbox delivers the
    event at least once; a repeat has the same Message-ID). Nothing is sent — and the send stops
    counting against the frequency cap — when the run, the contact or their primary address is
    gone by now, when they withdrew the purpose's consent since the step was taken (consent is
    asked again here, in the transaction that reads the address, so a withdrawal committed before
    it stops the mail), or when a template fails to render."""
    payload = event.payload
    async with runtime.unit_of_work() as uow:
        session = uow.session
        run = await session.get(AutomationWorkflowRun, uuid.UUID(payload["run_id"]))
        contact = await session.get(Contact, event.entity_id)
        email = await session.scalar(
            select(ContactEmail).where(ContactEmail.contact_id == event.entity_id, ContactEmail.is_primary.is_(True))
        )
        if run is None or contact is None or contact.deleted_at is not None or email is None or email.address is None:
            await _unsent(uow, payload, event.entity_id, "no run, recipient or address", logged=run is not None)
            return
        step = steps_by_id(await version_definition(session, run.version_id)).get(payload["step_id"])
        if step is None:
            await _unsent(uow, payload, contact.id, "no step")
            return
        consenting = await _consenting(uow, [contact.id], payload["purpose"])
        if consenting is not None and contact.id not in consenting:
            await _unsent(uow, payload, contact.id, "consent withdrawn")
            return
        unsubscribe = await _withdrawal_link(runtime, contact.id, payload["purpose"])
        variables = await _variables(session, step, run, contact, payload.get("account_id"), unsubscribe)
        try:
            subject, body, html = render(step, variables)
        except TemplateError as error:  # the sandbox refused something, or a filter failed: no retry mends it
            await _unsent(uow, payload, contact.id, f"not rendered ({type(error).__name__})")
            return
        address = email.address
    await send_for_event(
        runtime.settings,
        event,
        to=address,
        subject=subject,
        body=body,
        html=html,
        data_subject=contact.id,
        unsubscribe=unsubscribe,
    )
