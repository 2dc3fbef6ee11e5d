"""CSV import of contacts, as Japanese offices export them from Excel: Shift_JIS (CP932) or UTF-8
with or without a BOM, Japanese or English headers, full-width input, a company per row.

Every row goes through `create_contacts` (validation, normalisation, events, plugin hooks); a bad
row is reported by row, column and code and writes nothing. Rows are processed in batches; a batch and the
import's new position commit together, so a crash midway loses nothing and repeats nothing: the
next run (`enishi import resume`, or the worker once the lease ran out) continues from there. A row
whose email already belongs to a live contact (`find_possible_duplicates`, the rule createContact
reports by) is counted as a duplicate, not created again."""

from __future__ import annotations

import csv
import datetime as dt
import io
import uuid

from sqlalchemy import select, update

from ..errors import InputError, UserError
from ..events import IMPORT_COMPLETED, IMPORT_CREATED
from ..models import Account, ContactAccount, ImportJob
from ..normalize import company_match_name, nfkc, normalize_email
from ..unit_of_work import UnitOfWork
from .accounts import create_account
from .common import Checker
from .contacts import create_contacts, find_possible_duplicates

# Small batches: on SQLite a batch holds the one write lock, and other requests wait behind it.
BATCH = 100
LEASE = dt.timedelta(minutes=2)
MAX_REPORTED_ERRORS = 1000
ENCODINGS = ("utf-8-sig", "cp932")
# Header spellings (after NFKC, lower case, no spaces) → field.
HEADERS = {
    "family_name": ("姓", "氏", "familyname", "family_name", "lastname", "last_name", "surname"),
    "given_name": ("名", "givenname", "given_name", "firstname", "first_name"),
    "family_name_kana": ("セイ", "姓カナ", "姓(カナ)", "せい", "familynamekana", "family_name_kana"),
    "given_name_kana": ("メイ", "名カナ", "名(カナ)", "めい", "givennamekana", "given_name_kana"),
    "name": ("氏名", "名前", "name", "fullname", "full_name"),
    "email": ("メールアドレス", "メール", "email", "e-mail", "mail"),
    "phone": ("電話番号", "電話", "tel", "phone", "phonenumber", "phone_number"),
    "company": ("会社名", "会社", "企業名", "company", "account", "organization"),
    "job_title": ("役職", "肩書", "jobtitle", "job_title", "title"),
    "department": ("部署", "部署名", "department"),
}
_FIELD_OF = {spelling: field for field, spellings in HEADERS.items() for spelling in spellings}


def _fail(message: str, code: str, field: str = "file") -> InputError:
    return InputError(UserError(field, message, code))


def decode(data: bytes) -> tuple[str, str]:
    """(text, encoding): UTF-8 (BOM or not) if it decodes, else CP932, Excel's Japanese encoding."""
    if b"\x00" in data:  # CP932 decodes almost any bytes; NUL is how binary files give themselves away
        raise _fail("is not a CSV text file", "INVALID_ENCODING")
    for encoding in ENCODINGS:
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise _fail("is neither UTF-8 nor Shift_JIS text", "INVALID_ENCODING")


def _columns(header: list[str]) -> list[str | None]:
    columns = [_FIELD_OF.get(nfkc(name).strip().lower().replace(" ", "")) for name in header]
    if not {"family_name", "given_name", "name", "email", "phone"} & set(columns):
        raise _fail("the first row must name the columns, with at least a name, an email or a phone column", "UNKNOWN_COLUMNS")
    return columns


def _rows(text: str) -> tuple[list[str | None], list[tuple[int, list[str]]]]:
    """The columns and the non-blank rows, each with its row number as Excel shows it (the header
    is row 1; blank rows keep their numbers)."""
    reader = list(csv.reader(io.StringIO(text)))
    if not reader:
        raise _fail("is empty", "EMPTY_FILE")
    return _columns(reader[0]), [
        (number, row) for number, row in enumerate(reader[1:], start=2) if any(cell.strip() for cell in row)
    ]


async def create_import(uow: UnitOfWork, data: bytes, filename: str | None = None) -> ImportJob:
    text, encoding = decode(data)
    _, rows = _rows(text)
    job = ImportJob(
        kind="contacts",
        status="queued",
        filename=(filename or "")[:300] or None,
        encoding=encoding,
        source=data,
        total_rows=len(rows),
        created_by=uow.actor_id,
        created_at=uow.clock.now(),
        errors=[],
    )
    uow.session.add(job)
    await uow.session.flush()
    await uow.emit(IMPORT_CREATED, job.id, {"rows": len(rows)})
    return job


def _split_name(full: str) -> tuple[str | None, str | None]:
    """ "山田 太郎" → (山田, 太郎); "Taro Yamada" → (Yamada, Taro): Japanese names put the family first."""
    parts = nfkc(full).split()
    if len(parts) < 2:
        return (parts[0] if parts else None), None
    if any(ord(ch) > 0x2E80 for ch in full):
        return parts[0], " ".join(parts[1:])
    return parts[-1], " ".join(parts[:-1])


def _contact_data(columns: list[str | None], row: list[str]) -> tuple[dict, str | None]:
    values: dict[str, str | None] = {
        field: cell.strip() for field, cell in zip(columns, row, strict=False) if field and cell.strip()
    }
    if (name := values.get("name")) and not ({"family_name", "given_name"} & set(values)):
        values["family_name"], values["given_name"] = _split_name(name)
    data: dict[str, object] = {
        key: values.get(key)
        for key in ("family_name", "given_name", "family_name_kana", "given_name_kana", "job_title", "department")
    }
    if values.get("email"):
        data["emails"] = [{"address": values["email"], "primary": True}]
    if values.get("phone"):
        data["phones"] = [{"number": values["phone"], "primary": True}]
    return {k: v for k, v in data.items() if v is not None}, values.get("company")


async def _account_for(uow: UnitOfWork, company: str, cache: dict) -> uuid.UUID:
    key = company_match_name(company)
    if key not in cache:
        found = (
            await uow.session.execute(
                select(Account.id)
                .where(Account.match_name == key, Account.deleted_at.is_(None))
                .order_by(Account.created_at)
                .limit(1)
            )
        ).scalar()
        cache[key] = found or (await create_account(uow, {"name": company})).id
    return cache[key]


async def _claim(runtime, job_id, take_over: bool) -> bool:
    now = runtime.clock.now()
    abandoned = (
        ImportJob.status.in_(("running", "failed"))
        if take_over
        else (ImportJob.status == "running") & (ImportJob.lease_until < now)
    )
    claimable = (ImportJob.status == "queued") | abandoned
    async with runtime.unit_of_work() as uow:
        return bool(
            (
                await uow.session.execute(
                    update(ImportJob)
                    .where(ImportJob.id == job_id, claimable)
                    .values(status="running", lease_until=now + LEASE)
                    .execution_options(synchronize_session=False)
                )
            ).rowcount
        )


async def run_import(runtime, job_id, *, take_over: bool = False, progress=None) -> ImportJob | None:
    """Process the import from where it stands. `take_over` resumes one whose runner died without
    waiting for its lease (the operator knows it is dead). Returns None if someone else runs it."""
    if not await _claim(runtime, job_id, take_over):
        return None
    async with runtime.read_session() as session:
        job = await session.get(ImportJob, job_id)
        columns, rows = _rows(job.source.decode(job.encoding))
        actor = job.created_by
    accounts: dict = {}
    while True:
        try:
            job = await _run_batch(runtime, job_id, actor, columns, rows, accounts)
        except Exception:
            # Not a bad row (those are reported): a bug or the database. Stop, keep the file and the
            # position, and let an operator resume it once the cause is fixed.
            async with runtime.unit_of_work() as uow:
                await uow.session.execute(
                    update(ImportJob).where(ImportJob.id == job_id).values(status="failed", lease_until=None)
                )
            raise
        if progress is not None:
            progress(job)
        if job.status == "completed":
            return job


async def _run_batch(runtime, job_id, actor, columns, rows, accounts) -> ImportJob:
    async with runtime.unit_of_work(actor) as uow:
        job = (await uow.session.execute(select(ImportJob).where(ImportJob.id == job_id).with_for_update())).scalar_one()
        start = job.processed_rows
        await _import_rows(
            uow, job, [(number, _contact_data(columns, row)) for number, row in rows[start : start + BATCH]], accounts
        )
        job.processed_rows = min(start + BATCH, len(rows))
        job.lease_until = uow.clock.now() + LEASE
        if job.processed_rows >= len(rows):
            job.status, job.finished_at, job.source, job.lease_until = "completed", uow.clock.now(), None, None
            await uow.emit(
                IMPORT_COMPLETED,
                job.id,
                {"created": job.created_count, "duplicates": job.duplicate_count, "errors": job.error_count},
            )
    return job


async def _import_rows(uow: UnitOfWork, job: ImportJob, rows: list[tuple[int, tuple[dict, str | None]]], accounts: dict) -> None:
    """One batch: duplicates (an email already on a live contact, or on a contact created earlier
    in the file) are counted, the rest created together; a company is matched or created only for
    a row that was. A row repeating the email of a row still being created waits for the next
    round: it is a duplicate only if that row was created, not if it was refused."""
    known = await _known_emails(uow, [data for _, (data, _) in rows])
    problems = []
    pending = rows
    while pending:
        fresh, waiting, in_round = [], [], set()
        for number, (data, company) in pending:
            email = normalize_email(data["emails"][0]["address"]) if data.get("emails") else None
            if email is not None and email in known:
                job.duplicate_count += 1
            elif email is not None and email in in_round:
                waiting.append((number, (data, company)))
            elif company_problems := _company_problems(company):
                problems.append((number, company_problems))
            else:
                if email:
                    in_round.add(email)
                fresh.append((number, data, company, email))
        results = await create_contacts(uow, [data for _, data, _, _ in fresh])
        for (number, _, company, email), result in zip(fresh, results, strict=True):
            if isinstance(result, InputError):
                problems.append((number, result.errors))
                continue
            job.created_count += 1
            if email:
                known.add(email)
            if company:
                uow.session.add(
                    ContactAccount(contact_id=result.id, account_id=await _account_for(uow, company, accounts), is_primary=True)
                )
        pending = waiting
    for number, errors in sorted(problems, key=lambda problem: problem[0]):
        job.error_count += 1
        if len(job.errors) < MAX_REPORTED_ERRORS:
            job.errors = [*job.errors, *({"row": number, "field": e.field, "code": e.code} for e in errors)]


def _company_problems(company: str | None) -> list[UserError]:
    check = Checker()
    check.text({"company": company}, "company", max_length=300)
    return check.errors


async def _known_emails(uow: UnitOfWork, items: list[dict]) -> set[str]:
    """The (normalised) emails of `items` already on a live contact: the duplicate rule of
    `find_possible_duplicates`, of which a row acts on email matches only (a shared phone is a
    colleague as often as the same person, and an import has no one to ask)."""
    emails = [data["emails"][0]["address"] for data in items if data.get("emails")]
    return {match.value for match in await find_possible_duplicates(uow.session, emails)}


async def resumable(runtime) -> list[uuid.UUID]:
    """Imports waiting to run, or left running by a runner whose lease ran out."""
    now = runtime.clock.now()
    async with runtime.read_session() as session:
        return list(
            (
                await session.execute(
                    select(ImportJob.id)
                    .where((ImportJob.status == "queued") | ((ImportJob.status == "running") & (ImportJob.lease_until < now)))
                    .order_by(ImportJob.created_at)
                )
            ).scalars()
        )


async def run_pending_imports(runtime) -> None:
    """The worker's job: run whatever import is waiting or was abandoned."""
    for job_id in await resumable(runtime):
        await run_import(runtime, job_id)
