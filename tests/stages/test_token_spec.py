"""TokenSpec: reading cache metadata, its one-line error, and the conversions between token streams."""
from dataclasses import replace

import pytest

from stages.errors import StageError
from stages.layout_registry import layout_from_spec, make_layout
from stages.token_spec import TokenSpec

from .synthetic import tiny_spec


def test_metadata_round_trips_and_old_layout_meta_loads():
    spec = tiny_spec()
    assert TokenSpec.from_meta(spec.as_meta()) == spec
    assert TokenSpec.of(spec) is spec and TokenSpec.of(spec.as_meta()) == spec
    old = {k: v for k, v in spec.as_meta().items() if k != "sample_rate"}  # a stage's saved layout meta has no audio rate
    assert TokenSpec.from_meta(old) == replace(spec, sample_rate=0)


def test_missing_keys_are_one_stage_error_naming_them():
    with pytest.raises(StageError, match="lacks semantic_bins, acoustic_rate.*strata tokenize"):
        TokenSpec.from_meta({"semantic_rate": 25.0, "codec_bins": 8, "n_q": 4, "n_coarse": 2, "cond_levels": 3,
                             "cond_bins": 5, "melody_rate": 0.0, "melody_bins": 0})


def test_conversions_follow_the_rates():
    spec = replace(tiny_spec(), semantic_rate=25.0, acoustic_rate=75.0, melody_rate=5.0)
    assert spec.seconds_to(2.0, "semantic") == 50 and spec.seconds_to(0.4, "acoustic") == 30
    assert spec.seconds_to(1.1, "melody") == 6 and spec.to_seconds(150, "acoustic") == 2.0
    assert spec.semantic_to_acoustic(7) == 21 and spec.acoustic_to_semantic(22) == 7
    assert spec.acoustic_to_semantic(-6) == -2 and spec.semantic_to_melody(12) == 2
    with pytest.raises(StageError, match="unknown token stream"):
        spec.rate("coarse")


def test_melody_needs_both_rate_and_bins():
    assert tiny_spec(melody=True).has_melody and not tiny_spec(melody=False).has_melody
    assert not replace(tiny_spec(), melody_rate=0.0).has_melody


def test_layouts_hold_the_spec_and_save_it_as_plain_meta():
    spec = tiny_spec()
    for stage, kind in [("semantic", "flat"), ("coarse", "flat"), ("coarse", "delay"), ("fine", "delay")]:
        layout = make_layout(stage, spec, 0.4, kind)
        assert layout.token_spec == spec and layout.spec()["meta"] == spec.as_meta()
        assert layout_from_spec(layout.spec()).token_spec == spec
    assert make_layout("coarse", spec, 0.4).window_frames == 30 and make_layout("semantic", spec, 0.4).window_frames == 10
