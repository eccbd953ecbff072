"""--threads / STRATA_THREADS set torch's thread count; generation audio inputs: valid odd formats pass, bad ones fail."""
import math

import numpy as np
import pytest
import soundfile as sf
import torch

from data_prep.errors import DataError
from data_prep.melody.pitched import pitched_share, require_pitched
from pipeline.cli import main
from pipeline.inputs import read_input_audio, read_melody
from pipeline.threads import thread_count

SR = 24000


@pytest.fixture
def restore_threads(tmp_path, monkeypatch):
    monkeypatch.setenv("STRATA_RUNS", str(tmp_path / "runs"))
    monkeypatch.chdir(tmp_path)
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_threads_flag_sets_torch_threads(restore_threads):
    assert main(["--threads", "2", "init", "--run", "a"]) == 0
    assert torch.get_num_threads() == 2


def test_strata_threads_env_sets_torch_threads(restore_threads, monkeypatch):
    torch.set_num_threads(2)
    monkeypatch.setenv("STRATA_THREADS", "1")
    assert main(["init", "--run", "b"]) == 0
    assert torch.get_num_threads() == 1


def test_thread_count_precedence():
    assert thread_count(3, {"STRATA_THREADS": "2"}) == 3
    assert thread_count(None, {"STRATA_THREADS": "2", "OMP_NUM_THREADS": "5"}) == 2
    assert thread_count(None, {"OMP_NUM_THREADS": "5"}) is None
    assert thread_count(None, {}) >= 1


def _hum(seconds: float = 2.0, sr: int = SR) -> np.ndarray:
    """A hummed-like tune: a few notes with harmonics and a vibrato."""
    t = np.arange(int(seconds * sr)) / sr
    f0 = 196.0 * 2 ** (np.floor(t * 3) % 4 * 2 / 12) * (1 + 0.005 * np.sin(2 * np.pi * 5 * t))
    phase = 2 * np.pi * np.cumsum(f0) / sr
    return (0.2 * sum(np.sin(k * phase) / k for k in range(1, 5))).astype(np.float32)


def test_pitched_check_passes_a_tune_and_fails_dc_noise_silence():
    assert pitched_share(torch.from_numpy(_hum()), SR) > 0.5
    for wav in (torch.full((SR,), 0.5), torch.randn(SR, generator=torch.Generator().manual_seed(0)) * 0.2, torch.zeros(SR)):
        with pytest.raises(DataError, match="no pitched content"):
            require_pitched(wav, SR)


def test_eight_channels_and_192k_are_read_as_mono_at_the_model_rate(tmp_path):
    hum = _hum(1.0, 192000)
    sf.write(tmp_path / "hi.wav", hum, 192000, subtype="FLOAT")
    sf.write(tmp_path / "eight.wav", np.stack([_hum(1.0)] * 8, 1), SR, subtype="FLOAT")
    hi = read_melody(tmp_path / "hi.wav", SR)
    assert hi.shape == (SR,)
    eight = read_input_audio(tmp_path / "eight.wav", SR, "the prompt audio")
    assert eight.shape == (SR,) and math.isclose(float(eight.abs().max()), float(np.abs(_hum(1.0)).max()), rel_tol=1e-5)


def test_tensor_inputs_are_checked_like_files():
    with pytest.raises(Exception, match="non-finite"):
        read_input_audio(torch.tensor([0.1, float("nan"), 0.2]), SR, "the prompt audio")
    with pytest.raises(Exception, match="silent"):
        read_input_audio(torch.zeros(100), SR, "the prompt audio")
