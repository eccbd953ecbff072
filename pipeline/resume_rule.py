"""The one resume rule every trainer follows: saved state needs --resume or --restart, never a silent choice."""
from __future__ import annotations

from .errors import UserError


def decide_resume(resume: bool, restart: bool, has_state: bool, where: object) -> bool:
    """True to continue the saved state in `where`, False to start from scratch (the caller discards it on restart).

    Saved state with neither flag is an error, so a typo never silently retrains or silently continues.
    """
    if resume and restart:
        raise UserError("--resume and --restart contradict each other: pick one")
    if restart or not has_state:
        if resume:
            print(f"note: no training state in {where} yet: starting fresh", flush=True)
        return False
    if not resume:
        raise UserError(f"{where} holds an earlier training state: pass --resume to continue it or --restart to discard it")
    return True
