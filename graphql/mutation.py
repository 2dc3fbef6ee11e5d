"""Running one mutation: its permission, one unit of work, and the caller's mistakes (input
errors, a broken unique constraint, a value the database refuses) as `userErrors`."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.exc import DataError, IntegrityError, StatementError
from strawberry.types import Info

from enishi.db import Base, unique_violation
from enishi.errors import InputError, UserError
from enishi.unit_of_work import UnitOfWork

from .errors import UserErrorType
from .inputs import camel

R = TypeVar("R")


class _DryRunDone(Exception):
    """Raised inside a dry run's unit of work so that whatever hooks touched is rolled back."""

    def __init__(self, result: Any) -> None:
        self.result = result


async def run_mutation(
    info: Info, permission: str, work: Callable[[UnitOfWork], Awaitable[R]], *, dry_run: bool = False
) -> tuple[R | None, list[UserErrorType]]:
    """Check the permission, run `work` in one unit of work, and turn input errors into userErrors.
    A dry run computes the same result and then rolls back. A unique constraint the write broke
    (two macros of one name, however many checks ran before) is the caller's `DUPLICATE`."""
    ctx = info.context
    viewer = ctx.require(permission)
    try:
        async with ctx.runtime.unit_of_work(viewer.user_id) as uow:
            result = await work(uow)
            if dry_run:
                uow.session.expunge_all()  # keep what was read; the rollback would expire it
                raise _DryRunDone(result)
    except InputError as error:
        return None, [UserErrorType.of(api_spelling(e)) for e in error.errors]
    except IntegrityError as error:
        duplicate = duplicate_error(error)
        if duplicate is None:
            raise
        return None, [UserErrorType.of(api_spelling(duplicate))]
    except DataError as error:
        refused = refused_value(error)
        if refused is None:
            raise
        return None, [UserErrorType.of(refused)]
    except StatementError as error:  # a value refused while binding it (a naive date-time)
        if not isinstance(error.orig, InputError):
            raise
        return None, [UserErrorType.of(api_spelling(e)) for e in error.orig.errors]
    except _DryRunDone as done:
        return done.result, []
    await ctx.after_write()
    return result, []


def duplicate_error(error: IntegrityError) -> UserError | None:
    """The userError for a broken unique constraint: on its one column that is not a reference
    (`uq_support_macro_name` → `name`, `uq_abm_department_account_id_name` → `name`), else on no
    field. The message names no value: the database's own text may quote personal data."""
    violation = unique_violation(error)
    if violation is None:
        return None
    table = Base.metadata.tables.get(violation.table)
    own = [c for c in violation.columns if table is None or c not in table.c or not table.c[c].foreign_keys]
    return UserError(own[0] if len(own) == 1 else None, "already exists", "DUPLICATE")


# PostgreSQL's refusals of a value (SQLite stores it as it is): the service's own bounds should
# have caught it first, but a missed one must still be the caller's error, not INTERNAL.
REFUSED_VALUES = {
    "22001": ("a text is longer than its field allows", "TOO_LONG"),
    "22003": ("a number is out of range", "OUT_OF_RANGE"),
    "22021": ("a text holds a character that cannot be stored (NUL)", "INVALID_CHARACTERS"),
    "22P05": ("a text holds a character that cannot be stored (NUL)", "INVALID_CHARACTERS"),
}


def refused_value(error: DataError) -> UserError | None:
    refusal = REFUSED_VALUES.get(getattr(error.orig, "pgcode", ""))
    return UserError(None, *refusal) if refusal else None


def api_spelling(error: UserError) -> UserError:
    """The error with its field as the API shows it: camelCased (`due_at` → `dueAt`), a custom
    field's key as its owner wrote it (`customFields.ランク`), a field already `spelled` as is."""
    if error.field is None or error.spelled:
        return error
    if error.field.startswith("custom_fields."):  # the rest is a custom field's key, spelled as its owner chose
        return UserError("customFields." + error.field.removeprefix("custom_fields."), error.message, error.code)
    return UserError(".".join(camel(part) for part in error.field.split(".")), error.message, error.code)
