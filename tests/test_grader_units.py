"""Unit tests of the grader's parts: protocol, judging, forbidden-call detection, reports."""

from __future__ import annotations

import json
import os
import struct

import ml_dtypes
import numpy as np
import pytest

from grader import protocol
from grader.forbidden import find_violations
from grader.judge import compare_arrays, compare_trees
from grader.report import as_json, as_junit, clean, terminal
from grader.results import CheckResult, ExerciseResult

# ---- protocol ---------------------------------------------------------------------------


def test_frames_round_trip_every_plain_dtype_and_zero_d():
    arrays = {
        "scalar": (np.float32(3.5) * np.ones(()), "jax"),
        "ints": (np.arange(6, dtype=np.int32).reshape(2, 3), "numpy"),
        "bool": (np.array([True, False]), "python"),
        "bf16": (np.ones((2, 2), ml_dtypes.bfloat16), "jax"),
        "empty": (np.zeros((0, 3), np.float32), "jax"),
        "strided": (np.arange(12.0).reshape(3, 4)[:, ::2], "jax"),
    }
    frame = protocol.encode({"type": "result", "x": 1}, arrays)
    (n,) = struct.unpack(">I", frame[:4])
    header, back = protocol.decode(frame[4 : 4 + n])
    assert header["type"] == "result" and header["x"] == 1
    for name, (arr, kind) in arrays.items():
        got, got_kind = back[name]
        assert got_kind == kind
        assert got.dtype == arr.dtype and got.shape == arr.shape
        np.testing.assert_array_equal(got, arr)


def _payload(header: dict, blob: bytes = b"") -> bytes:
    head = json.dumps(header).encode()
    return struct.pack(">I", len(head)) + head + blob


@pytest.mark.parametrize(
    "spec, blob, why",
    [
        ({"name": "a", "dtype": "object", "shape": [1], "nbytes": 8}, b"\0" * 8, "refused"),
        ({"name": "a", "dtype": "float32", "shape": [2], "nbytes": 4}, b"\0" * 4, "do not fit"),
        ({"name": "a", "dtype": "float32", "shape": [4], "nbytes": 16}, b"\0" * 8, "past the end"),
        ({"name": "a", "dtype": "float32", "shape": [-1], "nbytes": 4}, b"\0" * 4, "do not fit"),
        ({"name": "a", "dtype": "V8", "shape": [1], "nbytes": 8}, b"\0" * 8, "refused"),
    ],
)
def test_malformed_frames_are_refused(spec, blob, why):
    with pytest.raises(protocol.ProtocolError, match=why):
        protocol.decode(_payload({"arrays": [spec]}, blob))


def test_non_json_header_and_trailing_bytes_are_refused():
    with pytest.raises(protocol.ProtocolError):
        protocol.decode(struct.pack(">I", 3) + b"\x80\x81\x82")
    with pytest.raises(protocol.ProtocolError, match="trailing"):
        protocol.decode(_payload({"arrays": []}, b"extra"))
    with pytest.raises(protocol.ProtocolError):
        protocol.encode({}, {"o": (np.array([object()]), "numpy")})


# ---- judging ----------------------------------------------------------------------------


def test_compare_checks_shape_dtype_nan_and_tolerance_in_that_order():
    ref = np.array([1.0, 2.0, 3.0], np.float32)
    assert compare_arrays("y", ref.copy(), ref) is None
    assert "(B, 1) vs (B,)" in compare_arrays("y", ref[:, None], ref)
    assert "dtype float32, got float64" in compare_arrays("y", ref.astype(np.float64), ref)
    nan = ref.copy()
    nan[1] = np.nan
    assert "expected finite values, got nan at [1]" in compare_arrays("y", nan, ref)
    assert compare_arrays("y", nan, nan) is not None  # NaN never equals NaN
    off = ref + np.array([0, 0, 1e-3], np.float32)
    msg = compare_arrays("y", off, ref)
    assert "worst at [2]" in msg and "atol=" in msg and "rtol=" in msg
    assert compare_arrays("y", ref + 1e-6, ref) is None
    ints = np.array([1, 2], np.int32)
    assert "exact match" in compare_arrays("k", ints + 1, ints)


def test_compare_trees_names_missing_outputs_and_numpy_returns():
    from grader.wire import NumpyArray

    ref = {"a": np.ones(2, np.float32)}
    assert "missing key(s) 'a'" in compare_trees({}, ref)
    assert "NumPy array" in compare_trees({"a": np.ones(2, np.float32).view(NumpyArray)}, ref)


def test_compare_trees_keeps_python_kinds_and_containers_apart():
    assert "Python int" in compare_trees(np.array(3), 3)
    assert "expected a tuple" in compare_trees([1, 2], (1, 2))
    assert compare_trees((1, "a", b"z", None), (1, "a", b"z", None)) is None
    assert "expected 'abc'" in compare_trees("abd", "abc")
    assert compare_trees(1.0 + 1e-9, 1.0) is None and "outside" in compare_trees(1.1, 1.0)
    assert "expected a bool" in compare_trees(1, True)


def test_swapped_axes_are_named():
    ref = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    msg = compare_arrays("", np.swapaxes(ref, 1, 2).copy(), ref)
    assert "axes 1 and 2 look swapped" in msg and "values match" in msg


def test_wire_round_trips_kinds_and_refuses_objects():
    from typing import NamedTuple

    import jax
    import jax.numpy as jnp

    from grader import wire
    from grader.execute import roundtrip

    class State(NamedTuple):
        count: object
        mu: object

    value = {
        "i": 3,
        "f": float("nan"),
        "s": "hé",
        "b": b"\x00\xff",
        "n": None,
        "t": (jnp.ones(2), [np.zeros(1, np.int8)]),
        "st": State(jnp.int32(0), {"w": 1.5}),
        "k": jax.random.key(3),
    }
    back = roundtrip(value)
    assert back["i"] == 3 and type(back["i"]) is int and np.isnan(back["f"])
    assert back["s"] == "hé" and back["b"] == b"\x00\xff" and back["n"] is None
    assert isinstance(back["t"], tuple) and isinstance(back["t"][1], list)
    assert isinstance(back["t"][1][0], wire.NumpyArray)
    assert not isinstance(back["t"][0], wire.NumpyArray)
    assert back["st"].type_name == "State" and back["st"]["mu"]["w"] == 1.5
    assert isinstance(back["k"], wire.KeyArray)
    with pytest.raises(wire.WireError, match="object"):
        roundtrip({"bad": object()})
    with pytest.raises(wire.WireError):
        wire.decode({"a": "nope"}, {})


# ---- forbidden calls --------------------------------------------------------------------

_FORBID = {"relu": ("jax.nn", "flax"), "other": ("jax.nn",)}


@pytest.mark.parametrize(
    "source",
    [
        "import jax\ndef relu(x):\n    return jax.nn.relu(x)\n",
        "from jax import nn\ndef relu(x):\n    return nn.relu(x)\n",
        "import jax.nn as J\ndef relu(x):\n    return J.relu(x)\n",
        "from jax.nn import relu as r\ndef relu(x):\n    return r(x)\n",
        "import jax\nR = jax.nn.relu\ndef relu(x):\n    return R(x)\n",
        "import jax\ndef h(x):\n    return jax.nn.relu(x)\ndef relu(x):\n    return h(x)\n",
        "import importlib\ndef relu(x):\n    return importlib.import_module('jax.nn').relu(x)\n",
        "def relu(x):\n    from flax import nnx\n    return nnx.relu(x)\n",
        # the task bound to the upstream function, not defined
        "from jax.nn import relu\n",
        "import jax\nrelu = jax.nn.relu\n",
        "import jax\nrelu = jax.jit(jax.nn.relu)\n",
        "import jax, functools\nrelu = functools.partial(jax.nn.relu)\n",
        "import jax\nrelu = lambda x: jax.nn.relu(x)\n",
        "import jax\ndef _mine(x):\n    return jax.nn.relu(x)\nrelu = _mine\n",
        "import jax\n_f = jax.jit(jax.nn.relu)\nrelu = _f\n",
        # a clean def, rebound afterwards or in a block
        "import jax\ndef relu(x):\n    return x * (x > 0)\nrelu = jax.nn.relu\n",
        "import jax\ndef relu(x):\n    return x * (x > 0)\nif True:\n    relu = jax.nn.relu\n",
        "import jax\ndef relu(x):\n    return x * (x > 0)\ntry:\n    from jax.nn import relu\n"
        "except ImportError:\n    pass\n",
    ],
)
def test_forbidden_calls_are_found_through_aliases(source):
    found = find_violations(source, _FORBID)
    assert "relu" in found and "other" not in found


@pytest.mark.parametrize(
    "source",
    [
        "import jax.numpy as jnp\n"
        'def relu(x):\n    """Like jax.nn.relu."""\n    return jnp.maximum(x, 0)\n',
        # an own implementation bound by assignment, and helpers bound beside it
        "import jax\nimport jax.numpy as jnp\n_ACT = jax.nn.relu\n"
        "relu = jax.jit(lambda x: jnp.maximum(x, 0))\n",
        "import jax.numpy as jnp\ndef _mine(x):\n    return jnp.maximum(x, 0)\nrelu = _mine\n",
    ],
)
def test_allowed_code_and_docstrings_are_not_flagged(source):
    assert find_violations(source, _FORBID) == {}


@pytest.mark.parametrize(
    "line",
    [
        "import dlcore",
        "from solutions.q10 import activations",
        "from grader import spec",
        "from . import x",
    ],
)
def test_importing_answers_is_forbidden_for_every_task(line):
    found = find_violations(f"{line}\ndef relu(x):\n    return x\n", _FORBID)
    assert set(found) == {"relu", "other"}


# ---- reports ----------------------------------------------------------------------------


def _result():
    checks = [
        CheckResult("f: ok", "f/ok", "f", "equivalence", "d", "pass", 1.0),
        CheckResult(
            "f: jit", "f/jit", "f", "jit", "d", "wrong", 1.0, "bad\x1b[31m\rvalue", "a hint"
        ),
        CheckResult(
            "g: ok", "g/ok", "g", "equivalence", "d", "not_implemented", 1.0, "g is not ..."
        ),
    ]
    return ExerciseResult("q99", "Test", "exercises/q99", checks, seconds=1.5)


def test_terminal_report_escapes_control_characters_and_folds_todo():
    text = terminal([_result()], color=False)
    assert "\x1b" not in text and "\r" not in text and "\\x1b" in text
    assert "TODO      g: not implemented yet (1 check waiting)" in text
    assert "score 1/3" in text
    assert clean("a\x07b\nc") == "a\\x07b\nc"


def test_json_report_is_gradescope_shaped_and_scores_clamp():
    res = _result()
    res.checks.append(CheckResult("h", "h/train", "h", "training", "d", "pass", float("nan")))
    doc = json.loads(as_json([res]))
    assert doc["exercise"] == "q99" and doc["max_score"] != doc["score"]
    assert doc["tests"][-1]["score"] == 0.0
    for test in doc["tests"]:
        assert test["status"] in ("passed", "failed")
        assert {"name", "score", "max_score", "output", "visibility", "task", "kind"} <= set(test)


def test_junit_report_is_xml():
    import xml.etree.ElementTree as ET

    root = ET.fromstring(as_junit([_result()]))
    cases = list(root.iter("testcase"))
    assert len(cases) == 3 and len(list(root.iter("failure"))) == 2


def test_reports_survive_lone_surrogates_and_hints_match_by_message():
    from grader.hints import hint_for

    assert clean("bad \ud800 text").encode("utf-8") == b"bad \\ud800 text"
    assert "allocation" in hint_for(["JaxRuntimeError"], "RESOURCE_EXHAUSTED: Out of memory")
    assert "sys.exit" in hint_for(["SystemExit", "BaseException"], "0")


# ---- the worker's compilation cache -----------------------------------------------------


def test_worker_cache_is_per_submission_and_publishes_only_new_entries(tmp_path):
    import types

    from grader.references import WorkerCache

    opts = types.SimpleNamespace(cache_dir=str(tmp_path), platform=None)
    first = WorkerCache(opts, "q99", [b"def f(): pass\n"], None)
    with open(f"{first.path}/jit_f-abc-cache", "wb") as fh:
        fh.write(b"compiled")
    with open(f"{first.path}/notes.txt", "w") as fh:  # not a cache entry: never published
        fh.write("x")
    first.publish()
    assert sorted(p.name for p in first.published.iterdir()) == ["jit_f-abc-cache"]

    again = WorkerCache(opts, "q99", [b"def f(): pass\n"], None)  # the same files: seeded
    assert (tmp_path / "xla-worker").exists() and again.published == first.published
    seeded = f"{again.path}/jit_f-abc-cache"
    with open(seeded, "rb") as fh:
        assert fh.read() == b"compiled"
    os.unlink(seeded)  # a worker replacing a seeded entry changes nothing published
    with open(seeded, "wb") as fh:
        fh.write(b"poison")
    again.publish()
    assert (first.published / "jit_f-abc-cache").read_bytes() == b"compiled"

    other = WorkerCache(opts, "q99", [b"def f(): return 1\n"], None)  # other files: empty
    assert other.published != first.published and os.listdir(other.path) == []
    other.publish()


def test_each_worker_gets_a_user_of_its_own():
    """As root, workers run as distinct uids (a fork bomb's process limit is its own), and
    the report names the limit the same way on every run."""
    from grader import confine

    plan = {"limits": {}, "run_as": confine.NOBODY, "own_uid": True, "hide": []}
    uids = [confine.for_worker(plan)["run_as"] for _ in range(300)]
    assert len(set(uids[:256])) == 256  # a class's worth of live workers never share one
    assert all(confine.OWN_UIDS <= u < 2**31 for u in uids)
    assert confine.for_worker({**plan, "own_uid": False})["run_as"] == confine.NOBODY
    limit, shown = confine._nproc_limit({"own_uid": True, "run_as": uids[0]})
    assert shown == f"nproc={limit}" and limit >= confine.EXTRA_PROCESSES
    _, shown = confine._nproc_limit({"own_uid": False, "run_as": None})
    assert shown.startswith("nproc=+")  # counted from what the user runs: not a fixed number


def test_a_task_that_is_the_upstream_function_at_run_time_is_found():
    """What no reading of the source shows: the task bound to the upstream object while the
    file runs. Identity is followed through partial and ``__wrapped__`` (jit, wraps)."""
    import functools

    import jax

    from grader.forbidden import identity_violations

    tricks = {
        "relu": jax.nn.relu,
        "jitted": jax.jit(jax.nn.relu),
        "partial": functools.partial(jax.nn.relu),
        "mine": lambda x: x * (x > 0),
    }
    found = identity_violations(tricks, {name: ("jax.nn",) for name in tricks})
    assert set(found) == {"relu", "jitted", "partial"}
    assert "jax.nn.relu" in found["relu"]
    assert identity_violations(tricks, {"relu": ("optax",)}) == {}
