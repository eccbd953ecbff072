"""The memorization audit driver (MusicLM §4.4): prompt the semantic stage with training examples, score the continuations.

The decode step is injected (`DecodeFn`) so that the procedure is testable without a trained stage;
`semantic_decode_fn(stage)` is the real one (greedy `stages.sampling.generate_semantic`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import torch

from eval.memorization import AuditResult, PromptGroup, memorization_audit, nearest_neighbour_similarity
from eval.sinkhorn import SinkhornSettings

from .errors import UserError
from .run_dir import RunDir

if TYPE_CHECKING:
    from .profile import AuditConfig

DecodeFn = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]


@dataclass
class AuditOptions:
    """What `strata audit` runs: which examples, which prompt lengths, and the matching settings."""

    split: str = "train"
    num_examples: int = 64
    prompt_seconds: list[float] = field(default_factory=lambda: [0.0, 1.0, 2.0, 4.0, 8.0])
    continuation_seconds: float = 5.0
    max_fpr: float = 1e-4
    sinkhorn_epsilon: float = 0.05
    sinkhorn_iters: int = 200
    sinkhorn_omega: float = 1.5
    trivial_entropy: float = 0.2
    max_negatives: int = 20000
    batch_size: int = 16
    novelty_samples: int = 0
    novelty_seconds: float = 5.0
    seed: int = 0
    out_dir: Path | None = None


def audit_options(cfg: "AuditConfig", **given: Any) -> AuditOptions:
    """AuditOptions from a profile's audit section, with every `given` value that is not None taking precedence."""
    values: dict[str, Any] = {f.name: getattr(cfg, f.name) for f in fields(cfg)}
    values["prompt_seconds"] = list(values["prompt_seconds"])
    values.update({key: value for key, value in given.items() if value is not None})
    return AuditOptions(**values)


def select_examples(records: list[dict[str, Any]], num_examples: int, seed: int) -> list[dict[str, Any]]:
    """A seeded sample of num_examples records (all of them when there are fewer), kept in cache order."""
    if num_examples <= 0 or num_examples >= len(records):
        return list(records)
    pick = torch.randperm(len(records), generator=torch.Generator().manual_seed(seed))[:num_examples]
    return [records[i] for i in sorted(pick.tolist())]


def decode_groups(
    records: Sequence[dict[str, Any]],
    decode_fn: DecodeFn,
    semantic_rate: float,
    prompt_seconds: Sequence[float],
    continuation_seconds: float,
    batch_size: int = 16,
) -> tuple[list[PromptGroup], list[str]]:
    """Greedy continuations for every prompt length; examples too short for prompt + continuation are skipped and noted."""
    n_cont = int(round(continuation_seconds * semantic_rate))
    if n_cont < 1:
        raise UserError(f"--continuation-seconds {continuation_seconds:g} is less than one semantic token at {semantic_rate:g} Hz")
    groups: list[PromptGroup] = []
    notes: list[str] = []
    for seconds in prompt_seconds:
        n_prompt = int(round(seconds * semantic_rate))
        usable = [(i, r) for i, r in enumerate(records) if r["semantic"].shape[0] >= n_prompt + n_cont]
        if len(usable) < len(records):
            notes.append(f"prompt {seconds:g}s: {len(records) - len(usable)} of {len(records)} examples are shorter than "
                         f"{(n_prompt + n_cont) / semantic_rate:g}s of semantic tokens and were skipped")
        gen_rows, tgt_rows = [], []
        for start in range(0, len(usable), batch_size):
            chunk = usable[start : start + batch_size]
            cond = torch.stack([r["cond"].long() for _, r in chunk])
            sem = torch.stack([r["semantic"][: n_prompt + n_cont].long() for _, r in chunk])
            out = decode_fn(cond, sem[:, :n_prompt], n_cont)
            if tuple(out.shape) != (len(chunk), n_cont):
                raise ValueError(f"decode_fn returned shape {tuple(out.shape)}, expected {(len(chunk), n_cont)}")
            gen_rows.append(out.long().cpu())
            tgt_rows.append(sem[:, n_prompt:])
        empty = torch.zeros((0, n_cont), dtype=torch.long)
        groups.append(PromptGroup(
            prompt_seconds=float(seconds),
            prompt_tokens=n_prompt,
            example_ids=[str(r["id"]) for _, r in usable],
            example_index=torch.tensor([i for i, _ in usable], dtype=torch.long),
            generated=torch.cat(gen_rows) if gen_rows else empty,
            target=torch.cat(tgt_rows) if tgt_rows else empty,
        ))
    return groups, notes


def run_audit(
    records: Sequence[dict[str, Any]],
    centroids: torch.Tensor,
    decode_fn: DecodeFn,
    semantic_rate: float,
    options: AuditOptions = AuditOptions(),
) -> AuditResult:
    """Select examples, decode every prompt length, and score exact / approximate matches against calibrated tau."""
    if not records:
        raise UserError(f"no token records in split '{options.split}' to audit: check --split or run `strata tokenize`")
    chosen = select_examples(list(records), options.num_examples, options.seed)
    groups, notes = decode_groups(chosen, decode_fn, semantic_rate, options.prompt_seconds,
                                  options.continuation_seconds, options.batch_size)
    if not any(g.generated.shape[0] for g in groups):
        raise UserError("every example is shorter than prompt + continuation: lower --prompt-seconds or --continuation-seconds")
    settings = SinkhornSettings(epsilon=options.sinkhorn_epsilon, iters=options.sinkhorn_iters, tol=1e-6,
                                omega=options.sinkhorn_omega)
    result = memorization_audit(groups, centroids, max_fpr=options.max_fpr, settings=settings,
                                max_negatives=options.max_negatives, seed=options.seed,
                                trivial_entropy=options.trivial_entropy)
    result.settings.update({"split": options.split, "num_examples": len(chosen), "semantic_rate": semantic_rate,
                            "prompt_seconds": list(options.prompt_seconds),
                            "continuation_seconds": options.continuation_seconds})
    result.notes.extend(notes)
    return result


def semantic_decode_fn(stage: Any) -> DecodeFn:
    """Greedy continuation with the semantic stage: conditioning tokens + prompt tokens, no melody, no guidance."""
    from stages.sampling import generate_semantic

    def decode(cond: torch.Tensor, prefix: torch.Tensor, n_tokens: int) -> torch.Tensor:
        return generate_semantic(stage.model, stage.layout, cond, n_tokens,
                                 prefix=prefix if prefix.shape[1] else None, temperature=0.0, cfg_scale=1.0)

    return decode


def audit_run(run: RunDir, options: AuditOptions) -> tuple[AuditResult, Path]:
    """`strata audit`: load the run's cache, centroids and semantic stage, audit, and write reports/audit/."""
    from data_prep.cache import TokenCache
    from data_prep.semantic.kmeans import load_centroids
    from eval.audit_report import write_audit_report
    from stages.stage import Stage

    for path, command in ((run.tokenizer("kmeans"), "strata train kmeans"), (run.stage_model("semantic"), "strata train stage --stage semantic")):
        if not path.is_file():
            raise UserError(f"{path} is missing: run `{command} --run {run.name}` first")
    cache = TokenCache(run.cache_dir)
    stage = Stage.load(run.stage_model("semantic"))
    centroids = load_centroids(run.tokenizer("kmeans"))
    semantic_rate = float(cache.meta["semantic_rate"])
    if int(cache.meta["semantic_bins"]) != centroids.shape[0]:
        raise UserError(f"the cache has {cache.meta['semantic_bins']} semantic bins but kmeans.pt has {centroids.shape[0]} "
                        "centroids: re-run `strata tokenize` after `strata train kmeans`")
    records = cache.records(options.split)
    result = run_audit(records, centroids, semantic_decode_fn(stage), semantic_rate, options)
    if options.novelty_samples > 0:
        result.novelty = novelty_check(run, cache.records("train"), options)
    crop = float(stage.layout.crop_seconds)
    longest = max(options.prompt_seconds) + options.continuation_seconds
    if longest > crop:
        result.notes.append(f"prompt + continuation reaches {longest:g}s but the semantic stage was trained on {crop:g}s crops; "
                            "match rates at the longest prompts are measured past its training length")
    out_dir = options.out_dir or run.reports_dir / "audit"
    write_audit_report(result, out_dir)
    return result, out_dir


def novelty_check(run: RunDir, train_records: list[dict[str, Any]], options: AuditOptions) -> dict[str, Any]:
    """SIM_AA@95: clips generated from training captions, embedded by the run's CLAP audio tower, against training clips."""
    from data_prep.manifest import read_manifest

    from .orchestrator import Strata

    if not train_records or "clap" not in train_records[0]:
        return {"skipped": "the token cache holds no CLAP audio embeddings of the training clips"}
    captions = [r["caption"] for r in read_manifest(run.manifest_path) if r.get("split") == "train" and r.get("caption")]
    if not captions:
        return {"skipped": f"no training captions in {run.manifest_path}"}
    gen = torch.Generator().manual_seed(options.seed)
    pick = torch.randperm(len(captions), generator=gen)[: options.novelty_samples].tolist()
    prompts = [captions[i] for i in pick]
    strata = Strata.from_run(run)
    out = strata.generate(prompts, seconds=options.novelty_seconds, seed=options.seed)
    generated = strata.condition.embed_audio(out.audio, out.sample_rate)
    training = torch.stack([torch.as_tensor(r["clap"]).float() for r in train_records])
    result = nearest_neighbour_similarity(generated, training, threshold=0.95)
    result.update({"prompts": prompts, "seconds": options.novelty_seconds})
    return result

