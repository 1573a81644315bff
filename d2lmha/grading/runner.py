"""Run a submission's notebook and answer the grader's calls: the code inside the sandbox.

Everything here runs next to untrusted code, and nothing it produces is trusted: the grader
reads only the answers file, as checked plain data (:mod:`~d2lmha.grading.wire`). The
trusted build-time side is :mod:`.capture`. Two commands (``python d2lmha/grading/runner.py
...``, run as a script):

``answer NOTEBOOK PLAN OUT_FILE --timeout S --cell-timeout C``
    The supervisor. It starts ``_inner`` (below) and watches it. A cell or call that ends
    the process (``os._exit``, a crash, a signal) or runs longer than ``C`` seconds is
    skipped and the notebook is run again without it, so answers computed before or after
    such a cell still count (three tries at most). Writes the answers (a
    :mod:`~d2lmha.grading.wire` container) to ``OUT_FILE`` and the first MiB of the cells'
    output to its stdout.

``_inner NOTEBOOK PLAN WORK_DIR``
    Runs the notebook's code cells in an IPython shell (magics work; no kernel, so the
    notebook's kernelspec does not matter), with a stand-in ``otter`` module whose
    ``grader.check`` does nothing, then calls the submission's functions on the plan's
    inputs, each on a fresh copy, with what the call's question may not call replaced by
    stand-ins that raise (:mod:`.guard`). Each result or exception is encoded as plain
    data, with whether the call changed its inputs in place. The plan holds only the calls,
    their inputs and their guards: no test code, name, message or expected value is ever
    here.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import gc
import json
import os
import subprocess
import sys
import time
import types
from pathlib import Path

if __name__ == "__main__":  # run as a script: its folder must not shadow top-level modules
    sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).parent]

__all__ = ["otter_stub", "execute_cells", "copy_inputs", "inputs_changed", "supervise"]


def _catalog():
    """The grader's messages (:mod:`.messages`), loaded from the file beside this one: as a
    script, the supervisor imports no package (it starts at once)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "_d2lmha_messages", Path(__file__).with_name("messages.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.MESSAGES


MESSAGES = _catalog()


def _say(key: str, **fields) -> str:
    """A note on the run, in English: the trusted side translates it (``localize_report``)."""
    return MESSAGES[key][""].format(**fields)


def otter_stub() -> types.ModuleType:
    """A stand-in ``otter``: ``otter.Notebook(...)`` whose methods (``check``, ...) do nothing."""
    module = types.ModuleType("otter")

    class Notebook:
        def __init__(self, *args, **kwargs):
            pass

        def __getattr__(self, name):
            return lambda *args, **kwargs: None

    module.Notebook = Notebook
    return module


def _shell():
    """An IPython shell with no kernel and no screen, for a notebook's cells.

    ``%matplotlib inline`` and ``exit()`` work as in a kernel (they need a GUI hook and an
    exit hook that a bare shell lacks); ``input()`` gets an empty line; files a cell writes
    into the working folder (``%%writefile helper.py``) can be imported.
    """
    from IPython.core.interactiveshell import InteractiveShell
    from traitlets.config import Config

    class Shell(InteractiveShell):
        def enable_gui(self, gui=None):
            pass

        def ask_exit(self):
            pass

    config = Config()
    config.HistoryManager.enabled = False
    config.InteractiveShell.colors = "nocolor"  # plain tracebacks in the log
    shell = Shell.instance(config=config)
    shell.user_ns["input"] = lambda prompt="": ""
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    return shell


def code_cells(notebook: Path) -> list[str]:
    """The sources of a notebook's code cells (plain JSON reading: nbformat imports slowly).

    Raises:
        ValueError: not a notebook (not JSON, or no list of cells with string sources).
    """
    nb = json.loads(Path(notebook).read_text(encoding="utf-8"))
    cells = nb.get("cells") if isinstance(nb, dict) else None
    if not isinstance(cells, list):
        raise ValueError("not a notebook: no list of cells")
    sources = []
    for cell in cells:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else source
            if not isinstance(source, str):
                raise ValueError("not a notebook: a cell whose source is not text")
            sources.append(source)
    return sources


def execute_cells(notebook: Path, skip=(), progress: Path | None = None):
    """Run the code cells of ``notebook`` in one IPython shell; return ``(namespace, errors)``.

    ``skip``: indices (among code cells) not to run. ``progress``: a file that gets
    ``cell N`` before cell N runs. ``errors``: ``"cell N: Name: message"`` per failed cell.
    """
    sources = code_cells(notebook)
    sys.modules["otter"] = otter_stub()
    shell = _shell()
    errors = []
    for index, source in enumerate(sources):
        if index in skip:
            continue
        if progress is not None:
            progress.write_text(f"cell {index}")
        result = shell.run_cell(source, store_history=False)
        error = result.error_before_exec or result.error_in_exec
        if error is not None:
            text = f"{type(error).__name__}: {str(error)[:300]}"
            errors.append(_say("cell_raised", cell=index + 1, error=text))
    return shell.user_ns, errors


def copy_inputs(value):
    """A copy of a call's inputs: tensors detached (graph-free) and cloned, layers deep-copied."""
    import torch

    if isinstance(value, torch.Tensor):
        copied = value.detach().clone()
        return copied.requires_grad_(value.requires_grad) if copied.is_floating_point() else copied
    if isinstance(value, (list, tuple)):
        return type(value)(copy_inputs(v) for v in value)
    if isinstance(value, dict):
        return {k: copy_inputs(v) for k, v in value.items()}
    try:
        return copy.deepcopy(value)
    except Exception:  # e.g. a function holding a generator: shared, as in the test itself
        return value


def inputs_changed(inputs, before) -> bool:
    """Did a call change ``inputs`` (its ``(args, kwargs)``) from ``before``, their copy?

    Tensors, and the parameters and buffers of layers, are compared exactly (NaN equal to
    NaN); inputs left in a state that cannot be compared count as changed.
    """
    import torch

    from d2lmha.grading.wire import tensor_leaves

    try:
        now, then = tensor_leaves(inputs), tensor_leaves(before)
        return len(now) != len(then) or any(
            a.shape != b.shape
            or a.dtype != b.dtype
            or not torch.equal(a.nan_to_num(), b.to(a.device).nan_to_num())
            for a, b in zip(now, then, strict=True)
        )
    except Exception:  # noqa: BLE001 - inputs a submission left in a state torch cannot compare
        return True


def cuda_devices():
    import torch

    return list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []


def _answer(namespace, plan, skip_calls, progress: Path):
    """Call the submission's functions on the plan's inputs; return ``(tree, tensors)``."""
    import torch

    from d2lmha import try_gpu
    from d2lmha.grading.guard import forbid
    from d2lmha.grading.wire import encode, exception_node

    tensors = {}
    device = try_gpu()
    functions = {}
    for name, _, _ in plan["calls"]:
        value = namespace.get(name)
        functions[name] = (
            "function"
            if callable(value)
            else ("missing" if name not in namespace else "not a function")
        )
    answers = []
    guards = plan.get("guards") or [("", [])] * len(plan["calls"])
    for index, (name, args, kwargs) in enumerate(plan["calls"]):
        key = f"call {index}"
        if functions[name] != "function":
            answers.append(None)
            continue
        if key in skip_calls:
            error = RuntimeError(_say("did_not_return", name=name, why=skip_calls[key]))
            answers.append({"result": exception_node(error), "mutated": False})
            continue
        progress.write_text(f"{key} {name}")
        args, kwargs = copy_inputs((args, kwargs))
        before = copy_inputs((args, kwargs))
        try:
            with torch.random.fork_rng(devices=cuda_devices()), forbid(*guards[index], namespace):
                result = namespace[name](*args, **kwargs)
            node = encode(result, tensors)
        except BaseException as error:  # noqa: BLE001 - SystemExit too: it is an answer
            node = exception_node(error)
        answers.append({"result": node, "mutated": inputs_changed((args, kwargs), before)})
    values = {
        name: encode(namespace[name], tensors) for name in plan["values"] if name in namespace
    }
    return {
        "functions": functions,
        "calls": answers,
        "values": values,
        "device": device.type,
    }, tensors


@contextlib.contextmanager
def collector_paused():
    """Run the block with the garbage collector off, then freeze what it made.

    For the runner's own imports (torch, the package): loading them makes about 190,000
    objects and little garbage, yet the collector runs some 400 times while they load; frozen,
    they are left out of every later collection too, so the submission's cells run faster.
    Measured: a blank student notebook's run costs about 0.8 s of CPU less, 0.61–0.70 of
    what it did (``python -m benchmarks.runner_start``). Only trusted code runs in the block:
    the collector is back on, even if the block raised, before the submission's first cell.
    """
    gc.disable()
    try:
        yield
    finally:
        gc.enable()
        gc.freeze()


def start(plan_path: Path, paused: bool = True):
    """The runner's imports, the plan, and the modules the set's notebook imports at its top
    (``plan["imports"]``, from the trusted build), all with the collector paused
    (:func:`collector_paused`; ``paused=False`` only for ``benchmarks/runner_start.py``'s
    reference). Returns ``(plan, write_container)``. A module that fails to import here is
    left for the submission's own cell to report."""
    import importlib

    with collector_paused() if paused else contextlib.nullcontext():
        import dill
        import torch

        from d2lmha.grading.wire import write_container

        # Written by the trusted build, never by a submission. Tensors the tests made on a
        # GPU come back on the GPU when the sandbox has one, else on the CPU.
        plan = torch.load(
            plan_path,
            map_location=None if torch.cuda.is_available() else "cpu",
            pickle_module=dill,
            weights_only=False,
        )
        for name in plan.get("imports", ()):
            try:
                importlib.import_module(name)
            except (Exception, SystemExit):  # the cell that imports it will say what is wrong
                pass
    return plan, write_container


def inner(notebook: Path, plan_path: Path, work: Path) -> None:
    """Run the cells, then answer the plan; write ``work/answers.safetensors``."""
    plan, write_container = start(plan_path)
    state = json.loads((work / "state.json").read_text())
    progress = work / "progress"
    namespace, errors = execute_cells(notebook, set(state["skip_cells"]), progress)
    tree, tensors = _answer(namespace, plan, state["skip_calls"], progress)
    tree["errors"] = state["notes"] + errors
    tree["stalled"] = state["stalled"]
    write_container(work / "answers.safetensors", tree, tensors)
    progress.write_text("done")


def supervise(
    notebook: Path,
    plan_path: Path,
    out_file: Path,
    timeout: float,
    cell_timeout: float,
    tries: int = 3,
    log_bytes: int = 1 << 20,
) -> int:
    """Run ``_inner`` until it finishes, skipping what ends or stalls it (see the top).

    Uses the standard library only, so it starts in milliseconds (run as a script).
    """
    work = Path(os.environ.get("TMPDIR", "/tmp")) / "d2lmha-run"
    work.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + timeout
    stall = cell_timeout
    state = {"skip_cells": [], "skip_calls": {}, "notes": [], "stalled": False}
    notes = state["notes"]
    for attempt in range(tries):
        (work / "state.json").write_text(json.dumps(state))
        progress = work / "progress"
        progress.write_text("start")
        with open(work / f"run{attempt + 1}.log", "wb") as log:  # a file each: a run that
            # filled its file to the size limit does not make the next one's prints fail
            proc = subprocess.Popen(
                [sys.executable, __file__, "_inner", str(notebook), str(plan_path), str(work)],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
            where, since, why = "start", time.monotonic(), None
            began, started = since, _run_delay(proc.pid)
            waited = started
            while proc.poll() is None:
                time.sleep(0.05)
                now_at = _read(progress)
                if now_at != where:
                    where, since, waited = now_at, time.monotonic(), _run_delay(proc.pid)
                if time.monotonic() > deadline:
                    why = _say("past_limit", seconds=f"{timeout:g}")
                    since, waited = began, started
                elif where.startswith(("cell", "call")) and time.monotonic() - since > stall:
                    why = _say("longer_than", seconds=f"{stall:g}")
                if why:
                    # Starved, not slow: it spent half of that time ready to run but
                    # waiting for a CPU (others' processes had it), so grade it again alone.
                    starved = _run_delay(proc.pid) - waited > 0.5 * (time.monotonic() - since)
                    state["stalled"] = state["stalled"] or starved
                    proc.kill()
                    proc.wait()
                    break
        done = _read(progress) == "done" and (work / "answers.safetensors").is_file()
        if done:
            break
        why = why or _say("ended_process", status=proc.returncode)
        where = _read(progress).split()
        if where[:1] == ["cell"]:
            state["skip_cells"].append(int(where[1]))
            notes.append(_say("cell_skipped", cell=int(where[1]) + 1, why=why))
        elif where[:1] == ["call"] and len(where) == 3:
            state["skip_calls"][" ".join(where[:2])] = why
            notes.append(_say("call_skipped", name=where[2], why=why))
        else:
            notes.append(_say("run_stopped", why=why))
            break
        if time.monotonic() > deadline:
            break
    answers = work / "answers.safetensors"
    if _read(work / "progress") == "done" and answers.is_file():
        Path(out_file).write_bytes(answers.read_bytes())
    else:  # a container with no tensors, written without importing safetensors
        tree = {
            "errors": notes or [_say("not_finished")],
            "unfinished": True,
            "stalled": state["stalled"],
        }
        header = json.dumps({"__metadata__": {"tree": json.dumps(tree)}}).encode()
        header += b" " * (-len(header) % 8)
        Path(out_file).write_bytes(len(header).to_bytes(8, "little") + header)
    for attempt, path in enumerate(sorted(work.glob("run*.log"))):
        header = f"--- run {attempt + 1} (skipping: {', '.join(notes[:attempt]) or 'nothing'})\n"
        sys.stdout.buffer.write(header.encode()[:log_bytes])
        with open(path, "rb") as log:
            written = log.read(max(0, log_bytes - len(header)))
        sys.stdout.buffer.write(written)
        log_bytes -= len(header) + len(written)
    return 0


def _run_delay(pid: int) -> float:
    """Seconds the threads of process ``pid`` have spent ready to run but waiting for a CPU
    (the second field of ``/proc/<pid>/task/*/schedstat``; 0 where the kernel has none)."""
    total = 0
    for path in Path(f"/proc/{pid}/task").glob("*/schedstat"):
        try:
            total += int(path.read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
    return total / 1e9


def _read(path: Path) -> str:
    try:
        return path.read_text()[:100]
    except OSError:
        return ""


def main(argv=None) -> int:
    """The runner's command line (``answer``, ``_inner``: see the top); exit status."""
    parser = argparse.ArgumentParser(prog="python d2lmha/grading/runner.py")
    commands = parser.add_subparsers(dest="command", required=True)
    p = commands.add_parser("answer")
    p.add_argument("notebook", type=Path)
    p.add_argument("plan", type=Path)
    p.add_argument("out_file", type=Path)
    p.add_argument("--timeout", type=float, required=True)
    p.add_argument("--cell-timeout", type=float, required=True)
    p = commands.add_parser("_inner")
    p.add_argument("notebook", type=Path)
    p.add_argument("plan", type=Path)
    p.add_argument("work", type=Path)
    args = parser.parse_args(argv)
    if args.command == "answer":
        return supervise(args.notebook, args.plan, args.out_file, args.timeout, args.cell_timeout)
    else:
        inner(args.notebook, args.plan, args.work)
    return 0


if __name__ == "__main__":
    sys.exit(main())
