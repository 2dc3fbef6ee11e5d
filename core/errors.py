"""Typed errors. Messages never include personal data: they name fields and codes, not values."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class UserError:
    """A problem with the caller's input, reported in a mutation payload's `userErrors`."""

    field: str | None
    message: str
    code: str
    # The field is already spelled as the API shows it (camelCase where the schema names a key,
    # keys a user chose as written): `run_mutation` leaves it as is instead of camelCasing it.
    spelled: bool = False


class EnishiError(Exception):
    """Base of the errors the API may show to a caller as they are."""

    code = "ERROR"


class InputError(EnishiError):
    """Bad input: the unit of work is rolled back and the errors are returned in the payload."""

    code = "INVALID_INPUT"

    def __init__(self, errors: list[UserError] | UserError) -> None:
        self.errors = [errors] if isinstance(errors, UserError) else list(errors)
        super().__init__("; ".join(f"{e.field}: {e.code}" for e in self.errors))


class CommandError(Exception):
    """A CLI command could not do what it was asked: the message is the whole explanation. Here,
    not in cli.py, so that modules of the CLI raise the class `python -m enishi.cli` catches."""


class NotFound(EnishiError):
    """No such record, or none this caller may see."""

    code = "NOT_FOUND"


class Forbidden(EnishiError):
    """The caller lacks the permission the operation needs."""

    code = "FORBIDDEN"


class Unauthenticated(EnishiError):
    code = "UNAUTHENTICATED"


class TokenExpired(Unauthenticated):
    code = "TOKEN_EXPIRED"
