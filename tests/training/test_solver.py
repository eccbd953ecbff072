"""The resumable skeleton: budget stop, periodic and final checkpoints, restore to the same state."""
import time

import pytest
import torch

from training.budget import Budget
from training.errors import CheckpointError
from training.solver import Solver


class LinearSolver(Solver):
    """A tiny regression trainer with its own data generator (saved in the checkpoint)."""

    def __init__(self, state_path, total_steps=8, ckpt_every=3):
        super().__init__(state_path, total_steps, ckpt_every)
        torch.manual_seed(0)
        self.model = torch.nn.Linear(3, 1)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=0.05)
        self.gen = torch.Generator().manual_seed(1)
        self.seen: list[int] = []

    def train_step(self):
        x = torch.randn(4, 3, generator=self.gen)
        loss = (self.model(x) - x.sum(dim=1, keepdim=True)).pow(2).mean()
        self.opt.zero_grad()
        loss.backward()
        self.opt.step()
        return {"loss": float(loss.detach())}

    def after_step(self, terms):
        self.seen.append(self.step)

    def state(self):
        return {"model": self.model.state_dict(), "optimizer": self.opt.state_dict(), "gen": self.gen.get_state()}

    def load_state(self, state):
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["optimizer"])
        self.gen.set_state(state["gen"])


def test_interrupted_run_resumes_to_the_same_weights(tmp_path):
    straight = LinearSolver(tmp_path / "a" / "state.pt")
    assert straight.run() is True and straight.seen == list(range(1, 9))
    first = LinearSolver(tmp_path / "b" / "state.pt")
    assert first.run(stop_at=5) is False
    assert torch.load(tmp_path / "b" / "state.pt", weights_only=True)["step"] == 5
    second = LinearSolver(tmp_path / "b" / "state.pt")
    assert second.resume() and second.step == 5
    assert second.run() is True and second.seen == [6, 7, 8]
    for key, value in straight.model.state_dict().items():
        assert torch.equal(value, second.model.state_dict()[key]), key


def test_periodic_checkpoints_follow_ckpt_every(tmp_path):
    saved = []

    class Recording(LinearSolver):
        def save(self):
            saved.append(self.step)
            super().save()

    Recording(tmp_path / "state.pt", total_steps=7, ckpt_every=3).run()
    assert saved == [3, 6, 7]


def test_spent_budget_stops_before_a_step_and_still_checkpoints(tmp_path):
    solver = LinearSolver(tmp_path / "state.pt")
    assert solver.run(Budget(0.0, start=time.monotonic() - 1.0)) is False
    assert solver.step == 0 and solver.seen == []
    assert torch.load(tmp_path / "state.pt", weights_only=True)["step"] == 0


def test_budget_share_and_unlimited():
    assert Budget(None).share() == 0.0 and not Budget(None).spent()
    half = Budget(1.0, start=time.monotonic() - 30.0)
    assert 0.5 <= half.share() < 1.0 and not half.spent()
    assert Budget(0.5, start=time.monotonic() - 31.0).spent()


def test_no_checkpoint_means_fresh_and_damaged_is_one_error(tmp_path):
    solver = LinearSolver(tmp_path / "state.pt")
    assert solver.resume() is False and solver.step == 0
    torch.save({"model": {}, "step": 2}, tmp_path / "state.pt")
    with pytest.raises(CheckpointError, match="training checkpoint .* is unreadable"):
        LinearSolver(tmp_path / "state.pt").resume()
    (tmp_path / "state.pt").write_bytes(b"garbage")
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        LinearSolver(tmp_path / "state.pt").resume()
