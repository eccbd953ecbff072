"""The independent eval's tables: adherence rows with baselines and position, sound statistics, rendered report."""
import json
import math

import torch

from eval.judge_report import adherence_rows, judged_prompts, render_markdown, sound_stats, write_eval_report

CEILINGS = {"clean": {"family": 0.9}, "codec": {"family": 0.8}}


def test_a_model_that_follows_its_prompts_scores_high_and_significant():
    labels = {"family": ["brass", "organ", "synth", "strings"] * 3}
    pred = {"family": [f for f in labels["family"] for _ in range(3)]}
    (row,) = adherence_rows("template", pred, labels, 3, CEILINGS, {"family": 0.1}, permutations=500)
    assert row["generated"] == 1.0 and row["shuffled"] < 0.4 and row["p_value"] < 0.01
    assert math.isclose(row["position"], (1.0 - row["shuffled"]) / (0.8 - row["shuffled"]))
    assert row["untrained"] == 0.1 and row["prompts"] == 12 and row["draws"] == 3
    # a resampled label mix is never more even than 4 equal classes, so its shuffled baseline is >= 0.25
    low, high = row["position_interval"]
    assert 0.75 / 0.55 - 1e-9 <= low < high


def test_a_model_that_ignores_its_prompts_sits_at_the_baseline():
    labels = {"family": ["brass", "organ", "synth", "strings"] * 3}
    pred = {"family": ["brass"] * 36}
    (row,) = adherence_rows("paraphrase", pred, labels, 3, CEILINGS, permutations=500)
    assert abs(row["generated"] - row["shuffled"]) < 1e-9 and row["p_value"] > 0.1 and abs(row["position"]) < 1e-9
    assert max(abs(b) for b in row["position_interval"]) < 1e-9


def test_noise_is_flatter_than_a_tone_and_the_report_renders(tmp_path):
    sr = 16000
    t = torch.arange(sr) / sr
    tone = 0.3 * torch.sin(2 * torch.pi * 440 * t)[None].repeat(2, 1)
    noise = 0.3 * torch.randn(2, sr, generator=torch.Generator().manual_seed(0))
    sound = {"real_codec": sound_stats(tone, sr), "generated_template": sound_stats(noise, sr)}
    assert sound["generated_template"]["flatness"] > 5 * sound["real_codec"]["flatness"]
    labels = {"family": ["brass", "organ", "synth", "strings"]}
    pred = {"family": [f for f in labels["family"] for _ in range(3)]}
    report = {"info": {"run": "x"}, "adherence": adherence_rows("template", pred, labels, 3, CEILINGS, permutations=200),
              "negation": [{"prompt_set": "template", "prompts": 1, "clips": 3, "judged_drums": 1 / 3}],
              "sound": sound, "ladder": {"real": {"accuracy": {"family": 1.0},
                                                  "melody": None, "sound": sound["real_codec"]}},
              "judge": {"ceilings": CEILINGS, "clean_trained_on_codec": {"family": 0.5}, "description": "a judge"},
              "self_judged": {"CLAP score (higher)": {"generated": 0.2, "real test audio": 0.7}}}
    md = render_markdown(report)
    assert "| template | family | 1.000 |" in md and "× real via codec" in md and "| real | 1.000 |" in md
    assert "90% interval" in md and " to " in md.split("| template | family |")[1].split("\n")[0]
    write_eval_report(report, tmp_path)
    assert json.loads((tmp_path / "metrics.json").read_text())["adherence"][0]["generated"] == 1.0


def test_position_uses_the_cross_validated_ceiling_where_given():
    labels = {"family": ["brass", "organ", "synth", "strings"] * 3, "tempo": ["slow", "fast"] * 6}
    pred = {"family": [f for f in labels["family"] for _ in range(3)], "tempo": [t for t in labels["tempo"] for _ in range(3)]}
    ceilings = {"clean": {"family": 0.9, "tempo": 0.5}, "codec": {"family": 0.8, "tempo": 0.5},
                "codec_cv": {"family": 0.7, "tempo": 0.8}}
    rows = {r["attribute"]: r for r in adherence_rows("template", pred, labels, 3, ceilings, permutations=200)}
    for attr, row in rows.items():
        assert row["ceiling_codec_cv"] == ceilings["codec_cv"][attr] and row["ceiling_codec"] == ceilings["codec"][attr]
        assert math.isclose(row["position"], (1.0 - row["shuffled"]) / (ceilings["codec_cv"][attr] - row["shuffled"]))
    assert "cross-validated" in render_markdown({"adherence": list(rows.values()), "sound": {},
                                                 "judge": {"ceilings": ceilings, "clean_trained_on_codec": {},
                                                           "description": "a judge"}})


def test_judged_prompts_hold_each_prompts_draws_and_go_to_their_own_file(tmp_path):
    labels = {"drums": ["yes", "no"], "family": ["brass", "synth"]}
    pred = {"drums": ["yes", "no", "yes", "no", "no", "no"], "family": ["brass"] * 3 + ["synth"] * 3}
    prompts = [{"id": "a", "caption": "brass with drums"}, {"id": "b", "caption": "a synth, no drums"}]
    records = judged_prompts("paraphrase", prompts, pred, labels, 3)
    assert records[1] == {"prompt_set": "paraphrase", "id": "b", "caption": "a synth, no drums",
                          "asked": {"drums": "no", "family": "synth"},
                          "judged": {"drums": ["no", "no", "no"], "family": ["synth"] * 3}}
    assert records[0]["judged"]["drums"] == ["yes", "no", "yes"]
    report = {"adherence": [], "sound": {}, "judge": {"ceilings": CEILINGS, "clean_trained_on_codec": {},
                                                      "description": "a judge"}, "judged_prompts": records}
    write_eval_report(report, tmp_path)
    lines = (tmp_path / "judged_prompts.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == records
    assert "judged_prompts" not in json.loads((tmp_path / "metrics.json").read_text())


def test_a_stated_row_scores_only_the_prompts_that_state_the_attribute():
    labels = {"drums": ["yes", "no"] * 6}
    # prompts 0-7 state drums and are followed; prompts 8-11 are silent and their draws never have drums
    pred = {"drums": [d if i < 8 else "no" for i, d in enumerate(labels["drums"]) for _ in range(3)]}
    ceilings = {"clean": {"drums": 1.0}, "codec": {"drums": 0.95}}
    stated = {"drums": [True] * 8 + [False] * 4}
    full, only = adherence_rows("template", pred, labels, 3, ceilings, {"drums": 0.5}, permutations=200, stated=stated)
    assert (full["attribute"], only["attribute"]) == ("drums", "drums, stated")
    assert full["prompts"] == 12 and math.isclose(full["generated"], 10 / 12) and full["untrained"] == 0.5
    assert only["prompts"] == 8 and only["generated"] == 1.0 and only["untrained"] is None
    assert only["ceiling_codec"] == 0.95 and only["position"] > full["position"]
    assert len(adherence_rows("template", pred, labels, 3, ceilings, permutations=50,
                              stated={"drums": [True] + [False] * 11})) == 1  # one stated prompt: no row
