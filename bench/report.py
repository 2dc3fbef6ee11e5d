"""What every benchmark shares: the database it runs on, and where it writes its figures
(`bench/results/<workload>.json`, with the machine they were measured on; the README's figures are
read from these files)."""

import atexit
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def save_result(workload: str, figures: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    machine = {
        "cpus": os.cpu_count(),
        "architecture": platform.machine(),
        "python": platform.python_version(),
        "load_average": os.getloadavg(),  # the machine is shared: how busy it was when the figures were taken
        "finished_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
    }
    report = {"workload": workload, **figures, "machine": machine}
    (RESULTS / f"{workload}.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def round_ratios(samples: list[float], floor: list[float], rounds: int) -> list[float]:
    """Each round's median of `samples` against the floor's median of the same round (the samples
    in round order, the same number in each): the ratio's range over the rounds."""
    size = len(samples) // rounds
    parts = [slice(n * size, (n + 1) * size) for n in range(rounds)]
    return [statistics.median(samples[part]) / statistics.median(floor[part]) for part in parts]


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


def paired_ratios(numerators: list[float], denominators: list[float]) -> dict:
    """Ratios of samples measured in pairs (a first read and the repeat after it, an Enishi round and
    the floor's beside it): the ratio of the medians, and the median and the 10-90 % range of the
    per-pair ratios (with fewer than ten pairs, the whole range). A machine whose speed drifts moves
    both halves of a pair together, so the per-pair ratios are the steadier figure."""
    ratios = sorted(n / d for n, d in zip(numerators, denominators, strict=True))
    cut = len(ratios) // 10
    return {
        "pairs": len(ratios),
        "ratio_of_medians": round(statistics.median(numerators) / statistics.median(denominators), 2),
        "pair_ratio_median": round(statistics.median(ratios), 2),
        "pair_ratio_range": [round(ratios[cut], 2), round(ratios[-1 - cut], 2)],
    }


def rounds_against_floor(samples: dict[str, list[float]]) -> dict:
    """Each workload's seconds per round against the floor's of the same round (`paired_ratios`),
    for benches that time a floor and one or more Enishi variants in every round."""
    return {name: paired_ratios(seconds, samples["floor"]) for name, seconds in samples.items() if name != "floor"}


def describe_ratios(ratios: dict) -> str:
    """`paired_ratios` in one line of a report."""
    low, high = ratios["pair_ratio_range"]
    return (
        f"{ratios['ratio_of_medians']}× (per pair, {ratios['pairs']} pairs: median {ratios['pair_ratio_median']}×, "
        f"range {low}-{high}×)"
    )


def _stat_fields(pid: int | str) -> list[str]:
    """/proc/PID/stat after the command name: state, ppid, …; utime and stime at 11 and 12, the
    reaped children's cutime and cstime at 13 and 14 (clock ticks)."""
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def process_cpu_seconds(pid: int) -> float:
    """User and system CPU time of a running process (every thread), from /proc (Linux): what a
    server spent, whatever else the machine's cores were doing."""
    fields = _stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def database_cpu_seconds() -> float | None:
    """CPU time of the PostgreSQL cluster whose postmaster's pid is `ENISHI_BENCH_POSTGRES_PID`
    (the first line of its data folder's postmaster.pid), or None when it is not set: on
    PostgreSQL a server's own CPU leaves out the work it hands to the database, which the floor
    and Enishi both do. The postmaster with its reaped children, and every live backend; only a
    cluster the bench alone uses says what the bench cost."""
    if not (postmaster := os.environ.get("ENISHI_BENCH_POSTGRES_PID")):
        return None
    own = _stat_fields(postmaster)
    ticks = sum(int(value) for value in own[11:15])
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = _stat_fields(entry.name)
            except (FileNotFoundError, ProcessLookupError):  # gone meanwhile: reaped, so counted above
                continue
            if fields[1] == postmaster:
                ticks += int(fields[11]) + int(fields[12])
    return ticks / os.sysconf("SC_CLK_TCK")
