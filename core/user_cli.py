"""`enishi user`: people who sign in to the console with a password. The password is read from
standard input (one line) when it is not a terminal, else asked twice without echo: never from an
argument, which would stay in the shell's history and the process list."""

from __future__ import annotations

import asyncio
import getpass
import sys
from functools import partial

from sqlalchemy import select

from .auth import ROLES, check_password_strength, create_user, validate_roles
from .errors import CommandError
from .models import User
from .normalize import normalize_email
from .web_sessions import set_password


def _read_password() -> str:
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\n")
    first = getpass.getpass("password: ")
    if getpass.getpass("again: ") != first:
        raise CommandError("the two passwords differ")
    return first


async def _user_by_email(session, email: str) -> User:
    user = (await session.execute(select(User).where(User.email == email))).scalar_one_or_none()
    if user is None:
        raise CommandError("no user has this email address")
    return user


def _run(ready_runtime, work) -> None:
    async def main():
        runtime = await ready_runtime()
        try:
            async with runtime.unit_of_work() as uow:
                return await work(uow.session, runtime)
        finally:
            await runtime.close()

    print(asyncio.run(main()))


def cmd_user_create(ready_runtime, args) -> None:
    email = normalize_email(args.email)
    password = _read_password()
    check_password_strength(password)

    async def work(session, runtime):
        if (await session.execute(select(User.id).where(User.email == email))).first() is not None:
            raise CommandError("a user with this email address exists already")
        user = await create_user(session, runtime.clock, display_name=args.name, roles=args.role, email=email)
        await set_password(session, user.id, password)
        return f"created user {user.id} with roles {', '.join(user.roles)}; they sign in at /console"

    _run(ready_runtime, work)


def cmd_user_password(ready_runtime, args) -> None:
    email = normalize_email(args.email)
    password = _read_password()
    check_password_strength(password)

    async def work(session, _runtime):
        user = await _user_by_email(session, email)
        await set_password(session, user.id, password)
        return "password set"

    _run(ready_runtime, work)


def cmd_user_roles(ready_runtime, args) -> None:
    email = normalize_email(args.email)
    roles = validate_roles(args.role)

    async def work(session, _runtime):
        user = await _user_by_email(session, email)
        user.roles = roles
        return f"roles now {', '.join(roles)}; their console sessions end at their next request"

    _run(ready_runtime, work)


def add_user_commands(sub, ready_runtime) -> None:
    """`ready_runtime` is the CLI's (a runtime on a database that is up to date)."""
    user = sub.add_parser("user", help="people who sign in to the console").add_subparsers(dest="user_command", required=True)
    create = user.add_parser("create", help="create a user who signs in with a password (read from stdin or asked)")
    create.add_argument("--email", required=True)
    create.add_argument("--name", required=True, help="display name")
    create.add_argument("--role", required=True, action="append", choices=ROLES, help="repeatable")
    create.set_defaults(func=partial(cmd_user_create, ready_runtime))
    password = user.add_parser("password", help="set a user's password (read from stdin or asked)")
    password.add_argument("--email", required=True)
    password.set_defaults(func=partial(cmd_user_password, ready_runtime))
    roles = user.add_parser("roles", help="replace a user's roles (ends their console sessions)")
    roles.add_argument("--email", required=True)
    roles.add_argument("--role", required=True, action="append", choices=ROLES, help="repeatable")
    roles.set_defaults(func=partial(cmd_user_roles, ready_runtime))
