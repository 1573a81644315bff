"""The memory measurements of ``tools.notebook_times`` (what ``benchmarks.kernel_resources``
reports for hosting): a process that holds 200 MiB is measured at 200 MiB or more, by the
sampler and by the kernel's high-water mark; the report's table has one row per notebook."""

import subprocess
import sys
import time
from pathlib import Path

import psutil

from benchmarks import kernel_resources as bench
from tools.notebook_times import PeakSampler, Run, high_water_mark_bytes, tree_rss_bytes

MIB = 2**20
HOLD = (
    "import sys, time\n"
    "x = bytearray(200 * 2**20)\n"
    "x[::4096] = b'1' * len(x[::4096])\n"  # touch every page: resident, not only reserved
    "print('ready', flush=True)\n"
    "time.sleep(1.5)\n"
)


def test_a_process_holding_200_mib_is_measured_at_200_mib_or_more():
    # A parent whose child holds the memory: the sampler sums the process tree.
    spawn = f"import subprocess, sys; subprocess.run([sys.executable, '-c', {HOLD!r}])"
    parent = subprocess.Popen([sys.executable, "-c", spawn], stdout=subprocess.PIPE, text=True)
    with PeakSampler(parent.pid, interval_s=0.02) as sampler:
        assert parent.stdout.readline().strip() == "ready"
        time.sleep(0.3)
        child = psutil.Process(parent.pid).children()[0]
        hwm = high_water_mark_bytes(child.pid)
    parent.wait(timeout=30)
    assert sampler.peak >= 200 * MIB
    assert 200 * MIB <= hwm < 400 * MIB
    assert tree_rss_bytes(parent.pid) == 0  # gone: nothing to measure, no error
    assert high_water_mark_bytes(parent.pid) == 0


def test_the_report_takes_the_larger_of_the_sampled_peak_and_the_high_water_mark():
    runs = {
        Path("notebooks/00_overview.ipynb"): [Run(4.0, 8.0, peak_rss_bytes=500 * MIB,
                                                  kernel_hwm_bytes=520 * MIB)],
        Path("notebooks/05_head_importance.ipynb"): [Run(30.0, 50.0, peak_rss_bytes=840 * MIB),
                                                     Run(1.0, 1.0, error="cell 3: boom")],
    }  # fmt: skip
    rows = bench.table(runs).splitlines()
    assert len(rows) == 2 + 2
    assert rows[2].startswith(
        "| notebooks/00_overview.ipynb | 520 | 500 | 520 | 4.0 | 8.0 | 1 | 0 |"
    )
    assert rows[3].endswith("| 1 | cell 3: boom |")
    assert "Largest peak: 840 MiB (notebooks/05_head_importance.ipynb)" in bench.summary(runs)
