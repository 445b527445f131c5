"""The dlcore grader: ``python -m grader exercises/qNN``.

See GRADER.md in the project's shared notes for its promises, and ``grader/specs/`` for
what each exercise checks. In a notebook, ``from grader import check`` grades functions
defined there (:func:`grader.notebook.check`).
"""

__version__ = "0.1.0"


def __getattr__(name):
    # imported on first use: ``import grader`` stays cheap (the worker imports it too)
    if name == "check":
        from grader.notebook import check

        return check
    raise AttributeError(f"module 'grader' has no attribute {name!r}")


__all__ = ["check"]
