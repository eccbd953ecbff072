"""Which judged attributes a prompt's wording states.

A caption that never mentions drums asks for neither drums nor their absence: the synthetic corpus's templates leave
the drum phrase out of about a tenth of the captions of clips with drums, and of more without. Scoring the drums
attribute only on prompts that state it measures what the text asks for; the clip's own label is still reported
beside it.
"""
from __future__ import annotations

import re
from typing import Sequence

DRUM_WORDS = re.compile(r"\b(drums?|drummer|drumless|percussion|kick|snare|hi-hat|beat)\b", re.IGNORECASE)


def states_drums(captions: Sequence[str]) -> list[bool]:
    """Per caption: whether it mentions drums or their absence (a drum, percussion, kick, snare, hi-hat or beat word)."""
    return [bool(DRUM_WORDS.search(caption)) for caption in captions]
