"""Pytrees on the wire: a JSON skeleton plus raw arrays, in both directions.

Inputs (parent -> worker) and outputs (worker -> parent) are nested dicts, lists, tuples,
named tuples and ``None`` around leaves. The skeleton keeps each container's kind, so a
tuple stays a tuple and a Python ``int`` stays an ``int`` (not a 0-d array); arrays travel
as raw bytes through :mod:`grader.protocol`. Decoding builds plain Python and NumPy values
only: nothing is unpickled, no class from the other side is instantiated.

Leaf tags: ``a`` array (with ``k`` its kind: ``jax``, ``numpy`` or ``key``), ``v`` a JSON
number or bool, ``f`` a float written with ``repr`` (so inf and NaN survive), ``s`` a str,
``b`` bytes (sent as a uint8 array), ``n`` None. Container tags: ``d`` dict (a list of
``[key, value]`` pairs), ``l`` list, ``t`` tuple, ``nt`` named tuple (with ``fields``; decoded as a
:class:`Record`), ``node`` another pytree node (decoded as a :class:`Record` of its
flattened children, keyed by path).

Imports only the standard library and NumPy (the parent judges without JAX).
"""

from __future__ import annotations

import math

import numpy as np

MAX_DEPTH = 48
MAX_LEAVES = 20000
MAX_STR = 100_000


class WireError(Exception):
    """A value that cannot travel (an object, a too deep or too large tree)."""


class NumpyArray(np.ndarray):
    """An output leaf that the learner returned as a NumPy array, not a ``jax.Array``."""


class KeyArray(np.ndarray):
    """An input or output leaf that is a typed PRNG key, as its raw key data."""


class Record(dict):
    """A named tuple or another pytree node, decoded: fields in order, plus its type name."""

    def __init__(self, type_name: str, items):
        super().__init__(items)
        self.type_name = type_name

    def __repr__(self):
        return f"{self.type_name}({', '.join(f'{k}={v!r}' for k, v in self.items())})"


class Key:
    """A PRNG key input, marked by type: reaches the task as ``jax.random.key(seed)``'s
    typed key (threefry). ``Key(seed)``; ``data`` is the raw ``uint32[2]``."""

    __slots__ = ("data",)

    def __init__(self, seed: int | np.ndarray):
        if isinstance(seed, np.ndarray):
            self.data = np.asarray(seed, np.uint32)
        else:
            self.data = np.array([0, int(seed) & 0xFFFFFFFF], np.uint32)

    def __repr__(self):
        return f"Key({int(self.data[-1])})"


# ---- encoding ---------------------------------------------------------------------------


class _Encoder:
    def __init__(self, leaf_hook=None, node_hook=None):
        self.arrays: dict[str, tuple[np.ndarray, str]] = {}
        self.leaf_hook = leaf_hook  # worker side: jax.Array -> (ndarray, kind)
        self.node_hook = node_hook  # worker side: other pytree nodes -> (name, [(k, v)])

    def array(self, arr: np.ndarray, kind: str) -> dict:
        if len(self.arrays) >= MAX_LEAVES:
            raise WireError(f"more than {MAX_LEAVES} arrays in one value")
        if arr.dtype == object:
            raise WireError("an object array cannot be sent")
        name = f"a{len(self.arrays)}"
        self.arrays[name] = (arr, kind)
        return {"a": name, "k": kind}

    def enc(self, x, depth: int = 0, where: str = ""):
        if depth > MAX_DEPTH:
            raise WireError(f"the value is nested more than {MAX_DEPTH} levels deep")
        if x is None:
            return {"n": 1}
        if isinstance(x, bool):
            return {"v": x}
        if isinstance(x, int):
            if abs(x) >= 2**63:
                raise WireError(f"{where or 'output'} is an int too large to send")
            return {"v": int(x)}
        if isinstance(x, float):
            return {"f": repr(float(x))}
        if isinstance(x, str):
            if len(x) > MAX_STR:
                raise WireError(f"{where or 'output'} is a str longer than {MAX_STR}")
            return {"s": str(x)}
        if isinstance(x, (bytes, bytearray)):
            return {"b": self.array(np.frombuffer(bytes(x), np.uint8), "bytes")["a"]}
        if isinstance(x, Key):
            return self.array(x.data, "key")
        if isinstance(x, KeyArray):
            return self.array(np.asarray(x).view(np.ndarray), "key")
        if isinstance(x, np.ndarray) and type(x) in (np.ndarray, NumpyArray):
            # next to JAX (a leaf hook), a plain ndarray is one the code returned from NumPy
            numpy = type(x) is NumpyArray or self.leaf_hook is not None
            return self.array(np.asarray(x), "numpy" if numpy else "jax")
        if isinstance(x, np.generic):
            return self.array(np.asarray(x), "numpy")
        if self.leaf_hook is not None:
            leaf = self.leaf_hook(x)
            if leaf is not None:
                return self.array(*leaf)
        if isinstance(x, tuple) and hasattr(x, "_fields"):
            items = [self.enc(v, depth + 1, f"{where}.{f}")
                     for f, v in zip(x._fields, x, strict=True)]
            return {"nt": type(x).__name__[:100], "fields": [str(f) for f in x._fields],
                    "t": items}
        if isinstance(x, dict):
            pairs = []
            for k, v in x.items():
                if not isinstance(k, (str, int)) or isinstance(k, bool):
                    raise WireError(f"{where or 'output'} has a dict key of type "
                                    f"{type(k).__name__}; use str or int keys")
                pairs.append([k, self.enc(v, depth + 1, f"{where}[{k!r}]")])
            if type(x) is not dict and not isinstance(x, Record):
                return {"node": type(x).__name__[:100], "d": pairs}
            if isinstance(x, Record):
                return {"node": x.type_name, "d": pairs}
            return {"d": pairs}
        if isinstance(x, (list, tuple)):
            tag = "l" if isinstance(x, list) else "t"
            return {tag: [self.enc(v, depth + 1, f"{where}[{i}]") for i, v in enumerate(x)]}
        if self.node_hook is not None:
            node = self.node_hook(x)
            if node is not None:
                name, items = node
                return {"node": name[:100],
                        "d": [[k, self.enc(v, depth + 1, f"{where}{k}")] for k, v in items]}
        raise WireError(
            f"{where or 'output'} is a {type(x).__name__}, not an array, number, str, bytes "
            "or a dict/list/tuple of them"
        )


def encode(tree, *, leaf_hook=None, node_hook=None) -> tuple[dict, dict]:
    """``tree`` -> ``(skeleton, {name: (array, kind)})`` for :func:`grader.protocol.encode`."""
    enc = _Encoder(leaf_hook, node_hook)
    skeleton = enc.enc(tree)
    return skeleton, enc.arrays


# ---- decoding ---------------------------------------------------------------------------


def decode(skeleton, arrays: dict[str, tuple[np.ndarray, str]], depth: int = 0):
    """The inverse of :func:`encode`, on the parent's or the worker's side.

    Arrays sent with kind ``numpy`` come back as :class:`NumpyArray`, keys as
    :class:`KeyArray`; anything malformed raises :class:`WireError`.
    """
    if depth > MAX_DEPTH or not isinstance(skeleton, dict) or len(skeleton) > 4:
        raise WireError("malformed value skeleton")
    if "n" in skeleton:
        return None
    if "v" in skeleton:
        v = skeleton["v"]
        if not isinstance(v, (bool, int)) or isinstance(v, float):
            raise WireError("malformed number")
        return v
    if "f" in skeleton:
        try:
            return float(str(skeleton["f"]))
        except ValueError:
            raise WireError("malformed float") from None
    if "s" in skeleton:
        if not isinstance(skeleton["s"], str):
            raise WireError("malformed str")
        return skeleton["s"]
    if "b" in skeleton:
        return bytes(_array(arrays, skeleton["b"])[0].astype(np.uint8).tobytes())
    if "a" in skeleton:
        arr, kind = _array(arrays, skeleton["a"])
        if kind == "numpy":
            return arr.view(NumpyArray)
        if kind == "key":
            return arr.view(KeyArray)
        return arr
    sub = lambda v: decode(v, arrays, depth + 1)  # noqa: E731
    if "nt" in skeleton:
        fields, items = skeleton.get("fields"), skeleton.get("t")
        if not isinstance(fields, list) or not isinstance(items, list) or len(fields) != len(items):
            raise WireError("malformed named tuple")
        pairs = [(str(f), sub(v)) for f, v in zip(fields, items, strict=True)]
        return Record(str(skeleton["nt"]), pairs)
    if "d" in skeleton:
        pairs = skeleton["d"]
        if not isinstance(pairs, list) or not all(
            isinstance(p, list) and len(p) == 2 and isinstance(p[0], (str, int)) for p in pairs
        ):
            raise WireError("malformed dict")
        items = [(k, sub(v)) for k, v in pairs]
        return Record(str(skeleton["node"]), items) if "node" in skeleton else dict(items)
    for tag, typ in (("l", list), ("t", tuple)):
        if tag in skeleton:
            if not isinstance(skeleton[tag], list):
                raise WireError("malformed sequence")
            return typ(sub(v) for v in skeleton[tag])
    raise WireError("malformed value skeleton")


def _array(arrays, name):
    try:
        return arrays[name]
    except (KeyError, TypeError):
        raise WireError(f"the skeleton names an array {name!r} that was not sent") from None


def leaves(tree, path: str = ""):
    """``(path, leaf)`` pairs of a decoded value, paths written as ``["p"][0].count``."""
    if isinstance(tree, Record):
        for k, v in tree.items():
            yield from leaves(v, f"{path}.{k}" if isinstance(k, str) and k.isidentifier()
                              else f"{path}[{k!r}]")
    elif isinstance(tree, dict):
        for k, v in tree.items():
            yield from leaves(v, f"{path}[{k!r}]")
    elif isinstance(tree, (list, tuple)):
        for i, v in enumerate(tree):
            yield from leaves(v, f"{path}[{i}]")
    else:
        yield path, tree


def is_finite_number(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)
