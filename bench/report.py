"""What every benchmark writes: its figures as `bench/results/<workload>.json`, with the machine
they were measured on (the README's figures are read from these files)."""

import json
import os
import platform
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def save_result(workload: str, figures: dict) -> None:
    RESULTS.mkdir(exist_ok=True)
    machine = {"cpus": os.cpu_count(), "python": platform.python_version()}
    report = {"workload": workload, **figures, "machine": machine}
    (RESULTS / f"{workload}.json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
