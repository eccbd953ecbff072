"""The resumable training skeleton: restore the latest checkpoint or start fresh, step within a step and time budget,
checkpoint atomically every `ckpt_every` steps and once more at the end. Trainers supply the build and the step."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .budget import Budget
from .errors import CheckpointError
from .files import atomic_torch_save, load_weights


class Solver:
    """Base of a resumable trainer. A subclass builds its model, optimizer and data in __init__ and implements
    `train_step` (one optimisation step, returning its loss terms), `state` / `load_state` (everything needed to
    continue exactly) and, optionally, `after_step` (logging, validation, snapshots). `step` counts finished steps."""

    name = "training"
    error: type[Exception] = CheckpointError

    def __init__(self, state_path: str | Path, total_steps: int, ckpt_every: int):
        self.state_path = Path(state_path)
        self.total_steps = total_steps
        self.ckpt_every = max(1, ckpt_every)
        self.step = 0
        self.budget = Budget(None)
        self.saved_step: int | None = None

    def train_step(self) -> dict[str, float] | None:
        """One optimisation step at `self.step` (the skeleton counts it afterwards); returns its loss terms."""
        raise NotImplementedError

    def state(self) -> dict[str, Any]:
        """The checkpoint's contents except the step, which the skeleton adds."""
        raise NotImplementedError

    def load_state(self, state: dict[str, Any]) -> None:
        """Put back what `state` returned (the skeleton sets the step)."""
        raise NotImplementedError

    def after_step(self, terms: dict[str, float] | None) -> None:
        """Called with `train_step`'s terms after each counted step, before its checkpoint; does nothing by default."""

    def has_checkpoint(self) -> bool:
        """Whether a checkpoint to resume from exists."""
        return self.state_path.is_file()

    def resume(self) -> bool:
        """Load the latest checkpoint if there is one; returns whether it did. A damaged one is a one-line `error`."""
        if not self.has_checkpoint():
            return False
        state = load_weights(self.state_path, self.error)
        try:
            self.load_state(state)
            step = int(state["step"])
        except (KeyError, RuntimeError, ValueError, TypeError) as exc:
            raise self.error(f"{self.name} training checkpoint {self.state_path} is unreadable ({type(exc).__name__}): "
                             "delete it to restart") from None
        self.step = self.saved_step = step
        return True

    def save(self) -> None:
        """Atomic checkpoint of `state()` plus the step."""
        atomic_torch_save({**self.state(), "step": self.step}, self.state_path)
        self.saved_step = self.step

    def should_stop(self) -> bool:
        """Whether the time budget is spent (checked before every step)."""
        return self.budget.spent()

    def checkpoint_due(self) -> bool:
        """Whether the step just counted gets a periodic checkpoint (skipped when after_step already saved it)."""
        return self.step % self.ckpt_every == 0

    def run(self, budget: Budget | None = None, stop_at: int | None = None) -> bool:
        """Step until `total_steps` (or the earlier `stop_at`) or until `budget` is spent, checkpointing periodically
        and at the end (unless the last step is already saved); returns whether all `total_steps` are done."""
        self.budget = budget if budget is not None else Budget(None)
        stop = self.total_steps if stop_at is None else min(self.total_steps, stop_at)
        while self.step < stop and not self.should_stop():
            terms = self.train_step()
            self.step += 1
            self.after_step(terms)
            if self.checkpoint_due() and self.saved_step != self.step:
                self.save()
        if self.saved_step != self.step:
            self.save()
        return self.step >= self.total_steps
