"""Whole-system eval on a tiny random run: judged adherence with baselines, ladder, melody set, report files."""
import json
from dataclasses import replace

import pytest
import torch

from data_prep.audio_io import save_wav
from pipeline.cli import main
from pipeline.errors import UserError
from pipeline.eval_setup import EvalOptions
from pipeline.evaluate import evaluate_run
from pipeline.ladder import LADDER_ROWS
from pipeline.orchestrator import Strata

from .tiny_run import build_tiny_run

SR = 24000


def _manifest(root, clips=20, test=4):
    rows = []
    t = torch.arange(SR) / SR
    for i in range(clips):
        hz = 220 * (1 + i % 3)
        wav = 0.3 * torch.sin(2 * torch.pi * hz * t)
        drums = i % 3 == 0
        if drums:
            wav = wav + 0.3 * torch.randn(SR, generator=torch.Generator().manual_seed(i)) * (t % 0.25 < 0.02)
        save_wav(root / "audio" / f"c{i}.wav", wav, SR)
        attrs = {"family": ["strings", "keyboard"][i % 2], "drums": drums, "bpm": [80, 140][i % 2],
                 "tempo_word": ["slow", "fast"][i % 2], "mode": ["major", "minor"][i % 2], "instruments": ["violin"],
                 "ensemble": "violin", "texture": "solo", "style": "folk song", "key": "C", "meter": "4/4"}
        rows.append({"id": f"c{i}", "path": f"audio/c{i}.wav", "caption": f"clip {i} {attrs['family']}", "seconds": 1.0,
                     "sample_rate": SR, "md5": "x", "split": "test" if i >= clips - test else "train", "attributes": attrs,
                     "melody": [[0.0, 0.5, 57 + 12 * (i % 3)], [0.5, 0.5, 59]]})
    (root / "manifest.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    return root / "manifest.jsonl"


def test_eval_reports_judged_adherence_ladder_and_melody(tmp_path):
    run = build_tiny_run(tmp_path / "r", melody=True)
    opts = EvalOptions(_manifest(tmp_path / "data"), tmp_path / "eval", prompts=4, draws=3, seconds=1.0, judge_clips=16,
                       ladder_clips=2, melodies=2, permutations=200, melody_scale=2.0, temperature={"semantic": 1.2})
    report = evaluate_run(run, opts)
    profile = Strata.from_run(run).generation_params.temperatures()
    assert report["info"]["temperature (semantic, coarse, fine)"] == [1.2, *profile[1:]] != profile
    rows = {(r["prompt_set"], r["attribute"]): r for r in report["adherence"]}
    # the tiny captions never mention drums; every paraphrase states drums or their absence
    assert set(rows) == {(s, a) for s in ("template", "paraphrase") for a in ("family", "drums", "tempo", "mode")} | {
        ("paraphrase", "drums, stated")}
    assert rows[("paraphrase", "drums, stated")]["generated"] == rows[("paraphrase", "drums")]["generated"]
    for r in rows.values():
        assert 0.0 <= r["generated"] <= 1.0 and 0.0 < r["p_value"] <= 1.0 and r["prompts"] == 4 and r["draws"] == 3
        assert r["ceiling_codec"] is not None and r["ceiling_clean"] is not None
        assert 0.0 <= r["ceiling_codec_cv"] <= 1.0
    assert rows[("template", "family")]["untrained"] is not None and rows[("paraphrase", "family")]["untrained"] is None
    assert list(report["ladder"]) == list(LADDER_ROWS)
    assert set(report["sound"]) == {"real", "real_codec", "generated_template", "generated_paraphrase", "untrained_stages"}
    melody = report["melody_set"]["conditions"]
    assert set(melody) == {"input melody", "input melody via codec", "generated with --melody",
                           "generated with --melody, melody_scale 0", "generated without"}
    assert melody["generated with --melody"]["clips"] <= 2 * 3 and report["melody_set"]["melody_scale"] == 2.0
    assert set(melody["generated without"]["text"]) == {"family", "drums"} and "text" not in melody["input melody"]
    assert melody["generated with --melody"]["sound"]["clips"] == 2 * 3
    out = tmp_path / "eval"
    md = (out / "metrics.md").read_text()
    assert "independent judge" in md and "Ablation ladder" in md and "Self-judged" in md
    assert json.loads((out / "metrics.json").read_text())["adherence"]
    assert all((out / p).is_file() for p in report["spectrograms"])
    assert len((out / "paraphrase_prompts.jsonl").read_text().splitlines()) == 4
    judged = [json.loads(line) for line in (out / "judged_prompts.jsonl").read_text().splitlines()]
    assert [j["prompt_set"] for j in judged] == ["template"] * 4 + ["paraphrase"] * 4
    assert all(set(j["asked"]) == set(j["judged"]) == {"family", "drums", "tempo", "mode"} for j in judged)
    assert all(len(labels) == 3 for j in judged for labels in j["judged"].values())
    assert sum(r["prompts"] for r in report["drums_by_word"]) == sum(j["asked"]["drums"] == "yes" for j in judged)
    assert main(["eval", "--rescore", str(out), "--out", str(tmp_path / "again")]) == 0  # no generation
    again = json.loads((tmp_path / "again" / "metrics.json").read_text())
    assert again["adherence"] == json.loads(json.dumps(report["adherence"])) and again["info"] == report["info"]
    assert again["drums_by_word"] == report["drums_by_word"] and (tmp_path / "again" / "judged_prompts.jsonl").is_file()
    drums = rows[("paraphrase", "drums")]
    hits = sum(j["judged"]["drums"].count(j["asked"]["drums"]) for j in judged if j["prompt_set"] == "paraphrase")
    assert hits / 12 == drums["generated"] and "judged_prompts" not in json.loads((out / "metrics.json").read_text())


def test_melody_sweep_scores_each_melody_scale_and_writes_its_table(tmp_path):
    from pipeline.melody_eval import melody_sweep

    run = build_tiny_run(tmp_path / "r", melody=True)
    opts = EvalOptions(_manifest(tmp_path / "data"), tmp_path / "sweep", prompts=4, draws=3, seconds=1.0,
                       judge_clips=16, melodies=2)
    rows = melody_sweep(run, opts, [0.0, 3.0])
    assert [r["melody_scale"] for r in rows] == [0.0, 3.0]
    assert all(r["clips"] <= 2 * 3 and set(r["text"]) == {"family", "drums"} for r in rows)
    table = (tmp_path / "sweep" / "melody-sweep.md").read_text().splitlines()
    assert [line.split("|")[1].strip() for line in table if line.startswith("| ") and line[2].isdigit()] == ["0", "3"]
    assert json.loads((tmp_path / "sweep" / "melody-sweep.json").read_text())["rows"] == json.loads(json.dumps(rows))
    with pytest.raises(UserError, match=r"in \[0, 100\]"):
        melody_sweep(run, opts, [-1.0])


def test_melody_sweep_refuses_a_run_without_melody_before_fitting_the_judge(tmp_path, monkeypatch):
    import pipeline.eval_setup as eval_setup
    from pipeline.melody_eval import melody_sweep

    monkeypatch.setattr(eval_setup, "_fit_judge", lambda *a: pytest.fail("the judge was fitted"))
    opts = EvalOptions(_manifest(tmp_path / "data"), tmp_path / "sweep", prompts=4, draws=3, seconds=1.0, judge_clips=16)
    with pytest.raises(UserError, match="without melody tokens"):
        melody_sweep(build_tiny_run(tmp_path / "r"), opts, [0.0, 3.0])
    assert not (tmp_path / "sweep").exists()


def test_ladder_where_judges_every_row_on_the_clips_with_that_label(tmp_path):
    from pipeline.ladder_where import ladder_where, parse_where

    run = build_tiny_run(tmp_path / "r", melody=True)
    manifest = _manifest(tmp_path / "data", clips=24, test=6)  # test clips 18-23; 18 and 21 have drums
    opts = EvalOptions(manifest, tmp_path / "lw", prompts=6, draws=3, seconds=1.0, judge_clips=16, ladder_clips=4)
    table = ladder_where(run, opts, *parse_where("drums=yes"))
    assert list(table) == list(LADDER_ROWS)
    assert all(0.0 <= row["share"] <= 1.0 and row["clips"] == 2 * 3 for row in table.values())
    tokens = [row["tokens"] for row in table.values()]
    assert all(set(t) == {"median", "none"} and 0.0 <= min(t.values()) <= max(t.values()) <= 1.0 for t in tokens)
    report = json.loads((tmp_path / "lw" / "ladder-where.json").read_text())
    assert (report["attribute"], report["value"], report["prompts"]) == ("drums", "yes", 2)
    assert report["label_clusters"] > 0  # every row has token shares, so the label has clusters
    assert "| real |" in (tmp_path / "lw" / "ladder-where.md").read_text()
    assert "label clusters: median share" in (tmp_path / "lw" / "ladder-where.md").read_text()
    with pytest.raises(UserError, match="labelled drums=maybe"):
        ladder_where(run, EvalOptions(manifest, tmp_path / "none", prompts=6, draws=3, seconds=1.0, judge_clips=16),
                     "drums", "maybe")
    assert not (tmp_path / "none").exists()
    some = ladder_where(run, replace(opts, out=tmp_path / "some", ladder_rows=("generated", "real")), "drums", "yes")
    assert list(some) == ["real", "generated"]  # ladder order, and each row the same audio as beside every other row
    assert all(some[name] == table[name] for name in some)
    key = "temperature (semantic, coarse, fine)"
    assert report[key] == Strata.from_run(run).generation_params.temperatures()  # the profile's
    hot = replace(opts, out=tmp_path / "hot", ladder_rows=("real",), temperature={"semantic": 1.3, "coarse": 0.9, "fine": 0.0})
    ladder_where(run, hot, "drums", "yes")
    assert json.loads((tmp_path / "hot" / "ladder-where.json").read_text())[key] == [1.3, 0.9, 0.0]
    assert "sampling temperatures 1.3/0.9/0 (semantic/coarse/fine)" in (tmp_path / "hot" / "ladder-where.md").read_text()
    with pytest.raises(UserError, match=r"--temperature must be in \[0, inf\) \(fine stage\)"):
        ladder_where(run, replace(hot, out=tmp_path / "cold", temperature={"fine": -0.5}), "drums", "yes")
    assert not (tmp_path / "cold").exists()


def test_judge_ceiling_is_cross_validated_by_source_piece_when_there_are_two(tmp_path):
    from pipeline.eval_setup import judged_setup

    manifest = _manifest(tmp_path / "data")
    rows = [json.loads(line) for line in manifest.read_text().splitlines()]
    run = build_tiny_run(tmp_path / "r")
    opts = EvalOptions(manifest, tmp_path / "eval", prompts=4, judge_clips=16, seconds=1.0)
    for pieces in (2, 1):
        for i, row in enumerate(rows):
            row["attributes"]["source_piece"] = f"piece-{i % pieces}"
        manifest.write_text("".join(json.dumps(r) + "\n" for r in rows))
        ceilings = judged_setup(run, opts).ceilings
        assert set(ceilings) == ({"clean", "codec", "codec_cv"} if pieces == 2 else {"clean", "codec"})


def test_eval_needs_three_draws(tmp_path):
    run = build_tiny_run(tmp_path / "r")
    with pytest.raises(UserError, match="at least 3"):
        evaluate_run(run, EvalOptions(_manifest(tmp_path / "data"), tmp_path / "eval", draws=2))


def test_learning_curve_evaluates_every_snapshot_and_writes_table_and_plot(tmp_path, monkeypatch):
    import pipeline.eval_setup as eval_setup
    from data_prep.cache import write_cache
    from pipeline.learning_curve import learning_curve
    from stages.stage import Stage

    from ..stages.synthetic import tiny_records

    run = build_tiny_run(tmp_path / "r")
    folder = run.stage_dir("coarse") / "snapshots"
    folder.mkdir()
    with pytest.raises(UserError, match="at least two"):
        learning_curve(run, "coarse", EvalOptions(_manifest(tmp_path / "data"), tmp_path / "curve"))
    stage = Stage.load(run.stage_model("coarse"))
    spec = stage.layout.token_spec
    valid = tiny_records(3, 1.0, spec, split="valid")
    write_cache(valid, lambda r: r, run.cache_dir, shard_size=3, meta=spec.as_meta())
    stage.save(folder / "step-10.pt")
    with torch.no_grad():
        for p in stage.model.parameters():
            p.add_(0.5 * torch.randn_like(p))
    stage.save(folder / "step-40.pt")
    opts = EvalOptions(tmp_path / "data" / "manifest.jsonl", tmp_path / "curve", prompts=4, draws=3, seconds=1.0,
                       judge_clips=16, ladder_clips=1, melodies=0, permutations=100)
    fits = []
    fit_judge = eval_setup._fit_judge
    monkeypatch.setattr(eval_setup, "_fit_judge", lambda *a: fits.append(1) or fit_judge(*a))
    rows = learning_curve(run, "coarse", opts)
    assert [r["step"] for r in rows] == [10, 40] and len(fits) == 1
    losses = [r["val_loss"] for r in rows]
    assert all(loss > 0 for loss in losses) and losses[0] != losses[1]
    assert all(0.0 <= r["template_family"] <= 1.0 and 0.0 <= r["paraphrase_drums"] <= 1.0 for r in rows)
    assert all("flatness_ratio" in r for r in rows)  # None here: the random tiny codec decodes silence
    assert (tmp_path / "curve" / "curve.png").stat().st_size > 1000
    assert f"| 40 | {losses[1]:.3f} |" in (tmp_path / "curve" / "curve.md").read_text()
    assert run.stage_model("coarse").is_file() and not run.stage_model("coarse").is_symlink()
    with pytest.raises(UserError, match="stage name"):
        learning_curve(run, "codec", opts)

    # A rerun reuses every finished snapshot's report and redoes only a snapshot whose file changed.
    import pipeline.learning_curve as curve_module

    evaluated = []
    evaluate = curve_module.evaluate_run
    monkeypatch.setattr(curve_module, "evaluate_run",
                        lambda view, o, cache: evaluated.append(o.out.name) or evaluate(view, o, cache))
    assert learning_curve(run, "coarse", opts) == rows and evaluated == []
    with torch.no_grad():
        for p in stage.model.parameters():
            p.add_(0.1)
    stage.save(folder / "step-40.pt")
    again = learning_curve(run, "coarse", opts)
    assert evaluated == ["step-40"] and again[0] == rows[0] and again[1]["val_loss"] != rows[1]["val_loss"]
