"""One submission, one bubblewrap sandbox: what it can see, what it can use, and for how long.

Inside the sandbox a submission sees a read-only system (``/usr``, ``/etc``), the read-only
Python environment and the ``d2lmha`` package, its own notebook and the set's call plan
(read-only, under ``/in``), matplotlib's font list (read-only, in a writable
``MPLCONFIGDIR``), one writable file for its answers (``/out/answers``) and a private
``/tmp`` of limited size. It does not see the project (``solutions/``, the tests, the build
folder), the other submissions, the grades, or the instructor's home and environment
(``--clearenv``). It has no network (its own network namespace: even the host's loopback is
out of reach), its own PID namespace (everything it starts dies with it, and it cannot see or
signal the grader), and an unprivileged uid: when the grader runs as root, each sandbox slot
gets a uid of its own (:func:`slot_uid`) with every capability dropped; otherwise bubblewrap's
user namespace maps the instructor's uid to ``nobody``. ``prlimit`` caps the address space of
each process (``memory``), the number of processes of the sandbox's uid, the size of any
file it writes (so the 1 MiB of output that comes back and the answers are bounded) and CPU
seconds; the grader kills the whole sandbox at the wall-time limit.

Source: bubblewrap(1); setpriv(1); prlimit(1); setrlimit(2).
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "Limits",
    "SandboxUnavailable",
    "sandbox_problem",
    "run_sandboxed",
    "slot_uid",
    "usable_cpus",
    "BWRAP",
]

BWRAP = "bwrap"
UID_BASE = 60000
MAX_SLOTS = 64


def slot_uid(slot: int) -> int:
    """The uid of sandbox slot ``slot`` of this grading process (when grading as root).

    Distinct per grading process as well as per slot, so two gradings on one machine do
    not share a uid, and so neither its process limit nor its files.
    """
    return UID_BASE + (os.getpid() % 500) * MAX_SLOTS + slot


class SandboxUnavailable(RuntimeError):
    """bubblewrap is missing or cannot create a sandbox on this machine."""


@dataclass(frozen=True)
class Limits:
    """Resource limits of one sandbox.

    Attributes:
        timeout: wall seconds for the whole run (cells, then the calls); the sandbox is
            killed ``grace`` seconds later if it has not stopped by itself.
        memory: bytes of address space per process (``RLIMIT_AS``).
        processes: processes and threads of the sandbox's uid (``RLIMIT_NPROC``).
        file_size: bytes of any one file the sandbox writes (``RLIMIT_FSIZE``).
        scratch: bytes of the private ``/tmp`` (a tmpfs).
        answers: bytes of the answers file the grader accepts.
        grace: seconds between the time limit and the kill.
        isolated: run in bubblewrap. False only for ``--unsafe-no-sandbox``: the same
            runner and limits in a plain subprocess, which sees everything you can see.
        cell_timeout: seconds one cell (or one call) may run before it is skipped; default
            half of ``timeout``.
        scoring_timeout: seconds (wall and CPU) the trusted scoring of one submission's
            answers may take, in its own process (:mod:`.scoring`).
        scoring_memory: bytes of address space that scoring process may add to what it
            starts with.
    """

    timeout: float = 120.0
    memory: int = 4 << 30
    processes: int = 256
    file_size: int = 64 << 20
    scratch: int = 512 << 20
    answers: int = 64 << 20
    grace: float = 15.0
    isolated: bool = True
    cell_timeout: float | None = None
    scoring_timeout: float = 60.0
    scoring_memory: int = 1 << 30


def usable_cpus() -> int:
    """How many CPUs this process may use: its affinity mask, capped by a cgroup CPU quota
    (v2 ``cpu.max`` or v1 ``cpu.cfs_quota_us``) where one is set; at least 1.

    ``os.cpu_count()`` counts the machine's CPUs, not the ones a container or ``taskset``
    leaves us, so grading with it would run more sandboxes than there are CPUs.
    """
    count = len(os.sched_getaffinity(0))
    for quota_file, period_file in (
        ("/sys/fs/cgroup/cpu.max", None),
        ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", "/sys/fs/cgroup/cpu/cpu.cfs_period_us"),
        (
            "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us",
            "/sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us",
        ),
    ):
        try:
            fields = Path(quota_file).read_text().split()
            if period_file is not None:
                fields = [fields[0], Path(period_file).read_text().split()[0]]
            quota, period = fields[0], fields[1]
        except (OSError, IndexError):
            continue
        if quota not in ("max", "-1") and int(period) > 0:
            count = min(count, max(1, -(-int(quota) // int(period))))
    return max(1, count)


def _package_dir() -> Path:
    return Path(__file__).resolve().parents[1]


def _system() -> list[str]:
    """Read-only binds of the system: ``/usr``, ``/etc`` and the ``/lib``-style links."""
    args = ["--ro-bind", "/usr", "/usr", "--ro-bind", "/etc", "/etc"]
    for name in ("bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / name
        if path.is_symlink():
            args += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            args += ["--ro-bind", str(path), str(path)]
    return args


def _python() -> list[str]:
    """Read-only binds of this Python, its environment and the d2lmha package (and a GPU).

    Made after the scratch ``/tmp``, so a package that lives under ``/tmp`` stays visible.
    """
    args = []
    seen = {Path("/usr")}
    for path in (Path(sys.base_prefix), Path(sys.prefix), _package_dir()):
        path = path.resolve()
        if any(path == p or p in path.parents for p in seen):
            continue
        for parent in reversed(path.parents):  # traversable for an unprivileged uid
            if parent != Path("/") and not any(parent == p or p in parent.parents for p in seen):
                args += ["--perms", "0755", "--dir", str(parent)]
        args += ["--ro-bind", str(path), str(path)]
        seen.add(path)
    for device in sorted(Path("/dev").glob("nvidia*")):  # a GPU, where there is one
        args += ["--dev-bind", str(device), str(device)]
    return args


@functools.cache
def _font_list() -> Path | None:
    """matplotlib's font list as the grader's own matplotlib wrote it (importing its font
    manager writes it when missing), or ``None``. A sandbox's home is a fresh ``/tmp``, so
    without it every submission that imports pyplot scans the system's fonts again (about
    0.15 s of CPU); it is handed in read-only (:func:`_matplotlib`)."""
    try:
        import matplotlib
        from matplotlib import font_manager
    except ImportError:
        return None
    path = (
        Path(matplotlib.get_cachedir()) / f"fontlist-v{font_manager.FontManager.__version__}.json"
    )
    return path if path.is_file() else None


def _matplotlib() -> tuple[list[str], dict]:
    """The binds and environment that give the sandbox's matplotlib a writable folder of its
    own (``MPLCONFIGDIR``) holding the grader's font list, read-only: a submission may read
    it (it names font files under ``/usr``), not change it."""
    folder = "/tmp/matplotlib"
    args = ["--perms", "1777", "--dir", folder]
    font_list = _font_list()
    if font_list is not None:
        # -try: a list removed since it was found (a long grading run) is left out, not fatal
        args += ["--ro-bind-try", str(font_list), f"{folder}/{font_list.name}"]
    return args, {"MPLCONFIGDIR": folder}


def _runner(notebook, plan, answers, limits: Limits) -> list[str]:
    # As a script: the supervisor uses the standard library only and starts at once.
    return [
        sys.executable,
        str(Path(__file__).with_name("runner.py")),
        "answer",
        str(notebook),
        str(plan),
        str(answers),
        "--timeout",
        str(limits.timeout),
        "--cell-timeout",
        str(limits.cell_timeout or limits.timeout / 2),
    ]


def _prlimit(limits: Limits, nproc: int) -> list[str]:
    cpu = int(limits.timeout + limits.grace) + 1
    return [
        "prlimit",
        f"--as={limits.memory}",
        f"--nproc={nproc}",
        f"--fsize={limits.file_size}",
        f"--cpu={cpu}",
        "--core=0",
        "--",
    ]


def _command(job: Path, plan: Path, limits: Limits, slot: int) -> list[str]:
    if not limits.isolated:
        return _prlimit(limits, _nproc(limits, False)) + _runner(
            job / "submission.ipynb", plan, job / "answers", limits
        )
    as_root = os.geteuid() == 0
    uid = slot_uid(slot) if as_root else 65534
    cmd = [
        BWRAP,
        "--unshare-pid",
        "--unshare-net",
        "--unshare-ipc",
        "--unshare-uts",
        "--unshare-cgroup-try",
        "--die-with-parent",
        "--new-session",
        "--hostname",
        "sandbox",
    ]
    if not as_root:
        cmd += ["--unshare-user", "--disable-userns", "--uid", str(uid), "--gid", str(uid)]
    cmd += _system()
    cmd += [
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--perms",
        "1777",
        "--size",
        str(limits.scratch),
        "--tmpfs",
        "/tmp",
    ]
    cmd += _python()
    matplotlib_binds, matplotlib_env = _matplotlib()
    cmd += matplotlib_binds
    cmd += [
        "--perms",
        "0755",
        "--dir",
        "/in",
        "--perms",
        "0755",
        "--dir",
        "/out",
        "--ro-bind",
        str(job / "submission.ipynb"),
        "/in/submission.ipynb",
        "--ro-bind",
        str(plan),
        "/in/plan.dill",
        "--bind",
        str(job / "answers"),
        "/out/answers",
        "--chdir",
        "/tmp",
        "--clearenv",
    ]
    env = {
        "PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": "/tmp",
        "TMPDIR": "/tmp",
        "USER": "student",
        "LOGNAME": "student",
        "LANG": "C.UTF-8",
        "MPLBACKEND": "Agg",
        "OMP_NUM_THREADS": "1",
        "MKL_NUM_THREADS": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONHASHSEED": "0",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "TQDM_DISABLE": "1",
        "PYTHONPATH": str(_package_dir().parent),
        **matplotlib_env,
    }  # this d2lmha, however it was installed
    for key, value in env.items():
        cmd += ["--setenv", key, value]
    inside = []
    if as_root:  # bwrap runs privileged for the mounts; the submission runs as an ordinary uid
        cmd += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID"]
        inside += [
            "setpriv",
            f"--reuid={uid}",
            f"--regid={uid}",
            "--clear-groups",
            "--inh-caps=-all",
            "--bounding-set=-all",
            "--",
        ]
        # A second, unprivileged bwrap that only forbids new user namespaces (the first
        # cannot: it has no user namespace of its own, so that it can change uid).
        inside += [BWRAP, "--unshare-user", "--disable-userns", "--dev-bind", "/", "/", "--"]
    inside += _prlimit(limits, _nproc(limits, as_root))
    inside += _runner("/in/submission.ipynb", "/in/plan.dill", "/out/answers", limits)
    return cmd + ["--"] + inside


def _nproc(limits: Limits, as_root: bool) -> int:
    """RLIMIT_NPROC counts all processes of a uid: a sandbox uid of its own starts from 0."""
    if as_root:
        return limits.processes
    uid = os.getuid()
    mine = sum(1 for p in Path("/proc").glob("[0-9]*/task/[0-9]*") if _owner(p) == uid)
    return mine + limits.processes


def _owner(path: Path):
    try:
        return path.stat().st_uid
    except OSError:
        return None


def sandbox_problem() -> str | None:
    """Why submissions cannot be sandboxed here (``None`` when they can)."""
    if shutil.which(BWRAP) is None:
        return (
            "bubblewrap (bwrap) is not installed; install the Debian/Ubuntu package "
            "'bubblewrap' (as root: apt-get install bubblewrap)"
        )
    for tool in ("setpriv", "prlimit"):
        if shutil.which(tool) is None:
            return f"{tool} (util-linux) is not installed"
    probe = subprocess.run(
        [BWRAP, "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "--", "true"],
        capture_output=True,
        text=True,
    )
    if probe.returncode:
        return f"bubblewrap cannot create a sandbox here: {probe.stderr.strip()[:300]}"
    return None


@dataclass
class Outcome:
    """What came back from one sandbox: paths on the host, and how it ended."""

    answers: Path
    log: Path
    returncode: int
    killed: bool
    seconds: float


def run_sandboxed(
    notebook_bytes: bytes, plan: Path, job: Path, limits: Limits, slot: int = 0
) -> Outcome:
    """Run one submission's notebook in a fresh sandbox and wait for it.

    Args:
        notebook_bytes: the submission (a copy; the original file is never opened here).
        plan: the set's ``plan.dill``.
        job: an empty private folder for this run (the host side of the answers and log).
        limits: see :class:`Limits`.
        slot: which concurrent sandbox this is (``0 .. jobs-1``): its uid when run as root.

    Returns:
        An :class:`Outcome`. The answers file is untrusted: read it with
        :func:`d2lmha.grading.wire.read_container`.
    """
    job = Path(job)
    (job / "submission.ipynb").write_bytes(notebook_bytes)
    answers, log = job / "answers", job / "log.txt"
    answers.write_bytes(b"")
    if os.geteuid() == 0 and limits.isolated:
        os.chown(answers, slot_uid(slot), slot_uid(slot))
    env = (
        None
        if limits.isolated
        else {
            "PATH": os.environ.get("PATH", ""),
            "HOME": str(job),
            "TMPDIR": str(job),
            "MPLBACKEND": "Agg",
            "OMP_NUM_THREADS": "1",
            "TQDM_DISABLE": "1",
            "PYTHONPATH": str(_package_dir().parent),
        }
    )
    start = time.monotonic()
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            _command(job, plan, limits, slot),
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=job,
            env=env,
        )
        killed = False
        try:
            proc.wait(timeout=limits.timeout + limits.grace)
        except subprocess.TimeoutExpired:
            killed = True
            proc.kill()  # --die-with-parent: the sandbox's PID 1 dies, and all in it
            proc.wait()
        if not limits.isolated:  # no PID namespace: end its process group by hand
            try:
                os.killpg(proc.pid, 9)
            except ProcessLookupError:
                pass
    return Outcome(answers, log, proc.returncode, killed, time.monotonic() - start)
