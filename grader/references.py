"""Reference outputs: the same probes run on dlcore, in the trusted parent, cached on disk.

The cache key covers everything an output depends on: the source of dlcore and the grader,
the JAX version, the backend, the seed and the exercise. A hit means the parent never even
compiles; a miss computes with JAX's persistent compilation cache switched on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import stat
import tempfile
from pathlib import Path

import numpy as np

from grader import jaxconfig, wire
from grader.protocol import _dtype

ROOT = Path(__file__).resolve().parent.parent


def cache_root(opts) -> Path:
    base = opts.cache_dir or os.environ.get("DLCORE_GRADER_CACHE")
    if not base:
        base = os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"),
            "dlcore-grader",
        )
    return Path(base)


_CACHE_ENTRY = re.compile(r"^[A-Za-z0-9_.\-]{1,200}-(cache|atime)$")
_MAX_ENTRY = 64 << 20  # bytes of one published entry (the worker's file-size limit)
_MAX_PUBLISHED = 512 << 20  # bytes a grading may add to one key's entries


class WorkerCache:
    """The worker's compilation cache, which a submission can write: so it holds only
    programs compiled for exactly these learner files.

    XLA's cache is keyed by the program alone, and a worker may write any bytes into it: a
    submission could store a wrong executable under the key of a program another
    submission compiles later (same code, same shapes) and make an honest submission fail.
    So each grading gets a private, writable scratch copy of the entries published for a key
    of its learner files' contents (plus grader, dlcore and JAX versions and the exercise);
    afterwards the parent publishes the entries the worker added, owned by the parent and
    read-only to workers. A submission can thus spoil only the cache of its own exact files.

    In self-check mode (``folder`` given) the key is the submission's folder instead: a
    learner's edit then recompiles only the programs whose code changed, and what a
    submission can spoil is still only its own folder's cache. Instructor mode keys by the
    files' contents, so no two students ever share a cache.

    Self-check gradings are also seeded with what the trusted parent compiled (references
    and probe scaffolding are the same programs in the worker): a first grading then
    compiles mostly the learner's own code. The seeded entries are links the worker cannot
    write through (as root, it runs as another user).
    """

    def __init__(self, opts, exercise: str, sources: list[bytes], run_as: int | None,
                 folder: str | None = None):
        h = hashlib.sha256()
        h.update(
            json.dumps(
                [exercise, opts.platform or "default", source_hash(exercise), _jax_version()]
            ).encode()
        )
        if folder is not None:
            h.update(b"folder:" + os.path.abspath(folder).encode())
        else:
            for data in sources:
                h.update(hashlib.sha256(data).digest())
        self.published = cache_root(opts) / "xla-worker" / h.hexdigest()[:32]
        self.run_as = run_as
        self.path = tempfile.mkdtemp(prefix="dlcore-xla-")
        seeded = set()
        sources = [self.published]
        if folder is not None:
            # self-check: also the programs the trusted parent compiled (the references and
            # the probes' scaffolding, identical in the worker whatever the learner wrote).
            # Never in instructor mode: a parent program may hold salted inputs as constants.
            sources.append(cache_root(opts) / "xla-parent")
        for src in sources:
            if not src.is_dir():
                continue
            for entry in os.scandir(src):
                # only the executables: JAX rewrites an entry's "-atime" file on every hit,
                # which a read-only link would refuse (and the hit would then be lost)
                if (_CACHE_ENTRY.match(entry.name) and entry.name.endswith("-cache")
                        and entry.name not in seeded and entry.is_file(follow_symlinks=False)):
                    target = os.path.join(self.path, entry.name)
                    try:
                        os.link(entry.path, target)  # read-only to the worker: not its file
                    except OSError:
                        shutil.copyfile(entry.path, target)
                    seeded.add(entry.name)
        self._seeded = seeded
        if run_as is not None:
            os.chown(self.path, run_as, run_as)

    def publish(self) -> None:
        """Keeps the entries the worker compiled; then drops the scratch copy."""
        try:
            added = 0
            for entry in os.scandir(self.path):
                if entry.name in self._seeded or not _CACHE_ENTRY.match(entry.name):
                    continue
                st = entry.stat(follow_symlinks=False)
                # a regular file the worker wrote itself (not a link to someone else's file)
                owner_ok = self.run_as is None or st.st_uid == self.run_as
                if not (stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and owner_ok):
                    continue
                if st.st_size > _MAX_ENTRY or added + st.st_size > _MAX_PUBLISHED:
                    continue
                self.published.mkdir(parents=True, exist_ok=True)
                final = self.published / entry.name
                if final.exists():
                    continue
                tmp = self.published / f".{entry.name}.{os.getpid()}"
                shutil.copyfile(entry.path, tmp)
                os.chmod(tmp, 0o644)
                os.replace(tmp, final)
                added += st.st_size
        except OSError:
            pass  # a cache that cannot be written only makes the next run slower
        finally:
            shutil.rmtree(self.path, ignore_errors=True)


@dataclasses.dataclass
class References:
    """Decoded reference outputs per check id and case, and seconds spent per task."""

    outputs: dict[str, list]
    backend: str
    errors: dict[str, str] = dataclasses.field(default_factory=dict)
    seconds: dict[str, float] = dataclasses.field(default_factory=dict)


_SOURCE_HASHES: dict[str, str] = {}


def source_hash(exercise: str | None) -> str:
    """dlcore (code and fixtures), the shared grader modules and this exercise's spec (not
    the other specs); ``exercise`` is an id or a spec module's dotted path, or None for
    dlcore and the grader modules alone (what a fork server has loaded)."""
    if exercise not in _SOURCE_HASHES:
        import importlib.util

        h = hashlib.sha256()
        paths = sorted(p for p in (ROOT / "dlcore").rglob("*")
                       if p.is_file() and "__pycache__" not in p.parts)
        paths += sorted((ROOT / "grader").glob("*.py"))
        origin = None
        if exercise is not None:
            name = exercise if "." in exercise else f"grader.specs.{exercise}"
            try:
                origin = importlib.util.find_spec(name).origin
            except (ImportError, AttributeError, ValueError):
                pass
        if origin:
            paths.append(Path(origin))
        for path in paths:
            h.update(str(path.relative_to(ROOT)).encode())
            h.update(path.read_bytes())
        _SOURCE_HASHES[exercise] = h.hexdigest()
    return _SOURCE_HASHES[exercise]


def _jax_version() -> str:
    from importlib.metadata import version

    return f"jax-{version('jax')}-jaxlib-{version('jaxlib')}"


def _key(spec, opts) -> str:
    h = hashlib.sha256()
    h.update(
        json.dumps(
            [
                spec.id,
                opts.input_seed,
                opts.platform or "default",
                source_hash(spec.module or spec.id),
                _jax_version(),
            ]
        ).encode()
    )
    return h.hexdigest()[:32]


def _load(path: Path):
    try:
        meta = json.loads((path / "meta.json").read_text())
        with np.load(path / "arrays.npz", allow_pickle=False) as z:
            data = {k: z[k] for k in z.files}
        arrays = {k: (data[k].view(_dtype(dt)), kind) for k, (dt, kind) in meta["arrays"].items()}
        outputs = {cid: [wire.decode(s, arrays) for s in skels]
                   for cid, skels in meta["outputs"].items()}
    except (OSError, ValueError, KeyError, TypeError, wire.WireError):
        return None
    return References(outputs, meta["backend"], seconds=meta.get("seconds", {}))


def _save(path: Path, refs: References) -> None:
    arrays, kinds, skels = {}, {}, {}
    for cid, outs in refs.outputs.items():
        skels[cid] = []
        for out in outs:
            skeleton, arrs = wire.encode(out)
            renamed = {}
            for name, (arr, kind) in arrs.items():
                aid = f"a{len(arrays)}"
                renamed[name] = aid
                # npz cannot hold bfloat16: store the bits, restore the dtype on load
                plain = arr.dtype.kind == "V" or arr.dtype.name not in np.sctypeDict
                arrays[aid] = arr.view(f"u{arr.dtype.itemsize}") if plain else arr
                kinds[aid] = (arr.dtype.name, kind)
            skels[cid].append(_rename(skeleton, renamed))
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    np.savez(tmp / "arrays.npz", **arrays)
    meta = {"outputs": skels, "arrays": kinds, "backend": refs.backend, "seconds": refs.seconds}
    (tmp / "meta.json").write_text(json.dumps(meta))
    try:
        os.replace(tmp, path)
    except OSError:  # another grader process won the race; its result is the same
        shutil.rmtree(tmp, ignore_errors=True)


def _rename(skeleton, names: dict):
    if isinstance(skeleton, dict):
        out = {}
        for k, v in skeleton.items():
            out[k] = names.get(v, v) if k in ("a", "b") else _rename(v, names)
        return out
    if isinstance(skeleton, list):
        return [_rename(v, names) for v in skeleton]
    return skeleton


class ReferenceFns:
    """dlcore's functions by task name, as a probe calls them; ``data`` the exercise's files."""

    def __init__(self, spec, data: dict[str, bytes] | None = None):
        from grader.spec import load_reference

        self._refs = spec.references
        self._load = load_reference
        self.data = data or {}

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        try:
            return self._load(self._refs[name])
        except KeyError:
            raise AttributeError(f"the spec names no reference {name!r}") from None


def read_data(spec) -> dict[str, bytes]:
    """The exercise's data files, read by the trusted parent (the worker gets the bytes)."""
    return {name: (ROOT / rel).read_bytes() for name, rel in spec.data.items()}


# Self-check references this process has computed or loaded, per (exercise, seed, check id):
# grader.local (trusted gradings in the same process, the test suite's) reuses them.
MEMO: dict[tuple, list] = {}


def _remember(spec, opts, refs: References) -> References:
    if not opts.instructor:
        for cid, out in refs.outputs.items():
            MEMO[(spec.id, opts.input_seed, cid)] = out
    return refs


def compute(spec, cases: dict, opts) -> References:
    return _remember(spec, opts, _compute(spec, cases, opts))


def _compute(spec, cases: dict, opts) -> References:
    path = cache_root(opts) / "refs" / _key(spec, opts)
    # secret-salt references never touch the disk, where a submission might find them
    store = opts.use_cache and not opts.instructor
    wanted = [c for c in spec.checks if c.reference and c.probe is not None]
    if store:
        hit = _load(path)
        if hit is not None and set(hit.outputs) >= {c.id for c in wanted}:
            return hit
    cache = cache_root(opts) / "xla-parent" if opts.use_cache else None
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    jax = jaxconfig.configure(platform=opts.platform, cache_dir=cache, devices=spec.devices)
    if len(jax.devices()) < spec.devices:
        return _compute_elsewhere(spec, opts, path if store else None)
    refs = compute_here(spec, cases, ReferenceFns(spec, read_data(spec)), jax.default_backend())
    if store and not refs.errors:
        _save(path, refs)
    return refs


def compute_here(spec, cases: dict, fns, backend: str) -> References:
    """Runs the reference probes in this process (each task's batched checks in one call),
    under JAX's default settings, whatever the calling program set (a test suite's strict
    rank promotion, say): the worker runs the learner's code under the defaults too."""
    import jax

    with jax.numpy_rank_promotion("allow"):
        return _compute_here(spec, cases, fns, backend)


def _compute_here(spec, cases: dict, fns, backend: str) -> References:
    import time

    from grader.execute import roundtrip, run_cases, run_group

    outputs, errors, seconds = {}, {}, {}
    wanted = [c for c in spec.checks if c.reference and c.probe is not None]
    for task in dict.fromkeys(c.task for c in wanted):
        t0 = time.perf_counter()
        mine = [c for c in wanted if c.task == task]
        grouped = run_group(mine, fns, cases)
        for check in mine:
            try:
                result = grouped.get(check.id)
                if result is None:
                    result = run_cases(check, fns, cases[check.id], strict=True)
                outputs[check.id] = [roundtrip(o) for o in result]
            except Exception as e:  # a grader bug: reported as `internal`, never cached
                errors[check.id] = f"{type(e).__name__}: {e}"
        seconds[task] = time.perf_counter() - t0
    return References(outputs, backend, errors, seconds)


def _compute_elsewhere(spec, opts, path: Path | None) -> References:
    """A multi-device exercise graded by a parent whose JAX already started with fewer
    devices: a trusted child process with the right device count computes the references."""
    import subprocess
    import sys

    out = Path(tempfile.mkdtemp(prefix="dlcore-refs-")) / "refs"
    env = {**os.environ, **jaxconfig.environment(spec.devices, opts.platform)}
    cmd = [sys.executable, "-m", "grader.references", spec.module or spec.id,
           str(opts.input_seed),
           opts.platform or "", str(out)]
    try:
        proc = subprocess.run(cmd, env=env, cwd=ROOT, capture_output=True, text=True,
                              timeout=600)
        refs = _load(out) if proc.returncode == 0 else None
        if refs is None:
            tail = (proc.stderr or proc.stdout).strip().splitlines()[-1:] or ["no output"]
            return References({}, "cpu", {c.id: f"reference process failed: {tail[0]}"
                                          for c in spec.checks if c.reference})
        if path is not None:
            _save(path, refs)
        return refs
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


def _main(argv: list[str]) -> int:
    from grader.run import build_cases
    from grader.spec import load_spec

    exercise, seed, platform, out = argv
    spec = load_spec(exercise)
    jax = jaxconfig.configure(platform=platform or None, devices=spec.devices)
    cases = build_cases(spec, int(seed))
    refs = compute_here(spec, cases, ReferenceFns(spec, read_data(spec)), jax.default_backend())
    if refs.errors:
        print(refs.errors, file=sys.stderr)
        return 1
    _save(Path(out), refs)
    return 0


if __name__ == "__main__":
    import sys

    sys.exit(_main(sys.argv[1:]))
