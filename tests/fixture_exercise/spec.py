"""A test exercise (not shipped): every kind of argument and result the grader carries,
each checked by a stock kind. Graded from ``tests/test_grader_fixture.py``."""

from __future__ import annotations

import numpy as np

from grader import checks as ck
from grader.spec import Exercise, FileSpec, case

REF = "tests.fixture_exercise.reference"
OBJECTIVES = {  # callables a case names by string
    "bowl": lambda x: ((x - 1.0) ** 2).sum(),
    "tilted": lambda x: ((x * np.array([1.0, 3.0], np.float32)) ** 2).sum() + x[0],
}


def _affine_cases(rng):
    return [
        case(
            {"w": ck.normal(rng, (4, 3)), "b": ck.normal(rng, (3,))},
            ck.normal(rng, (5, 4)),
            static={"scale": s},
            extras={"cot": {"norm": ck.normal(rng, (5,)), "y": ck.normal(rng, (5, 3))}},
        )
        for s in (1.0, 0.5)
    ]


def _linear(fns, i):
    from flax import nnx

    kernel, bias = i.kwargs["kernel"], i.kwargs["bias"]
    model = nnx.Linear(*kernel.shape, rngs=nnx.Rngs(0))
    model.kernel[...] = kernel
    model.bias[...] = bias
    return fns.apply_linear(model, i.args[0])


def _minimize(fns, i):
    return fns.minimize(OBJECTIVES[i.static["objective"]], i.args[0], steps=i.static["steps"])


CHECKS = (
    ck.equivalence("affine", _affine_cases),
    ck.jit("affine", _affine_cases),
    ck.vmap("affine", _affine_cases, in_axes=(None, 0)),
    ck.grad("affine", _affine_cases, wrt=0),
    ck.equivalence(
        "apply_linear",
        lambda rng: [
            case(ck.normal(rng, (2, 3)), kernel=ck.normal(rng, (3, 4)), bias=ck.normal(rng, (4,)))
        ],
        call=_linear,
        batched=False,
        title="an nnx.Linear argument",
    ),
    ck.equivalence(
        "minimize",
        lambda rng: [
            case(np.zeros(2, np.float32), static={"objective": o, "steps": 30}) for o in OBJECTIVES
        ],
        call=_minimize,
        title="a callable argument",
    ),
    ck.equivalence(
        "describe",
        lambda rng: [case(ck.normal(rng, (2, 5))), case(np.zeros((3, 1), np.int32))],
        batched=False,
        title="a str result",
    ),
    ck.equivalence(
        "sharded_sum",
        lambda rng: [case(ck.normal(rng, (8, 3)))],
        batched=False,
        title="reduced over 4 devices",
    ),
    ck.equivalence(
        "word_counts",
        lambda rng: [case(static={"top": 3}), case(static={"top": 1})],
        call=lambda fns, i: fns.word_counts(fns.data["corpus"], **i.static),
        batched=False,
        title="counts the words of a data file",
    ),
)

TASKS = ("affine", "apply_linear", "minimize", "describe", "sharded_sum", "word_counts")
EXERCISE = Exercise(
    id="q99",
    title="Test exercise: what the grader carries",
    files={"tasks.py": FileSpec(tasks=tuple(f"{REF}:{t}" for t in TASKS))},
    checks=CHECKS,
    devices=4,
    data={"corpus": "tests/fixture_exercise/corpus.txt"},
)
