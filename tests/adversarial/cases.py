"""Hostile submissions: at least one per case of GRADER.md's "What a grader must survive".

Every case is built on exercise q10 (fast to grade) and attacks one task, ``relu`` unless
it says otherwise. ``code`` is spliced into a copy of ``solutions/q10/activations.py`` with
``tests.grading.splice``: a function it defines replaces the solution's, ``_original_<task>``
calls the solution's own version, module-level statements run at import. ``whole_file``
replaces the file instead. ``status`` lists what the attacked task's checks may say; the
first entry is the attack's signature and at least one check must show it. ``max_score`` is
the most the hostile submission deserves on the attacked task (5 checks for relu: value,
gradient, gradient at +-1e4, jit, and the static forbidden-calls check).
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SOLUTION = ROOT / "solutions" / "q10" / "activations.py"
STUB = ROOT / "exercises" / "q10" / "activations.py"

# GRADER.md, "What a grader must survive", item by item (plus the additions).
ITEMS = (
    "sys.exit at import",
    "sys.exit in a task",
    "os._exit",
    "KeyboardInterrupt",
    "killing its own process group",
    "printing PASSED or a fake JSON result",
    "writing to inherited file descriptors",
    "ANSI escapes and \\r in output",
    "closing stdout",
    "infinite Python loop",
    "time.sleep",
    "input()",
    "infinite lax.while_loop",
    "allocating a huge array",
    "Python memory bomb",
    "fork bomb",
    "daemon process left behind",
    "writing a huge file",
    "deep recursion",
    "output flood",
    "Python loop unrolled under jit",
    "monkeypatching numpy.allclose",
    "monkeypatching the grader's own modules",
    "replacing jax.jit",
    "lying __eq__/__array__",
    "NaN where the reference has NaN",
    "shape (B,1) for (B,)",
    "float64 or NumPy arrays",
    "mutating input arrays",
    "changing global JAX config",
    "reading solutions/",
    "module-name shadowing",
    "a submission that is a symlink",
    "syntax error",
    "import of a missing package",
    "untouched stub",
    "wrong name",
    "wrong signature",
    "heavy work at import time",
    "importing dlcore, solutions or grader",
    "writing into the grader's cache dir",
    "killing the parent",
    "ignoring SIGTERM",
    "forged frames with a stolen nonce",
    "regaining root",
    "hostile exception objects",
    "undecodable source",
)

# Module-level code that makes relu hang, allocate or crash only when called eagerly (not
# while traced): the batched checks (traced under jit in one call) pass, the jit check, which
# calls relu eagerly first, meets the attack. Cheap to grade: one check fails, one restart.
_EAGER = "import jax\n\ndef _eager(x):\n    return not isinstance(x, jax.core.Tracer)\n"


@dataclasses.dataclass(frozen=True)
class Case:
    name: str
    item: str  # the entry of ITEMS it covers
    status: tuple[str, ...]  # allowed statuses of the task's checks; the first must show
    code: str = ""
    task: str = "relu"
    max_score: float = 0.0  # what the hostile submission deserves, at most, on the task
    whole_file: bool = False
    raw: bytes | None = None  # the file's exact bytes (overrides code)
    files: tuple[tuple[str, str], ...] = ()  # extra files in the submission folder
    symlink_to: Path | None = None  # the exercise file is a symlink to this
    instructor: bool = False
    check_timeout: float = 4.0
    import_timeout: float = 8.0
    message: str = ""  # regex that the first non-passing check's output must match
    marker: str = ""  # a command line fragment of processes the case starts
    note: str = ""  # regex that one of the submission's notes must match
    needs_root: bool = False
    exclusive: bool = False  # runs with no other case alongside (it starves the machine)

    @property
    def exit_code(self) -> int:
        return 0 if set(self.status) == {"pass"} else 1


def _wrap(body: str) -> str:
    """A relu that runs ``body`` and then returns the right answer."""
    lines = "\n".join("    " + ln for ln in body.strip("\n").splitlines())
    return f"def relu(x):\n{lines}\n    return _original_relu(x)\n"


_FIND_MAIN = """
import sys

def _worker_frame():
    f = sys._getframe()
    while f is not None and "nonce" not in f.f_locals:
        f = f.f_back
    return f
"""

_HIJACK = (
    _FIND_MAIN
    + """
import os
import types

import numpy as np


def relu(x):  # wrong everywhere: only what the parent judges against references can tell
    return 2 * _original_relu(x)


def _take_over():
    f = _worker_frame()
    L = f.f_locals
    protocol, send, execute, wire, Case = (L[k] for k in ("protocol", "send", "execute",
                                                          "wire", "Case"))
    checks = {c.id: c for c in L["exercise"].checks}
    fns = types.SimpleNamespace(relu=relu)
    tasks = {t: "ok" for t in ("sigmoid", "relu", "leaky_relu", "tanh", "softplus", "gelu",
                               "softmax", "log_softmax")}
    send({"type": "ready", "tasks": tasks, "confinement": [], "load_errors": [],
          "tamper": None, "import_seconds": 0.0, "backend": "cpu"})
    while True:
        payload = protocol.read_frame(L["cmd_fd"])
        if payload is None:
            os._exit(0)
        header, arrays = protocol.decode(payload)
        raw = wire.decode(header["cases"], arrays)
        for cid in header["checks"]:
            cases = [Case(tuple(a), dict(k), dict(s), dict(e), lab) for a, k, s, e, lab in raw[cid]]
            try:
                if checks[cid].kind == "jit":  # forge: the "jit" output is the eager one
                    outs = [{"eager": relu(c.args[0]), "jit": relu(c.args[0])} for c in cases]
                else:  # the real thing
                    outs = execute.run_cases(checks[cid], fns, cases)
                skeleton, out = execute.to_wire(outs)
            except Exception as e:
                send({"type": "result", "check": cid, "status": "error",
                      "exception": type(e).__name__, "message": str(e)[:500]})
                continue
            send({"type": "result", "check": cid, "status": "ok", "output_tree": skeleton}, out)


_take_over()
"""
)

_CACHE_ROOTS = """
import os
import jax


def _cache_roots():
    \"\"\"The worker's own compilation cache, and the grader's cache dir (--cache-dir is on
    the grader's command line, which anyone may read).\"\"\"
    roots = [jax.config.jax_compilation_cache_dir or ""]
    try:
        with open(f"/proc/{os.getppid()}/cmdline", "rb") as fh:
            argv = fh.read().decode().split("\\0")
        roots.append(argv[argv.index("--cache-dir") + 1])
    except (OSError, ValueError, IndexError):
        pass
    return [r for r in roots if r]
"""

# The XLA cache is keyed by the program alone: compile the program the jit check will
# compile for any right relu, then store a wrong executable (x -> -1) under its key, in the
# worker's cache dir and in every cache dir it can find.
_POISON = (
    _CACHE_ROOTS
    + """
def _poison():
    x = jax.numpy.zeros((5, 4), jax.numpy.float32)
    d = jax.config.jax_compilation_cache_dir
    if not d:
        return
    jax.jit(lambda *xs: relu(*xs))(x)
    good = {f for f in os.listdir(d) if f.startswith("jit__lambda")}
    wrong = -1.0 - os.getpid() % 1000  # a program compiled by no earlier run
    jax.jit(lambda *xs: xs[0] * 0.0 + wrong)(x)
    evil = {f for f in os.listdir(d) if f.startswith("jit__lambda")} - good
    if not (good and evil):
        return
    data = open(os.path.join(d, evil.pop()), "rb").read()
    for root in _cache_roots():
        for dp, dn, fn in os.walk(root):
            for f in set(fn) | good:
                if f.startswith("jit__lambda") and f.endswith("-cache"):
                    try:
                        os.unlink(os.path.join(dp, f))
                    except OSError:
                        pass
                    try:
                        with open(os.path.join(dp, f), "wb") as fh:
                            fh.write(data)
                    except OSError:
                        pass


_poison()
"""
)

CASES: list[Case] = [
    # ---- exits -------------------------------------------------------------------------
    Case(
        "sys_exit_at_import",
        "sys.exit at import",
        ("error",),
        "import sys\nsys.exit(0)\n",
        message=r"importing the file raised SystemExit",
    ),
    Case(
        "sys_exit_in_task",
        "sys.exit in a task",
        ("error",),
        "import sys\n\ndef relu(x):\n    sys.exit(0)\n",
        message=r"SystemExit[\s\S]*hint: graded code must return",
    ),
    Case(
        "os_exit_at_import",
        "os._exit",
        ("crash",),
        "import os\nos._exit(0)\n",
        message=r"exited \(code 0\) without reporting",
    ),
    Case(
        "os_exit_in_eager_call",
        "os._exit",
        ("crash", "pass"),
        _EAGER + "import os\n" + _wrap("if _eager(x):\n    os._exit(0)"),
        max_score=4,  # right under tracing: the three batched checks pass
        message=r"exited \(code 0\) without reporting",
    ),
    Case(
        "keyboard_interrupt_at_import",
        "KeyboardInterrupt",
        ("error",),
        "raise KeyboardInterrupt\n",
        message=r"KeyboardInterrupt",
    ),
    Case(
        "keyboard_interrupt_in_task",
        "KeyboardInterrupt",
        ("error",),
        "def relu(x):\n    raise KeyboardInterrupt\n",
        message=r"KeyboardInterrupt",
    ),
    Case(
        "killpg_own_group_in_eager_call",
        "killing its own process group",
        ("crash", "pass"),
        _EAGER
        + "import os\nimport signal\n"
        + _wrap("if _eager(x):\n    os.killpg(os.getpgrp(), signal.SIGKILL)"),
        max_score=4,
        message=r"killed by SIGKILL \(by the submission itself",
    ),
    Case(
        "kill_parent_in_task",
        "killing the parent",
        ("error",),
        "import os\nimport signal\n\ndef relu(x):\n    os.kill(os.getppid(), signal.SIGKILL)\n",
        message=r"PermissionError[\s\S]*hint: graded code runs unprivileged",
        needs_root=True,  # as an ordinary user the worker runs as the grader's own user
    ),
    Case(
        "ignores_sigterm_and_hangs_at_import",
        "ignoring SIGTERM",
        ("timeout",),
        "import signal\nimport time\n"
        "for _s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT):\n"
        "    signal.signal(_s, signal.SIG_IGN)\n"
        "time.sleep(1e6)\n",
        message=r"importing the file took longer than 8 s",
    ),
    # ---- spoofing ----------------------------------------------------------------------
    Case(
        "prints_passed_and_fake_json",
        "printing PASSED or a fake JSON result",
        ("wrong", "pass"),
        'import json\nprint("PASS  relu: matches jax.nn.relu\\nscore 48/48")\n'
        'print(json.dumps({"score": 48, "max_score": 48, "tests": []}))\n'
        "def relu(x):\n"
        '    print(\'{"score": 48, "max_score": 48, "status": "passed"}\')\n'
        "    return x * 0\n",
        max_score=2,  # x * 0 is jittable (jit check) and calls nothing forbidden
        message=r"outside tolerance",
    ),
    Case(
        "writes_garbage_to_inherited_fds",
        "writing to inherited file descriptors",
        ("tamper",),
        "import os\nimport struct\n"
        "for _fd in range(3, 21):\n"
        "    try:\n"
        '        os.write(_fd, b"PASSED\\n" + struct.pack(">I", 8) + b"garbage!")\n'
        "    except OSError:\n"
        "        pass\n",
        message=r"not a frame from the worker",
    ),
    Case(
        "forged_frames_with_stolen_nonce",
        "forged frames with a stolen nonce",
        ("tamper",),
        _FIND_MAIN
        + """
_send = _worker_frame().f_locals["send"]
_tasks = {t: "ok" for t in ("sigmoid", "relu", "leaky_relu", "tanh", "softplus", "gelu",
                            "softmax", "log_softmax")}
_send({"type": "ready", "tasks": _tasks, "confinement": [], "load_errors": [],
       "tamper": None, "import_seconds": 0.0, "backend": "cpu"})
_send({"type": "prefetched", "checks": []})
for _ in range(5):
    _send({"type": "result", "check": "relu: works under jit", "status": "ok"})

def relu(x):
    return x * 0
""",
        message=r"answered out of turn",
    ),
    Case(
        "closes_inherited_fds",
        "writing to inherited file descriptors",
        ("crash",),
        "import os\nos.closerange(3, 256)\n",
        message=r"stopped \(exit code 1\) without reporting[\s\S]*Bad file descriptor",
    ),
    Case(
        "redirects_the_result_channel",
        "writing to inherited file descriptors",
        ("crash",),
        _FIND_MAIN
        + "import os\n"
        + 'os.dup2(os.open(os.devnull, os.O_WRONLY), _worker_frame().f_locals["res_fd"])\n',
        message=r"result channel closed but the worker kept running",
    ),
    Case(
        "ansi_escapes_and_cr_in_output_and_errors",
        "ANSI escapes and \\r in output",
        ("error",),
        'print("\\x1b[2J\\x1b[32mPASS\\x1b[0m relu\\r score 48/48\\x07")\n'
        "def relu(x):\n"
        '    print("\\x1b[1A\\x1b[2K\\r")\n'
        '    raise ValueError("\\x1b[32mPASS\\x1b[0m\\rall good\\x07\\x1b]0;owned\\x07")\n',
        message=r"\\x1b\[32mPASS",
    ),
    Case(
        "lone_surrogate_in_error_message",
        "ANSI escapes and \\r in output",
        ("error",),
        'def relu(x):\n    raise ValueError("broken \\ud800 text")\n',
        message=r"ValueError: broken",
    ),
    Case(
        "closes_stdout_and_stderr_fds",
        "closing stdout",
        ("pass",),
        "import os\nos.close(1)\nos.close(2)\n",
        max_score=5,
    ),
    Case(
        "closes_sys_stdout_then_prints",
        "closing stdout",
        ("error",),
        "import sys\nsys.stdout.close()\nsys.stderr.close()\n" + _wrap('print("hello")'),
        message=r"I/O operation on closed file[\s\S]*hint: do not close sys.stdout",
    ),
    # ---- resources ---------------------------------------------------------------------
    Case(
        "infinite_python_loop",
        "infinite Python loop",
        ("timeout",),
        "def relu(x):\n    while True:\n        pass\n",
        check_timeout=3.0,
        message=r"no result within \d+ s",
    ),
    Case(
        "time_sleep_in_eager_call",
        "time.sleep",
        ("timeout", "pass"),
        _EAGER + "import time\n" + _wrap("if _eager(x):\n    time.sleep(1e6)"),
        max_score=4,  # right under tracing: the three batched checks pass
        check_timeout=3.0,
        message=r"no result within \d+ s",
    ),
    Case(
        "input_in_task",
        "input()",
        ("error",),
        'def relu(x):\n    return x * float(input("a number: "))\n',
        message=r"EOFError[\s\S]*hint: graded code gets no input",
    ),
    Case(
        "input_at_import",
        "input()",
        ("error",),
        '_scale = float(input("a number: "))\n',
        message=r"EOFError",
    ),
    Case(
        "infinite_lax_while_loop_at_import",
        "infinite lax.while_loop",
        ("timeout",),
        "import jax.numpy as jnp\nfrom jax import lax\n"
        "_x = lax.while_loop(lambda c: c == c, lambda c: c + 1.0, jnp.float32(0))\n"
        "_x.block_until_ready()\n",
        message=r"importing the file took longer than 8 s",
    ),
    Case(
        "huge_jnp_array_at_import",
        "allocating a huge array",
        ("memory",),
        "import jax.numpy as jnp\n_buffer = jnp.zeros((1 << 40,), jnp.float32)\n",
        message=r"RESOURCE_EXHAUSTED[\s\S]*hint: an allocation far larger",
    ),
    Case(
        "python_memory_bomb_in_eager_call",
        "Python memory bomb",
        ("memory", "pass"),
        _EAGER + _wrap("hog = []\nwhile _eager(x):\n    hog.append(bytes(1 << 30))"),
        max_score=4,
        message=r"MemoryError",
    ),
    Case(
        "fork_bomb",
        "fork bomb",
        ("error", "crash", "memory", "timeout"),
        "import os\n\ndef relu(x):\n    while True:\n        os.fork()\n",
        message=r"BlockingIOError|Resource temporarily unavailable|killed|no result",
        note=r"killed \d+ process",
        exclusive=True,  # every worker runs as the same user: its process limit is shared
    ),
    Case(
        "fork_once_child_returns",
        "fork bomb",
        ("pass",),
        "import os\n_forked = []\n"
        + _wrap("if not _forked:\n    _forked.append(os.getpid())\n    os.fork()"),
        max_score=5,  # the child that returns into the worker exits before it can answer
    ),
    Case(
        "daemon_left_behind",
        "daemon process left behind",
        ("pass",),
        "import os\n"
        + _wrap(
            "if os.fork() == 0:\n"
            "    os.setsid()\n"
            "    if os.fork() == 0:\n"
            '        os.execvp("sleep", ["sleep", "737"])\n'
            "    os._exit(0)\n"
            "os.wait()"
        ),
        max_score=5,
        marker="sleep 737",
        note=r"killed \d+ process\(es\) the submission left running",
    ),
    Case(
        "atexit_and_thread_that_never_end",
        "daemon process left behind",
        ("pass",),
        "import atexit\nimport threading\nimport time\n"
        "atexit.register(time.sleep, 1e6)\n"
        "threading.Thread(target=time.sleep, args=(1e6,)).start()\n",
        max_score=5,
    ),
    Case(
        "writes_huge_file",
        "writing a huge file",
        ("error",),
        "import os\n\ndef relu(x):\n"
        '    with open(os.path.join(os.environ["HOME"], "big.bin"), "wb") as fh:\n'
        "        for _ in range(1024):\n"
        '            fh.write(b"\\0" * (1 << 20))\n'
        "    return x\n",
        message=r"File too large[\s\S]*hint: a file grew past",
    ),
    Case(
        "deep_recursion",
        "deep recursion",
        ("error",),
        "def relu(x):\n    return relu(x)\n",
        message=r"RecursionError[\s\S]*hint: unbounded recursion",
    ),
    Case(
        "c_stack_overflow_at_import",
        "deep recursion",
        ("crash",),
        "import sys\nsys.setrecursionlimit(10 ** 7)\n"
        "def _deep(n):\n    return _deep.__call__(n + 1)\n_deep(0)\n",
        message=r"SIGSEGV \(a segmentation fault",
    ),
    Case(
        "output_flood",
        "output flood",
        ("pass",),
        "import sys\n"
        + _wrap(
            "for _ in range(400):\n"
            '    sys.stdout.write("y" * 50000 + "\\n")\n'
            '    sys.stderr.write("z" * 50000 + "\\n")'
        ),
        max_score=5,
    ),
    Case(
        "python_loop_unrolled_under_jit",
        "Python loop unrolled under jit",
        ("timeout",),
        _EAGER + "def relu(x):\n"
        "    y = _original_relu(x)\n"
        "    if not _eager(x):\n"
        "        for _ in range(10 ** 7):\n"
        "            y = y + 0.0\n"
        "    return y\n",
        check_timeout=3.0,
        message=r"unrolled under jit",
    ),
    # ---- tampering ---------------------------------------------------------------------
    Case(
        "monkeypatches_numpy_allclose",
        "monkeypatching numpy.allclose",
        ("tamper",),
        "import numpy\n"
        "numpy.allclose = lambda *a, **k: True\n"
        "numpy.testing.assert_allclose = lambda *a, **k: None\n"
        "def relu(x):\n    return x * 0\n",
        message=r"numpy.allclose was replaced",
    ),
    Case(
        "patches_grader_modules_via_main_and_gc",
        "monkeypatching the grader's own modules",
        ("tamper",),
        "import gc\nimport sys\nimport types\n"
        # the worker's module: __main__ when spawned, grader.worker (gone from sys.modules
        # but alive) when forked by the fork server; gc finds it either way
        "_main = [m for m in gc.get_objects()\n"
        "         if isinstance(m, types.ModuleType) and '_Grader' in vars(m)][0]\n"
        "_main._Grader.execute.to_wire = lambda out: ({'d': []}, {})\n"
        "for _m in gc.get_objects():\n"
        "    if isinstance(_m, types.ModuleType) and _m.__name__.startswith('grader'):\n"
        "        for _name in ('compare_arrays', 'compare_trees'):\n"
        "            if hasattr(_m, _name):\n"
        "                setattr(_m, _name, lambda *a, **k: None)\n"
        "        if hasattr(_m, 'hint_for'):\n"
        "            _m.hint_for = lambda *a: ''\n"
        "def relu(x):\n    return x * 0\n",
        message=r"malformed result",
    ),
    Case(
        "replaces_jax_jit",
        "replacing jax.jit",
        ("tamper",),
        "import jax\njax.jit = lambda f=None, *a, **k: f\n",
        message=r"jax.jit was replaced",
    ),
    Case(
        "hijacks_the_worker_loop",
        "monkeypatching the grader's own modules",
        ("wrong", "pass"),
        _HIJACK,
        # A known limit, stated in README's threat model: code that takes over the worker's
        # command loop can forge the checks that compare the learner with itself (here
        # jit vs eager, and so the static check too). Checks judged against the parent's
        # references stay failed: this wrong relu earns at most those 2 of 5.
        max_score=2,
    ),
    Case(
        "lying_eq_and_array_object",
        "lying __eq__/__array__",
        ("wrong", "error"),
        "import numpy as np\n"
        "class Liar:\n"
        "    def __eq__(self, other):\n        return True\n"
        "    def __array__(self, dtype=None, copy=None):\n"
        "        return np.zeros(3, np.float32)\n"
        "def relu(x):\n    return Liar()\n",
        message=r"is a Liar, not an array",
    ),
    Case(
        "lying_ndarray_subclass",
        "lying __eq__/__array__",
        ("wrong", "pass"),
        "import numpy as np\n"
        "class Liar(np.ndarray):\n"
        "    def __eq__(self, other):\n        return np.ones(np.shape(other), bool)\n"
        "    __ne__ = lambda self, other: np.zeros(np.shape(other), bool)\n"
        "def relu(x):\n    return np.zeros(x.shape, np.float32).view(Liar)\n",
        max_score=2,
        message=r"returned a NumPy array|outside tolerance",
    ),
    Case(
        # No q10 reference is NaN on the graded inputs, so there is no NaN to match: a NaN
        # output is wrong everywhere, and the jit check's NaN (eager) vs NaN (jit) too.
        "nan_everywhere",
        "NaN where the reference has NaN",
        ("wrong",),
        "import jax.numpy as jnp\n\ndef relu(x):\n    return x * jnp.nan\n",
        message=r"expected finite values, got nan",
    ),
    Case(
        "shape_b1_for_b",
        "shape (B,1) for (B,)",
        ("wrong", "error", "pass"),
        "def relu(x):\n    return _original_relu(x)[..., None]\n",
        max_score=3,  # the gradient at +-1e4 (ones cotangent) and jit == eager still hold
        message=r"\(B, 1\) vs \(B,\)",
    ),
    Case(
        "float64_numpy_output",
        "float64 or NumPy arrays",
        ("wrong", "error"),
        "import numpy as np\n\ndef relu(x):\n    return np.maximum(np.asarray(x, np.float64), 0)\n",
        message=r"returned a NumPy array",
    ),
    Case(
        "float16_output",
        "float64 or NumPy arrays",
        ("wrong", "pass"),
        "import jax.numpy as jnp\n\n"
        "def relu(x):\n    return _original_relu(x).astype(jnp.float16)\n",
        max_score=4,  # gradients (float32, from the float32 input) and jit == eager hold
        message=r"expected dtype float32, got float16",
    ),
    Case(
        "mutates_input_buffers",
        "mutating input arrays",
        ("wrong", "pass"),
        "import ctypes\nimport numpy as np\n"
        + _wrap(
            "y = _original_relu(x)\n"
            "try:\n"
            "    np.asarray(x).setflags(write=True)\n"
            "except Exception:\n"
            "    pass\n"
            "try:\n"
            "    ctypes.memset(x.unsafe_buffer_pointer(), 0, x.nbytes)\n"
            "except Exception:\n"
            "    pass\n"
            "return y"
        ),
        max_score=5,  # its answers are right; wrecking its own inputs cannot help it
    ),
    Case(
        "enables_x64",
        "changing global JAX config",
        ("tamper",),
        'import jax\njax.config.update("jax_enable_x64", True)\n',
        message=r"jax_enable_x64 changed",
    ),
    Case(
        "lowers_matmul_precision",
        "changing global JAX config",
        ("tamper",),
        'import jax\njax.config.update("jax_default_matmul_precision", "bfloat16")\n',
        message=r"jax_default_matmul_precision changed",
    ),
    Case(
        "disables_jit_inside_a_task",
        "changing global JAX config",
        ("tamper",),
        "import jax\n" + _wrap('jax.config.update("jax_disable_jit", True)'),
        max_score=0,  # the first check that sees it stops grading: nothing is awarded after
        message=r"jax_disable_jit changed",
    ),
    Case(
        "reads_solutions_self_check",
        "reading solutions/",
        ("pass",),
        f"_ns = {{}}\nexec(open({str(SOLUTION)!r}).read(), _ns)\n"
        "def relu(x):\n    return _ns['relu'](x)\n",
        max_score=5,  # allowed when a learner checks their own work
    ),
    Case(
        "reads_solutions_instructor",
        "reading solutions/",
        ("error",),
        f"_ns = {{}}\nexec(open({str(SOLUTION)!r}).read(), _ns)\n"
        "def relu(x):\n    return _ns['relu'](x)\n",
        instructor=True,
        needs_root=True,  # hiding solutions/ takes a mount namespace
        message=r"No such file or directory",
    ),
    Case(
        "shadowing_modules_in_the_folder",
        "module-name shadowing",
        ("pass",),
        "",
        max_score=5,
        files=tuple(
            (name, "import os\nos._exit(97)\n")
            for name in (
                "json.py",
                "jax.py",
                "numpy.py",
                "grader.py",
                "dlcore.py",
                "sitecustomize.py",
                "usercustomize.py",
                "__init__.py",
                "encodings.py",
            )
        ),
    ),
    Case(
        "symlink_self_check",
        "a submission that is a symlink",
        ("pass",),
        max_score=5,
        symlink_to=SOLUTION,
    ),
    Case(
        "symlink_instructor",
        "a submission that is a symlink",
        ("tamper",),
        symlink_to=SOLUTION,
        instructor=True,
        message=r"is a symlink",
    ),
    # ---- ordinary mistakes -------------------------------------------------------------
    Case(
        "syntax_error",
        "syntax error",
        ("error",),
        "def relu(x):\n    return jnp.where(x > 0, x, 0\n",
        whole_file=True,
        message=r"syntax error at activations.py:\d+",
    ),
    Case(
        "imports_a_missing_package",
        "import of a missing package",
        ("error",),
        "import torch\n",
        message=r"no module named 'torch'",
    ),
    Case(
        "untouched_stub",
        "untouched stub",
        ("not_implemented",),
        STUB.read_text(),
        whole_file=True,
        message=r"relu is not implemented yet",
    ),
    Case(
        "renamed_function",
        "wrong name",
        ("error",),
        SOLUTION.read_text().replace("def relu(", "def rellu("),
        whole_file=True,
        message=r"relu is missing in activations.py \(found 'rellu': renamed\?\)",
    ),
    Case(
        "wrong_signature",
        "wrong signature",
        ("error",),
        "def relu(x, y):\n    return _original_relu(x)\n",
        message=r"TypeError[\s\S]*signature",
    ),
    Case(
        "heavy_work_at_import",
        "heavy work at import time",
        ("timeout",),
        "import time\ntime.sleep(60)\n",
        message=r"importing the file took longer than 8 s: move heavy work",
    ),
    Case(
        "imports_dlcore",
        "importing dlcore, solutions or grader",
        ("forbidden",),
        "from dlcore.nn.activations import relu as _relu\n\ndef relu(x):\n    return _relu(x)\n",
        message=r"dlcore",
    ),
    Case(
        "imports_solutions_dynamically_in_task",
        "importing dlcore, solutions or grader",
        ("forbidden",),
        "import importlib\n\ndef relu(x):\n"
        '    return importlib.import_module("sol" + "utions.q10.activations").relu(x)\n',
        message=r"imports 'solutions",
    ),
    Case(
        "imports_grader_dynamically_at_import",
        "importing dlcore, solutions or grader",
        ("forbidden",),
        'import importlib\n_j = importlib.import_module("gra" + "der.judge")\n',
        message=r"imports 'grader",
    ),
    Case(
        "writes_into_the_cache_dir",
        "writing into the grader's cache dir",
        ("pass",),
        _CACHE_ROOTS
        + """
for _root in _cache_roots():
    for _dp, _dn, _fn in os.walk(_root):
        for _f in _fn:
            try:
                with open(os.path.join(_dp, _f), "r+b") as _fh:
                    _fh.write(b"\\xde\\xad" * 64)
            except OSError:
                pass
        try:
            with open(os.path.join(_dp, "planted-cache"), "wb") as _fh:
                _fh.write(b"\\xde\\xad" * 64)
        except OSError:
            pass
""",
        max_score=5,  # its own answers are right; the parent's caches must be untouched
        needs_root=True,  # as an ordinary user the worker can write the user's caches
    ),
    Case(
        "poisons_the_worker_compile_cache",
        "writing into the grader's cache dir",
        ("wrong", "pass"),
        _POISON,
        max_score=4,  # it spoils its own jit check; the honest submission after must not fail
        message=r"jax.jit result differs from eager",
        needs_root=True,  # as an ordinary user the worker can write the user's caches
    ),
    Case(
        "poisons_the_worker_compile_cache_instructor",
        "writing into the grader's cache dir",
        ("wrong", "pass"),
        _POISON,
        max_score=4,
        instructor=True,
        message=r"jax.jit result differs from eager",
        needs_root=True,  # as an ordinary user the worker can write the user's caches
    ),
    Case(
        "writes_into_grader_files",
        "writing into the grader's cache dir",
        ("pass",),
        "import os\n"
        f"for _root in ({str(ROOT / 'grader')!r}, {str(ROOT / 'dlcore')!r}, "
        f"{str(ROOT / 'solutions')!r}):\n"
        "    for _dp, _dn, _fn in os.walk(_root):\n"
        "        for _f in _fn:\n"
        "            try:\n"
        '                with open(os.path.join(_dp, _f), "a") as _fh:\n'
        "                    _fh.write(\"\\nraise SystemExit('owned')\\n\")\n"
        "            except OSError:\n"
        "                pass\n"
        "        try:\n"
        '            open(os.path.join(_dp, "evil.py"), "w").write("x = 1")\n'
        "        except OSError:\n"
        "            pass\n",
        max_score=5,
        needs_root=True,  # as an ordinary user the worker could write the user's own files
    ),
    Case(
        "tries_to_regain_root",
        "regaining root",
        ("error",),
        "import os\nos.setuid(0)\n",
        message=r"PermissionError",
        needs_root=True,
    ),
    Case(
        "exception_whose_str_raises",
        "hostile exception objects",
        ("error",),
        "class Nasty(Exception):\n"
        "    def __str__(self):\n"
        '        raise RuntimeError("no message for you")\n'
        "def relu(x):\n    raise Nasty()\n",
        message=r"Nasty: \(the exception's message could not be read\)",
    ),
    Case(
        "not_utf8",
        "undecodable source",
        ("error",),
        raw=b"def relu(x):\n    return x  # \xff\xfe latin-1 \xe9\n",
        message=r"UnicodeDecodeError",
    ),
]


def by_name() -> dict[str, Case]:
    return {c.name: c for c in CASES}
