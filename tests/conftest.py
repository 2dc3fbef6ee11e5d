"""The order the suite runs in, for `make test`'s pytest-xdist (`-n auto --dist worksteal`).

worksteal hands each worker a contiguous share of the collection, and a worker that runs out takes
the far end of another's share. A test of a minute or two that starts last stretches the whole
run's tail by its length while the other worker sits idle, so the slowest tests (from the
`--durations` a CI log ends with) go first, where a worker that runs out steals the quick ones
around them instead. Only the order changes: what a test needs it sets up itself, so each still
passes alone and in any order.

`make test` runs the suite twice, on SQLite then on PostgreSQL. A test marked `no_database` reads
and writes no database at all (a static check of the code, a generated file compared with its
committed copy), so the PostgreSQL pass skips it: it would only repeat the SQLite pass's run.
"""

from __future__ import annotations

import os

import pytest

# Slowest first; a module's tests stay together (its module-scoped server and browser start once).
# A test added to a module listed here runs early too; anything slow enough to set the tail belongs here.
SLOWEST = (
    "tests/plugins/automation/test_workflow_segment_trigger.py::test_a_contact_entering_a_segment_starts_one_run",
    "tests/e2e/test_crash_safety.py",
    "tests/e2e/test_processes.py",
    "tests/core/test_cli.py",
    "tests/e2e/test_console_sign_in_browser.py",
    "tests/e2e/test_console_browser.py",
    "tests/e2e/test_subject_browser.py",
    "tests/e2e/test_scaffold.py",
    "tests/e2e/test_example_plugin.py",
    "tests/core/test_imports.py::test_an_import_killed_midway",
    "tests/core/test_import_example.py::test_the_issue_example_through_the_cli",
    "tests/core/test_import_cli.py::test_import_options_through_the_cli",
    "tests/robustness/test_fuzz.py",
)


def _rank(item: pytest.Item) -> int:
    return next((rank for rank, prefix in enumerate(SLOWEST) if item.nodeid.startswith(prefix)), len(SLOWEST))


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "no_database: touches no database, so the PostgreSQL pass of `make test` skips it")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=_rank)  # stable: the rest keeps the collection's order
    if os.environ.get("ENISHI_TEST_DATABASE_URL", "").startswith("postgresql"):
        repeat = pytest.mark.skip(reason="no_database: it touches no database, and the SQLite pass of `make test` ran it")
        for item in items:
            if item.get_closest_marker("no_database"):
                item.add_marker(repeat)
