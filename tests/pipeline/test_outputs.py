"""Where generated clips are written and what each sidecar says (pipeline/outputs.py), on hand-made Generations."""
import json

import torch

from data_prep.audio_io import load_audio
from pipeline.orchestrator import Generation
from pipeline.outputs import generation_paths, output_paths, slug, write_outputs
from pipeline.run_dir import RunDir

SR = 8000


def _generation(prompts, rows, num_samples, story=False):
    audio = 0.1 * torch.sin(torch.arange(SR // 2) * 0.3).repeat(rows, 1)
    settings = {"num_samples": num_samples, "story": story, "seconds": 0.5}
    return Generation(audio, SR, prompts, seed=5, settings=settings)


def test_paths_name_each_prompt_and_number_its_samples(tmp_path):
    run = RunDir(tmp_path / "r")
    gen = _generation(["Calm piano!", "Calm piano!", "fast drums", "fast drums"], rows=4, num_samples=2)
    names = [p.relative_to(run.root).as_posix() for p in generation_paths(gen, run)]
    assert names == ["generations/calm-piano_000.wav", "generations/calm-piano_001.wav",
                     "generations/fast-drums_000.wav", "generations/fast-drums_001.wav"]


def test_out_numbers_every_row_and_a_story_is_named_for_its_first_text(tmp_path):
    run = RunDir(tmp_path / "r")
    gen = _generation(["a", "a", "b", "b"], rows=4, num_samples=2)
    assert [p.name for p in generation_paths(gen, run, str(tmp_path / "o.wav"))] == [f"o_{i:03d}.wav" for i in range(4)]
    story = _generation(["organ chorale", "fiddle jig"], rows=1, num_samples=1, story=True)
    assert generation_paths(story, run) == [run.generations_dir / "organ-chorale.wav"]
    assert output_paths(None, run, "!!!", 1) == [run.generations_dir / "clip.wav"]
    assert slug("x" * 60) == "x" * 48


def test_sidecars_carry_each_rows_prompt_and_the_wav_round_trips(tmp_path):
    run = RunDir(tmp_path / "r")
    gen = _generation(["calm", "fast"], rows=2, num_samples=1)
    gen.scores = [0.25, 0.5]
    paths = generation_paths(gen, run)
    write_outputs(gen, paths, run, spectrogram=False)
    sides = [json.loads(p.with_suffix(".json").read_text()) for p in paths]
    assert [s["prompt"] for s in sides] == ["calm", "fast"] and [s["row"] for s in sides] == [0, 1]
    assert sides[1]["clap_score"] == 0.5 and sides[0]["seed"] == 5 and sides[0]["seconds"] == 0.5
    wav = load_audio(paths[1], SR)
    assert torch.allclose(wav, gen.audio[1], atol=1e-3)
    assert not paths[0].with_suffix(".png").exists()
