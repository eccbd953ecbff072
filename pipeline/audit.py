"""The memorization audit driver: prompt the semantic stage with training examples and score the greedy continuations
against the true ones (exact and approximate matches, as in the MusicLM paper's memorization analysis).

The decode step is injected (`DecodeFn`) so that the procedure is testable without a trained stage;
`semantic_decode_fn(stage)` is the real one (greedy `stages.sampling.generate_semantic`).
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import torch

from eval.memorization import AuditResult, PromptGroup, memorization_audit, nearest_neighbour_similarity
from eval.sinkhorn import SinkhornSettings

from .errors import UserError
from .profile import AuditConfig
from .run_dir import RunDir

if TYPE_CHECKING:
    from stages.token_spec import TokenSpec

DecodeFn = Callable[[torch.Tensor, torch.Tensor, int], torch.Tensor]


def validate_config(config: AuditConfig) -> None:
    """One-line UserErrors for audit settings that cannot work, named by the flag that sets them."""
    if any(s < 0 for s in config.prompt_seconds):
        raise UserError("--prompt-seconds must be >= 0")
    if config.continuation_seconds <= 0:
        raise UserError("--continuation-seconds must be > 0")
    if not 0 < config.max_fpr < 1:
        raise UserError(f"--max-fpr must be between 0 and 1, got {config.max_fpr:g}")
    if config.num_examples < 1 or config.batch_size < 1 or config.max_negatives < 1:
        raise UserError("--num-examples, --batch-size and --max-negatives must be >= 1")
    if not 0 <= config.trivial_entropy < 1:
        raise UserError(f"audit.trivial_entropy must be in [0, 1), got {config.trivial_entropy:g}")
    if config.novelty_samples < 0:
        raise UserError("--novelty-samples must be >= 0")


def select_examples(records: list[dict[str, Any]], num_examples: int, seed: int) -> list[dict[str, Any]]:
    """A seeded sample of num_examples records (all of them when there are fewer), kept in cache order."""
    if num_examples <= 0 or num_examples >= len(records):
        return list(records)
    pick = torch.randperm(len(records), generator=torch.Generator().manual_seed(seed))[:num_examples]
    return [records[i] for i in sorted(pick.tolist())]


def decode_groups(
    records: Sequence[dict[str, Any]],
    decode_fn: DecodeFn,
    tokens: "TokenSpec",
    prompt_seconds: Sequence[float],
    continuation_seconds: float,
    batch_size: int = 16,
) -> tuple[list[PromptGroup], list[str]]:
    """Greedy continuations for every prompt length; examples too short for prompt + continuation are skipped and noted."""
    n_cont = tokens.seconds_to(continuation_seconds, "semantic")
    if n_cont < 1:
        raise UserError(f"--continuation-seconds {continuation_seconds:g} is less than one semantic token at "
                        f"{tokens.semantic_rate:g} Hz")
    groups: list[PromptGroup] = []
    notes: list[str] = []
    for seconds in prompt_seconds:
        n_prompt = tokens.seconds_to(seconds, "semantic")
        usable = [(i, r) for i, r in enumerate(records) if r["semantic"].shape[0] >= n_prompt + n_cont]
        if len(usable) < len(records):
            notes.append(f"prompt {seconds:g}s: {len(records) - len(usable)} of {len(records)} examples are shorter than "
                         f"{tokens.to_seconds(n_prompt + n_cont, 'semantic'):g}s of semantic tokens and were skipped")
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
    tokens: "TokenSpec",
    config: AuditConfig = AuditConfig(),
) -> AuditResult:
    """Select examples, decode every prompt length, and score exact / approximate matches against calibrated tau."""
    if not records:
        raise UserError(f"no token records in split '{config.split}' to audit: check --split or run `strata tokenize`")
    chosen = select_examples(list(records), config.num_examples, config.seed)
    groups, notes = decode_groups(chosen, decode_fn, tokens, config.prompt_seconds,
                                  config.continuation_seconds, config.batch_size)
    if not any(g.generated.shape[0] for g in groups):
        raise UserError("every example is shorter than prompt + continuation: lower --prompt-seconds or --continuation-seconds")
    settings = SinkhornSettings(epsilon=config.sinkhorn_epsilon, iters=config.sinkhorn_iters, tol=1e-6,
                                omega=config.sinkhorn_omega)
    result = memorization_audit(groups, centroids, max_fpr=config.max_fpr, settings=settings,
                                max_negatives=config.max_negatives, seed=config.seed,
                                trivial_entropy=config.trivial_entropy)
    result.settings.update({"split": config.split, "num_examples": len(chosen), "semantic_rate": tokens.semantic_rate,
                            "prompt_seconds": list(config.prompt_seconds),
                            "continuation_seconds": config.continuation_seconds})
    result.notes.extend(notes)
    return result


def semantic_decode_fn(stage: Any) -> DecodeFn:
    """Greedy continuation with the semantic stage: conditioning tokens + prompt tokens, no melody, no guidance."""
    from stages.sampling import generate_semantic

    def decode(cond: torch.Tensor, prefix: torch.Tensor, n_tokens: int) -> torch.Tensor:
        return generate_semantic(stage.model, stage.layout, cond, n_tokens,
                                 prefix=prefix if prefix.shape[1] else None, temperature=0.0, cfg_scale=1.0)

    return decode


def audit_run(run: RunDir, config: AuditConfig, out_dir: Path | None = None) -> tuple[AuditResult, Path]:
    """`strata audit`: validate the settings, load the run's cache, centroids and semantic stage, audit, and write the
    report to out_dir (default runs/R/reports/audit/)."""
    from data_prep.cache import TokenCache
    from data_prep.semantic.kmeans import load_centroids
    from eval.audit_report import write_audit_report
    from stages.stage import Stage
    from stages.token_spec import TokenSpec

    validate_config(config)
    for path, command in ((run.tokenizer("kmeans"), "strata train kmeans"), (run.stage_model("semantic"), "strata train stage --stage semantic")):
        if not path.is_file():
            raise UserError(f"{path} is missing: run `{command} --run {run.name}` first")
    cache = TokenCache(run.cache_dir)
    stage = Stage.load(run.stage_model("semantic"))
    centroids = load_centroids(run.tokenizer("kmeans"))
    tokens = TokenSpec.from_meta(cache.meta)
    if tokens.semantic_bins != centroids.shape[0]:
        raise UserError(f"the cache has {tokens.semantic_bins} semantic bins but kmeans.pt has {centroids.shape[0]} "
                        "centroids: re-run `strata tokenize` after `strata train kmeans`")
    records = cache.records(config.split)
    result = run_audit(records, centroids, semantic_decode_fn(stage), tokens, config)
    if config.novelty_samples > 0:
        result.novelty = novelty_check(run, cache.records("train"), config)
    crop = float(stage.layout.crop_seconds)
    longest = max(config.prompt_seconds) + config.continuation_seconds
    if longest > crop:
        result.notes.append(f"prompt + continuation reaches {longest:g}s but the semantic stage was trained on {crop:g}s crops; "
                            "match rates at the longest prompts are measured past its training length")
    out_dir = out_dir or run.reports_dir / "audit"
    write_audit_report(result, out_dir)
    return result, out_dir


def novelty_check(run: RunDir, train_records: list[dict[str, Any]], config: AuditConfig) -> dict[str, Any]:
    """SIM_AA@95: clips generated from training captions, embedded by the run's CLAP audio tower, against training clips."""
    from data_prep.manifest import read_manifest

    from .orchestrator import Strata

    if not train_records or "clap" not in train_records[0]:
        return {"skipped": "the token cache holds no CLAP audio embeddings of the training clips"}
    captions = [r["caption"] for r in read_manifest(run.manifest_path) if r.get("split") == "train" and r.get("caption")]
    if not captions:
        return {"skipped": f"no training captions in {run.manifest_path}"}
    gen = torch.Generator().manual_seed(config.seed)
    pick = torch.randperm(len(captions), generator=gen)[: config.novelty_samples].tolist()
    prompts = [captions[i] for i in pick]
    strata = Strata.from_run(run)
    out = strata.generate(prompts, seconds=config.novelty_seconds, seed=config.seed)
    generated = strata.condition.embed_audio(out.audio, out.sample_rate)
    training = torch.stack([torch.as_tensor(r["clap"]).float() for r in train_records])
    result = nearest_neighbour_similarity(generated, training, threshold=0.95)
    result.update({"prompts": prompts, "seconds": config.novelty_seconds})
    return result

