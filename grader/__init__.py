"""The dlcore grader: ``python -m grader exercises/qNN``.

See GRADER.md in the project's shared notes for its promises, and ``grader/specs/`` for
what each exercise checks.
"""

__version__ = "0.1.0"
