"""Arranging and rendering: the manifest melody is what a pitch tracker hears on solo renders; drums lock to the beat."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from data_prep.errors import DataError
from data_prep.synth.arrange import Shared, arrange, beat_ql
from data_prep.synth.instruments import INSTRUMENTS, LineUp
from data_prep.synth.render import DRUM_CHANNEL, NoteEvent, default_soundfont, render_events
from data_prep.synth.sources import PieceNotes
from eval.pitch import melody_agreement, track_pitch

SR = 16000
TUNE = [[0.0, 1.0, 67], [1.0, 0.5, 69], [1.5, 0.5, 71], [2.0, 1.0, 72], [3.0, 1.0, 74],
        [4.0, 0.5, 76], [4.5, 0.5, 74], [5.0, 1.0, 72], [6.0, 2.0, 71]]


def _piece(parts: list[list[list[float]]], meter: str = "4/4") -> PieceNotes:
    return PieceNotes(ref="test#1", source="folk", title="Test", style="folk song", tonic=7, mode="major",
                      meters=[[0.0, meter]], bars=[0.0, 4.0, 8.0], length=8.0, parts=parts)


@pytest.mark.parametrize("name", ["violin", "flute", "trumpet", "piano"])
def test_pitch_tracker_agrees_with_manifest_melody_on_solo_renders(name: str) -> None:
    piece = _piece([TUNE])
    clip = arrange(piece, Shared(0.0, 2, 120, False), LineUp(name, INSTRUMENTS[name].family, (name,)), 3.0, False,
                   np.random.default_rng(0))
    audio = render_events(clip.events, clip.programs, 3.0, SR, default_soundfont())
    track = track_pitch(torch.from_numpy(audio), SR)
    assert melody_agreement(clip.melody, track) >= 0.9
    assert clip.attributes["key"] == "A" and clip.attributes["texture"] == "solo"


def test_melody_is_the_top_voice_and_transposed() -> None:
    bass = [[n[0], n[1], n[2] - 19] for n in TUNE]
    piece = _piece([TUNE, bass])
    lineup = LineUp("string quartet", "strings", ("violin", "violin", "viola", "cello"))
    clip = arrange(piece, Shared(4.0, -3, 60, False), lineup, 4.0, True, np.random.default_rng(0))
    shift = clip.attributes["transpose"]
    assert shift % 12 == (-3) % 12
    expected = [[round(a - 4.0, 4), round(d, 4), int(m) + shift] for a, d, m in TUNE if a >= 4.0]
    assert clip.melody == expected
    assert clip.attributes["instruments"] == ["violin", "cello"]
    assert clip.attributes["ensemble"] == "violin and cello"


def test_drums_fall_on_the_beat_grid() -> None:
    piece = _piece([TUNE], meter="6/8")
    clip = arrange(piece, Shared(0.0, 0, 100, True), LineUp("flute", "woodwind", ("flute",)), 3.0, False,
                   np.random.default_rng(0))
    beat = 60.0 / 100
    kicks = [e.start for e in clip.events if e.channel == DRUM_CHANNEL and e.key == 36]
    assert kicks and all(abs(k / beat - round(k / beat)) < 1e-9 for k in kicks)
    assert beat_ql("6/8") == 1.5 and clip.attributes["drums"] is True and clip.attributes["bpm"] == 100


def test_window_loops_a_short_piece() -> None:
    piece = _piece([TUNE])
    clip = arrange(piece, Shared(4.0, 0, 120, False), LineUp("flute", "woodwind", ("flute",)), 6.0, False,
                   np.random.default_rng(0))
    assert clip.melody[-1][0] + clip.melody[-1][1] == pytest.approx(6.0, abs=1e-3)


def test_render_is_deterministic_and_silence_is_an_error() -> None:
    events = [NoteEvent(0, 60, 100, 0.1, 0.5), NoteEvent(0, 64, 90, 0.5, 0.9)]
    a = render_events(events, {0: 0}, 1.0, SR, default_soundfont())
    b = render_events(events, {0: 0}, 1.0, SR, default_soundfont())
    assert a.dtype == np.float32 and a.shape == (SR,) and np.array_equal(a, b)
    assert abs(float(np.abs(a).max()) - 0.9) < 1e-3
    with pytest.raises(DataError, match="silence"):
        render_events([], {0: 0}, 0.5, SR, default_soundfont())
