"""Does this environment's kernel stall a notebook run? A reproducer for the chapter-04 stall.

    python -m tools.kernel_stall [--cells 300] [--runs 3] [--timeout 10] [--plain]

Builds a notebook in memory whose cells each draw into an ipywidgets ``Output`` widget, as
chapter 04's head viewer does (``clear_output(wait=True)`` then ``display``), and runs it with
nbclient ``--runs`` times, each cell with a ``--timeout``. A run whose cell times out is a
stall. ``--plain`` runs the same cells without the widget, as a control.

Why the widget: nbclient stands in for a front end, so for every output that lands in an
``Output`` widget it sends a ``comm_msg`` back to the kernel on the shell channel, often just
as the kernel is sending that cell's ``execute_reply``. ipykernel 7.0 to 7.3 sent shell replies
raw on the shell socket, which could swallow the socket's wake-up for a request that arrived
meanwhile: that request, and the next cell's ``execute_request`` behind it, then sit unread,
and client and kernel both wait, idle, for ever (ipython/ipykernel#1529, fixed in 7.4.0).
Measured here (ipykernel 7.3.0 against 7.4.0, 300 cells, results in
``benchmarks/results/notebook_times.md``): 7.3.0 stalled in most runs, 7.4.0 in none, and
the plain control never. Exits 1 when any run stalled.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time

import nbformat
from nbclient import NotebookClient
from nbclient.exceptions import CellTimeoutError

SETUP = (
    "import ipywidgets as widgets\n"
    "from IPython.display import clear_output, display\n"
    "out = widgets.Output()\n"
    "display(out)"
)


def stall_notebook(cells: int, widget: bool = True) -> nbformat.NotebookNode:
    """``cells`` cells that each replace what the ``Output`` widget shows (or, with
    ``widget=False``, the cell's own output) by a number."""
    body = "with out:\n    clear_output(wait=True)\n    display({i})\n"
    plain = "clear_output(wait=True)\ndisplay({i})\n"
    sources = [SETUP] + [(body if widget else plain).format(i=i) for i in range(cells)]
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(s) for s in sources])
    nb.metadata["kernelspec"] = {
        "name": "python3",
        "display_name": "Python 3",
        "language": "python",
    }
    return nb


def run(nb: nbformat.NotebookNode, timeout: int) -> tuple[bool, float, str]:
    """Execute ``nb``; ``(stalled, seconds, which cell timed out)``."""
    with tempfile.TemporaryDirectory() as folder:
        client = NotebookClient(
            nb, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": folder}}
        )
        start = time.perf_counter()
        try:
            client.execute()
        except CellTimeoutError as error:
            return True, time.perf_counter() - start, str(error).splitlines()[0]
    return False, time.perf_counter() - start, ""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=300)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--timeout", type=int, default=10, help="seconds per cell")
    parser.add_argument("--plain", action="store_true", help="no widget (the control)")
    args = parser.parse_args(argv)
    import ipykernel

    print(f"ipykernel {ipykernel.__version__}, {args.cells} cells, widget: {not args.plain}")
    stalls = 0
    for index in range(args.runs):
        stalled, seconds, where = run(stall_notebook(args.cells, not args.plain), args.timeout)
        stalls += stalled
        print(f"run {index + 1}: {'STALLED' if stalled else 'ok'} after {seconds:.1f} s {where}")
    print(f"{stalls} of {args.runs} runs stalled")
    return 1 if stalls else 0


if __name__ == "__main__":
    sys.exit(main())
