"""SIGTERM to a real server (`enishi.cli.run_server`, as `enishi serve` runs it) while a request is
in flight: the server stops accepting connections at once, lets the request finish and exits
cleanly; a request still running after ENISHI_SHUTDOWN_TIMEOUT is cancelled (its client gets a
500) and the server exits anyway. The request is held by the test server's route until the test sends SIGUSR1 (no sleeps)."""

import signal
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_crash_safety import KEK

# uvicorn finishes its shutdown, then raises the signal it caught again, so that a process manager
# sees the process end by SIGTERM, as it asked.
EXITED_ON_SIGTERM = -signal.SIGTERM
HOLDING_SERVER = (str(Path(__file__).with_name("holding_server.py")),)


def _read_until(process, message: str) -> None:
    """Read the server's log lines (stdout and stderr together) until one holds `message`."""
    for raw in process.stdout:
        if message in raw.decode(errors="replace"):
            return
    raise AssertionError(f"the server exited without logging {message!r}")


def test_sigterm_lets_the_request_in_flight_finish_and_refuses_new_connections(enishi_fresh_migrated, enishi_server):
    with enishi_server({"ENISHI_DATABASE_URL": enishi_fresh_migrated, "ENISHI_KEK": KEK}, HOLDING_SERVER) as url:
        with ThreadPoolExecutor(1) as pool:
            held = pool.submit(httpx.get, url + "/test/hold", timeout=120)
            _read_until(url.process, '"msg": "holding"')
            url.process.send_signal(signal.SIGTERM)
            _read_until(url.process, "Waiting for connections to close")
            with pytest.raises(httpx.ConnectError):
                httpx.get(url + "/healthz", timeout=10)
            url.process.send_signal(signal.SIGUSR1)
            response = held.result(timeout=120)
        assert response.status_code == 200 and response.text == "released"
        assert url.process.wait(timeout=60) == EXITED_ON_SIGTERM


def test_a_request_running_past_the_shutdown_timeout_is_cancelled_and_the_server_exits(enishi_fresh_migrated, enishi_server):
    env = {"ENISHI_DATABASE_URL": enishi_fresh_migrated, "ENISHI_KEK": KEK, "ENISHI_SHUTDOWN_TIMEOUT": "1"}
    with enishi_server(env, HOLDING_SERVER) as url:
        with ThreadPoolExecutor(1) as pool:
            held = pool.submit(httpx.get, url + "/test/hold", timeout=120)
            _read_until(url.process, '"msg": "holding"')
            url.process.send_signal(signal.SIGTERM)  # and never SIGUSR1
            _read_until(url.process, "timeout graceful shutdown exceeded")
            cancelled = held.result(timeout=120)
        assert cancelled.status_code == 500 and cancelled.headers["connection"] == "close"
        assert url.process.wait(timeout=60) == EXITED_ON_SIGTERM
