"""Frames between the trusted parent and the untrusted worker.

A frame is ``len(payload)`` as 4 big-endian bytes, then the payload: a JSON header of
``hlen`` bytes (the first 4 payload bytes give ``hlen``) followed by raw array bytes.
The header lists each array as ``{"name", "dtype", "shape", "nbytes", "kind"}`` in order.
Only plain numeric dtypes are accepted, sizes are checked against shapes, and arrays are
rebuilt with ``np.frombuffer``: nothing is ever unpickled.

This module imports only the standard library and NumPy so that the parent can judge
without importing JAX.
"""

from __future__ import annotations

import json
import os
import struct

import numpy as np

MAX_FRAME = 256 * 1024 * 1024
MAX_HEADER = 4 * 1024 * 1024

_PLAIN_DTYPES = {
    "bool",
    "int8",
    "int16",
    "int32",
    "int64",
    "uint8",
    "uint16",
    "uint32",
    "uint64",
    "float16",
    "float32",
    "float64",
    "complex64",
    "complex128",
}
_EXTENDED_DTYPES = {"bfloat16", "float8_e4m3fn", "float8_e5m2"}


class ProtocolError(Exception):
    """The other side sent something that is not a well-formed frame."""


def _dtype(name: str) -> np.dtype:
    if name in _PLAIN_DTYPES:
        return np.dtype(name)
    if name in _EXTENDED_DTYPES:
        import ml_dtypes  # only when a bfloat16/fp8 array actually arrives

        return np.dtype(getattr(ml_dtypes, name))
    raise ProtocolError(f"refused array dtype {name!r}")


def encode(header: dict, arrays: dict[str, np.ndarray] | None = None) -> bytes:
    """Builds one frame from a JSON-able header and named NumPy arrays."""
    arrays = arrays or {}
    specs, blobs = [], []
    for name, (arr, kind) in arrays.items():
        arr = np.asarray(arr)
        if not arr.flags.c_contiguous:  # (np.ascontiguousarray would turn 0-d into 1-d)
            arr = arr.copy(order="C")
        if arr.dtype.name not in _PLAIN_DTYPES | _EXTENDED_DTYPES:
            raise ProtocolError(f"cannot send array {name!r} of dtype {arr.dtype}")
        data = arr.tobytes()
        specs.append(
            {
                "name": name,
                "dtype": arr.dtype.name,
                "shape": list(arr.shape),
                "nbytes": len(data),
                "kind": kind,
            }
        )
        blobs.append(data)
    head = json.dumps({**header, "arrays": specs}, sort_keys=True).encode()
    payload = struct.pack(">I", len(head)) + head + b"".join(blobs)
    if len(payload) > MAX_FRAME:
        raise ProtocolError(f"frame of {len(payload)} bytes exceeds the {MAX_FRAME} limit")
    return struct.pack(">I", len(payload)) + payload


def decode(payload: bytes) -> tuple[dict, dict[str, tuple[np.ndarray, str]]]:
    """Parses a frame payload into ``(header, {name: (array, kind)})``."""
    if len(payload) < 4:
        raise ProtocolError("truncated frame")
    (hlen,) = struct.unpack(">I", payload[:4])
    if hlen > MAX_HEADER or 4 + hlen > len(payload):
        raise ProtocolError("bad header length")
    try:
        header = json.loads(payload[4 : 4 + hlen].decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ProtocolError(f"header is not JSON: {e}") from None
    if not isinstance(header, dict) or not isinstance(header.get("arrays", []), list):
        raise ProtocolError("header is not an object")
    arrays: dict[str, tuple[np.ndarray, str]] = {}
    offset = 4 + hlen
    for spec in header.pop("arrays", []):
        try:
            name, dtype = str(spec["name"]), _dtype(str(spec["dtype"]))
            shape = tuple(int(d) for d in spec["shape"])
            nbytes, kind = int(spec["nbytes"]), str(spec.get("kind", "numpy"))
        except (KeyError, TypeError, ValueError) as e:
            raise ProtocolError(f"bad array spec: {e}") from None
        if (
            any(d < 0 for d in shape)
            or nbytes != int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
        ):
            raise ProtocolError(f"array {name!r}: {nbytes} bytes do not fit shape {shape}")
        if offset + nbytes > len(payload):
            raise ProtocolError(f"array {name!r} runs past the end of the frame")
        arr = np.frombuffer(payload, dtype=dtype, count=nbytes // dtype.itemsize, offset=offset)
        arrays[name] = (arr.reshape(shape).copy(), kind)
        offset += nbytes
    if offset != len(payload):
        raise ProtocolError("trailing bytes after the last array")
    return header, arrays


def write_frame(fd: int, frame: bytes) -> None:
    view = memoryview(frame)
    while view:
        n = os.write(fd, view)
        view = view[n:]


def read_exactly(fd: int, n: int) -> bytes | None:
    """Reads n bytes from a blocking fd; None at a clean end of file."""
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            if got == 0:
                return None
            raise ProtocolError("end of file inside a frame")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(fd: int) -> bytes | None:
    head = read_exactly(fd, 4)
    if head is None:
        return None
    (n,) = struct.unpack(">I", head)
    if n > MAX_FRAME:
        raise ProtocolError(f"frame of {n} bytes exceeds the {MAX_FRAME} limit")
    payload = read_exactly(fd, n)
    if payload is None:
        raise ProtocolError("end of file inside a frame")
    return payload
