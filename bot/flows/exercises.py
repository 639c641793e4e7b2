"""The exercises as data. Adding one = an entry here + its templates in messages/."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Exercise:
    id: str
    steps: tuple[str, ...]
    start_target: int
    max_target: int
    target_step: int
    per_side: bool
    # What people call it when they log it ("done 12 lunges"), beyond its id.
    aliases: tuple[str, ...] = ()

    def step_template(self, index: int) -> str:
        return f"exercise/{self.id}_{self.steps[index]}"


BRIDGE = Exercise(
    id="bridge",
    steps=("setup", "1", "2", "3", "4"),
    start_target=20,
    max_target=50,
    target_step=4,
    per_side=False,
    aliases=("bridges", "glute bridge", "glute bridges", "gb"),
)
LUNGE = Exercise(
    id="lunge",
    steps=("1", "2", "3", "4", "5"),
    start_target=5,
    max_target=10,
    target_step=1,
    per_side=True,
    aliases=("lunges",),
)
EXERCISES = {exercise.id: exercise for exercise in (BRIDGE, LUNGE)}
