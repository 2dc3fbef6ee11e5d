"""The `enishi` command line.

Every failure is one line on stderr, `enishi: error: …`, and a non-zero exit status: 2 for bad
usage or configuration, 1 for anything else. A traceback buries the message, and an unexpected
exception's message may quote personal data (a value that failed), so unexpected errors are named
by type only; `ENISHI_DEBUG=1` lets them through with their traceback, for developers."""

from __future__ import annotations

import argparse
import asyncio
import inspect
import os
import signal
import sys
from pathlib import Path

from .auth import ROLES
from .errors import CommandError, InputError
from .plugin_host import PluginError
from .settings import ConfigError, Settings
from .user_cli import add_user_commands


class Progress:
    """Progress of long work on stderr (stdout stays the command's result): one line rewritten in
    place on a terminal; elsewhere (a log, CI) a line per tenth of each stage, so the log is not
    flooded yet shows the work moving."""

    STEPS = 10

    def __init__(self, stream=None) -> None:
        self.stream = stream or sys.stderr
        self.in_place = self.stream.isatty()
        self.shown: tuple[str, int] | None = None

    def __call__(self, stage: str, done: int, total: int) -> None:
        step = done * self.STEPS // max(total, 1)
        if self.in_place:
            self.stream.write(f"\r\033[K{stage}: {done}/{total}")
        elif (stage, step) != self.shown:
            self.stream.write(f"{stage}: {done}/{total}\n")
        else:
            return
        self.shown = (stage, step)
        self.stream.flush()

    def close(self) -> None:
        if self.in_place and self.shown is not None:
            self.stream.write("\n")
            self.stream.flush()


def _runtime():
    from .runtime import Runtime

    return Runtime(Settings.from_env())


async def _ready_runtime():
    """The runtime, once the database holds every migration of the installed code: a clear
    message rather than a "no such table" traceback halfway through a command."""
    from .db.migrate import missing_migrations

    runtime = _runtime()
    if await missing_migrations(runtime):
        await runtime.close()
        raise ConfigError("the database is not up to date: run `enishi db upgrade` first")
    await runtime.follow_test_clock()
    return runtime


def cmd_serve(args) -> None:
    from enishi.graphql.app import create_app

    from . import deployment

    async def check() -> Settings:
        runtime = await _ready_runtime()
        try:
            await deployment.check(runtime)
            create_app(runtime)  # builds the schema: a broken plugin fails here, once, rather than in every process
            return runtime.settings
        finally:
            await runtime.close()

    if args.workers < 1:
        raise CommandError("--workers must be at least 1")
    settings = asyncio.run(check())
    # Each process builds its own runtime (`server_app`): they share nothing but the database.
    run_server("enishi.cli:server_app", settings, args.host, args.port, workers=args.workers)


def server_app():
    """The application of one `enishi serve` process, built in that process (uvicorn's factory)."""
    from enishi.graphql.app import create_app

    from . import logs
    from .runtime import settle_heap

    runtime = _runtime()
    logs.configure(runtime.settings.log_level, runtime.settings.log_format)
    app = create_app(runtime, watch_configuration=True)  # refuses requests once the recorded configuration changed
    settle_heap()
    return app


def run_server(app, settings: Settings, host: str, port: int, *, workers: int = 1) -> None:
    """uvicorn as `enishi serve` runs it: `app` is an application, or the import string of a
    factory that builds one in each of `workers` processes. The app logs each request itself
    (uvicorn's access log would print query strings), and on SIGTERM or Ctrl-C it stops accepting
    connections and gives the requests in flight `shutdown_timeout` seconds to finish before
    cancelling them."""
    import uvicorn

    uvicorn.run(
        app,
        factory=isinstance(app, str),
        workers=workers,
        host=host,
        port=port,
        log_config=None,
        access_log=False,
        timeout_graceful_shutdown=settings.shutdown_timeout,
    )


def cmd_db_upgrade(_args) -> None:
    from . import deployment
    from .db.migrate import upgrade

    runtime = _runtime()
    upgrade(runtime)

    async def record():
        try:
            await deployment.record(runtime)
        finally:
            await runtime.close()

    asyncio.run(record())
    print("database is up to date")


def cmd_db_reindex_dates(_args) -> None:
    from .services.contact_dates import reindex_dates

    async def run():
        runtime = await _ready_runtime()
        try:
            print(f"month-day indexes of date custom fields rebuilt: {await reindex_dates(runtime)} contacts read")
        finally:
            await runtime.close()

    asyncio.run(run())


def cmd_demo(args) -> None:
    from .demo import load_demo

    async def run():
        runtime = await _ready_runtime()
        progress = Progress()
        try:
            return await load_demo(runtime, scale=args.scale, seed=args.seed, force=args.force, progress=progress)
        finally:
            progress.close()
            await runtime.close()

    counts = asyncio.run(run())
    if counts is None:
        print("demo data already present; nothing loaded (use --force to add more)")
    else:
        print("loaded demo data: " + ", ".join(f"{n} {what}" for what, n in counts.items()))


def _date(text: str):
    import datetime as dt

    try:
        date = dt.date.fromisoformat(text)
    except ValueError:
        date = None
    if date is None or date.year >= 9999:  # the instant after the last day must still be a datetime
        raise argparse.ArgumentTypeError("give a date as YYYY-MM-DD, before the year 9999")
    return date


def _expires_in(text: str):
    """`30d` or `12h` as a timedelta (for `--expires-in`)."""
    import datetime as dt
    import re

    match = re.fullmatch(r"([1-9][0-9]{0,4})([dh])", text.strip())
    if match is None:
        raise argparse.ArgumentTypeError("give a number of days or hours, such as 30d or 12h")
    number, unit = int(match[1]), match[2]
    return dt.timedelta(days=number) if unit == "d" else dt.timedelta(hours=number)


def _token_expiry(args, runtime):
    """The instant `--expires` (the last day the token works, in ENISHI_TIMEZONE) or `--expires-in` names."""
    import datetime as dt

    if args.expires is not None:
        return dt.datetime.combine(args.expires + dt.timedelta(days=1), dt.time(), tzinfo=runtime.settings.zone)
    if args.expires_in is not None:
        return runtime.clock.now() + args.expires_in
    return None


def cmd_token_create(args) -> None:
    from .auth import create_user, issue_token

    async def run():
        runtime = await _ready_runtime()
        try:
            expires_at = _token_expiry(args, runtime)
            async with runtime.unit_of_work() as uow:
                user = await create_user(
                    uow.session, runtime.clock, display_name=args.name or f"{args.role} (cli)", roles=[args.role]
                )
                token = await issue_token(
                    uow.session, runtime.clock, runtime.permissions, user, label="cli", scopes=args.scope, expires_at=expires_at
                )
            return token, expires_at and expires_at.astimezone(runtime.settings.zone)
        finally:
            await runtime.close()

    token, expires_at = asyncio.run(run())
    limits = "".join(
        [
            f", scoped to {', '.join(sorted(set(args.scope)))}" if args.scope else "",
            f", expiring {expires_at.isoformat(timespec='seconds')}" if expires_at else "",
        ]
    )
    print(f"created a user with role {args.role} and its API token{limits} (shown once): {token}")


def cmd_token_list(_args) -> None:
    from sqlalchemy import select

    from .models import ApiToken, User

    async def run():
        runtime = await _ready_runtime()
        try:
            zone, now = runtime.settings.zone, runtime.clock.now()
            async with runtime.read_session() as session:
                rows = (
                    await session.execute(
                        select(ApiToken, User.roles)
                        .join(User, User.id == ApiToken.user_id)
                        .order_by(ApiToken.created_at, ApiToken.id)
                    )
                ).all()
            for token, roles in rows:
                state = "revoked" if token.revoked_at else "expired" if token.expires_at and token.expires_at <= now else "active"
                expires = token.expires_at.astimezone(zone).isoformat(timespec="seconds") if token.expires_at else "never"
                print(
                    f"{token.id}  {state}  roles {','.join(roles)}  "
                    f"scopes {','.join(token.scopes) if token.scopes is not None else 'all'}"
                    f"  expires {expires}  created {token.created_at.astimezone(zone).isoformat(timespec='seconds')}"
                )
        finally:
            await runtime.close()

    asyncio.run(run())


def cmd_token_scopes(_args) -> None:
    print(_runtime().permissions.scope_table(), end="")


def cmd_worker(args) -> None:
    from . import deployment, logs
    from .worker import only_worker_on_sqlite, work

    async def run():
        runtime = await _ready_runtime()
        logs.configure(runtime.settings.log_level, runtime.settings.log_format)
        try:
            await deployment.check(runtime)
            ran = await work(runtime, once=args.once, poll_seconds=args.poll)
            if args.once:
                print("ran: " + (", ".join(ran) or "nothing (every job is running in another worker)"))
        finally:
            await runtime.close()

    with only_worker_on_sqlite(Settings.from_env().database_url):
        asyncio.run(run())


def cmd_schema(_args) -> None:
    from enishi.graphql.schema import build_schema

    print(build_schema(_runtime()).as_str())


def cmd_plugin_new(args) -> None:
    from .scaffold import ScaffoldError, create_plugin

    try:
        target = create_plugin(args.name, args.directory)
    except ScaffoldError as error:
        raise CommandError(str(error)) from None
    print(
        f"wrote the plugin {args.name} to {target}: `pip install -e '{target}[test]'`, then `enishi db upgrade`; "
        f"its tests run with `pytest {target}`"
    )


def cmd_plugins(_args) -> None:
    for info in _runtime().plugins.installed():
        state = "enabled" if info.enabled else "disabled"
        print(f"{info.name} {info.version} ({state})")
        print("    hooks: " + (", ".join(info.hooks) or "none"))


def cmd_import(args) -> None:
    from .import_cli import run

    run(args, _ready_runtime)


def cmd_export(args) -> None:
    import json

    from .schema.exports import export_file
    from .services.export_files import EncodingReport

    try:
        filter = json.loads(args.filter) if args.filter is not None else None
    except ValueError:
        raise CommandError('--filter is not JSON: give an object such as \'{"search": "山田"}\'') from None
    if args.format == "xlsx" and args.output is None:
        raise CommandError("an .xlsx file is binary: name it with --output FILE")
    target = Path(args.output) if args.output else None
    report = EncodingReport()

    async def run():
        runtime = await _ready_runtime()
        try:
            # The operator at the console reads as nobody in particular (actor None), as `enishi import` writes.
            chunks = export_file(runtime, None, args.kind, args.format, args.encoding, filter, report)
            if target is None:
                async for chunk in chunks:
                    sys.stdout.buffer.write(chunk)
                return
            # Written beside the target and moved into place once whole: a failed export leaves no half file.
            partial = target.with_name(target.name + ".partial")
            try:
                with partial.open("wb") as out:
                    async for chunk in chunks:
                        out.write(chunk)
                partial.replace(target)
            finally:
                partial.unlink(missing_ok=True)
        finally:
            await runtime.close()

    asyncio.run(run())
    if report.replaced:
        print(
            f"enishi: CP932 cannot encode {report.replaced} of the exported characters: written as 〓 "
            "(export as UTF-8 to keep them)",
            file=sys.stderr,
        )


def cmd_keys_rotate(_args) -> None:
    from .services.data_keys import rotate_keys

    async def run():
        runtime = await _ready_runtime()
        try:
            people, records = await rotate_keys(runtime)
            print(
                f"re-wrapped under the current ENISHI_KEK: subject keys {people}, record keys {records} (activities, tickets…); "
                "blind indexes and search tokens recomputed; ENISHI_KEK_PREVIOUS can now be removed"
            )
        finally:
            await runtime.close()

    asyncio.run(run())


def cmd_hooks_doc(_args) -> None:
    from .hookdoc import render

    print(render(), end="")


def cmd_kit_doc(_args) -> None:
    from .kitdoc import render

    print(render(), end="")


def cmd_kit_api(_args) -> None:
    from .kitdoc import snapshot

    print(snapshot(), end="")


BUILTIN_COMMANDS = (
    "serve",
    "db",
    "demo",
    "import",
    "export",
    "keys",
    "token",
    "user",
    "worker",
    "schema",
    "plugins",
    "plugin",
    "hooks-doc",
    "kit-doc",
    "kit-api",
    "-h",
    "--help",
)


class _Parser(argparse.ArgumentParser):
    """argparse, with its usage errors on one line like every other error (subcommands' parsers
    are made by the same class)."""

    def error(self, message: str):
        self.exit(2, f"enishi: error: {message} (see `{self.prog} --help`)\n")


def build_parser(runtime_commands=()) -> argparse.ArgumentParser:
    parser = _Parser(prog="enishi", description="Enishi CRM framework")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve the GraphQL API with uvicorn")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument(
        "--workers", type=int, default=1, help="server processes sharing the port; they share nothing but the database"
    )
    serve.set_defaults(func=cmd_serve)
    db = sub.add_parser("db", help="database commands").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply the migrations of the core and every installed plugin").set_defaults(func=cmd_db_upgrade)
    db.add_parser(
        "reindex-dates",
        help="rebuild the month-day indexes of contacts' date custom fields (birthdays) from their sealed custom fields",
    ).set_defaults(func=cmd_db_reindex_dates)
    demo = sub.add_parser("demo", help="load realistic Japanese and English demo data")
    demo.add_argument("--scale", type=int, default=200, help="number of contacts (accounts and activities scale with it)")
    demo.add_argument("--seed", type=int, default=20241, help="random seed; the same seed gives the same data")
    demo.add_argument("--force", action="store_true", help="load even when the database already holds contacts")
    demo.set_defaults(func=cmd_demo)
    load = sub.add_parser(
        "import", help="import contacts from an .xlsx, CSV or TSV file (upserts; Japanese or English headers; docs/import.md)"
    )
    from .import_cli import configure  # imports this module: loaded once it is

    configure(load)
    load.set_defaults(func=cmd_import)
    export = sub.add_parser("export", help="export contacts, accounts or activities as CSV (UTF-8 with BOM, or CP932) or .xlsx")
    export.add_argument("kind", choices=("contacts", "accounts", "activities"))
    export.add_argument("--format", choices=("csv", "xlsx"), default="csv")
    export.add_argument("--encoding", choices=("utf-8", "cp932"), default="utf-8", help="CSV only (default: UTF-8 with a BOM)")
    export.add_argument(
        "--filter", metavar="JSON", help='the list query\'s `filter` as a JSON object, e.g. \'{"search": "山田"}\''
    )
    export.add_argument("--output", metavar="FILE", help="write to FILE (required for xlsx); CSV goes to stdout without it")
    export.set_defaults(func=cmd_export)
    keys = sub.add_parser("keys", help="the key-encryption key").add_subparsers(dest="keys_command", required=True)
    keys.add_parser(
        "rotate", help="re-wrap every subject key under ENISHI_KEK (after moving the old one to ENISHI_KEK_PREVIOUS)"
    ).set_defaults(func=cmd_keys_rotate)
    token = sub.add_parser("token", help="API tokens").add_subparsers(dest="token_command", required=True)
    create = token.add_parser("create", help="create a user with a role and print a new token (the last word of the output)")
    create.add_argument("--role", required=True, choices=ROLES)
    create.add_argument("--name", help="display name of the new user")
    create.add_argument(
        "--scope",
        action="append",
        metavar="SCOPE",
        help="narrow the token to the role's permissions this scope grants (repeatable; `enishi token scopes` lists them)",
    )
    expiry = create.add_mutually_exclusive_group()
    expiry.add_argument("--expires", type=_date, metavar="YYYY-MM-DD", help="the last day the token works (in ENISHI_TIMEZONE)")
    expiry.add_argument("--expires-in", type=_expires_in, metavar="DURATION", help="how long the token works: 30d, 12h")
    create.set_defaults(func=cmd_token_create)
    token.add_parser("list", help="list API tokens with their roles, scopes and expiry").set_defaults(func=cmd_token_list)
    add_user_commands(sub, _ready_runtime)
    token.add_parser("scopes", help="print the token scopes and the permissions each grants").set_defaults(func=cmd_token_scopes)
    worker = sub.add_parser("worker", help="run the scheduled jobs of the core and the enabled plugins")
    worker.add_argument("--once", action="store_true", help="run every job now, due or not, then exit")
    worker.add_argument(
        "--poll",
        type=float,
        default=5.0,
        help="seconds between checks for due jobs (waiting mail and webhooks are delivered within a second)",
    )
    worker.set_defaults(func=cmd_worker)
    sub.add_parser("schema", help="print the composed GraphQL SDL").set_defaults(func=cmd_schema)
    sub.add_parser("plugins", help="list installed plugins with version and hooks").set_defaults(func=cmd_plugins)
    plugin_dev = sub.add_parser("plugin", help="plugin development").add_subparsers(dest="plugin_command", required=True)
    new = plugin_dev.add_parser("new", help="write a working plugin package to start from (docs/plugin-tutorial.md)")
    new.add_argument("name", help="the plugin's name: lower-case letters and digits (tables are named NAME_...)")
    new.add_argument("--directory", type=Path, metavar="DIR", help="where to write it (a new directory; default ./enishi-NAME)")
    new.set_defaults(func=cmd_plugin_new)
    sub.add_parser("hooks-doc", help="print the hook reference (docs/hooks.md)").set_defaults(func=cmd_hooks_doc)
    sub.add_parser("kit-doc", help="print the plugin kit reference (docs/plugin-kit.md)").set_defaults(func=cmd_kit_doc)
    sub.add_parser("kit-api", help="print the plugin kit's API snapshot (docs/plugin-kit-api.txt)").set_defaults(func=cmd_kit_api)
    for plugin, command in runtime_commands:
        extra = sub.add_parser(command.name, help=f"{command.help} [{plugin}]")
        command.configure(extra)
        extra.set_defaults(func=_plugin_command(command))
    return parser


def _plugin_command(command):
    def run(args) -> None:
        async def main():
            runtime = await _ready_runtime()
            try:
                result = command.run(runtime, args)
                if inspect.isawaitable(result):
                    await result
            finally:
                await runtime.close()

        asyncio.run(main())

    return run


def _explain(exc: Exception) -> tuple[int, str]:
    """The exit status and the one-line message for an error that ended a command."""
    if isinstance(exc, (ConfigError, PluginError)):
        return 2, str(exc)
    if isinstance(exc, CommandError):
        return 1, str(exc)
    if isinstance(exc, InputError):  # messages name fields and codes, never values
        return 1, "; ".join(f"{e.field}: {e.message} ({e.code})" if e.field else f"{e.message} ({e.code})" for e in exc.errors)
    if isinstance(exc, OSError) and exc.strerror:  # a file that is missing, unreadable or a directory; a refused connection
        return 1, f"{exc.filename}: {exc.strerror}" if exc.filename else exc.strerror
    return 1, f"unexpected {type(exc).__name__} (set ENISHI_DEBUG=1 to see its traceback)"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    try:
        plugin_commands = []
        if argv and argv[0] not in BUILTIN_COMMANDS:
            from .plugin_host import PluginHost

            plugin_commands = PluginHost(Settings.from_env()).contributions("enishi_cli_commands")
        args = build_parser(plugin_commands).parse_args(argv)
        args.func(args)
        sys.stdout.flush()  # a reader gone away shows here, not as an error at interpreter exit
    except BrokenPipeError:
        # `enishi schema | head`: the reader has all it wanted. Python's documented way out: point
        # stdout at devnull, so the flush at exit does not fail again; the status a shell gives a
        # process killed by SIGPIPE.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + signal.SIGPIPE
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        if os.environ.get("ENISHI_DEBUG"):
            raise
        status, message = _explain(exc)
        print("enishi: error: " + " ".join(message.split()), file=sys.stderr)
        return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
