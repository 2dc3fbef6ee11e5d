"""SIGTERM to a real server (`enishi.cli.run_server`, as `enishi serve` runs it) while a request is
in flight: the server stops accepting connections at once, lets the request finish and exits
cleanly; a request still running after ENISHI_SHUTDOWN_TIMEOUT is cancelled (its client gets a
500) and the server exits anyway. The request is held by the test server's route until the test sends SIGUSR1 (no sleeps)."""

import queue
import signal
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.e2e.test_crash_safety import KEK

# uvicorn finishes its shutdown, then raises the signal it caught again, so that a process manager
# sees the process end by SIGTERM, as it asked.
EXITED_ON_SIGTERM = -signal.SIGTERM
HOLDING_SERVER = (str(Path(__file__).with_name("holding_server.py")),)


class ServerLog:
    """The server's log lines (stdout and stderr together) as they come, read by a thread."""

    def __init__(self, process) -> None:
        self.lines: queue.Queue[str | None] = queue.Queue()

        def read() -> None:
            for raw in process.stdout:
                self.lines.put(raw.decode(errors="replace"))
            self.lines.put(None)  # the process ended

        threading.Thread(target=read, daemon=True).start()

    def wait_for(self, message: str, request: Future | None = None) -> None:
        """Until a line holds `message`; or, given the `request` that should make the server log it,
        until that request ends without it (looked at each second while no line comes)."""
        while True:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                if request is not None and request.done():
                    raise AssertionError(f"the request ended before the server logged {message!r}: {request.result()}") from None
                continue
            if line is None:
                raise AssertionError(f"the server exited without logging {message!r}")
            if message in line:
                return


def _hold(pool: ThreadPoolExecutor, url: str) -> tuple[Future, ServerLog]:
    """Send GET /test/hold and return once the server holds it."""
    log = ServerLog(url.process)  # type: ignore[attr-defined]
    held = pool.submit(httpx.get, url + "/test/hold", timeout=120)
    log.wait_for('"msg": "holding"', held)
    return held, log


def test_sigterm_lets_the_request_in_flight_finish_and_refuses_new_connections(enishi_fresh_migrated, enishi_server):
    with enishi_server({"ENISHI_DATABASE_URL": enishi_fresh_migrated, "ENISHI_KEK": KEK}, HOLDING_SERVER) as url:
        with ThreadPoolExecutor(1) as pool:
            held, log = _hold(pool, url)
            url.process.send_signal(signal.SIGTERM)
            log.wait_for("Waiting for connections to close")
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
            held, log = _hold(pool, url)
            url.process.send_signal(signal.SIGTERM)  # and never SIGUSR1
            log.wait_for("timeout graceful shutdown exceeded")
            cancelled = held.result(timeout=120)
        assert cancelled.status_code == 500 and cancelled.headers["connection"] == "close"
        assert url.process.wait(timeout=60) == EXITED_ON_SIGTERM
