"""`stages.coarse.layout=delay`: trained through `strata train stage` on a tiny random run, then used by generate."""
import torch

from data_prep.cache import write_cache
from pipeline.cli import main
from pipeline.orchestrator import Strata
from pipeline.profile import load_profile
from pipeline.random_run import build_random_run
from stages import Stage

from .tiny_run import TINY, build_tiny_run, single_process_env

TRAIN = ["stages.coarse.layout=delay", "stages.coarse.steps=2", "stages.coarse.batch_size=2",
         "train.log_every=1", "train.val_every=1", "train.ckpt_every=2"]


def test_delay_coarse_trains_from_the_cli_and_generates(tmp_path, monkeypatch, capsys):
    single_process_env(monkeypatch)
    run = build_tiny_run(tmp_path / "r")
    spec = Stage.load(run.stage_model("coarse")).layout.token_spec

    def tokens(record: dict) -> dict:
        g = torch.Generator().manual_seed(int(record["id"][4:]))
        return {"cond": torch.randint(0, spec.cond_bins, (spec.cond_levels,), generator=g),
                "semantic": torch.randint(0, spec.semantic_bins, (int(spec.semantic_rate),), generator=g),
                "acoustic": torch.randint(0, spec.codec_bins, (spec.n_q, int(spec.acoustic_rate)), generator=g),
                "seconds": 1.0}

    clips = [{"id": f"clip{i:03d}", "seconds": 1.0, "split": "valid" if i % 4 == 0 else "train"} for i in range(8)]
    write_cache(clips, tokens, run.cache_dir, shard_size=4, meta=spec.as_meta())
    assert main(["--quiet", "train", "stage", "--stage", "coarse", "--run", str(run.root), *TRAIN]) == 0
    assert "finished 2 steps" in capsys.readouterr().out
    stage = Stage.load(run.stage_model("coarse"))
    assert stage.layout.kind == "delay" and stage.layout.aligned  # the tiny profile's coarse stage is aligned
    assert stage.layout.aligned_streams == ["semantic"] and stage.model.streams == spec.n_coarse + 1  # no melody here
    strata = Strata.from_run(run)
    gen = strata.generate("a calm piano", 1.0, seed=0)  # 75 frames: several 0.4 s coarse windows with context
    assert gen.tokens["coarse"].shape == (1, spec.n_coarse, 75) and torch.isfinite(gen.audio).all()
    assert torch.equal(strata.generate("a calm piano", 1.0, seed=0).audio, gen.audio)


def test_random_run_and_config_carry_the_layout(tmp_path, capsys):
    profile = load_profile("tiny", TINY + ["melody.kind=none", "stages.coarse.layout=delay", "stages.fine.layout=delay"])
    run = build_random_run(tmp_path / "r", profile, rvq_fit_vectors=64)
    assert Stage.load(run.stage_model("coarse")).layout.kind == "delay"
    assert Stage.load(run.stage_model("fine")).layout.kind == "delay"
    assert Stage.load(run.stage_model("semantic")).layout.kind == "flat"
    assert load_profile("tiny", TINY).stages.coarse.layout == "delay" and load_profile("base").stages.coarse.layout == "flat"
    flat = build_random_run(tmp_path / "f", load_profile("tiny", TINY + ["melody.kind=none", "stages.coarse.layout=flat",
                                                                      "stages.coarse.aligned=false"]), rvq_fit_vectors=64)
    assert Stage.load(flat.stage_model("coarse")).layout.kind == "flat"
    assert main(["--quiet", "train", "stage", "--stage", "coarse", "--run", str(run.root),
                 "stages.coarse.layout=diagonal"]) == 2
    err = capsys.readouterr().err
    assert "stages.coarse.layout" in err and "'delay'" in err and "Traceback" not in err
    assert main(["--quiet", "train", "stage", "--stage", "coarse", "--run", str(run.root),
                 "stages.coarse.layout=flat"]) == 2
    err = capsys.readouterr().err
    assert "set stages.coarse.aligned=false" in err and len(err.strip().splitlines()) == 1
