"""Loading a run's tokenizers the way its profile asks, shared by tokenize and generation."""
from __future__ import annotations

from typing import Any

from .errors import UserError
from .profile import Profile
from .run_dir import RunDir


def load_melody(rd: RunDir, profile: Profile) -> Any:
    """The melody tokenizer the profile asks for (chroma needs no weights, learned loads tokenizers/melody.pt) or None."""
    kind = profile.melody.kind
    if kind == "none":
        return None
    from data_prep.melody import MelodyTokenizer

    if kind == "chroma":
        return MelodyTokenizer.chroma(profile.melody)
    path = rd.tokenizer("melody")
    if not path.is_file():
        raise UserError(f"melody.kind=learned but {path} is missing: run `strata train melody --run {rd.name}`")
    return MelodyTokenizer.load(path)
