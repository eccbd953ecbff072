"""Generation settings: unset values come from a base (default the profile), per-stage values merge, bad ones refuse."""
import pytest

from pipeline.errors import UserError
from pipeline.profile import load_profile
from pipeline.settings import profile_settings, settings_from


def test_unset_values_come_from_the_profile():
    profile = load_profile("tiny", ["generate.seed=9", "generate.cfg_scale=2.5", "stages.coarse.top_k=7"])
    settings = settings_from(profile)
    assert settings == profile_settings(profile)
    assert (settings.seed, settings.cfg_scale, settings.sampling["coarse"].top_k) == (9, 2.5, 7)


def test_a_base_keeps_what_is_not_given_and_stage_values_merge():
    profile = load_profile("tiny")
    base = settings_from(profile, seconds=3.0, seed=4, temperature={"semantic": 0.5, "fine": 0.0})
    merged = settings_from(profile, base=base, num_samples=2, temperature={"fine": 0.3})
    assert (merged.seconds, merged.seed, merged.num_samples) == (3.0, 4, 2)
    assert merged.sampling["semantic"].temperature == 0.5 and merged.sampling["fine"].temperature == 0.3
    assert merged.sampling["coarse"] == base.sampling["coarse"]


@pytest.mark.parametrize("values, message", [
    ({"seconds": 0.0}, "--seconds must be in"),
    ({"top_k": {"drums": 3}}, "unknown stage 'drums'"),
    ({"num_samples": 65}, "--num-samples must be between"),
    ({"melody_scale": float("inf")}, "--melody-scale must be a finite"),
    ({"semantic_candidates": 0}, "--semantic-candidates must be between"),
    ({"semantic_candidates": 2.0}, "--semantic-candidates must be an integer"),
])
def test_bad_values_raise_one_line(values, message):
    with pytest.raises(UserError, match=message):
        settings_from(load_profile("tiny"), **values)
