"""Profile loading, overrides and unknown-key errors."""
import pytest

from pipeline.config_loader import apply_overrides
from pipeline.errors import ConfigError
from pipeline.profile import Profile, available_profiles, load_profile, profile_to_yaml


def test_shipped_profiles_load():
    assert {"tiny", "base"} <= set(available_profiles())
    tiny = load_profile("tiny")
    assert isinstance(tiny, Profile) and tiny.name == "tiny"
    base = load_profile("base")
    for stage in (base.stages.semantic, base.stages.coarse, base.stages.fine):
        assert (stage.model.n_layers, stage.model.d_model, stage.model.n_heads, stage.model.d_ff) == (24, 1024, 16, 4096)
    assert base.codec.bandwidth == 6.0 and base.codec.n_coarse == 4
    assert base.clap.audio_model == "HTSAT-base" and base.clap.text_model == "roberta"
    assert base.train.zero_stage == 2 and base.train.precision == "bf16"


def test_overrides_are_typed():
    p = load_profile("tiny", ["train.lr=1e-4", "stages.fine.model.n_layers=2", "audit.prompt_seconds=0,2,4"])
    assert p.train.lr == pytest.approx(1e-4)
    assert p.stages.fine.model.n_layers == 2
    assert p.audit.prompt_seconds == [0.0, 2.0, 4.0]


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("train.lrr=1", "unknown config key 'train.lrr' (did you mean 'train.lr'?)"),
        ("stages.corase.steps=1", "did you mean 'stages.coarse'?"),
        ("train.lr=fast", "'train.lr' must be a number"),
        ("train.zero_stage=1.5", "'train.zero_stage' must be an integer"),
        ("train.precision=fp8", "'train.precision' must be one of"),
        ("semantic.source=wavs", "'semantic.source' must be one of"),
        ("train=3", "'train' must be a mapping"),
        ("novalue", "must look like key.path=value"),
    ],
)
def test_bad_overrides_name_the_key(override, fragment):
    with pytest.raises(ConfigError) as info:
        load_profile("tiny", [override])
    assert fragment in str(info.value)


def test_unknown_profile_lists_available():
    with pytest.raises(ConfigError, match="available: .*tiny"):
        load_profile("huge")


def test_resolved_yaml_round_trips(tmp_path):
    p = load_profile("tiny", ["train.lr=2e-4"])
    path = tmp_path / "config.yaml"
    path.write_text(profile_to_yaml(p))
    assert load_profile(str(path)) == p


def test_apply_overrides_rejects_value_as_section():
    with pytest.raises(ConfigError, match="is a value, not a section"):
        apply_overrides({"a": 1}, ["a.b=2"])


def test_paper_sampling_temperatures_in_both_profiles():
    for name in ("tiny", "base"):
        stages = load_profile(name).stages
        assert (stages.semantic.temperature, stages.coarse.temperature, stages.fine.temperature) == (1.0, 0.95, 0.4)
