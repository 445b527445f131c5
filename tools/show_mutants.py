"""Prints, for each known-wrong implementation of an exercise, what its check said.

    python tools/show_mutants.py q05

For reviewing mutants by eye: the status alone does not show whether a check failed for
the reason the mutant was written for.
"""

import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from grader.spec import load_spec  # noqa: E402
from tests.grading import grade_here, make_submission, rounds  # noqa: E402
from tests.test_grader_exercises import _mutants  # noqa: E402


def main(ex: str) -> None:
    mutants = _mutants(ex).MUTANTS
    with tempfile.TemporaryDirectory() as tmp:
        for group in rounds(load_spec(ex), mutants):
            folder = make_submission(Path(tmp), ex, [m.code for m in group])
            result = grade_here(folder, ex, checks={m.check for m in group})
            by_name = {c.id: c for c in result.checks}
            for m in group:
                c = by_name[m.check]
                print(
                    f"[{c.status}] {m.name} -> {m.check}\n    "
                    + c.message.replace("\n", "\n    ")[:600]
                )


if __name__ == "__main__":
    main(sys.argv[1])
