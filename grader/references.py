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
    """

    def __init__(self, opts, exercise: str, sources: list[bytes], run_as: int | None):
        h = hashlib.sha256()
        h.update(
            json.dumps(
                [exercise, opts.platform or "default", source_hash(exercise), _jax_version()]
            ).encode()
        )
        for data in sources:
            h.update(hashlib.sha256(data).digest())
        self.published = cache_root(opts) / "xla-worker" / h.hexdigest()[:32]
        self.run_as = run_as
        self.path = tempfile.mkdtemp(prefix="dlcore-xla-")
        seeded = set()
        if self.published.is_dir():
            for entry in os.scandir(self.published):
                # only the executables: JAX rewrites an entry's "-atime" file on every hit,
                # which a read-only link would refuse (and the hit would then be lost)
                if (_CACHE_ENTRY.match(entry.name) and entry.name.endswith("-cache")
                        and entry.is_file(follow_symlinks=False)):
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
    outputs: dict[str, list[dict]]
    backend: str
    errors: dict[str, str] = dataclasses.field(default_factory=dict)


_SOURCE_HASHES: dict[str, str] = {}


def source_hash(exercise: str) -> str:
    """dlcore, the shared grader modules and this exercise's spec (not the other specs)."""
    if exercise not in _SOURCE_HASHES:
        h = hashlib.sha256()
        paths = sorted((ROOT / "dlcore").rglob("*.py")) + sorted((ROOT / "grader").glob("*.py"))
        spec = ROOT / "grader" / "specs" / f"{exercise}.py"
        if spec.exists():
            paths.append(spec)
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
                source_hash(spec.id),
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
    except (OSError, ValueError, KeyError):
        return None
    outputs: dict[str, list[dict]] = {}
    for check, cases in meta["outputs"].items():
        outputs[check] = [
            {p: (data[aid].view(_dtype(dt)), kind) for p, (aid, kind, dt) in leaves.items()}
            for leaves in cases
        ]
    return References(outputs, meta["backend"])


def _save(path: Path, refs: References) -> None:
    arrays, meta = {}, {}
    for check, cases in refs.outputs.items():
        meta[check] = []
        for leaves in cases:
            entry = {}
            for p, (arr, kind) in leaves.items():
                aid = f"a{len(arrays)}"
                # npz cannot hold bfloat16: store the bits, restore the dtype on load
                arrays[aid] = (
                    arr.view(f"u{arr.dtype.itemsize}")
                    if arr.dtype.kind == "V" or arr.dtype.name not in np.sctypeDict
                    else arr
                )
                entry[p] = (aid, kind, arr.dtype.name)
            meta[check].append(entry)
    tmp = path.with_name(path.name + f".tmp{os.getpid()}")
    tmp.mkdir(parents=True, exist_ok=True)
    np.savez(tmp / "arrays.npz", **arrays)
    (tmp / "meta.json").write_text(json.dumps({"outputs": meta, "backend": refs.backend}))
    try:
        os.replace(tmp, path)
    except OSError:  # another grader process won the race; its result is the same
        import shutil

        shutil.rmtree(tmp, ignore_errors=True)


def _configure_jax(opts):
    if opts.platform:
        os.environ["JAX_PLATFORMS"] = opts.platform
    import jax

    if opts.platform:  # a spec may have imported jax already, so the env var is not enough
        jax.config.update("jax_platforms", opts.platform)
    if opts.use_cache:
        path = cache_root(opts) / "xla-parent"
        path.mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(path))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
    if jax.default_backend() != "cpu":
        jax.config.update("jax_default_matmul_precision", "highest")
    return jax


class _Fns:
    def __init__(self, spec):
        from grader.spec import load_reference

        self._refs = spec.tasks
        self._load = load_reference

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return self._load(self._refs[name])


def compute(spec, cases: dict, opts) -> References:
    path = cache_root(opts) / "refs" / _key(spec, opts)
    # secret-salt references never touch the disk, where a submission might find them
    store = opts.use_cache and not opts.instructor
    if store:
        hit = _load(path)
        if hit is not None and set(hit.outputs) >= {c.name for c in spec.checks if c.reference}:
            return hit
    jax = _configure_jax(opts)
    from grader.execute import run_cases, run_group
    from grader.spec import split_outputs
    from grader.worker import flatten_output

    fns = _Fns(spec)
    outputs, errors = {}, {}
    wanted = [c for c in spec.checks if c.reference and c.probe is not None]
    grouped: dict[str, list] = {}
    for task in dict.fromkeys(c.task for c in wanted):
        grouped.update(run_group([c for c in wanted if c.task == task], fns, cases) or {})
    for check in wanted:
        try:
            result = grouped.get(check.name)
            if result is None:
                result = run_cases(check, fns, cases[check.name], strict=True)
            flat = flatten_output(result)
        except Exception as e:  # a grader bug: reported as `internal`, never cached
            errors[check.name] = f"{type(e).__name__}: {e}"
            continue
        outputs[check.name] = split_outputs(flat, len(cases[check.name]))
    refs = References(outputs, jax.default_backend(), errors)
    if store and not errors:
        _save(path, refs)
    return refs
