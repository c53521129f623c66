"""A checkpointing job for fault tests: what a training loop does, in a few lines of shell.

It counts steps; after each it records "ATTEMPT STEP" in `$AICC_OUTPUT_DIR/steps` and then saves
the step to `$AICC_CHECKPOINT_DIR/step` (written aside, then renamed: a kill never leaves half a
checkpoint). On start it resumes from the checkpoint when there is one, and says so in its log
(`resumed at step K`). So after a fault a test can tell, from the outputs alone, where each attempt
began and whether a step was done twice: only the step after the last save may be, when the kill
fell between recording and saving it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

STEPS_FILE = "steps"
CHECKPOINT_FILE = "step"


def command(total: int, step_s: float, resumed_step_s: float | None = None) -> str:
    """The job's /bin/sh command: `total` steps of `step_s` seconds each; of `resumed_step_s`
    (`step_s` unless given) in an attempt that resumed from a checkpoint, so that a fault test
    gives its fault time to strike the first attempt without waiting as long for the rest."""
    resumed = step_s if resumed_step_s is None else resumed_step_s
    return (
        f'ckpt="$AICC_CHECKPOINT_DIR/{CHECKPOINT_FILE}"; step=0; pace={step_s}; '
        'if [ -s "$ckpt" ]; then step=$(cat "$ckpt"); echo "resumed at step $step"; '
        f"pace={resumed}; fi; "
        f'while [ "$step" -lt {total} ]; do '
        'sleep "$pace"; step=$((step + 1)); '
        f'echo "$AICC_ATTEMPT $step" >> "$AICC_OUTPUT_DIR/{STEPS_FILE}"; '
        'echo "$step" > "$ckpt.new" && mv "$ckpt.new" "$ckpt"; '
        "done; "
        'echo "finished at step $step"'
    )


def saved_step(checkpoints: Path) -> int:
    """The step the checkpoint holds now (0 before the first save)."""
    try:
        return int((checkpoints / CHECKPOINT_FILE).read_text().strip() or 0)
    except FileNotFoundError:
        return 0


@dataclass(frozen=True)
class Progress:
    """The steps a job's attempts did, in order, as its outputs recorded them."""

    done: tuple[tuple[int, int], ...]  # (attempt, step)

    @classmethod
    def read(cls, outputs: Path) -> Progress:
        path = outputs / STEPS_FILE
        lines = path.read_text().split("\n") if path.exists() else []
        pairs = (line.split() for line in lines if line.strip())
        return cls(tuple((int(a), int(s)) for a, s in pairs))

    def steps(self, attempt: int) -> list[int]:
        return [step for a, step in self.done if a == attempt]

    def problems(self, total: int, resumed_at: int) -> list[str]:
        """What breaks "every step done once, the last attempt resuming at `resumed_at`": a
        gap, an attempt that did not go on from where it began, or a step done twice other than
        the one after the last save."""
        found = []
        attempts = sorted({a for a, _ in self.done})
        steps = [s for _, s in self.done]
        if sorted(set(steps)) != list(range(1, total + 1)):
            found.append(f"steps done are not 1..{total}: {steps}")
        for attempt in attempts:
            mine = self.steps(attempt)
            if mine != list(range(mine[0], mine[0] + len(mine))):
                found.append(f"attempt {attempt} did {mine}, not one step after another")
        if len(attempts) > 1:
            last = self.steps(attempts[-1])
            if last[0] != resumed_at + 1:
                found.append(f"the last attempt began at step {last[0]}, not {resumed_at + 1}")
        twice = [s for s in set(steps) if steps.count(s) > 1]
        if twice and (twice != [resumed_at + 1] or steps.count(resumed_at + 1) > 2):
            found.append(f"steps done more than once: {sorted(twice)}")
        return found
