"""Audio loading edge cases and atomic writes."""
import numpy as np
import pytest
import soundfile as sf
import torch

from data_prep.audio_io import as_mono_batch, load_audio, probe, save_wav
from data_prep.errors import DataError


def _tone(sr: int, seconds: float = 0.5, hz: float = 440.0) -> np.ndarray:
    t = np.arange(int(sr * seconds)) / sr
    return (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def test_missing_file(tmp_path):
    with pytest.raises(DataError, match="not found"):
        load_audio(tmp_path / "nope.wav", 24000)


def test_corrupt_file(tmp_path):
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF\x00\x00garbage" * 10)
    with pytest.raises(DataError, match="cannot read audio file"):
        load_audio(bad, 24000)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.wav"
    sf.write(path, np.zeros((0,), np.float32), 24000)
    with pytest.raises(DataError, match="empty"):
        load_audio(path, 24000)


def test_silent_file_rejected_unless_allowed(tmp_path):
    path = tmp_path / "silent.wav"
    sf.write(path, np.zeros(2400, np.float32), 24000)
    with pytest.raises(DataError, match="silent"):
        load_audio(path, 24000)
    assert load_audio(path, 24000, allow_silent=True).abs().max() == 0


def test_stereo_is_mixed_to_mono(tmp_path):
    left = _tone(24000)
    stereo = np.stack([left, -left * 0 + left * 0.5], axis=1)
    path = tmp_path / "stereo.wav"
    sf.write(path, stereo, 24000)
    wav = load_audio(path, 24000)
    assert wav.shape == (len(left),)
    np.testing.assert_allclose(wav.numpy(), 0.75 * left, atol=1e-4)


@pytest.mark.parametrize("fmt, ext", [("WAV", "wav"), ("FLAC", "flac"), ("OGG", "ogg")])
def test_other_formats_and_rates_resample(tmp_path, fmt, ext):
    path = tmp_path / f"tone.{ext}"
    sf.write(path, _tone(44100, 1.0), 44100, format=fmt)
    wav = load_audio(path, 24000)
    assert abs(wav.shape[0] - 24000) <= 1
    spectrum = torch.fft.rfft(wav).abs()
    assert abs(int(spectrum.argmax()) - 440) <= 2


def test_probe_reports_duration(tmp_path):
    path = tmp_path / "t.wav"
    sf.write(path, _tone(16000, 1.5), 16000)
    info = probe(path)
    assert (info.sample_rate, info.channels) == (16000, 1)
    assert info.seconds == pytest.approx(1.5)


def test_save_wav_is_atomic_and_clips(tmp_path):
    path = tmp_path / "out" / "x.wav"
    save_wav(path, torch.tensor([0.0, 2.0, -2.0, 0.5]), 24000)
    data, sr = sf.read(path)
    assert sr == 24000 and data.max() <= 1.0 and data.min() >= -1.0
    assert [p.name for p in path.parent.iterdir()] == ["x.wav"]


def test_save_wav_failure_leaves_no_file(tmp_path):
    path = tmp_path / "y.wav"
    with pytest.raises(ValueError):
        save_wav(path, np.zeros((2, 2, 2)), 24000)
    assert list(tmp_path.iterdir()) == []


def test_as_mono_batch_shapes():
    assert as_mono_batch(torch.ones(5)).shape == (1, 5)
    assert as_mono_batch(torch.ones(2, 5)).shape == (2, 5)
    stereo = torch.stack([torch.ones(2, 5), -torch.ones(2, 5)], 1)
    assert torch.equal(as_mono_batch(stereo), torch.zeros(2, 5))
    with pytest.raises(DataError, match="expected audio"):
        as_mono_batch(torch.ones(1, 1, 1, 1))
