"""The machine description and the markdown tables of a benchmark run."""

from __future__ import annotations

import datetime
import os
import platform
from pathlib import Path

import pandas as pd
import torch

__all__ = ["machine_description", "markdown_table", "command"]


def _cpu_model() -> str:
    """The CPU's model name (from /proc/cpuinfo on Linux, else ``platform``)."""
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def machine_description(device: torch.device) -> dict:
    """What the numbers were measured on: CPU, cores, threads, torch, device, load, date."""
    description = {
        "CPU": _cpu_model(),
        "logical cores": os.cpu_count(),
        "torch threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "Python": platform.python_version(),
        "device": str(device) if device.type != "cuda" else torch.cuda.get_device_name(device),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
    }
    if hasattr(os, "getloadavg"):
        description["load average (1 min) at start"] = round(os.getloadavg()[0], 2)
    return description


def markdown_table(frame: pd.DataFrame, digits: int = 2) -> str:
    """A pipe table (GitHub markdown) of ``frame``; floats rounded to ``digits`` decimals.

    (``DataFrame.to_markdown`` would need the optional ``tabulate`` package.)
    """

    def cell(value) -> str:
        return f"{value:.{digits}f}" if isinstance(value, float) else str(value)

    lines = ["| " + " | ".join(map(str, frame.columns)) + " |", "|" + "---|" * len(frame.columns)]
    lines += [
        "| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)
    ]
    return "\n".join(lines)


def command(run):
    """The ``main(argv)`` of a benchmark: ``run(argv)``, then print its text and where it went."""

    def main(argv=None) -> int:
        result = run(argv)
        print(result["text"])
        print(f"written to {result['path']}")
        return 0

    return main
