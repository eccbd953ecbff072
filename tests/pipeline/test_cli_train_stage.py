"""`strata train stage`: trains from a run's token cache, stops resumably, refuses to clobber, exports model.pt, and
draws a manifest attribute's values equally often when asked (stages.<stage>.balance)."""
import pytest
import torch

from data_prep.cache import write_cache
from data_prep.manifest import write_manifest
from pipeline.cli import main
from pipeline.drivers.records import balanced
from stages import Stage
from stages.token_spec import TokenSpec

from .tiny_run import single_process_env

META = TokenSpec(semantic_rate=25.0, semantic_bins=16, acoustic_rate=75.0, codec_bins=32, n_q=4, n_coarse=2,
                 cond_levels=3, cond_bins=8, melody_rate=4.0, melody_bins=13, sample_rate=24000).as_meta()
TINY = ["stages.fine.model.n_layers=1", "stages.fine.model.d_model=32", "stages.fine.model.n_heads=2",
        "stages.fine.model.d_ff=64", "stages.fine.steps=3", "stages.fine.batch_size=2", "stages.fine.crop_seconds=0.2",
        "train.log_every=1", "train.val_every=1", "train.ckpt_every=1"]


def _tokens(record: dict) -> dict:
    g = torch.Generator().manual_seed(int(record["id"][4:]))
    return {"cond": torch.randint(0, 8, (3,), generator=g), "semantic": torch.randint(0, 16, (25,), generator=g),
            "acoustic": torch.randint(0, 32, (4, 75), generator=g), "melody": torch.randint(0, 13, (4,), generator=g),
            "seconds": 1.0}


@pytest.fixture
def run_with_cache(tmp_path, monkeypatch):
    single_process_env(monkeypatch)
    run = tmp_path / "r"
    assert main(["--quiet", "init", "--run", str(run), "--profile", "tiny"]) == 0
    clips = [{"id": f"clip{i:03d}", "seconds": 1.0, "split": "valid" if i % 4 == 0 else "train"} for i in range(8)]
    write_cache(clips, _tokens, run / "cache", shard_size=4, meta=META)
    return run


def test_train_stage_stops_resumes_and_exports(run_with_cache, capsys):
    run = str(run_with_cache)
    assert main(["--quiet", "train", "stage", "--stage", "fine", "--run", run, "--max-steps", "2", *TINY]) == 0
    assert "stopped at step 2/3" in capsys.readouterr().out
    assert main(["--quiet", "train", "stage", "--stage", "fine", "--run", run, *TINY]) == 2
    assert "pass --resume" in capsys.readouterr().err
    assert main(["--quiet", "train", "stage", "--stage", "fine", "--run", run, "--resume", *TINY]) == 0
    assert "finished 3 steps" in capsys.readouterr().out
    stage = Stage.load(run_with_cache / "stages" / "fine" / "model.pt")
    assert stage.name == "fine" and stage.model.cfg.d_model == 32 and stage.info["step"] == 3
    assert (run_with_cache / "stages" / "fine" / "logs" / "fine" / "Val_loss.csv").is_file()


def test_train_stage_without_cache_is_a_user_error(tmp_path, capsys):
    run = tmp_path / "empty"
    assert main(["--quiet", "init", "--run", str(run), "--profile", "tiny"]) == 0
    assert main(["--quiet", "train", "stage", "--stage", "semantic", "--run", str(run)]) == 2
    assert "strata tokenize" in capsys.readouterr().err


def test_snapshots_export_the_model_at_the_given_steps(run_with_cache, capsys):
    run = str(run_with_cache)
    assert main(["--quiet", "train", "stage", "--stage", "fine", "--run", run, "--snapshots", "1,2", *TINY,
                 "train.val_every=10", "train.ckpt_every=10"]) == 0
    folder = run_with_cache / "stages" / "fine" / "snapshots"
    assert sorted(p.name for p in folder.iterdir()) == ["step-1.pt", "step-2.pt"]
    first, second = Stage.load(folder / "step-1.pt"), Stage.load(folder / "step-2.pt")
    assert (first.info["step"], second.info["step"]) == (1, 2) and second.info["val_loss"] is not None
    assert not torch.equal(first.model.head.weight, second.model.head.weight)
    capsys.readouterr()
    with pytest.raises(SystemExit):
        main(["--quiet", "train", "stage", "--stage", "fine", "--run", run, "--snapshots", "0,x", *TINY])
    assert "--snapshots" in capsys.readouterr().err


def _manifest(run, drums: list[bool]) -> None:
    rows = [{"id": f"clip{i:03d}", "path": f"audio/clip{i:03d}.wav", "seconds": 1.0, "sample_rate": 24000,
             "split": "valid" if i % 4 == 0 else "train", "attributes": {"drums": d}} for i, d in enumerate(drums)]
    (run / "data").mkdir(parents=True, exist_ok=True)
    write_manifest(run / "data" / "manifest.jsonl", rows)


def test_balance_gives_each_value_of_the_attribute_equal_weight(run_with_cache, capsys):
    drums = [False, True, False, False, False, True, False, False]  # train clips 1-3, 5-7: two with drums of six
    _manifest(run_with_cache, drums)
    records = [{"id": f"clip{i:03d}"} for i in range(8) if i % 4]
    weighted = balanced(records, run_with_cache / "data" / "manifest.jsonl", "drums")
    by_value = {True: 0.0, False: 0.0}
    for r in weighted:
        by_value[drums[int(r["id"][4:])]] += r["weight"]
    assert by_value[True] == pytest.approx(by_value[False]) and [r["id"] for r in weighted] == [r["id"] for r in records]
    run = str(run_with_cache)
    assert main(["--quiet", "train", "stage", "--stage", "fine", "--run", run, *TINY, "stages.fine.balance=drums"]) == 0
    assert Stage.load(run_with_cache / "stages" / "fine" / "model.pt").info["stage_config"]["balance"] == "drums"
    capsys.readouterr()
    assert main(["--quiet", "train", "stage", "--stage", "fine", "--run", run, "--restart", *TINY,
                 "stages.fine.balance=tempo"]) == 2
    err = capsys.readouterr().err
    assert "no attribute 'tempo'" in err and len(err.strip().splitlines()) == 1
