"""DeepSpeed stage trainer: two-rank kill + exact resume, partial runs, non-finite guard, schedule and config."""
import csv
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from stages import Stage, trainer
from stages.config import StageConfig, TrainConfig
from stages.deepspeed_config import _free_port, deepspeed_config, warmup_cosine
from stages.errors import StageError

from .synthetic import tiny_model_config, tiny_records, tiny_spec

REPO = Path(__file__).resolve().parents[2]
DIST_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "LOCAL_WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")


def _torchrun(out_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in DIST_VARS}
    env.update(OMP_NUM_THREADS="1", DS_ACCELERATOR="cpu")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(_free_port()),
           "-m", "tests.stages.ds_worker", str(out_dir), "6", *extra]
    return subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def _loss_segments(path: Path) -> list[dict[int, float]]:
    """Train_loss.csv as one {step: loss} dict per process that wrote it (each writes its own header)."""
    segments: list[dict[int, float]] = []
    for row in csv.reader(path.read_text().splitlines()):
        if row[0] == "step":
            segments.append({})
        else:
            segments[-1][int(row[0])] = float(row[1])
    return segments


def test_two_rank_run_is_killed_and_resumes_to_the_same_step(tmp_path):
    out = tmp_path / "coarse"
    killed = _torchrun(out, "--crash-at", "3")
    assert killed.returncode != 0, killed.stdout[-2000:] + killed.stderr[-2000:]
    assert trainer.checkpoint_tags(out / "checkpoints") == ["step00000002"]
    resumed = _torchrun(out, "--resume")
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    result = json.loads(resumed.stdout.split("RESULT ", 1)[1].splitlines()[0])
    assert result["step"] == 6 and result["finished"]
    first, second = _loss_segments(out / "logs" / "coarse" / "Train_loss.csv")
    assert sorted(first) == [1, 2, 3] and sorted(second) == [3, 4, 5, 6]
    assert second[3] == pytest.approx(first[3], rel=1e-6)  # the re-run step 3 sees the same weights, LR and data
    assert trainer.checkpoint_tags(out / "checkpoints") == ["step00000004", "step00000006"]
    assert any(p.name.startswith("events.out.tfevents") for p in (out / "logs" / "coarse").iterdir())
    stage = Stage.load(out / "model.pt")
    assert stage.name == "coarse" and stage.info["step"] == 6


@pytest.fixture
def single_process(monkeypatch):
    monkeypatch.setenv("RANK", "0")
    monkeypatch.setenv("WORLD_SIZE", "1")
    monkeypatch.setenv("LOCAL_RANK", "0")
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", os.environ.get("MASTER_PORT", str(_free_port())))
    monkeypatch.setenv("DS_ACCELERATOR", "cpu")


def _configs(steps: int) -> tuple[StageConfig, TrainConfig]:
    stage_cfg = StageConfig(model=tiny_model_config(), crop_seconds=0.2, steps=steps, batch_size=2)
    train_cfg = TrainConfig(lr=1e-3, warmup_steps=1, ckpt_every=100, val_every=100, log_every=100, max_nonfinite=3)
    return stage_cfg, train_cfg


def test_partial_run_then_resume_finishes_and_exports(tmp_path, single_process):
    token_spec = tiny_spec(melody=False)
    records = tiny_records(4, 1.0, token_spec)
    stage_cfg, train_cfg = _configs(steps=3)
    part = trainer.train_stage("semantic", records, token_spec, stage_cfg, train_cfg, tmp_path, max_steps=2)
    assert part.step == 2 and not part.finished
    partial = Stage.load(tmp_path / "model.pt").info
    assert partial["step"] == 2 and partial["finished"] is False
    with pytest.raises(StageError, match="--resume"):
        trainer.train_stage("semantic", records, token_spec, stage_cfg, train_cfg, tmp_path)
    done = trainer.train_stage("semantic", records, token_spec, stage_cfg, train_cfg, tmp_path, resume=True,
                               valid_records=tiny_records(2, 1.0, token_spec, seed=3, split="valid"))
    assert done.step == 3 and done.finished and done.val_loss is not None
    assert Stage.load(tmp_path / "model.pt").info["step"] == 3 and Stage.load(tmp_path / "model.pt").info["finished"]
    again = trainer.train_stage("semantic", records, token_spec, stage_cfg, train_cfg, tmp_path, resume=True,
                                valid_records=tiny_records(2, 1.0, token_spec, seed=3, split="valid"))
    assert (again.train_loss, again.val_loss) == (done.train_loss, done.val_loss)
    assert Stage.load(tmp_path / "model.pt").info["train_loss"] == done.train_loss


def test_nonfinite_losses_are_skipped_then_abort(tmp_path, single_process, monkeypatch):
    token_spec = tiny_spec()
    records = tiny_records(2, 1.0, token_spec)
    stage_cfg, train_cfg = _configs(steps=2)
    real, calls = trainer.lm_loss, []

    def nan_once(*args, **kwargs):
        calls.append(1)
        loss = real(*args, **kwargs)
        return loss * float("nan") if len(calls) == 1 else loss

    monkeypatch.setattr(trainer, "lm_loss", nan_once)
    result = trainer.train_stage("fine", records, token_spec, stage_cfg, train_cfg, tmp_path / "a")
    assert result.finished and result.nonfinite_skipped == 1
    monkeypatch.setattr(trainer, "lm_loss", lambda *a, **k: real(*a, **k) * float("inf"))
    with pytest.raises(StageError, match="3 non-finite losses in a row"):
        trainer.train_stage("fine", records, token_spec, stage_cfg, train_cfg, tmp_path / "b")


def test_warmup_cosine_schedule_and_deepspeed_config(tmp_path):
    cfg = TrainConfig(warmup_steps=10, min_lr_ratio=0.1, grad_accum=4, grad_clip=0.5, zero_stage=2, precision="bf16")
    f = warmup_cosine(cfg, total_steps=110)
    assert f(0) == pytest.approx(0.1) and f(9) == pytest.approx(1.0) and f(10) == pytest.approx(1.0)
    assert f(60) == pytest.approx(0.55) and f(110) == pytest.approx(0.1) and f(500) == pytest.approx(0.1)
    ds = deepspeed_config(cfg, micro_batch=8, world_size=2, log_dir=tmp_path, job_name="coarse")
    assert ds["train_batch_size"] == 8 * 4 * 2 and ds["gradient_clipping"] == 0.5
    assert ds["zero_optimization"]["stage"] == 2 and ds["bf16"]["enabled"]
    assert ds["csv_monitor"]["enabled"] and ds["tensorboard"]["output_path"] == str(tmp_path)
    assert "optimizer" not in ds and "scheduler" not in ds  # client AdamW + LambdaLR: nothing to compile


def test_build_locks_left_by_a_killed_process_are_cleared(tmp_path):
    from stages.deepspeed_config import _extension_build_guard

    stale = [tmp_path / "deepspeed_shm_comm" / "lock", tmp_path / "py311_cpu" / "op" / "lock"]
    for lock in stale:
        lock.parent.mkdir(parents=True)
        lock.write_text("")
    keep = tmp_path / "deepspeed_shm_comm" / "deepspeed_shm_comm.so"
    keep.write_text("built")
    with _extension_build_guard(tmp_path):
        assert not any(lock.exists() for lock in stale)
    assert keep.read_text() == "built"


def test_init_from_warm_starts_a_fresh_run_and_checks_the_architecture(tmp_path, single_process):
    token_spec = tiny_spec(melody=False)
    records = tiny_records(4, 1.0, token_spec)
    stage_cfg, train_cfg = _configs(steps=3)
    trainer.train_stage("semantic", records, token_spec, stage_cfg, train_cfg, tmp_path / "a")
    start = Stage.load(tmp_path / "a" / "model.pt").model.state_dict()
    frozen = TrainConfig(lr=0.0, warmup_steps=1, ckpt_every=100, val_every=100, log_every=100)
    for name, init in (("warm", tmp_path / "a" / "model.pt"), ("cold", None)):
        trainer.train_stage("semantic", records, token_spec, _configs(steps=1)[0], frozen, tmp_path / name,
                            init_from=init)
    warm = Stage.load(tmp_path / "warm" / "model.pt").model.state_dict()
    cold = Stage.load(tmp_path / "cold" / "model.pt").model.state_dict()
    assert all(torch.equal(warm[k], start[k]) for k in start)
    assert not all(torch.equal(cold[k], start[k]) for k in start)
    wider = StageConfig(model=tiny_model_config(), crop_seconds=0.2, steps=1, batch_size=2)
    wider.model.d_model = 48
    with pytest.raises(StageError, match="init-from"):
        trainer.train_stage("semantic", records, token_spec, wider, frozen, tmp_path / "bad",
                            init_from=tmp_path / "a" / "model.pt")


def test_init_from_a_shallower_stage_grows_it_without_changing_its_output(tmp_path, single_process):
    token_spec = tiny_spec(melody=False)
    records = tiny_records(4, 1.0, token_spec)
    stage_cfg, train_cfg = _configs(steps=3)
    trainer.train_stage("semantic", records, token_spec, stage_cfg, train_cfg, tmp_path / "a")
    frozen = TrainConfig(lr=0.0, warmup_steps=1, ckpt_every=100, val_every=100, log_every=100)
    deeper = replace(stage_cfg, steps=1, model=replace(stage_cfg.model, n_layers=5))
    trainer.train_stage("semantic", records, token_spec, deeper, frozen, tmp_path / "deep",
                        init_from=tmp_path / "a" / "model.pt")
    start, grown = Stage.load(tmp_path / "a" / "model.pt").model, Stage.load(tmp_path / "deep" / "model.pt").model
    assert len(grown.blocks) == 5
    x = torch.randint(0, start.vocab_size, (2, 20))
    torch.testing.assert_close(grown.eval()(x), start.eval()(x), rtol=1e-5, atol=1e-5)


def test_an_aligned_coarse_run_warm_starts_from_a_stage_without_aligned_streams(tmp_path, single_process):
    token_spec = tiny_spec(melody=True)
    records = tiny_records(4, 1.0, token_spec)
    plain = StageConfig(model=tiny_model_config(), crop_seconds=0.2, steps=2, batch_size=2, layout="delay", melody=True)
    trainer.train_stage("coarse", records, token_spec, plain, _configs(steps=2)[1], tmp_path / "plain")
    start = Stage.load(tmp_path / "plain" / "model.pt")
    frozen = TrainConfig(lr=0.0, warmup_steps=1, ckpt_every=100, val_every=100, log_every=100)
    aligned = replace(plain, steps=1, aligned=True)
    trainer.train_stage("coarse", records, token_spec, aligned, frozen, tmp_path / "aligned",
                        init_from=tmp_path / "plain" / "model.pt")
    warm = Stage.load(tmp_path / "aligned" / "model.pt")
    assert warm.layout.aligned and warm.model.streams == start.model.streams + 2
    assert all(torch.equal(warm.model.state_dict()[k], v) for k, v in start.model.state_dict().items())
    with pytest.raises(StageError, match="init-from"):
        trainer.train_stage("coarse", records, token_spec, replace(aligned, layout="flat", aligned=False), frozen,
                            tmp_path / "flat", init_from=tmp_path / "plain" / "model.pt")
