"""What every benchmark shares: the database it runs on, and where it writes its figures
(`bench/results/<workload>.json`, with the machine they were measured on; the README's figures are
read from these files)."""

import atexit
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def save_result(workload: str, figures: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    machine = {"cpus": os.cpu_count(), "architecture": platform.machine(), "python": platform.python_version()}
    report = {"workload": workload, **figures, "machine": machine}
    (RESULTS / f"{workload}.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def scratch_folder(workload: str) -> Path:
    """A temporary folder removed when the bench exits (a 100k-row SQLite file is hundreds of MB)."""
    folder = Path(tempfile.mkdtemp(prefix=f"enishi-{workload}-"))
    atexit.register(shutil.rmtree, folder, True)
    return folder


def database_url(workload: str) -> str:
    """`ENISHI_BENCH_DATABASE_URL` when set (PostgreSQL runs), else a new SQLite file in a scratch folder."""
    return os.environ.get("ENISHI_BENCH_DATABASE_URL") or f"sqlite+aiosqlite:///{scratch_folder(workload)}/{workload}.db"


def free_port() -> int:
    """A loopback port nothing listens on now (for a server the bench starts)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def timed_workers(script: str, url: str, count: int) -> float:
    """Seconds until `count` processes of `script --worker URL` have all finished, timed from
    their release: each prints "ready" once connected and warmed up, and starts at a "go" line."""
    processes = [
        subprocess.Popen([sys.executable, script, "--worker", url], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        for _ in range(count)
    ]
    for process in processes:
        assert process.stdout is not None and process.stdout.readline().strip() == "ready"
    started = time.perf_counter()
    for process in processes:
        assert process.stdin is not None
        process.stdin.write("go\n")
        process.stdin.flush()
    for process in processes:
        process.communicate()
        assert process.returncode == 0
    return time.perf_counter() - started
