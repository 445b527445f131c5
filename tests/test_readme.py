"""The README's library examples run as written."""

import re
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parent.parent / "README.md").read_text()
SECTION = README[README.index("## Using dlcore as a library") : README.index("## Layout")]
BLOCKS = re.findall(r"```python\n(.*?)```", SECTION, re.S)


def test_the_section_has_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("n", range(len(BLOCKS)))
def test_readme_example_runs(n):
    import jax

    with jax.numpy_rank_promotion("allow"):  # as a reader's session would be
        exec(compile(BLOCKS[n], f"README.md example {n + 1}", "exec"), {})
