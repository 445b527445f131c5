"""The untrusted side: runs a learner's functions and sends back raw arrays.

Forked by the grader's fork server (``grader.forkserver``, which calls ``run``), or where
there is none started as ``python -I grader/worker.py``; in its own session either way. It
reads one JSON line (the per-run nonce, the pipe fds, limits, files), sets resource
limits, imports JAX and the exercise spec, takes its own references to
``jax.jit``/``jax.grad``/``jax.vmap`` and the JAX config, refuses imports of dlcore,
solutions and grader, and only then loads the learner's files by path. The parent judges;
this process only reports what the learner's code returned or raised.
"""

from __future__ import annotations

import json
import os
import sys
import time

_STARTED = time.monotonic()
_BLOCKED = ("dlcore", "solutions", "grader", "exercises")


def _bootstrap() -> dict:
    if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
        sys.path.pop(0)  # grader/'s own files must not be importable as top-level modules
    cfg = json.loads(sys.stdin.readline())
    devnull = os.open(os.devnull, os.O_RDONLY)
    os.dup2(devnull, 0)
    os.close(devnull)
    sys.path.insert(0, cfg["root"])
    return cfg


def _read_sources(paths: list[str]) -> dict[str, str | BaseException]:
    """The learner's files, read once, before privileges are dropped (then they are run
    from this text: a file swapped on disk afterwards changes nothing)."""
    out: dict[str, str | BaseException] = {}
    for path in paths:
        try:
            with open(path, encoding="utf-8") as fh:
                out[path] = fh.read()
        except (OSError, UnicodeDecodeError) as e:
            out[path] = e
    return out


class _ImportBlocker:
    """A meta-path finder refusing dlcore/solutions/grader/exercises to learner code."""

    def __init__(self):
        self.attempts: list[str] = []

    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in _BLOCKED:
            self.attempts.append(name)
            raise ImportError(f"importing {name!r} is not allowed in a graded submission")
        return None


class _Tamper(Exception):
    pass


def _config_snapshot(jax) -> dict:
    return {
        "jax_enable_x64": bool(jax.config.jax_enable_x64),
        "jax_default_matmul_precision": jax.config.jax_default_matmul_precision,
        "jax_disable_jit": bool(jax.config.jax_disable_jit),
        "jax_numpy_rank_promotion": jax.config.jax_numpy_rank_promotion,
    }


class _Capture:
    """Stands in for sys.stdout/sys.stderr: keeps what the learner prints, up to a cap."""

    CAP = 16 * 1024

    def __init__(self):
        self.parts: list[str] = []
        self.size = 0
        self.dropped = 0

    closed = False

    def write(self, text) -> int:
        if self.closed:
            raise ValueError("I/O operation on closed file.")
        text = str(text)
        room = self.CAP - self.size
        if room > 0:
            self.parts.append(text[:room])
            self.size += min(len(text), room)
        self.dropped += max(0, len(text) - max(room, 0))
        return len(text)

    def flush(self):
        if self.closed:
            raise ValueError("I/O operation on closed file.")

    def close(self):
        self.closed = True

    def isatty(self):
        return False

    def take(self) -> str:
        text = "".join(self.parts)
        if self.dropped:
            text += f"\n[... {self.dropped} more characters not shown]"
        self.parts, self.size, self.dropped = [], 0, 0
        return text


class _Guard:
    """What the worker checks after learner code ran: replaced JAX/NumPy functions, changed
    JAX config, refused imports."""

    def __init__(self, jax, np, blocker):
        self.jax, self.np, self.blocker = jax, np, blocker
        self.originals = {n: getattr(jax, n) for n in ("jit", "grad", "vmap", "value_and_grad")}
        self.config0 = _config_snapshot(jax)
        self.allclose = np.allclose

    def tamper(self) -> str | None:
        for name, fn in self.originals.items():
            if getattr(self.jax, name) is not fn:
                return f"jax.{name} was replaced"
        if self.np.allclose is not self.allclose:
            return "numpy.allclose was replaced"
        now = _config_snapshot(self.jax)
        for k, v in self.config0.items():
            if now[k] != v:
                return f"JAX config {k} changed from {v!r} to {now[k]!r}"
        return None

    def refused(self) -> str | None:
        a = self.blocker.attempts
        return f"imports {a[0]!r}, which is refused" if a else None


def _load_learner(files, sources, tag, capture) -> tuple[dict, list, float]:
    """Runs the learner's files from the text read at start, under unique module names, so
    nothing in the submission folder can shadow a module or be imported instead. Sibling
    files of the exercise import each other by their plain names."""
    import linecache
    import types

    describe_exception = _Grader.hints.describe_exception
    namespace: dict[str, object] = {}
    errors = []
    t0 = time.perf_counter()
    modules = {}
    for i, path in enumerate(files):
        module = types.ModuleType(f"_learner_{tag}_{i}")
        module.__file__ = path
        modules[os.path.splitext(os.path.basename(path))[0]] = module
    finder = _SiblingFinder(modules)
    sys.meta_path.insert(1, finder)
    for path in files:
        module = modules[os.path.splitext(os.path.basename(path))[0]]
        try:
            source = sources[path]
            if isinstance(source, BaseException):
                raise source
            # tracebacks show the learner's lines even after privileges are dropped
            linecache.cache[path] = (len(source), None, source.splitlines(True), path)
            sys.modules[module.__name__] = module
            finder.loading.add(module.__name__)
            exec(compile(source, path, "exec"), module.__dict__)
            namespace.update({k: getattr(module, k) for k in dir(module)})
        except BaseException as e:  # noqa: B036 - SystemExit and KeyboardInterrupt included
            errors.append(_describe(describe_exception, e, files, "import"))
    return namespace, errors, time.perf_counter() - t0


class _SiblingFinder:
    """``import losses`` / ``from losses import f`` inside a learner file finds the sibling
    file of the same exercise (already created as a module object), nothing else."""

    def __init__(self, modules: dict):
        self.modules = modules
        self.loading: set[str] = set()

    def find_spec(self, name, path=None, target=None):
        import importlib.machinery

        module = self.modules.get(name)
        if module is None:
            return None
        return importlib.machinery.ModuleSpec(name, _SiblingLoader(module))


class _SiblingLoader:
    def __init__(self, module):
        self.module = module

    def create_module(self, spec):
        return self.module

    def exec_module(self, module):
        pass  # it runs (or ran) in its own turn of the loading loop


def main() -> None:
    run(_bootstrap())


def run(cfg: dict) -> None:
    """The worker's life, from its configuration (spawned: read from stdin; forked by
    ``grader.forkserver``: handed over by the server)."""
    sources = _read_sources(cfg["files"])
    from grader import confine

    confinement = confine.apply_in_worker({**(cfg.get("confine") or {}),
                                           "parent": cfg.get("parent")})
    phases = {"started": _STARTED, "confined": time.monotonic()}
    import numpy as np

    from grader import jaxconfig, protocol

    res_fd, cmd_fd, nonce = cfg["res_fd"], cfg["cmd_fd"], cfg["nonce"]
    me = os.getpid()
    _Forks.confine, _Forks.me = confine, me
    os.register_at_fork(after_in_parent=_Forks.seen)

    def send(header, arrays=None):
        if os.getpid() != me:
            # a process the learner forked came back into this loop: it must neither answer
            # (a second frame would desynchronize the protocol) nor read the next command
            os._exit(0)
        _Forks.reap()
        if _Forks.killed:
            header, _Forks.killed = {**header, "reaped": _Forks.killed}, 0
        protocol.write_frame(res_fd, protocol.encode({**header, "nonce": nonce}, arrays))

    jax = jaxconfig.configure(platform=cfg.get("platform") or None,
                              cache_dir=cfg.get("cache_dir"), devices=cfg.get("devices", 1))
    phases["JAX imported"] = time.monotonic()
    from grader.profile import CompileCounter

    _Grader.compiles = CompileCounter()
    _Grader.compiles.install(jax)
    # everything of the grader's that the worker runs, imported before the blocker goes in
    from grader import execute, forbidden, hints, wire
    from grader.spec import Case, load_spec

    _Grader.execute, _Grader.hints, _Grader.protocol = execute, hints, protocol
    _Grader.wire, _Grader.Case, _Grader.forbidden = wire, Case, forbidden
    from grader.checks import OutputMismatch

    _Grader.OutputMismatch = OutputMismatch
    exercise = load_spec(cfg["exercise"])
    phases["spec loaded"] = time.monotonic()
    blocker = _ImportBlocker()
    for mod in [m for m in sys.modules if m.split(".")[0] in _BLOCKED]:
        del sys.modules[mod]
    guard = _Guard(jax, np, blocker)
    sys.meta_path.insert(0, blocker)
    capture = _Capture()
    sys.stdout = sys.stderr = capture
    namespace, load_errors, import_seconds = _load_learner(cfg["files"], sources, nonce[:8],
                                                           capture)
    if blocker.attempts:
        load_errors.append({"status": "forbidden", "exception": "ImportError",
                            "message": guard.refused()})
    try:
        upstream = _Grader.forbidden.identity_violations(
            namespace, {t: exercise.forbidden.get(t, ()) for t in exercise.tasks})
    except BaseException:  # noqa: B036 - the static phase still stands
        upstream = {}
    tasks = {}
    for task in exercise.tasks:
        obj = namespace.get(task)
        tasks[task] = "missing" if obj is None else ("ok" if callable(obj) else "not_callable")
    sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__  # until a task runs
    phases["learner imported"] = time.monotonic()
    send({"type": "ready", "profile": phases, **_Grader.compiles.take(), "tasks": tasks,
          "confinement": confinement,
          "load_errors": load_errors, "tamper": guard.tamper(), "forbidden": upstream,
          "import_seconds": import_seconds, "backend": jax.default_backend(),
          "devices": jax.device_count(), "output": capture.take()})
    fns = _Fns(namespace, cfg.get("data") or {})
    try:
        _serve(cmd_fd, send, exercise, fns, guard, capture, cfg["files"])
    except BaseException:  # noqa: B036 - the traceback goes to the real stderr, for the report
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__
        raise


class _Forks:
    """Whether the learner's code forked since the last frame. Before each frame the worker
    kills and reaps what was forked (``confine.reap_forks``): a fork bomb then costs the
    checks it ran in, not the threads the grader needs next."""

    forked = False
    killed = 0  # not yet reported
    confine = None
    me = -1

    @classmethod
    def seen(cls) -> None:
        cls.forked = True

    @classmethod
    def reap(cls) -> None:
        if os.getpid() != cls.me:
            os._exit(0)  # a fork came back into the worker's code: it must not reap the worker
        if cls.forked:
            cls.forked = False
            cls.killed += cls.confine.reap_forks()


class _Grader:
    """The grader modules the worker uses, held here once imported (before the import
    blocker goes in): learner code cannot import them itself."""

    execute = hints = protocol = wire = Case = forbidden = compiles = None
    OutputMismatch: type = Exception


class _Fns:
    """The learner's functions by name, as probes call them; ``data`` the exercise files."""

    def __init__(self, namespace, data):
        self._namespace = namespace
        self.data = {k: bytes.fromhex(v) for k, v in data.items()}

    def __getattr__(self, name):
        obj = self.__dict__["_namespace"].get(name)
        if obj is None:
            raise _MissingTask(name)
        return obj


def _serve(cmd_fd, send, exercise, fns, guard, capture, files) -> None:
    protocol, wire, Case = _Grader.protocol, _Grader.wire, _Grader.Case
    checks = {c.id: c for c in exercise.checks}
    while True:
        payload = protocol.read_frame(cmd_fd)
        if payload is None:
            return  # the grader closed the pipe: it is gone or done
        header, arrays = protocol.decode(payload)
        if header.get("type") != "task":
            return
        raw = wire.decode(header["cases"], arrays)
        cases = {cid: [Case(tuple(a), dict(k), dict(s), dict(e), str(lab))
                       for a, k, s, e, lab in items] for cid, items in raw.items()}
        _run_task([checks[cid] for cid in header["checks"]], cases, send, fns, guard,
                  capture, files)


def _run_task(todo, cases, send, fns, guard, capture, files) -> None:
    """Each check's result frame, in order; the task's batched checks compile as one."""
    sys.stdout = sys.stderr = capture
    try:
        _run_checks(todo, cases, send, fns, guard, capture, files)
    finally:
        sys.stdout, sys.stderr = sys.__stdout__, sys.__stderr__


def _run_checks(todo, cases, send, fns, guard, capture, files) -> None:
    run_cases, run_group = _Grader.execute.run_cases, _Grader.execute.run_group
    to_wire, WireError = _Grader.execute.to_wire, _Grader.wire.WireError
    describe_exception = _Grader.hints.describe_exception
    try:
        grouped = run_group(todo, fns, cases)
        _Forks.reap()
    except BaseException:  # noqa: B036 - reported when each check runs by itself
        grouped = {}
    for check in todo:
        head = {"type": "result", "check": check.id}
        t0 = time.perf_counter()
        arrays = None
        try:
            outputs = grouped.get(check.id)
            if outputs is None:
                outputs = run_cases(check, fns, cases[check.id])
            skeleton, arrays = to_wire(outputs)
            head.update(status="ok", output_tree=skeleton)
        except _MissingTask as e:
            head.update(status="error", exception="MissingTask", message=str(e.args[0]),
                        missing=e.args[0])
        except WireError as e:
            head.update(status="wrong", message=str(e))
        except _Grader.OutputMismatch as e:
            head.update(status="wrong", message=str(e))
        except BaseException as e:  # noqa: B036 - a task may raise SystemExit on purpose
            head.update(_describe(describe_exception, e, files, "call"))
        reason = guard.tamper()
        if reason or guard.refused():
            head = {"type": "result", "check": check.id,
                    "status": "tamper" if reason else "forbidden",
                    "message": reason or guard.refused()}
            arrays = None
        head["seconds"] = time.perf_counter() - t0
        head.update(_Grader.compiles.take())
        head["output"] = capture.take()
        send(head, arrays if head.get("status") == "ok" else None)


class _MissingTask(Exception):
    pass


def _describe(describe_exception, e: BaseException, files, during: str) -> dict:
    """``describe_exception``, or a minimal description when even that fails (an exception
    whose ``__str__`` raises or never ends is the learner's, and must not kill the worker)."""
    try:
        return describe_exception(e, files, during=during)
    except BaseException:  # noqa: B036
        try:
            name = str(type(e).__name__)[:200]
        except BaseException:  # noqa: B036
            name = "Exception"
        return {
            "status": "error",
            "exception": name,
            "mro": [name],
            "message": "(the exception's message could not be read)",
            "during": during,
        }


if __name__ == "__main__":
    main()
