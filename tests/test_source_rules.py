"""CONTRIBUTING.md's source rules hold over every dlcore module.

The exercise generator copies functions out of dlcore with ``ast``; a module that breaks a
rule would give learners a stub that does not import, or lose code silently. The rules are
checked by the generator's own ``module_problems`` (one implementation, so the test and the
generator cannot disagree); the second half of this file shows that each rule really is
enforced, on small sources that break it.
"""

import ast
import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DLCORE = sorted((ROOT / "dlcore").rglob("*.py"))
STUB_WORD = "NotImplemented" + "Error"


def _gen():
    """tools/gen_exercises.py, loaded once (tools/ is not a package)."""
    if "gen_exercises" not in sys.modules:
        path = ROOT / "tools" / "gen_exercises.py"
        spec = importlib.util.spec_from_file_location("gen_exercises", path)
        module = importlib.util.module_from_spec(spec)
        sys.modules["gen_exercises"] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules["gen_exercises"]


GEN = _gen()


def _rel(path: Path) -> str:
    return str(path.relative_to(ROOT))


def test_dlcore_has_modules():
    assert len(DLCORE) >= 20


@pytest.mark.parametrize("path", DLCORE, ids=_rel)
def test_module_follows_the_source_rules(path):
    assert GEN.module_problems(path.read_text(), _rel(path)) == []


def _top_level_names(path: Path) -> set[str]:
    names = set()
    for node in ast.parse(path.read_text()).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {t.id for t in node.targets if isinstance(t, ast.Name)}
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            names.add(node.target.id)
    return names


@pytest.mark.parametrize("path", DLCORE, ids=_rel)
def test_dlcore_imports_name_the_defining_module(path):
    """``from dlcore.a.b import f``: ``dlcore/a/b.py`` exists and defines ``f`` at its top
    level (an import through a package's re-export cannot be followed by the generator)."""
    wrong = []
    for node in ast.parse(path.read_text()).body:
        if not isinstance(node, ast.ImportFrom) or (node.module or "").split(".")[0] != "dlcore":
            continue
        target = ROOT.joinpath(*node.module.split(".")).with_suffix(".py")
        if not target.is_file():
            wrong.append(f"line {node.lineno}: {node.module} is not a module file")
            continue
        missing = {a.name for a in node.names} - _top_level_names(target)
        if missing:
            wrong.append(f"line {node.lineno}: {node.module} does not define {sorted(missing)}")
    assert wrong == []


def test_the_stub_word_is_not_in_solutions():
    hits = [
        _rel(p) for p in sorted((ROOT / "solutions").rglob("*.py")) if STUB_WORD in p.read_text()
    ]
    assert hits == []


# ---- each rule is enforced -----------------------------------------------------------------

_CLEAN = '''"""A module that keeps every rule."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import lax

from dlcore.nn.activations import relu

__all__ = ["f"]
_SCALE = 2.0
_SHIFT: float = 1.0


@jax.custom_vjp
def f(x):
    """Doubles.

    Example:
      >>> f(jnp.ones(2))
      Array([2., 2.], dtype=float32)
    """
    import numpy as np  # a third-party import inside a function is copied with it

    return relu(x) * _SCALE + np.float32(0) + lax.stop_gradient(x) * 0


def _fwd(x):
    return f(x), None


def _bwd(res, g):
    return (g,)


f.defvjp(_fwd, _bwd)


@jax.custom_jvp
def g(x):
    return x


@g.defjvp
def _g_jvp(primals, tangents):
    return primals[0], tangents[0]


class State:
    """A record."""

    count: int = 0
'''


def test_a_clean_module_has_no_problems():
    assert GEN.module_problems(_CLEAN, "clean.py") == []


_BROKEN = {
    "relative import": ("from .activations import relu", 1),
    "module import of dlcore": ("import dlcore.nn.activations as act", 1),
    "bare dlcore import": ("import dlcore", 1),
    "star import": ("from jax.numpy import *", 1),
    "dotted import without alias": ("import jax.numpy", 1),
    "if block": ("if True:\n    X = 1", 1),
    "try import": ("try:\n    import optax\nexcept ImportError:\n    optax = None", 1),
    "call": ("print('loaded')", 1),
    "augmented assignment": ("X = 1\nX += 1", 2),
    "tuple target": ("A, B = 1, 2", 1),
    "attribute target": ("import jax\njax.config.x = 1", 2),
    "bare annotation": ("X: int", 1),
    "for loop": ("for i in range(2):\n    pass", 1),
    "async def": ("async def f():\n    pass", 1),
    "registration with a lambda": ("def f(x):\n    return x\n\n\nf.defvjp(lambda x: x, f)", 5),
    "registration of an import": ("from jax.numpy import sin\n\n\nsin.defvjp(sin, sin)", 4),
    "decorator registration of an import": (
        "from jax.numpy import sin\n\n\n@sin.defjvp\ndef r(p, t):\n    return p, t",
        5,  # the def line
    ),
    "other method call": ("def f(x):\n    return x\n\n\nf.defjvps(f)", 5),
    "dlcore import in a function": (
        "def f(x):\n    from dlcore.nn.activations import relu\n\n    return relu(x)",
        2,
    ),
    "relative import in a method": (
        "class A:\n    def f(self):\n        from . import b\n\n        return b",
        3,
    ),
    "doctest importing dlcore": (
        'def f(x):\n    """Id.\n\n    >>> from dlcore.nn import relu\n    """\n    return x',
        4,
    ),
    "the stub word": (f"def f(x):\n    raise {STUB_WORD}", 2),
}


@pytest.mark.parametrize("name", sorted(_BROKEN))
def test_each_broken_rule_is_named_with_its_line(name):
    source, line = _BROKEN[name]
    problems = GEN.module_problems('"""Doc."""\n\n' + source + "\n", "m.py")
    assert len(problems) == 1, problems
    assert problems[0].startswith(f"m.py:{line + 2}: "), problems


def test_init_modules_may_import_lazily():
    source = '"""Pkg."""\n\n\ndef __getattr__(name):\n    from dlcore.nn import modules\n'
    assert GEN.module_problems(source, "dlcore/nn/__init__.py") == []
    assert len(GEN.module_problems(source, "dlcore/nn/other.py")) == 1
