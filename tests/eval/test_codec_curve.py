"""Codec learning curve: training minutes come from the logged step rate, so pauses between resumed runs do not count."""
import json

from eval.codec_curve import training_minutes


def test_training_minutes_sum_logged_rates_and_skip_repeats(tmp_path) -> None:
    log = tmp_path / "tokenizers" / "codec_train" / "log.jsonl"
    log.parent.mkdir(parents=True)
    rows = [{"step": 60, "steps_per_s": 1.0}, {"step": 120, "steps_per_s": 1.0},
            {"step": 120, "steps_per_s": 9.0},  # logged again after a resume: ignored
            {"step": 240, "steps_per_s": 2.0}]
    log.write_text("".join(json.dumps(r) + "\n" for r in rows))
    at = training_minutes(tmp_path)
    assert at(0) == 0.0 and at(60) == 1.0 and at(120) == 2.0 and at(240) == 3.0
    assert at(90) == 1.5
    assert training_minutes(tmp_path / "elsewhere") is None
    log.write_text("")
    assert training_minutes(tmp_path) is None
