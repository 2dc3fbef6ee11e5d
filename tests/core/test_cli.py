"""The `enishi` command line, as an operator runs it, against a fresh database."""

import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.helpers import enishi

ROOT = Path(__file__).resolve().parents[2]


def test_hook_enishi_demo_data_and_the_operator_journey(enishi_fresh_database_url, enishi_server):
    """upgrade, demo (the core's data and every plugin's share), token, serve."""
    env = {"ENISHI_DATABASE_URL": enishi_fresh_database_url}
    assert enishi("db", "upgrade", env=env).stdout.strip() == "database is up to date"
    loaded = enishi("demo", env=env).stdout
    assert "50 accounts, 200 contacts, 2000 activities" in loaded
    assert "already present" in enishi("demo", env=env).stdout
    token = enishi("token", "create", "--role", "sales", env=env).stdout.split()[-1]
    assert token.startswith("enishi_")
    with enishi_server(env) as url:
        query = """{ accounts { totalCount } contacts(filter: {search: "やまだ"}) { totalCount }
                     activities { totalCount } tasks { totalCount } tickets { totalCount } targetAccounts { totalCount }
                     loyaltyPrograms { name } verifyLedger { ok membersChecked } }"""
        body = httpx.post(url + "/graphql", json={"query": query}, headers={"Authorization": f"Bearer {token}"}).json()
    assert "errors" not in body, body
    assert body["data"].pop("loyaltyPrograms") == [{"name": "縁ポイント"}]
    ledger = body["data"].pop("verifyLedger")
    assert ledger["ok"] and ledger["membersChecked"] == 80
    counts = {k: v["totalCount"] for k, v in body["data"].items()}
    assert counts["tickets"] > 0 and counts["targetAccounts"] == 15
    assert counts["accounts"] >= 50 and counts["activities"] >= 1000 and counts["tasks"] > 0
    assert counts["contacts"] > 0  # Japanese substring search on the demo data


def test_commands_on_a_database_never_upgraded_say_so_and_change_nothing(enishi_fresh_database_url):
    env = {"ENISHI_DATABASE_URL": enishi_fresh_database_url}
    for command in (
        ["demo"],
        ["token", "create", "--role", "admin"],
        ["worker", "--once"],
        ["serve", "--port", "9"],
        ["db", "reindex-dates"],
    ):
        result = enishi(*command, env=env, check=False)
        assert result.returncode == 2, command
        assert "not up to date: run `enishi db upgrade`" in result.stderr and "Traceback" not in result.stderr, command
    enishi("db", "upgrade", env=env)
    assert "50 accounts" in enishi("demo", "--scale", "200", env=env).stdout


def test_demo_with_force_adds_people_on_top_of_an_earlier_demo(enishi_fresh_migrated):
    env = {"ENISHI_DATABASE_URL": enishi_fresh_migrated}
    for _ in range(2):
        assert "40 contacts" in enishi("demo", "--scale", "40", "--force", env=env).stdout


def test_token_create_rejects_unknown_roles(enishi_fresh_database_url):
    result = enishi("token", "create", "--role", "root", env={"ENISHI_DATABASE_URL": enishi_fresh_database_url}, check=False)
    assert result.returncode != 0 and "invalid choice" in result.stderr


async def test_token_create_narrows_a_token_to_scopes_until_its_last_day(enishi_fresh_migrated, enishi_api):
    env = {"ENISHI_DATABASE_URL": enishi_fresh_migrated}
    created = enishi(
        "token",
        "create",
        "--role",
        "integration",
        "--scope",
        "tickets:read",
        "--scope",
        "contacts:read",
        "--scope",
        "tickets:read",
        "--expires",
        "2099-01-31",
        env=env,
    ).stdout
    assert "scoped to contacts:read, tickets:read, expiring 2099-02-01T00:00:00+09:00 (shown once)" in created
    enishi("token", "create", "--role", "sales", "--expires-in", "12h", env=env)
    enishi("token", "create", "--role", "admin", env=env)
    listed = [line.split("  ", 1)[1] for line in enishi("token", "list", env=env).stdout.splitlines()]
    assert listed[0].startswith("active  roles integration  scopes contacts:read,tickets:read  expires 2099-02-01T00:00:00+09:00")
    assert listed[1].startswith("active  roles sales  scopes all  expires ") and "expires never" not in listed[1]
    assert listed[2].startswith("active  roles admin  scopes all  expires never")
    api = await enishi_api(database_url=enishi_fresh_migrated)
    query = "{ tickets { totalCount } contacts { totalCount } }"
    body = (await api.post(query, token=created.split()[-1])).json()
    assert body == {"data": {"tickets": {"totalCount": 0}, "contacts": {"totalCount": 0}}}
    refused = (await api.post("{ loyaltyPrograms { name } }", token=created.split()[-1])).json()
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"


def test_token_create_refuses_an_unknown_scope_or_a_past_expiry_in_one_line_and_creates_nothing(enishi_fresh_migrated):
    env = {"ENISHI_DATABASE_URL": enishi_fresh_migrated}
    unknown = enishi(
        "token", "create", "--role", "integration", "--scope", "tickets:read", "--scope", "tickets:delete", env=env, check=False
    )
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert unknown.stderr.startswith("enishi: error: scopes: unknown scope 'tickets:delete'; known scopes: abm:configure, ")
    assert unknown.stderr.endswith("(UNKNOWN_SCOPE)\n") and unknown.stderr.count("\n") == 1
    past = enishi("token", "create", "--role", "admin", "--expires", "2020-01-31", env=env, check=False)
    assert (past.returncode, past.stderr) == (1, "enishi: error: expiresAt: the expiry must be in the future (EXPIRY_IN_PAST)\n")
    for bad in (
        ["--expires", "2099-02-30"],
        ["--expires", "9999-12-31"],
        ["--expires-in", "30m"],
        ["--expires-in", "0d"],
        ["--expires", "2099-01-31", "--expires-in", "30d"],
    ):
        result = enishi("token", "create", "--role", "admin", *bad, env=env, check=False)
        assert result.returncode == 2 and "Traceback" not in result.stderr, bad
        assert result.stderr.splitlines()[-1].startswith("enishi: error: argument --expires"), (bad, result.stderr)
    assert enishi("token", "list", env=env).stdout == ""  # no user and no token left behind


@pytest.mark.no_database
def test_committed_scope_table_matches_the_permissions_of_every_bundled_plugin():
    table = enishi("token", "scopes", env={}).stdout
    assert "| `tickets:internal` | `support.internal` |" in table
    assert table in (ROOT / "docs" / "api.md").read_text(encoding="utf-8"), (
        "the scopes changed: paste `enishi token scopes` into docs/api.md"
    )


@pytest.mark.no_database
def test_plugins_lists_bundled_plugins_with_version_and_hooks():
    out = enishi("plugins", env={}).stdout
    for name in ("core", "abm", "loyalty", "privacy", "support"):
        assert f"{name} 0.1.0 (enabled)" in out
    assert "enishi_subject_erase" in out


@pytest.mark.no_database
def test_plugins_can_be_disabled_by_configuration():
    out = enishi("plugins", env={"ENISHI_PLUGINS": "abm,privacy"}).stdout
    assert "abm 0.1.0 (enabled)" in out and "loyalty 0.1.0 (disabled)" in out
    result = enishi("plugins", env={"ENISHI_PLUGINS": "nonexistent"}, check=False)
    assert result.returncode == 2 and "not installed: nonexistent" in result.stderr


@pytest.mark.no_database
def test_bad_configuration_is_a_clear_message():
    result = enishi("schema", env={"ENISHI_TIMEZONE": "Mars/Olympus"}, check=False)
    assert result.returncode == 2 and "unknown time zone" in result.stderr
    result = enishi("schema", env={"ENISHI_MAX_PAGE_SIZE": "many"}, check=False)
    assert result.returncode == 2 and "must be an integer" in result.stderr


@pytest.mark.no_database
def test_committed_sdl_matches_the_composed_schema():
    sdl = enishi("schema", env={}).stdout
    assert (ROOT / "docs" / "schema.graphql").read_text(encoding="utf-8") == sdl, (
        "the schema changed: run `make schema` and review"
    )


@pytest.mark.no_database
def test_importing_enishi_from_the_repository_root_does_not_shadow_graphql_core():
    assert not (ROOT / "graphql" / "__init__.py").exists()
    result = subprocess.run(
        [sys.executable, "-c", "import strawberry, enishi, graphql; print(graphql.__file__)"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    assert "site-packages" in result.stdout


@pytest.mark.no_database
def test_configuration_file_with_environment_overrides(tmp_path):
    config = tmp_path / "enishi.toml"
    config.write_text('enabled_plugins = ["abm"]\ntimezone = "Europe/Berlin"\n', encoding="utf-8")
    out = enishi("plugins", env={"ENISHI_CONFIG": str(config)}).stdout
    assert "abm 0.1.0 (enabled)" in out and "support 0.1.0 (disabled)" in out
    out = enishi("plugins", env={"ENISHI_CONFIG": str(config), "ENISHI_PLUGINS": "support"}).stdout
    assert "abm 0.1.0 (disabled)" in out and "support 0.1.0 (enabled)" in out
    config.write_text("no_such_setting = 1\n", encoding="utf-8")
    result = enishi("plugins", env={"ENISHI_CONFIG": str(config)}, check=False)
    assert result.returncode == 2 and "unknown settings: no_such_setting" in result.stderr


def _one_error_line(result) -> str:
    assert result.returncode != 0 and "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("enishi: error: "), result.stderr
    return lines[0]


def test_every_error_is_one_line_on_stderr_with_a_non_zero_exit(enishi_fresh_migrated, tmp_path):
    env = {"ENISHI_DATABASE_URL": enishi_fresh_migrated}
    binary = tmp_path / "photo.csv"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n\x00\x00")
    assert "nosuch.csv: No such file or directory" in _one_error_line(
        enishi("import", str(tmp_path / "nosuch.csv"), env=env, check=False)
    )
    assert "Is a directory" in _one_error_line(enishi("import", str(tmp_path), env=env, check=False))  # unreadable as a file
    assert "INVALID_ENCODING" in _one_error_line(enishi("import", str(binary), env=env, check=False))
    assert "--resume needs an import id" in _one_error_line(enishi("import", "--resume", "nonsense", env=env, check=False))
    assert "invalid choice: 'frob'" in _one_error_line(enishi("frob", env=env, check=False))
    assert "invalid float value" in _one_error_line(enishi("worker", "--poll", "soon", env=env, check=False))
    assert "required: --role" in _one_error_line(enishi("token", "create", env=env, check=False))
    assert enishi("frob", env=env, check=False).returncode == 2  # usage errors keep argparse's status


def test_a_reader_that_stops_early_ends_the_output_quietly(tmp_path):
    """`enishi schema | head -1`: the pipe is closed before the schema is written."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        result = subprocess.run(
            [sys.executable, "-m", "enishi.cli", "schema"], stdout=write_end, stderr=subprocess.PIPE, text=True, timeout=600
        )
    finally:
        os.close(write_end)
    assert result.stderr == "" and result.returncode == 141  # 128 + SIGPIPE, as a shell reports a process killed by it


def test_long_commands_show_their_progress_on_stderr(enishi_fresh_migrated):
    env = {"ENISHI_DATABASE_URL": enishi_fresh_migrated}
    result = enishi("demo", "--scale", "20", env=env)
    assert result.stdout.startswith("loaded demo data")  # the result stays alone on stdout
    for stage in ("accounts: 5/5", "contacts: 20/20", "activities: 200/200"):
        assert stage in result.stderr.splitlines(), result.stderr
