"""The three stage layouts: how a token record becomes one training sequence, and how sampling prefixes are built.

Sequences (joint ids of the stage's Vocab; `|` is the SEP token):
  semantic: cond[L_c] melody[T_m]? | semantic[T_s]
  coarse:   cond[L_c] melody[T_m]? semantic[T_s] | coarse frames flattened row-major (frame by frame, level by level)
  fine:     coarse frames flattened | fine frames flattened
Only target tokens (after SEP) carry loss. For classifier-free guidance cond (and melody) are replaced by MASK.
The semantic stage reads melody tokens whenever the cache has them; the coarse stage only when built with
melody=True, so that the pitch of a `--melody` reaches the acoustic tokens directly. A stage that reads melody sees
MASK in its place for unconditional rows and, in training, for a `melody_drop_prob` share of examples.
These are the "flat" layouts; stages/delay_layouts.py holds the "delay" layouts of coarse and fine (every level of a
frame predicted in one step, level q delayed by q steps).
cond is the clip's audio-derived CLAP tokens, or (with probability text_cond_prob, when the cache stored them) the
text-derived tokens of one of its captions.
Semantic and acoustic windows of one crop cover the same time span, aligned through the cache's token rates
(stages/token_spec.py). stages/layout_registry.py builds a layout by stage and kind.
"""
from __future__ import annotations

from typing import Any, ClassVar, NamedTuple

import torch

from .errors import StageError
from .token_spec import TokenSpec
from .vocab import MASK, PAD, SEP, Vocab


def crop_start(total: int, crop: int, gen: torch.Generator | None) -> int:
    """A uniform random start so that [start, start+crop) fits in `total` (0 when it does not fit; None gen = 0)."""
    if gen is None or total <= crop:
        return 0
    return int(torch.randint(0, total - crop + 1, (1,), generator=gen))


class Layout:
    """Base of the stage layouts: vocabulary, crop lengths, flatten/unflatten and target spans."""

    stage: ClassVar[str] = ""
    target: ClassVar[str] = ""
    uses_cond: ClassVar[bool] = False
    kind: ClassVar[str] = "flat"
    target_stream: ClassVar[str] = "acoustic"
    can_align: ClassVar[bool] = False

    def __init__(self, token_spec: TokenSpec, crop_seconds: float, melody: bool = False, aligned: bool = False) -> None:
        if aligned and not self.can_align:
            raise StageError(f"aligned conditioning is for the delay coarse layout, not the {self.kind} {self.stage} one")
        self.token_spec = token_spec
        self.crop_seconds = float(crop_seconds)
        self.reads_melody = bool(melody)
        self.aligned = bool(aligned)
        self.n_coarse = token_spec.n_coarse
        self.n_fine = token_spec.n_fine
        self.vocab = Vocab(self.sections())

    def sections(self) -> list[tuple[str, int, int]]:
        """Vocabulary sections (name, levels, bins) of this stage."""
        raise NotImplementedError

    def example(self, record: dict[str, Any], gen: torch.Generator | None = None, cond_drop_prob: float = 0.0,
                text_cond_prob: float = 0.0, melody_drop_prob: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        """One training sequence from a token record: (tokens Long[T], target mask Bool[T]); gen=None crops at 0."""
        raise NotImplementedError

    @property
    def has_melody(self) -> bool:
        """Whether this stage reads melody tokens (asked for, and the cache has them)."""
        return self.reads_melody and self.token_spec.has_melody

    def melody_length(self, n_semantic: int) -> int:
        """Melody tokens covering the time span of `n_semantic` semantic tokens."""
        if not self.has_melody:
            return 0
        return self.token_spec.semantic_to_melody(n_semantic)

    def melody_prefix(self, melody: torch.Tensor | None, batch: int, n_semantic: int, uncond: bool) -> torch.Tensor:
        """Melody part of the prefix [B,T_m]: cropped or MASK-padded to the window; all MASK if absent or uncond."""
        n = self.melody_length(n_semantic)
        out = torch.full((batch, n), MASK, dtype=torch.long)
        if melody is not None and not uncond and n:
            m = melody[:, :n].long()
            out[:, :m.shape[1]] = self.vocab.encode("melody", m)
        return out

    def melody_window(self, record: dict[str, Any], semantic_start: int, gen: torch.Generator | None,
                      drop_prob: float) -> torch.Tensor | None:
        """The record's melody tokens [1,T] from the time of semantic token `semantic_start`, or None when this stage
        reads no melody or the draw drops it."""
        melody = record.get("melody") if self.has_melody else None
        if melody is None or _drop(gen, drop_prob):
            return None
        return melody.long()[self.token_spec.semantic_to_melody(semantic_start):].unsqueeze(0)

    @property
    def target_levels(self) -> int:
        """Levels interleaved in the target stream (1 for semantic)."""
        return self.vocab.levels(self.target)

    @property
    def streams(self) -> int:
        """Tokens per sequence position (the model's `streams`): 1, a flat layout holds one token per position."""
        return 1

    def steps(self, n_frames: int) -> int:
        """Autoregressive model calls to produce `n_frames` target frames (one per token when flat)."""
        return n_frames * self.target_levels

    @property
    def window_frames(self) -> int:
        """Target frames (tokens for semantic) in one crop: the length of a generation window."""
        return self.token_spec.seconds_to(self.crop_seconds, self.target_stream)

    def steps_per_second(self) -> float:
        """Autoregressive model calls per second of audio when generating in windows of crop_seconds."""
        frames = max(1, self.window_frames)
        return self.steps(frames) * self.token_spec.rate(self.target_stream) / frames

    def target_span(self, i: int) -> tuple[int, int]:
        """Joint-id range [lo, hi) allowed at target position i (counted from the first target token)."""
        return self.vocab.span(self.target, i % self.target_levels)

    def flatten(self, codes: torch.Tensor) -> torch.Tensor:
        """Raw target ids -> joint ids in sequence order: [B,T] (semantic) or [B,Q,F] -> [B,F*Q] (row-major)."""
        if self.target_levels == 1:
            return self.vocab.encode(self.target, codes)
        return flatten_levels(self.vocab, self.target, codes)

    def unflatten(self, flat: torch.Tensor) -> torch.Tensor:
        """Inverse of `flatten`: joint ids [B,N] -> raw ids [B,N] (semantic) or [B,Q,N/Q]."""
        if self.target_levels == 1:
            return self.vocab.decode(self.target, flat)
        return unflatten_levels(self.vocab, self.target, flat)

    def cond_prefix(self, cond: torch.Tensor, uncond: bool) -> torch.Tensor:
        """Conditioning tokens [B,L] in joint ids, or MASK everywhere for the unconditional (CFG) rows."""
        levels = self.vocab.levels("cond")
        if cond.shape[-1] != levels:
            raise StageError(f"expected {levels} conditioning tokens, got {cond.shape[-1]}")
        if uncond:
            return torch.full_like(cond, MASK, dtype=torch.long)
        return flatten_levels(self.vocab, "cond", cond.unsqueeze(-1))

    def spec(self) -> dict[str, Any]:
        """Plain-data description saved in model.pt; `layout_from_spec` rebuilds the layout."""
        return {"stage": self.stage, "meta": self.token_spec.as_meta(), "crop_seconds": self.crop_seconds, "layout": self.kind,
                "melody": self.reads_melody, "aligned": self.aligned}


class SemanticLayout(Layout):
    """cond [+ melody] | semantic."""

    stage = "semantic"
    target = "semantic"
    uses_cond = True
    target_stream = "semantic"

    def __init__(self, token_spec: TokenSpec, crop_seconds: float, melody: bool = True, aligned: bool = False) -> None:
        """The semantic stage always reads melody tokens when the cache has them (`melody` is accepted and ignored)."""
        super().__init__(token_spec, crop_seconds, melody=True, aligned=aligned)

    def sections(self) -> list[tuple[str, int, int]]:
        spec = self.token_spec
        out = [("cond", spec.cond_levels, spec.cond_bins)]
        if self.has_melody:
            out.append(("melody", 1, spec.melody_bins))
        out.append(("semantic", 1, spec.semantic_bins))
        return out

    def prefix(self, cond: torch.Tensor, melody: torch.Tensor | None, n_semantic: int, uncond: bool = False) -> torch.Tensor:
        """Sampling prefix [B,P] up to SEP for a window of `n_semantic` semantic tokens."""
        b = cond.shape[0]
        sep = torch.full((b, 1), SEP, dtype=torch.long)
        return torch.cat([self.cond_prefix(cond, uncond), self.melody_prefix(melody, b, n_semantic, uncond), sep], 1)

    @property
    def crop_tokens(self) -> int:
        """Semantic tokens per training crop."""
        return self.window_frames

    def example(self, record: dict[str, Any], gen: torch.Generator | None = None, cond_drop_prob: float = 0.0,
                text_cond_prob: float = 0.0, melody_drop_prob: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        sem = record["semantic"].long()
        s0 = crop_start(sem.shape[0], self.crop_tokens, gen)
        window = sem[s0:s0 + self.crop_tokens]
        drop = _drop(gen, cond_drop_prob)
        melody = self.melody_window(record, s0, gen, melody_drop_prob)
        cond = pick_cond(record, gen, text_cond_prob).unsqueeze(0)
        head = self.prefix(cond, melody, window.shape[0], uncond=drop)[0]
        return join_target(head, self.flatten(window))


class CoarseLayout(Layout):
    """cond [+ melody] semantic | coarse levels flattened row-major."""

    stage = "coarse"
    target = "coarse"
    uses_cond = True

    def sections(self) -> list[tuple[str, int, int]]:
        spec = self.token_spec
        out = [("cond", spec.cond_levels, spec.cond_bins)]
        if self.has_melody:
            out.append(("melody", 1, spec.melody_bins))
        return out + [("semantic", 1, spec.semantic_bins), ("coarse", self.n_coarse, spec.codec_bins)]

    def prefix(self, cond: torch.Tensor, semantic: torch.Tensor, uncond: bool = False,
               melody: torch.Tensor | None = None) -> torch.Tensor:
        """Sampling prefix [B,P] up to SEP; `semantic` (and `melody`, when the stage reads it) cover the same time
        span as the coarse frames to produce."""
        b = cond.shape[0]
        sep = torch.full((b, 1), SEP, dtype=torch.long)
        mel = self.melody_prefix(melody, b, semantic.shape[1], uncond)
        return torch.cat([self.cond_prefix(cond, uncond), mel, self.vocab.encode("semantic", semantic), sep], 1)

    def crop(self, record: dict[str, Any], gen: torch.Generator | None = None, cond_drop_prob: float = 0.0,
             text_cond_prob: float = 0.0, melody_drop_prob: float = 0.0) -> "CoarseCrop":
        """One training window of a record: conditioning, the semantic and melody tokens of its span, its codes."""
        sem = record["semantic"].long()
        codes = _acoustic(record, self.n_coarse)[: self.n_coarse]
        crop_s = self.token_spec.seconds_to(self.crop_seconds, "semantic")
        crop_a = self.window_frames
        s0 = crop_start(sem.shape[0], crop_s, gen)
        a0 = self.token_spec.semantic_to_acoustic(s0)
        a0 = min(a0, max(0, codes.shape[1] - crop_a))
        drop = _drop(gen, cond_drop_prob)
        cond = pick_cond(record, gen, text_cond_prob).unsqueeze(0)
        melody = self.melody_window(record, s0, gen, melody_drop_prob)
        return CoarseCrop(cond, sem[s0:s0 + crop_s].unsqueeze(0), melody, drop, codes[:, a0:a0 + crop_a].unsqueeze(0))

    def example(self, record: dict[str, Any], gen: torch.Generator | None = None, cond_drop_prob: float = 0.0,
                text_cond_prob: float = 0.0, melody_drop_prob: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        c = self.crop(record, gen, cond_drop_prob, text_cond_prob, melody_drop_prob)
        head = self.prefix(c.cond, c.semantic, uncond=c.uncond, melody=c.melody)[0]
        return join_target(head, self.flatten(c.codes)[0])


class CoarseCrop(NamedTuple):
    """A coarse training window: cond [1,L], semantic [1,T_s], melody [1,T_m] or None, uncond flag, codes [1,Q,F]."""

    cond: torch.Tensor
    semantic: torch.Tensor
    melody: torch.Tensor | None
    uncond: bool
    codes: torch.Tensor


class FineLayout(Layout):
    """coarse levels flattened | fine levels flattened; no text conditioning (so no CFG)."""

    stage = "fine"
    target = "fine"
    uses_cond = False

    def sections(self) -> list[tuple[str, int, int]]:
        if self.n_fine < 1:
            raise StageError(f"the codec has n_q={self.token_spec.n_q} and n_coarse={self.n_coarse}: no fine levels to model")
        bins = self.token_spec.codec_bins
        return [("coarse", self.n_coarse, bins), ("fine", self.n_fine, bins)]

    def prefix(self, coarse: torch.Tensor) -> torch.Tensor:
        """Sampling prefix [B,F*n_coarse+1] for coarse frames [B,n_coarse,F]."""
        sep = torch.full((coarse.shape[0], 1), SEP, dtype=torch.long)
        return torch.cat([flatten_levels(self.vocab, "coarse", coarse), sep], 1)

    @property
    def crop_frames(self) -> int:
        """Acoustic frames per training crop (and per generation chunk)."""
        return max(1, self.window_frames)

    def example(self, record: dict[str, Any], gen: torch.Generator | None = None, cond_drop_prob: float = 0.0,
                text_cond_prob: float = 0.0, melody_drop_prob: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
        codes = _acoustic(record, self.n_coarse + self.n_fine)
        a0 = crop_start(codes.shape[1], self.crop_frames, gen)
        window = codes[:, a0:a0 + self.crop_frames].unsqueeze(0)
        head = self.prefix(window[:, : self.n_coarse])[0]
        return join_target(head, self.flatten(window[:, self.n_coarse:])[0])


def flatten_levels(vocab: Vocab, name: str, codes: torch.Tensor) -> torch.Tensor:
    """Raw ids [B,Q,F] -> joint ids [B,F*Q], frame by frame and level by level."""
    b, q, f = codes.shape
    if q != vocab.levels(name):
        raise StageError(f"expected {vocab.levels(name)} {name} levels, got {q}")
    return joint_level_ids(vocab, name, codes).transpose(1, 2).reshape(b, f * q)


def joint_level_ids(vocab: Vocab, name: str, codes: torch.Tensor) -> torch.Tensor:
    """Raw ids [B,Q,F] of section `name` -> joint ids [B,Q,F], level q moved into its own range; StageError when an id
    is outside the section's bins (the cache was made by another tokenizer)."""
    bins = vocab.bins(name)
    codes = codes.long()
    if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= bins):
        raise StageError(f"{name} token out of range [0, {bins}): the cache and the stage use different tokenizers; "
                         "re-run `strata tokenize`")
    return codes + vocab.level_offsets(name).to(codes.device)[None, :, None]


def unflatten_levels(vocab: Vocab, name: str, flat: torch.Tensor) -> torch.Tensor:
    """Joint ids [B,F*Q] -> raw ids [B,Q,F] (inverse of flatten_levels)."""
    q = vocab.levels(name)
    b, n = flat.shape
    if n % q:
        raise StageError(f"{n} {name} tokens is not a whole number of {q}-level frames")
    frames = flat.long().reshape(b, n // q, q).transpose(1, 2)
    return frames - vocab.level_offsets(name).to(flat.device)[None, :, None]


def _acoustic(record: dict[str, Any], levels: int) -> torch.Tensor:
    codes = record["acoustic"].long()
    if codes.dim() != 2 or codes.shape[0] < levels:
        raise StageError(f"record '{record.get('id', '?')}' has acoustic codes of shape {tuple(codes.shape)}, "
                         f"need [>= {levels}, frames]")
    return codes[:levels]


def pick_cond(record: dict[str, Any], gen: torch.Generator | None, text_cond_prob: float) -> torch.Tensor:
    """The record's audio cond tokens Long[L], or with `text_cond_prob` a random row of its caption tokens (cond_text)."""
    texts = record.get("cond_text")
    if texts is None or texts.shape[0] == 0 or not _drop(gen, text_cond_prob):
        return record["cond"].long()
    return texts[int(torch.randint(0, texts.shape[0], (1,), generator=gen))].long()


def _drop(gen: torch.Generator | None, prob: float) -> bool:
    return prob > 0 and float(torch.rand((), generator=gen)) < prob


def join_target(head: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Prefix then targets ([T] or [T,streams]); every target token except PAD (empty delay cells) carries loss."""
    tokens = torch.cat([head, target])
    mask = torch.cat([torch.zeros(head.shape, dtype=torch.bool), target != PAD])
    return tokens, mask
