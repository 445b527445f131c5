"""q11 CNN layers: conv2d and pooling from jax.numpy, equal to lax.conv / flax pooling, and a
small CNN trained on digits with the fixed recipe of grader/recipes.py."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np

from grader import checks as ck
from grader import recipes  # module level: the worker refuses grader imports once it runs
from grader.spec import Case, Check, Exercise, Failure, FileSpec

# ---- shared helpers ---------------------------------------------------------------------


def _tuples(kw: dict) -> dict:
    """Statics travel to the worker as JSON, where (2, 3) arrives as [2, 3]: give tuples back."""
    return {k: tuple(v) if isinstance(v, list) else v for k, v in kw.items()}


def _call(task):
    """The default call, with (h, w) pairs passed as tuples on both sides."""

    def run(fns, c):
        return getattr(fns, task)(*ck.args_of(c), **_tuples(ck.kwargs_of(c)))

    return run


def _jit_judge(what):
    return ck.halves_agree("eager", "jit", f"{what} under jax.jit differs from eager")


def _custom(
    name,
    task,
    kind,
    probe,
    cases,
    judge,
    description,
    *,
    uses=(),
    reference=False,
    hint="",
    batched=True,
    timeout=30.0,
    weight=1.0,
):
    return Check(
        name=name,
        task=task,
        kind=kind,
        probe=probe,
        cases=cases,
        judge=judge,
        description=description,
        uses=uses,
        reference=reference,
        hint=hint,
        batched=batched,
        timeout=timeout,
        weight=weight,
    )


def _pool_geometry(n: int, k: int, s: int, padding: str) -> tuple[int, int]:
    """(output size, low padding) along one axis, XLA's SAME convention."""
    if padding == "SAME":
        out = -(-n // s)
        return out, max((out - 1) * s + k - n, 0) // 2
    return (n - k) // s + 1, 0


# ---- conv2d -----------------------------------------------------------------------------

# Rectangular kernels (2x3 and 3x2) give an odd and an even size on each axis in turn, and
# non-square images catch swapped H/W axes; with SAME the total padding is then odd on some
# axis (the extra cell goes at the bottom/right).
_CONV_GRID = list(itertools.product((1, 2), ("SAME", "VALID"), (1, 2)))
_CONV_SHAPES = [((2, 7, 8, 3), (2, 3, 3, 4)), ((1, 8, 9, 2), (3, 2, 2, 3))]


def _conv_case(rng, xs, ws, label="", **static):
    return Case(
        {
            "x": ck.normal(rng, xs),
            "w": ck.normal(rng, ws, 0.5),
            "b": ck.normal(rng, (ws[-1],), 0.5),
        },
        static,
        label=label or f"kernel {ws[0]}x{ws[1]}",
    )


def _conv_cases(rng):
    return [
        _conv_case(rng, xs, ws, stride=s, padding=p, dilation=d)
        for s, p, d in _CONV_GRID
        for xs, ws in _CONV_SHAPES
    ]


def _conv_pair_cases(rng):
    return [
        _conv_case(
            rng,
            (2, 9, 8, 2),
            (3, 2, 2, 3),
            "(h, w) pairs",
            stride=(2, 1),
            padding="SAME",
            dilation=(1, 2),
        ),
        _conv_case(
            rng,
            (1, 8, 10, 3),
            (2, 3, 3, 2),
            "(h, w) pairs",
            stride=(1, 2),
            padding="VALID",
            dilation=(2, 1),
        ),
    ]


def _conv_out(n, k, s, padding, d):
    keff = (k - 1) * d + 1
    return -(-n // s) if padding == "SAME" else (n - keff) // s + 1


def _conv_grad_cases(rng):
    out = []
    for (xs, ws), (s, p, d) in [
        (_CONV_SHAPES[0], (2, "SAME", 1)),
        (_CONV_SHAPES[1], (1, "VALID", 2)),
    ]:
        c = _conv_case(rng, xs, ws, stride=s, padding=p, dilation=d)
        cot = ck.normal(
            rng, (xs[0], _conv_out(xs[1], ws[0], s, p, d), _conv_out(xs[2], ws[1], s, p, d), ws[3])
        )
        out.append(Case({**c.arrays, "_cot": cot}, c.static, c.label))
    return out


def _equivariance_probe(fns, c):
    sh, sw = c.s["_shift"]
    kw = _tuples(ck.kwargs_of(c))
    return {
        "y": fns.conv2d(c.x, c.w, c.b, **kw),
        "shifted": fns.conv2d(c.x[:, sh:, sw:], c.w, c.b, **kw),
    }


def _equivariant(case, out):
    y, shifted = out["['y']"].astype(np.float64), out["['shifted']"].astype(np.float64)
    sh, sw = case.static["_shift"]
    s = case.static["stride"]
    crop = y[:, sh // s :, sw // s :]
    if shifted.shape != crop.shape:
        return (
            f"conv2d of the input shifted by ({sh}, {sw}) pixels has shape "
            f"{shifted.shape}; expected {crop.shape}, the unshifted output without its "
            f"first {sh // s} row(s) and {sw // s} column(s)"
        )
    err = np.abs(shifted - crop)
    tol = 1e-5 + 1e-5 * np.abs(crop)
    if np.all(err <= tol):
        return None
    idx = np.unravel_index(np.argmax(err - tol), err.shape)
    where = "[" + ", ".join(str(int(i)) for i in idx) + "]"
    return (
        f"shifting the input by ({sh}, {sw}) pixels (a multiple of the stride {s}) should "
        f"shift the output by ({sh // s}, {sw // s}); at {where} of the shifted output got "
        f"{shifted[idx]:.6g}, the unshifted output has {crop[idx]:.6g} there"
    )


# ---- conv_output_size -------------------------------------------------------------------

_SIZE_GRID = list(
    itertools.product(range(1, 10), (1, 2, 3, 4), (1, 2, 3), ("VALID", "SAME"), (1, 2))
)


def _size_args(i: int) -> str:
    n, k, s, p, d = _SIZE_GRID[i]
    return f"size={n}, kernel={k}, stride={s}, padding={p!r}, dilation={d}"


def _sizes_probe(fns, c):
    out = {}
    for i, (n, k, s, p, d) in enumerate(_SIZE_GRID):
        f = fns.conv_output_size
        out[f"{i:03d}"] = f(n, k, s, p) if d == 1 else f(n, k, s, p, dilation=d)
    return out


def _sizes_judge(case, got, ref):
    wrong = []
    for i in range(len(_SIZE_GRID)):
        path = f"['{i:03d}']"
        call = f"conv_output_size({_size_args(i)})"
        if path not in got:
            return Failure(f"{call}: no result")
        (g, kind), (r, _) = got[path], ref[path]
        if kind == "jax":
            return Failure(
                f"{call} returned a jax.Array ({g.dtype}); it must return a Python "
                "int, usable as a shape"
            )
        if kind == "numpy" or g.dtype.kind not in "iu":
            what = (
                "a NumPy scalar"
                if kind == "numpy"
                else "a Python bool"
                if g.dtype.kind == "b"
                else "a Python float"
            )
            return Failure(f"{call} returned {what} ({g.item()!r}); it must return a Python int")
        if int(g) != int(r):
            wrong.append((call, int(r), int(g)))
    if wrong:
        call, r, g = wrong[0]
        return Failure(
            f"wrong on {len(wrong)} of {len(_SIZE_GRID)} argument sets; first: "
            f"{call} returned {g}, expected {r}"
        )
    return None


# ---- pooling ----------------------------------------------------------------------------

_POOL_GRID = list(itertools.product((2, 3), (1, 2), ("SAME", "VALID")))


def _pool_cases(rng, negative=False):
    out = [
        Case({"x": ck.normal(rng, (2, 7, 8, 3))}, {"window": k, "stride": s, "padding": p})
        for k, s, p in _POOL_GRID
    ]
    if negative:  # SAME pads with -inf: a zero pad would win every border window here
        x = -np.abs(ck.normal(rng, (1, 7, 7, 2))) - 1.0
        out += [
            Case(
                {"x": x.astype(np.float32)},
                {"window": 2, "stride": 2, "padding": "SAME"},
                label="all entries negative",
            ),
            Case(
                {"x": x.astype(np.float32)},
                {"window": 3, "stride": 1, "padding": "SAME"},
                label="all entries negative",
            ),
        ]
    return out


def _pool_pair_cases(rng):
    return [
        Case(
            {"x": ck.normal(rng, (2, 7, 8, 2))},
            {"window": (2, 3), "stride": (2, 1), "padding": "SAME"},
            label="(h, w) pairs",
        ),
        Case(
            {"x": ck.normal(rng, (1, 9, 6, 3))},
            {"window": (3, 2), "stride": (1, 2), "padding": "VALID"},
            label="(h, w) pairs",
        ),
    ]


def _tie_free(rng, shape):
    """A permutation of 0..n-1: no two entries equal, so every window has one maximum."""
    return rng.permutation(int(np.prod(shape))).reshape(shape).astype(np.float32)


def _max_grad_cases(rng):
    out = []
    for k, s, p in [(2, 2, "VALID"), (3, 2, "SAME"), (3, 1, "VALID")]:
        shape = (2, 6, 7, 2)
        x = _tie_free(rng, shape)
        oh, _ = _pool_geometry(shape[1], k, s, p)
        ow, _ = _pool_geometry(shape[2], k, s, p)
        cot = ck.uniform(rng, (shape[0], oh, ow, shape[3]), 0.5, 2.0)
        out.append(
            Case(
                {"x": x, "_cot": cot},
                {"window": k, "stride": s, "padding": p},
                label="tie-free input",
            )
        )
    return out


def _max_grad_probe(fns, c):
    import jax
    import jax.numpy as jnp

    kw = ck.kwargs_of(c)
    return jax.grad(lambda x: jnp.sum(fns.max_pool(x, **kw) * c._cot))(c.x)


def _expected_max_grad(x, cot, k, s, padding):
    n, h, w, ch = x.shape
    oh, ph = _pool_geometry(h, k, s, padding)
    ow, pw = _pool_geometry(w, k, s, padding)
    g = np.zeros(x.shape, np.float64)
    nn, cc = np.meshgrid(np.arange(n), np.arange(ch), indexing="ij")
    for i in range(oh):
        r0, r1 = max(i * s - ph, 0), min(i * s - ph + k, h)
        for j in range(ow):
            c0, c1 = max(j * s - pw, 0), min(j * s - pw + k, w)
            win = x[:, r0:r1, c0:c1, :].reshape(n, -1, ch)
            arg = np.argmax(win, axis=1)
            rows, cols = r0 + arg // (c1 - c0), c0 + arg % (c1 - c0)
            np.add.at(g, (nn, rows, cols, cc), cot[:, i, j, :])
    return g


def _grad_only_to_max(case, out):
    got = out[""].astype(np.float64)
    x = case.arrays["x"]
    if got.shape != x.shape:
        return f"the gradient has shape {got.shape}, expected {x.shape}"
    exp = _expected_max_grad(
        x,
        case.arrays["_cot"].astype(np.float64),
        case.static["window"],
        case.static["stride"],
        case.static["padding"],
    )
    err = np.abs(got - exp)
    tol = 1e-5 + 1e-5 * np.abs(exp)
    if np.all(np.isfinite(got)) and np.all(err <= tol):
        return None
    idx = np.unravel_index(np.argmax(np.where(np.isfinite(got), err - tol, np.inf)), x.shape)
    where = "[" + ", ".join(str(int(i)) for i in idx) + "]"
    leaks = int(((exp == 0) & (np.abs(got) > 1e-6)).sum())
    if exp[idx] == 0:
        return (
            f"the gradient reaches x{where} = {x[idx]:g}, which is not the maximum of any "
            f"window (got {got[idx]:.4g}); {leaks} such entries in all"
        )
    return (
        f"x{where} = {x[idx]:g} is the maximum of its window(s) and should get the "
        f"cotangent of that output, {exp[idx]:.4g}; got {got[idx]:.4g}"
    )


def _avg_same_cases(rng):
    return [
        Case(
            {"x": np.ones((1, 5, 6, 1), np.float32)},
            {"window": 3, "stride": 1, "padding": "SAME"},
            label="x = ones",
        ),
        Case(
            {"x": np.ones((1, 7, 7, 2), np.float32)},
            {"window": 2, "stride": 2, "padding": "SAME"},
            label="x = ones",
        ),
        Case(
            {"x": ck.uniform(rng, (2, 5, 7, 1), 0.5, 1.5)},
            {"window": 3, "stride": 2, "padding": "SAME"},
            label="positive x",
        ),
    ]


def _avg_with_zero_pad(x, k, s, padding):
    n, h, w, ch = x.shape
    oh, ph = _pool_geometry(h, k, s, padding)
    ow, pw = _pool_geometry(w, k, s, padding)
    y = np.zeros((n, oh, ow, ch))
    cells = np.zeros((oh, ow), int)
    for i in range(oh):
        r0, r1 = max(i * s - ph, 0), min(i * s - ph + k, h)
        for j in range(ow):
            c0, c1 = max(j * s - pw, 0), min(j * s - pw + k, w)
            y[:, i, j] = x[:, r0:r1, c0:c1].astype(np.float64).sum(axis=(1, 2)) / (k * k)
            cells[i, j] = (r1 - r0) * (c1 - c0)
    return y, cells


def _counts_padding(case, out):
    got = out[""].astype(np.float64)
    k = case.static["window"]
    exp, cells = _avg_with_zero_pad(case.arrays["x"], k, case.static["stride"], "SAME")
    if got.shape != exp.shape:
        return f"expected shape {exp.shape}, got {got.shape}"
    err = np.abs(got - exp)
    tol = 1e-5 + 1e-5 * np.abs(exp)
    if np.all(np.isfinite(got)) and np.all(err <= tol):
        return None
    idx = np.unravel_index(np.argmax(np.where(np.isfinite(got), err - tol, np.inf)), got.shape)
    where = "[" + ", ".join(str(int(i)) for i in idx) + "]"
    real = int(cells[idx[1], idx[2]])
    return (
        f"at {where} got {got[idx]:.6g}, expected {exp[idx]:.6g}: that {k}x{k} window holds "
        f"{real} real cells and {k * k - real} padded zeros, and the padded zeros count "
        f"(divide by {k * k})"
    )


# ---- init_cnn / cnn_apply ---------------------------------------------------------------


def _key_case(seed, **static):
    return Case({"key": ck.key_data(seed)}, static)


def _params_judge(case, got, ref):
    if not got:
        return Failure("init_cnn returned no arrays", hint="return a dict of jax arrays")
    for path, (a, kind) in sorted(got.items()):
        leaf = f"params{path}"
        if kind == "python":
            return Failure(
                f"{leaf} is a Python {type(a.item()).__name__} ({a.item()!r}): params "
                "must hold float32 arrays only, because the optimizer updates every "
                "leaf",
                hint="keep strides, sizes and other settings out of params; "
                "hard-code the architecture in cnn_apply",
            )
        if kind == "numpy":
            return Failure(
                f"{leaf} is a NumPy array: build params with jax.random and "
                "jax.numpy (init_cnn runs under jax.jit in the training recipe)"
            )
        if a.dtype != np.float32:
            return Failure(
                f"{leaf} has dtype {a.dtype}; params must be float32",
                hint="jax.random.normal(key, shape) is float32 by default",
            )
        if not np.all(np.isfinite(a)):
            return Failure(f"{leaf} has non-finite entries")
        if a.ndim >= 2 and not np.any(a):
            return Failure(
                f"{leaf} (shape {a.shape}) is all zeros: units that start equal get "
                "equal gradients and never differ",
                hint="draw weights with jax.random (He: normal * sqrt(2 / fan_in)); "
                "only biases start at zero",
            )
    return None


def _digits_case(rng):
    x_train, y_train, x_test, y_test = recipes.digits_images()
    return [
        Case(
            {
                "key": ck.key_data(0),
                "_x_train": x_train,
                "_y_train": y_train,
                "_x_test": x_test,
                "_y_test": y_test,
            },
            label=f"digits, {len(x_train)} train / {len(x_test)} test images",
        )
    ]


def _train_probe(fns, c):
    import jax.numpy as jnp

    data = (c._x_train, c._y_train)
    params = recipes.train_classifier(c.key, fns.init_cnn, fns.cnn_apply, data)
    acc = recipes.accuracy(fns.cnn_apply, params, c._x_test, c._y_test)
    return {"test_accuracy": jnp.asarray(acc, jnp.float32)}


_MIN_ACCURACY = 0.95
_RECIPE = (
    f"Adam(learning_rate={recipes.DEFAULT_LEARNING_RATE:g}), {recipes.DEFAULT_STEPS} "
    f"steps of {recipes.DEFAULT_BATCH_SIZE} training images (pixels / 16, in [0, 1]), "
    "softmax cross-entropy on cnn_apply's logits, init_cnn(key) for the start"
)


def _train_judge(case, got, ref):
    acc = float(got["['test_accuracy']"][0])
    n = case.arrays["_y_test"].shape[0]
    if np.isfinite(acc) and acc >= _MIN_ACCURACY:
        return None
    what = f"{acc:.4f} ({round(acc * n)} of {n} test images)" if np.isfinite(acc) else "NaN"
    return Failure(
        f"test accuracy {what} is below the required {_MIN_ACCURACY:g} after the "
        f"fixed recipe: {_RECIPE}"
    )


def _logits_cases(rng):
    return [
        Case(
            {"key": ck.key_data(1), "x": ck.uniform(rng, (5, 8, 8, 1), 0.0, 1.0)},
            {"_num_classes": 10},
        ),
        Case(
            {"key": ck.key_data(2), "x": ck.uniform(rng, (1, 8, 8, 1), 0.0, 1.0)},
            {"_num_classes": 3},
        ),
        Case(
            {"key": ck.key_data(3), "x": ck.uniform(rng, (4, 8, 8, 1), 0.0, 1.0)},
            {"_num_classes": 7},
        ),
    ]


def _init(fns, c):
    n = c.s.get("_num_classes", 10)
    return fns.init_cnn(c.key) if n == 10 else fns.init_cnn(c.key, num_classes=n)


def _logits_probe(fns, c):
    return fns.cnn_apply(_init(fns, c), c.x)


def _logits_shape(case, out):
    y = out[""]
    n, k = case.arrays["x"].shape[0], case.static["_num_classes"]
    if y.shape != (n, k):
        how = "" if k == 10 else f"init_cnn(key, num_classes={k}), then "
        images = "1 image" if n == 1 else f"{n} images"
        return (
            f"{how}cnn_apply on {images} gave shape {y.shape}; expected logits of shape ({n}, {k})"
        )
    if y.dtype != np.float32:
        return f"logits have dtype {y.dtype}, expected float32"
    if not np.all(np.isfinite(y)):
        return "logits have non-finite entries"
    return None


def _cnn_jit_probe(fns, c):
    import jax

    params = _init(fns, c)
    return {"eager": fns.cnn_apply(params, c.x), "jit": jax.jit(fns.cnn_apply)(params, c.x)}


def _cnn_grad_probe(fns, c):
    import jax
    import jax.numpy as jnp

    params = _init(fns, c)
    return jax.grad(lambda p: jnp.sum(fns.cnn_apply(p, c.x) * c._cot))(params)


def _cnn_grad_cases(rng):
    return [
        Case(
            {
                "key": ck.key_data(4),
                "x": ck.uniform(rng, (6, 8, 8, 1), 0.0, 1.0),
                "_cot": ck.normal(rng, (6, 10)),
            }
        )
    ]


def _every_param_learns(case, out):
    if not out:
        return "the gradient has no leaves: cnn_apply's params hold no arrays?"
    for path, g in sorted(out.items()):
        if not np.all(np.isfinite(g)):
            return f"the gradient for params{path} has non-finite entries"
        if not np.any(g):
            return (
                f"params{path} gets no gradient at all: cnn_apply does not use it, or cuts "
                "it off (stop_gradient, an unused bias, a dead relu)"
            )
    return None


# ---- checks -----------------------------------------------------------------------------

# cnn_apply is built from the learner's own layers (CURRICULUM), so its checks call them too.
_CNN_USES = ("init_cnn", "conv2d", "max_pool", "dense")

CHECKS = (
    # conv2d
    ck.equivalence(
        "conv2d",
        _conv_cases,
        probe=_call("conv2d"),
        name="conv2d: matches lax.conv_general_dilated",
        description="conv2d equals lax.conv_general_dilated(x, w, stride, padding, "
        "rhs_dilation, ('NHWC', 'HWIO', 'NHWC')) + b across stride {1, 2} x "
        "padding {SAME, VALID} x dilation {1, 2} x odd and even kernel sizes, on "
        "non-square images",
        hint="cross-correlation, not convolution: no kernel flip; SAME pads "
        "max((out - 1) * s + (k - 1) * d + 1 - n, 0) in total, the odd cell at the "
        "bottom/right; tap (i, j) of the kernel reads x_pad[p*s + i*d, q*s + j*d]",
    ),
    ck.equivalence(
        "conv2d",
        _conv_pair_cases,
        probe=_call("conv2d"),
        name="conv2d: stride and dilation as (h, w) pairs",
        description="stride=(sh, sw) and dilation=(dh, dw) apply per axis",
        hint="sh, sw = (stride, stride) if isinstance(stride, int) else stride; the same for "
        "dilation; use the H values on axis 1 and the W values on axis 2",
    ),
    ck.grad_matches(
        "conv2d",
        _conv_grad_cases,
        argnums=(0, 1, 2),
        name="conv2d: gradient matches",
        description="gradients w.r.t. x, w and b equal the reference's",
    ),
    ck.jit_matches_eager(
        "conv2d",
        lambda rng: [
            _conv_case(rng, (2, 7, 6, 2), (3, 2, 2, 3), stride=2, padding="SAME", dilation=1)
        ],
        static_argnames=("stride", "padding", "dilation"),
    ),
    ck.vmap_matches_loop(
        "conv2d",
        lambda rng: [
            Case(
                {
                    "x": ck.normal(rng, (3, 2, 6, 7, 2)),
                    "w": ck.normal(rng, (3, 3, 2, 4)),
                    "b": ck.normal(rng, (4,)),
                },
                {"padding": "SAME"},
            )
        ],
        in_axes=(0, None, None),
        name="conv2d: works under vmap",
    ),
    ck.invariant(
        "conv2d",
        lambda rng: [
            Case(
                {
                    "x": ck.normal(rng, (1, 11, 10, 2)),
                    "w": ck.normal(rng, (3, 2, 2, 3)),
                    "b": ck.normal(rng, (3,)),
                },
                {"stride": 1, "padding": "VALID", "dilation": 1, "_shift": (2, 1)},
            ),
            Case(
                {
                    "x": ck.normal(rng, (2, 12, 11, 3)),
                    "w": ck.normal(rng, (3, 3, 3, 2)),
                    "b": ck.normal(rng, (2,)),
                },
                {"stride": 2, "padding": "VALID", "dilation": 2, "_shift": (2, 4)},
            ),
        ],
        _equivariant,
        probe=_equivariance_probe,
        name="conv2d: translation equivariance",
        description="shifting the input by a multiple of the stride shifts the output "
        "(VALID, away from borders)",
        hint="every output position must use the same kernel at the same relative offsets; "
        "nothing in conv2d may depend on the absolute position or on statistics of x",
    ),
    ck.forbidden("conv2d"),
    # conv_output_size: a Python int computed from Python ints, so no jit/vmap/grad checks
    # (under jit it is called at trace time with static shapes); one call per grid point.
    _custom(
        "conv_output_size: exact over a grid of arguments",
        "conv_output_size",
        "equivalence",
        _sizes_probe,
        lambda rng: [
            Case({}, label="size 1..9, kernel 1..4, stride 1..3, SAME/VALID, dilation 1..2")
        ],
        _sizes_judge,
        "conv_output_size returns the exact Python int for every size, kernel, "
        "stride, padding and dilation in a grid, including kernels that do not fit (0)",
        reference=True,
        batched=False,
        hint="k_eff = (kernel - 1) * dilation + 1; VALID: max(0, (size - k_eff) // stride + 1); "
        "SAME: -(-size // stride), whatever the kernel; plain Python ints, no jnp",
    ),
    # max_pool
    ck.equivalence(
        "max_pool",
        lambda rng: _pool_cases(rng, negative=True),
        probe=_call("max_pool"),
        name="max_pool: matches flax.nnx.max_pool",
        description="max_pool equals flax.nnx.max_pool for windows {2, 3} x strides {1, 2} x "
        "SAME/VALID, and on all-negative inputs",
        hint="pad SAME with -inf (jnp.pad(..., constant_values=-jnp.inf)), never 0, so padding "
        "never wins a window; the odd padded cell goes at the bottom/right",
    ),
    ck.equivalence(
        "max_pool",
        _pool_pair_cases,
        probe=_call("max_pool"),
        name="max_pool: window and stride as (h, w) pairs",
        description="window=(kh, kw) and stride=(sh, sw) apply per axis",
        hint="kh, kw = (window, window) if isinstance(window, int) else window; the same for "
        "stride",
    ),
    ck.invariant(
        "max_pool",
        _max_grad_cases,
        _grad_only_to_max,
        probe=_max_grad_probe,
        name="max_pool: gradient flows only to the max",
        description="on tie-free inputs, each window's cotangent reaches its maximum entry "
        "and nothing else (overlapping windows add up)",
        hint="take the max with jnp.max over the window axes: its gradient goes to the "
        "argmax; do not mix in a mean or a softened max",
    ),
    ck.jit_matches_eager(
        "max_pool",
        lambda rng: [
            Case({"x": ck.normal(rng, (2, 7, 6, 3))}, {"window": 3, "stride": 2, "padding": "SAME"})
        ],
        static_argnames=("window", "stride", "padding"),
    ),
    ck.vmap_matches_loop(
        "max_pool",
        lambda rng: [
            Case(
                {"x": ck.normal(rng, (3, 2, 6, 5, 2))},
                {"window": 2, "stride": 2, "padding": "SAME"},
            )
        ],
    ),
    ck.forbidden("max_pool"),
    # avg_pool
    ck.equivalence(
        "avg_pool",
        _pool_cases,
        probe=_call("avg_pool"),
        name="avg_pool: matches flax.nnx.avg_pool",
        description="avg_pool equals flax.nnx.avg_pool for windows {2, 3} x strides {1, 2} x "
        "SAME/VALID",
        hint="the mean over each window; with SAME the padded zeros count in the mean",
    ),
    ck.equivalence(
        "avg_pool",
        _pool_pair_cases,
        probe=_call("avg_pool"),
        name="avg_pool: window and stride as (h, w) pairs",
        description="window=(kh, kw) and stride=(sh, sw) apply per axis",
        hint="kh, kw = (window, window) if isinstance(window, int) else window; the same for "
        "stride",
    ),
    ck.invariant(
        "avg_pool",
        _avg_same_cases,
        _counts_padding,
        probe=_call("avg_pool"),
        name="avg_pool: SAME counts padded cells",
        description="with SAME, border windows divide by the full window size: padded zeros "
        "count, as in flax.nnx.avg_pool (count_include_pad=True)",
        hint="divide by KH * KW everywhere, not by the number of real cells (that is "
        "TensorFlow's convention, not flax's)",
    ),
    ck.grad_matches(
        "avg_pool",
        lambda rng: [
            Case(
                {"x": ck.normal(rng, (2, 7, 6, 2)), "_cot": ck.normal(rng, (2, 4, 3, 2))},
                {"window": 3, "stride": 2, "padding": "SAME"},
            ),
            Case(
                {"x": ck.normal(rng, (1, 5, 6, 3)), "_cot": ck.normal(rng, (1, 4, 5, 3))},
                {"window": 2, "stride": 1, "padding": "VALID"},
            ),
        ],
        name="avg_pool: gradient matches",
    ),
    ck.jit_matches_eager(
        "avg_pool",
        lambda rng: [
            Case({"x": ck.normal(rng, (2, 7, 6, 3))}, {"window": 3, "stride": 2, "padding": "SAME"})
        ],
        static_argnames=("window", "stride", "padding"),
    ),
    ck.forbidden("avg_pool"),
    # global_avg_pool
    ck.equivalence(
        "global_avg_pool",
        lambda rng: [
            Case({"x": ck.normal(rng, s)}) for s in [(2, 5, 4, 3), (1, 1, 1, 1), (3, 8, 8, 16)]
        ],
        name="global_avg_pool: mean over H and W, shape (N, C)",
        description="global_avg_pool(x) = mean of x over axes 1 and 2, shape (N, C)",
        hint="jnp.mean(x, axis=(1, 2)), without keepdims",
    ),
    ck.grad_matches(
        "global_avg_pool",
        lambda rng: [Case({"x": ck.normal(rng, (2, 5, 4, 3)), "_cot": ck.normal(rng, (2, 3))})],
        name="global_avg_pool: gradient matches",
    ),
    ck.jit_matches_eager(
        "global_avg_pool", lambda rng: [Case({"x": ck.normal(rng, (2, 4, 3, 5))})]
    ),
    ck.forbidden("global_avg_pool"),
    # dense
    ck.equivalence(
        "dense",
        lambda rng: [
            Case(
                {
                    "x": ck.normal(rng, (n, d)),
                    "w": ck.normal(rng, (d, o)),
                    "b": ck.normal(rng, (o,)),
                }
            )
            for n, d, o in [(4, 6, 3), (1, 5, 1), (16, 32, 10)]
        ],
        name="dense: x @ w + b",
        description="dense(x, w, b) = x @ w + b for x (N, D), w (D, K), b (K,)",
        hint="w is (in, out): x @ w, not x @ w.T; add the bias to every row",
    ),
    ck.grad_matches(
        "dense",
        lambda rng: [
            Case(
                {
                    "x": ck.normal(rng, (4, 6)),
                    "w": ck.normal(rng, (6, 3)),
                    "b": ck.normal(rng, (3,)),
                    "_cot": ck.normal(rng, (4, 3)),
                }
            )
        ],
        argnums=(0, 1, 2),
        name="dense: gradient matches",
        description="gradients w.r.t. x, w and b equal the reference's",
    ),
    ck.jit_matches_eager(
        "dense",
        lambda rng: [
            Case(
                {
                    "x": ck.normal(rng, (4, 6)),
                    "w": ck.normal(rng, (6, 3)),
                    "b": ck.normal(rng, (3,)),
                }
            )
        ],
    ),
    # init_cnn
    _custom(
        "init_cnn: params are a pytree of float32 arrays",
        "init_cnn",
        "invariant",
        ck.call("init_cnn"),
        lambda rng: [_key_case(0), _key_case(5, num_classes=7)],
        _params_judge,
        "init_cnn returns a pytree whose leaves are all float32 jax arrays, "
        "finite, with no all-zero weight matrix",
        batched=False,  # eager: Python/NumPy leaves show
        hint="a dict of dicts of jax.random / jnp.zeros arrays, nothing else",
    ),
    ck.prng_discipline(
        "init_cnn",
        lambda rng: [Case({"key": ck.key_data(1), "_other_key": ck.key_data(2)})],
        hint="split the key you are given once per layer; never use a fixed key or NumPy's "
        "random state",
    ),
    ck.jit_matches_eager(
        "init_cnn",
        lambda rng: [_key_case(3, num_classes=10)],
        static_argnames=("num_classes",),
        hint="the training recipe calls init_cnn under jax.jit: use "
        "jax.random and jnp only, and take shapes from Python ints",
    ),
    # cnn_apply
    ck.invariant(
        "cnn_apply",
        _logits_cases,
        _logits_shape,
        probe=_logits_probe,
        uses=_CNN_USES,
        name="cnn_apply: logits of shape (N, num_classes)",
        description="cnn_apply(init_cnn(key, num_classes), x) gives float32 logits of shape "
        "(N, num_classes) for num_classes 10, 3 and 7, also for N = 1",
        hint="size the dense head from num_classes in init_cnn; keep the batch axis "
        "(reshape to (x.shape[0], -1); never squeeze)",
    ),
    _custom(
        "cnn_apply: works under jit",
        "cnn_apply",
        "jit",
        _cnn_jit_probe,
        lambda rng: [Case({"key": ck.key_data(6), "x": ck.uniform(rng, (3, 8, 8, 1), 0, 1)})],
        _jit_judge("cnn_apply"),
        "jax.jit(cnn_apply) runs and equals the eager call",
        uses=_CNN_USES,
        batched=False,
        hint="no Python if/while on array values (e.g. on x.max()); the recipe trains under jit",
    ),
    ck.invariant(
        "cnn_apply",
        _cnn_grad_cases,
        _every_param_learns,
        probe=_cnn_grad_probe,
        uses=_CNN_USES,
        name="cnn_apply: gradient reaches every parameter",
        description="jax.grad of the logits w.r.t. params is finite and non-zero for every "
        "leaf of init_cnn's params",
        hint="every array in params must take part in the logits",
    ),
    dataclasses.replace(
        ck.training(
            "cnn_apply",
            _digits_case,
            _train_probe,
            metric="test_accuracy",
            threshold=_MIN_ACCURACY,
            uses=_CNN_USES,
            timeout=60.0,
            name="cnn_apply: TRAIN reaches 95% test accuracy on digits",
            description=f"the fixed recipe of grader/recipes.py ({_RECIPE}, one jitted lax.scan) "
            "trains init_cnn/cnn_apply on scikit-learn's digits; the accuracy on the "
            "450 held-out test images must reach 0.95",
            hint="return logits (no softmax); He-initialize the weights (never zeros); two 3x3 "
            "convs (16 and 32 channels) with a 2x2 max-pool, a flatten and a dense head are "
            "plenty; the images arrive in [0, 1]: do not rescale them again",
        ),
        judge=_train_judge,
    ),
    ck.forbidden("cnn_apply"),
)

# lax.conv* is spelled out so that lax.convert_element_type stays allowed.
_FORBIDDEN = (
    "jax.lax.conv",
    "jax.lax.conv_*",
    "jax.lax.reduce_window*",
    "flax",
    "jax.scipy.signal",
    "jax.numpy.convolve",
    "jax.numpy.correlate",
    "jax.example_libraries",
)

_TASKS = (
    "conv2d",
    "conv_output_size",
    "max_pool",
    "avg_pool",
    "global_avg_pool",
    "dense",
    "init_cnn",
    "cnn_apply",
)
_REFS = {
    "conv2d": "dlcore.nn.conv",
    "conv_output_size": "dlcore.nn.conv",
    "max_pool": "dlcore.nn.pooling",
    "avg_pool": "dlcore.nn.pooling",
    "global_avg_pool": "dlcore.nn.pooling",
    "dense": "dlcore.nn.linear",
    "init_cnn": "dlcore.models.cnn",
    "cnn_apply": "dlcore.models.cnn",
}

EXERCISE = Exercise(
    id="q11",
    title="CNN layers",
    files={
        "cnn.py": FileSpec(
            helpers=("dlcore.nn.activations:relu",),
            tasks=tuple(f"{_REFS[t]}:{t}" for t in _TASKS),
            summary="convolution, pooling and a small CNN, written with jax.numpy",
        )
    },
    checks=CHECKS,
    forbidden={
        t: _FORBIDDEN for t in ("conv2d", "max_pool", "avg_pool", "global_avg_pool", "cnn_apply")
    },
)
