"""The untrusted side: runs a learner's functions and sends back raw arrays.

Started by the parent as ``python -I grader/worker.py`` in its own session. It reads one
JSON line from stdin (the per-run nonce, the pipe fds, limits, files), closes stdin, sets
resource limits, imports JAX and the exercise spec, takes its own references to
``jax.jit``/``jax.grad``/``jax.vmap`` and the JAX config, refuses imports of dlcore,
solutions and grader, and only then loads the learner's files by path. The parent judges;
this process only reports what the learner's code returned or raised.
"""

from __future__ import annotations

import json
import os
import sys
import time

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


def main() -> None:
    cfg = _bootstrap()
    sources = _read_sources(cfg["files"])
    from grader import confine

    confinement = confine.apply_in_worker(cfg.get("confine") or {})
    os.environ["JAX_PLATFORMS"] = cfg.get("platform") or ""
    import numpy as np

    from grader import protocol

    res_fd, cmd_fd, nonce = cfg["res_fd"], cfg["cmd_fd"], cfg["nonce"]
    me = os.getpid()

    def send(header, arrays=None):
        if os.getpid() != me:
            # a process the learner forked came back into this loop: it must neither answer
            # (a second frame would desynchronize the protocol) nor read the next command
            os._exit(0)
        protocol.write_frame(res_fd, protocol.encode({**header, "nonce": nonce}, arrays))

    import jax

    if cfg.get("platform"):
        jax.config.update("jax_platforms", cfg["platform"])

    if cfg.get("cache_dir"):
        jax.config.update("jax_compilation_cache_dir", cfg["cache_dir"])
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
        # XLA's own caches would put the (per-grading, random) cache path into the compile
        # options, and so into every cache key: no entry would ever be found again
        jax.config.update("jax_persistent_cache_enable_xla_caches", "none")
    if jax.default_backend() != "cpu":
        jax.config.update("jax_default_matmul_precision", "highest")

    from grader.execute import run_cases, run_group
    from grader.hints import describe_exception
    from grader.spec import load_spec, unpack_cases, unpack_many

    exercise = load_spec(cfg["exercise"])
    checks = {c.name: c for c in exercise.checks}
    originals = {
        "jit": jax.jit,
        "grad": jax.grad,
        "vmap": jax.vmap,
        "value_and_grad": jax.value_and_grad,
    }
    config0 = _config_snapshot(jax)
    np_allclose = np.allclose

    def tamper_report() -> str | None:
        for name, fn in originals.items():
            if getattr(jax, name) is not fn:
                return f"jax.{name} was replaced"
        if np.allclose is not np_allclose:
            return "numpy.allclose was replaced"
        now = _config_snapshot(jax)
        for k, v in config0.items():
            if now[k] != v:
                return f"JAX config {k} changed from {v!r} to {now[k]!r}"
        return None

    blocker = _ImportBlocker()
    for mod in [m for m in sys.modules if m.split(".")[0] in _BLOCKED]:
        del sys.modules[mod]
    sys.meta_path.insert(0, blocker)
    learner_files = cfg["files"]

    # Run the learner's files from the text read above, under unique module names, so
    # nothing in the submission folder can shadow a module or be imported instead.
    import linecache
    import types

    namespace: dict[str, object] = {}
    load_errors = []
    t0 = time.perf_counter()
    for i, path in enumerate(learner_files):
        modname = f"_learner_{nonce[:8]}_{i}"
        try:
            source = sources[path]
            if isinstance(source, BaseException):
                raise source
            # tracebacks show the learner's lines even after privileges are dropped
            linecache.cache[path] = (len(source), None, source.splitlines(True), path)
            module = types.ModuleType(modname)
            module.__file__ = path
            sys.modules[modname] = module
            exec(compile(source, path, "exec"), module.__dict__)
            namespace.update({k: getattr(module, k) for k in dir(module)})
        except BaseException as e:  # noqa: B036 - SystemExit and KeyboardInterrupt included
            load_errors.append(_describe(describe_exception, e, learner_files, "import"))
    import_seconds = time.perf_counter() - t0
    tampered = tamper_report()
    if blocker.attempts:
        load_errors.append(
            {
                "status": "forbidden",
                "exception": "ImportError",
                "message": f"imports {blocker.attempts[0]!r}, which is refused",
            }
        )

    tasks = {}
    for task in exercise.tasks:
        obj = namespace.get(task)
        tasks[task] = "missing" if obj is None else ("ok" if callable(obj) else "not_callable")
    send(
        {
            "type": "ready",
            "tasks": tasks,
            "confinement": confinement,
            "load_errors": load_errors,
            "tamper": tampered,
            "import_seconds": import_seconds,
            "backend": jax.default_backend(),
        }
    )

    class Fns:
        def __getattr__(self, name):
            obj = namespace.get(name)
            if obj is None:
                raise _MissingTask(name)
            return obj

    fns = Fns()
    prefetched: dict[str, list] = {}
    while True:
        payload = protocol.read_frame(cmd_fd)
        if payload is None:
            return
        header, arrays = protocol.decode(payload)
        if header.get("type") == "exit":
            return
        if header.get("type") == "prefetch":
            # Each task's batched checks in one compiled call; a group that fails is simply
            # not prefetched, and its checks run (and fail) one by one when asked.
            many = unpack_many(header["statics"], {k: v for k, (v, _) in arrays.items()})
            by_task: dict[str, list] = {}
            for name in many:
                by_task.setdefault(checks[name].task, []).append(checks[name])
            for group in by_task.values():
                try:
                    out = run_group(group, fns, many)
                except BaseException:  # noqa: B036 - reported when the check itself runs
                    out = None
                prefetched.update(out or {})
            send({"type": "prefetched", "checks": sorted(prefetched)})
            continue
        check = checks[header["check"]]
        cases = unpack_cases(header["statics"], {k: v for k, (v, _) in arrays.items()})
        t0 = time.perf_counter()
        try:
            outputs = prefetched.pop(check.name, None)
            if outputs is None:
                outputs = run_cases(check, fns, cases)
            flat = flatten_output(outputs)
            reason = tamper_report() or (
                f"imports {blocker.attempts[0]!r}, which is refused" if blocker.attempts else None
            )
            if reason:
                send(
                    {
                        "type": "result",
                        "check": check.name,
                        "status": "tamper" if not blocker.attempts else "forbidden",
                        "message": reason,
                    }
                )
                continue
            send(
                {
                    "type": "result",
                    "check": check.name,
                    "status": "ok",
                    "seconds": time.perf_counter() - t0,
                },
                flat,
            )
        except _MissingTask as e:
            send(
                {
                    "type": "result",
                    "check": check.name,
                    "status": "error",
                    "exception": "MissingTask",
                    "message": str(e.args[0]),
                    "missing": e.args[0],
                }
            )
        except _BadOutput as e:
            send({"type": "result", "check": check.name, "status": "wrong", "message": str(e)})
        except BaseException as e:  # noqa: B036 - a task may raise SystemExit on purpose
            info = _describe(describe_exception, e, learner_files, "call")
            if blocker.attempts:  # the task tried to import an answer and failed doing so
                info = {
                    **info,
                    "status": "forbidden",
                    "message": f"imports {blocker.attempts[0]!r}, which is refused",
                }
            send({"type": "result", "check": check.name, **info})


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


class _BadOutput(Exception):
    pass


def flatten_output(out) -> dict:
    """``{keystr path: (np.ndarray, kind)}`` for a probe's output pytree."""
    import jax
    import jax.numpy as jnp
    import numpy as np

    leaves, _ = jax.tree_util.tree_flatten_with_path(out)
    flat = {}
    for path, leaf in leaves:
        name = jax.tree_util.keystr(path)
        if isinstance(leaf, jax.Array):
            kind = "jax"
            if jnp.issubdtype(leaf.dtype, jax.dtypes.prng_key):
                leaf = jax.random.key_data(leaf)
            arr = np.asarray(leaf)
        elif isinstance(leaf, (np.ndarray, np.generic)):
            kind, arr = "numpy", np.asarray(leaf)
        elif isinstance(leaf, (bool, int, float)):
            kind, arr = "python", np.asarray(leaf)
        else:
            raise _BadOutput(
                f"output {name or '(root)'} is a {type(leaf).__name__}, not an array or number"
            )
        if arr.dtype == object:
            raise _BadOutput(f"output {name or '(root)'} is an object array")
        flat[name] = (arr, kind)
    return flat


if __name__ == "__main__":
    main()
