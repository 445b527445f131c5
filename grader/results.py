"""What grading produces: one result per check, grouped per exercise."""

from __future__ import annotations

import dataclasses
import math


@dataclasses.dataclass
class CheckResult:
    name: str
    id: str
    task: str
    kind: str
    description: str
    status: str
    max_score: float
    message: str = ""
    hint: str = ""
    seconds: float = 0.0

    @property
    def score(self) -> float:
        s = self.max_score if self.status == "pass" else 0.0
        if not math.isfinite(s):
            return 0.0
        return min(max(s, 0.0), self.max_score)


@dataclasses.dataclass
class ExerciseResult:
    exercise: str
    title: str
    path: str
    checks: list[CheckResult]
    seconds: float = 0.0
    backend: str = "cpu"
    notes: list[str] = dataclasses.field(default_factory=list)
    output: str = ""
    confinement: str = "none"
    task_output: dict[str, str] = dataclasses.field(default_factory=dict)
    incomplete: bool = False

    @property
    def score(self) -> float:
        return sum(c.score for c in self.checks)

    @property
    def max_score(self) -> float:
        return sum(c.max_score for c in self.checks)

    @property
    def passed(self) -> bool:
        return bool(self.checks) and all(c.status == "pass" for c in self.checks)
