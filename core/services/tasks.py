"""Tasks: the next actions a salesperson owes, and the source of `Account.nextActionAt`."""

from __future__ import annotations

import uuid

from sqlalchemy import delete

from ..events import TASK_COMPLETED, TASK_CREATED, TASK_DELETED, TASK_UPDATED
from ..models import Account, Contact, Task
from ..unit_of_work import UnitOfWork
from .common import Checker, changed_fields, check_user, live_ids, load_for_update, record_kind

STATUSES = ("open", "done", "canceled")


async def _check_task_input(uow: UnitOfWork, data: dict, *, creating: bool) -> dict:
    check = Checker()
    values: dict = {}
    if creating or "title" in data:
        values["title"] = check.text(data, "title", max_length=300, required=True)
    if "due_at" in data:
        values["due_at"] = data["due_at"]
    if "status" in data:
        values["status"] = check.choice(data, "status", STATUSES) or "open"
    if "assignee_id" in data:
        await check_user(uow, check, data, "assignee_id")
        values["assignee_id"] = data["assignee_id"]
    for field, model in (("contact_id", Contact), ("account_id", Account)):
        if data.get(field) is not None and not await live_ids(uow, model, [data[field]]):
            check.fail(field, f"no such {record_kind(model)}", "NOT_FOUND")
        if field in data:
            values[field] = data[field]
    check.done()
    return values


async def create_task(uow: UnitOfWork, data: dict) -> Task:
    """Create a task: `data` holds `title`, optionally `due_at`, `status` (open/done/canceled),
    `assignee_id` (default: the actor), `contact_id`, `account_id`. Bad input raises InputError;
    emits `task.created`."""
    values = await _check_task_input(uow, data, creating=True)
    values.setdefault("assignee_id", uow.actor_id)
    task = Task(**values, created_at=uow.clock.now())
    task.status = task.status or "open"
    if task.status != "open":
        task.completed_at = uow.clock.now()
    uow.session.add(task)
    await uow.session.flush()
    await uow.emit(TASK_CREATED, task.id)
    return task


async def update_task(uow: UnitOfWork, task_id: uuid.UUID, data: dict) -> Task:
    task = await load_for_update(uow, Task, task_id)
    values = await _check_task_input(uow, data, creating=False)
    was_open = task.status == "open"
    changed = changed_fields(task, values)
    if changed:
        if was_open and task.status != "open":
            task.completed_at = uow.clock.now()
        elif task.status == "open":
            task.completed_at = None
        await uow.session.flush()
        completed = was_open and task.status == "done"
        await uow.emit(TASK_COMPLETED if completed else TASK_UPDATED, task.id, {"fields": changed})
    return task


async def delete_task(uow: UnitOfWork, task_id: uuid.UUID) -> uuid.UUID:
    task = await load_for_update(uow, Task, task_id)
    await uow.emit(TASK_DELETED, task.id)
    await uow.session.execute(delete(Task).where(Task.id == task.id))
    return task.id
