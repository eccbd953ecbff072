"""The orchestrator: text (+ melody / prompt audio / story) -> CLAP tokens -> semantic -> coarse -> fine -> EnCodec.

`Strata.from_run(run)` loads a run; `set_generation_params(...)` stores the sampling settings once and
`generate(prompts, seconds, melody=/prompt_audio=/story=)` makes audio. It is the Python API behind `strata generate`.
"""
from __future__ import annotations

import contextlib
import functools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import torch

from .components import load_melody
from .errors import UserError
from .inputs import read_input_audio, read_melody
from .profile import Profile
from .run_dir import STAGE_NAMES, RunDir
from .settings import GenerationSettings, settings_from

if TYPE_CHECKING:
    from data_prep.clap import ConditionTokenizer
    from data_prep.codec import CodecTokenizer
    from stages.stage import Stage


@dataclass
class Generation:
    """Result of one generate call: audio rows, what made them, and how long each stage took."""

    audio: torch.Tensor
    sample_rate: int
    prompts: list[str]
    seed: int
    settings: dict[str, Any]
    timings: dict[str, float] = field(default_factory=dict)
    tokens: dict[str, torch.Tensor] = field(default_factory=dict)
    scores: list[float] | None = None


class Strata:
    """A loaded run: tokenizers and the three stages, ready to generate."""

    def __init__(self, run: RunDir, profile: Profile, condition: "ConditionTokenizer", codec: "CodecTokenizer",
                 stages: dict[str, "Stage"]) -> None:
        self.run = run
        self.profile = profile
        self.condition = condition
        self.codec = codec
        self.stages = stages
        self._semantic_tokenizer: Any = None
        self._melody_tokenizer: Any = None
        self._params: GenerationSettings | None = None

    @classmethod
    def from_run(cls, run: str | os.PathLike | RunDir, overrides: list[str] | None = None, *,
                 profile: Profile | None = None) -> "Strata":
        """Load every component of a run; a missing one is a UserError naming the command that makes it.

        `profile` is the run's profile already loaded (with any overrides applied); without it the profile is read
        from the run with `overrides`.
        """
        from data_prep.clap import ConditionTokenizer
        from data_prep.codec import CodecTokenizer
        from stages.stage import Stage

        run = run if isinstance(run, RunDir) else RunDir.from_arg(str(run))
        profile = run.load_profile(overrides) if profile is None else profile
        verify_checksums(run)
        _require(run.tokenizer("codec"), "strata train codec", run)
        _require(run.tokenizer("clap"), "strata train clap", run)
        _require(run.tokenizer("rvq"), "strata train clap", run)
        for name in STAGE_NAMES:
            _require(run.stage_model(name), f"strata train stage --stage {name}", run)
        codec = CodecTokenizer.load(run.tokenizer("codec"))
        condition = ConditionTokenizer.load(run.tokenizer("clap"), run.tokenizer("rvq"))
        stages = {name: Stage.load(run.stage_model(name)) for name in STAGE_NAMES}
        return cls(run, profile, condition, codec, stages)

    @property
    def sample_rate(self) -> int:
        return int(self.codec.sample_rate)

    def semantic_tokenizer(self) -> Any:
        """The run's semantic tokenizer, loaded on first use (only continuation needs it)."""
        if self._semantic_tokenizer is None:
            from data_prep.semantic import SemanticTokenizer

            _require(self.run.tokenizer("semantic"), "strata train semantic-ssl", self.run)
            _require(self.run.tokenizer("kmeans"), "strata train kmeans", self.run)
            self._semantic_tokenizer = SemanticTokenizer.load(self.run.tokenizer("semantic"), self.run.tokenizer("kmeans"))
        return self._semantic_tokenizer

    def melody_tokenizer(self) -> Any:
        """The run's melody tokenizer (chroma needs no weights; learned loads tokenizers/melody.pt)."""
        if not self.stages["semantic"].layout.has_melody:
            raise UserError(f"run '{self.run.root}' was trained without melody tokens; --melody needs melody.kind chroma or learned")
        if self._melody_tokenizer is None:
            self._melody_tokenizer = load_melody(self.run, self.profile)
            if self._melody_tokenizer is None:
                raise UserError(f"run '{self.run.root}' has melody.kind=none but its semantic stage reads melody tokens; "
                                "set melody.kind to the kind it was trained with")
        return self._melody_tokenizer

    @property
    def generation_params(self) -> GenerationSettings:
        """The settings `generate` starts from: the last set_generation_params, else the profile's defaults."""
        if self._params is None:
            self._params = settings_from(self.profile)
        return self._params

    def set_generation_params(
        self,
        settings: GenerationSettings | None = None,
        *,
        seconds: float | None = None,
        num_samples: int | None = None,
        seed: int | None = None,
        segment_seconds: float | None = None,
        temperature: dict | None = None,
        top_k: dict | None = None,
        top_p: dict | None = None,
        cfg_scale: float | None = None,
        melody_scale: float | None = None,
        best_of: int | None = None,
        semantic_candidates: int | None = None,
    ) -> GenerationSettings:
        """Store the settings every later `generate` call uses: `settings` whole, then any value given here over them.

        Values left unset keep the current ones. Raises UserError on the first bad value; returns what is stored.
        """
        self._params = settings_from(
            self.profile, base=settings or self.generation_params, seconds=seconds, num_samples=num_samples, seed=seed,
            segment_seconds=segment_seconds, temperature=temperature, top_k=top_k, top_p=top_p, cfg_scale=cfg_scale,
            melody_scale=melody_scale, best_of=best_of, semantic_candidates=semantic_candidates)
        return self._params

    @torch.inference_mode()
    def generate(
        self,
        prompts: str | list[str],
        seconds: float | None = None,
        *,
        melody: str | os.PathLike | torch.Tensor | None = None,
        prompt_audio: str | os.PathLike | torch.Tensor | None = None,
        story: bool = False,
        num_samples: int | None = None,
        seed: int | None = None,
        segment_seconds: float | None = None,
        temperature: dict | None = None,
        top_k: dict | None = None,
        top_p: dict | None = None,
        cfg_scale: float | None = None,
        melody_scale: float | None = None,
        best_of: int | None = None,
        semantic_candidates: int | None = None,
    ) -> Generation:
        """Generate `num_samples` clips per prompt (or one story over all prompts); returns audio [N, T].

        Settings not given here come from set_generation_params (default: the profile's, 10 s, one sample). With
        story=True the prompts are consecutive segments of `segment_seconds` each and `seconds` is ignored.
        `melody_scale` > 0 guides the draws further towards the `melody`; `semantic_candidates` K > 1 keeps the best of
        K semantic draws per clip (stages.candidates). Same seed and settings give the same audio.
        """
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        if not prompts or any(not p.strip() for p in prompts):
            raise UserError("the prompt is empty: give a text description")
        checked = settings_from(self.profile, base=self.generation_params, seconds=seconds, num_samples=num_samples,
                                best_of=best_of, seed=seed, cfg_scale=cfg_scale, melody_scale=melody_scale,
                                semantic_candidates=semantic_candidates, story=story,
                                segment_seconds=segment_seconds, temperature=temperature, top_k=top_k, top_p=top_p)
        seed = checked.seed
        guide = {"cfg_scale": float(checked.cfg_scale), "melody_scale": float(checked.melody_scale)}
        num_samples, best_of, segment_seconds, seconds = (checked.num_samples, checked.best_of, checked.segment_seconds,
                                                          checked.seconds)
        sampling = {name: stage.as_dict() for name, stage in checked.sampling.items()}
        timings: dict[str, float] = {}
        clock = functools.partial(_timed, timings)

        segments = prompts if story else None
        row_prompts = [prompts[0]] if story else prompts
        rows = [p for p in row_prompts for _ in range(num_samples * best_of)]
        total_seconds = segment_seconds * len(prompts) if story else float(seconds)

        with clock("inputs"):
            melody_tokens = self._melody_tokens(melody, len(rows))
            sem_prompt, coarse_prompt = self._prompt_tokens(prompt_audio, len(rows))
        with clock("conditioning"):
            texts = segments if story else rows
            cond = self.condition.text_tokens(texts)
            conds = [cond[i:i + 1].expand(len(rows), -1) for i in range(len(segments))] if story else [cond]
        generator = torch.Generator().manual_seed(seed)
        with clock("semantic"):
            semantic = self._semantic(conds, total_seconds, segment_seconds, melody_tokens, sem_prompt, sampling["semantic"],
                                      guide, generator, checked.semantic_candidates)
        with clock("coarse"):
            coarse = self._coarse(conds, semantic, total_seconds, segment_seconds, coarse_prompt, sampling["coarse"], guide,
                                  generator, sem_prompt=sem_prompt, melody=melody_tokens)
        with clock("fine"):
            fine = self._fine(coarse, sampling["fine"], generator)
        with clock("decode"):
            audio = self.codec.decode(torch.cat([coarse, fine], 1))[:, : int(round(total_seconds * self.sample_rate))]
        scores = None
        if best_of > 1:
            with clock("rerank"):
                audio, scores, keep = self._rerank(audio, rows, best_of)
                semantic, coarse, fine = semantic[keep], coarse[keep], fine[keep]
                rows = rows[::best_of]
        settings = {"seconds": total_seconds, "num_samples": num_samples, **guide, "sampling": sampling,
                    "best_of": best_of, "semantic_candidates": checked.semantic_candidates, "story": story,
                    "segment_seconds": segment_seconds if story else None,
                    "melody": melody is not None, "prompt_audio": prompt_audio is not None}
        return Generation(audio.float().clamp(-1, 1), self.sample_rate, rows if not story else list(prompts), seed, settings,
                          timings, {"semantic": semantic, "coarse": coarse, "fine": fine}, scores)

    @torch.inference_mode()
    def generate_downstream(
        self,
        cond: torch.Tensor,
        seconds: float,
        *,
        semantic: torch.Tensor | None = None,
        coarse: torch.Tensor | None = None,
        seed: int = 0,
        cfg_scale: float | None = None,
        melody_scale: float | None = None,
        melody: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Audio [B, T] from given tokens, sampling only the stages below them (the eval's ablation ladder).

        `cond` are conditioning tokens [B, levels] (text or audio); with `coarse` [B, n_coarse, F] only the fine stage
        runs, with `semantic` [B, S] coarse and fine run, with neither all three run; `melody` (audio [B, T]) reaches
        a coarse stage that reads it.
        Sampling, and guidance not given here, come from the settings `generate` uses (set_generation_params).
        """
        defaults = self.generation_params
        guide = {"cfg_scale": defaults.cfg_scale if cfg_scale is None else float(cfg_scale),
                 "melody_scale": defaults.melody_scale if melody_scale is None else float(melody_scale)}
        sampling = {name: stage.as_dict() for name, stage in defaults.sampling.items()}
        generator = torch.Generator().manual_seed(int(seed))
        if coarse is None:
            if semantic is None:
                semantic = self._semantic([cond], seconds, seconds, None, None, sampling["semantic"], guide, generator,
                                          defaults.semantic_candidates)
            melody_tokens = self._melody_tokens(melody, cond.shape[0])
            coarse = self._coarse([cond], semantic, seconds, seconds, None, sampling["coarse"], guide, generator,
                                  melody=melody_tokens)
        fine = self._fine(coarse, sampling["fine"], generator)
        audio = self.codec.decode(torch.cat([coarse, fine], 1))[:, : int(round(seconds * self.sample_rate))]
        return audio.float().clamp(-1, 1)

    def _melody_tokens(self, melody: Any, batch: int) -> torch.Tensor | None:
        """Melody tokens for every row: one melody (file or [T]) shared, or a [B, T] tensor with one per row."""
        if melody is None:
            return None
        tok = self.melody_tokenizer()
        if isinstance(melody, torch.Tensor) and melody.dim() == 2:
            if melody.shape[0] != batch:
                raise UserError(f"got {melody.shape[0]} melodies for {batch} rows")
            for row in melody.float():
                read_melody(row, self.sample_rate)
            return tok.tokens(melody.float(), self.sample_rate)
        wav = read_melody(melody, self.sample_rate)
        return tok.tokens(wav[None], self.sample_rate).expand(batch, -1)

    def _prompt_tokens(self, prompt_audio: Any, batch: int) -> tuple[torch.Tensor | None, torch.Tensor | None]:
        if prompt_audio is None:
            return None, None
        wav = read_input_audio(prompt_audio, self.sample_rate, "the prompt audio")[None]
        sem = self.semantic_tokenizer().tokens(wav, self.sample_rate)
        codes = self.codec.encode(wav)[:, : self.codec.n_coarse]
        return sem.expand(batch, -1), codes.expand(batch, -1, -1)

    def _semantic(self, conds, seconds, segment_seconds, melody, prompt, sampling, guide, generator,
                  candidates: int = 1) -> torch.Tensor:
        """`guide` holds cfg_scale and melody_scale."""
        from stages.continuation import windowed_semantic

        stage = self.stages["semantic"]
        return windowed_semantic(stage.model, stage.layout, conds, seconds, segment_seconds, melody=melody,
                                 prompt=prompt, candidates=candidates, generator=generator, **guide, **sampling)

    def _coarse(self, conds, semantic, seconds, segment_seconds, prompt, sampling, guide, generator,
                sem_prompt=None, melody=None) -> torch.Tensor:
        from stages.continuation import windowed_coarse

        stage = self.stages["coarse"]
        return windowed_coarse(stage.model, stage.layout, conds, semantic, seconds, segment_seconds, prompt=prompt,
                               sem_prompt=sem_prompt, melody=melody, generator=generator, **guide, **sampling)

    def _fine(self, coarse: torch.Tensor, sampling: dict, generator: torch.Generator) -> torch.Tensor:
        from stages.sampling import generate_fine

        stage = self.stages["fine"]
        return generate_fine(stage.model, stage.layout, coarse, generator=generator, **sampling)

    def _rerank(self, audio: torch.Tensor, rows: list[str], best_of: int):
        """Keep, per group of `best_of` candidates, the one whose CLAP audio embedding best matches its text."""
        text = self.condition.embed_text(rows[::best_of])
        emb = self.condition.embed_audio(audio, self.sample_rate)
        scores = (emb.view(len(text), best_of, -1) * text[:, None]).sum(-1)
        best = scores.argmax(1)
        keep = torch.arange(len(text)) * best_of + best
        return audio[keep], scores.max(1).values.tolist(), keep


@contextlib.contextmanager
def _timed(timings: dict[str, float], name: str) -> Iterator[None]:
    """Add the wall seconds of the `with` block to timings[name]."""
    start = time.perf_counter()
    yield
    timings[name] = round(timings.get(name, 0.0) + time.perf_counter() - start, 4)


def _require(path: Path, command: str, run: RunDir) -> None:
    if not path.is_file():
        raise UserError(f"run '{run.root}' has no {path.relative_to(run.root)}: create it with `{command} --run {run.name}`")


def verify_checksums(run: RunDir) -> None:
    """If the run ships checksums.json (the embedded weights do), every listed file must match it."""
    from .checksums import verify_run

    verify_run(run.root)
