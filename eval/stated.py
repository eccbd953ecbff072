"""Which judged attributes a prompt's wording states.

A caption that never mentions drums asks for neither drums nor their absence: the synthetic corpus's templates leave
the drum phrase out of about an eighth of the captions of clips with drums, and of over half without. Scoring the drums
attribute only on prompts that state it measures what the text asks for; the clip's own label is still reported
beside it.
"""
from __future__ import annotations

import re
from typing import Sequence

from .significance import share

DRUM_WORDS = re.compile(r"\b(drums?|drummer|drumless|percussion|kick|snare|hi-hat|beat)\b", re.IGNORECASE)


def states_drums(captions: Sequence[str]) -> list[bool]:
    """Per caption: whether it mentions drums or their absence (a drum, percussion, kick, snare, hi-hat or beat word)."""
    return [bool(DRUM_WORDS.search(caption)) for caption in captions]


def drum_word(caption: str) -> str | None:
    """The caption's first drum word, lower-cased (None when it states nothing about drums)."""
    found = DRUM_WORDS.search(caption)
    return found.group(1).lower() if found else None


def stated_attributes(captions: Sequence[str]) -> dict[str, list[bool]]:
    """Per attribute the eval scores by wording (drums), one flag per caption: does it state the attribute."""
    return {"drums": states_drums(captions)}


def drums_by_word(judged: Sequence[dict]) -> list[dict]:
    """For the prompts that ask for drums, per prompt set and first drum word (None: the caption is silent): prompts,
    clips and the share of clips judged with drums. `judged` holds judge_report.judged_prompts records."""
    groups: dict[tuple[str, str | None], list[list[str]]] = {}
    for record in judged:
        if record["asked"]["drums"] == "yes":
            key = (record["prompt_set"], drum_word(record["caption"]))
            groups.setdefault(key, []).append(record["judged"]["drums"])
    rows = []
    for (prompt_set, word), prompts in groups.items():
        rows.append({"prompt_set": prompt_set, "drum_word": word, "prompts": len(prompts),
                     "clips": sum(len(draws) for draws in prompts), "judged_drums": share(prompts, "yes")})
    return rows
