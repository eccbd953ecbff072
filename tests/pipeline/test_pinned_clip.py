"""The shipped weights, one prompt, one seed: the tokens and the audio are pinned so that a refactor that changes what
`generate` computes fails here. Retraining the embedded weights re-pins them: `python -m tests.pipeline.test_pinned_clip`
writes the reference audio and prints the token hash to paste below.

Tokens are pinned by hash (integers, exact on any CPU). The audio is pinned as 16-bit PCM within 2 steps per sample:
float kernels may round differently on another CPU's instruction set, while any change of computation moves samples by
far more.
"""
import hashlib
import sys
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from pipeline.orchestrator import Strata
from pipeline.run_dir import EMBEDDED_NAME

PROMPT = "A slow folk song played on a solo flute, without drums."
SECONDS = 1.0
SEED = 11
REFERENCE = Path(__file__).resolve().parent / "data" / "pinned_embedded.wav"
TOKEN_SHA256 = "16cc287f1178d5e194d1796900ebc7af4ea97ef0c9adb3f6fac96b19c12ca7cf"


def _generate() -> tuple[str, np.ndarray]:
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        out = Strata.from_run(EMBEDDED_NAME).generate(PROMPT, SECONDS, seed=SEED)
    finally:
        torch.set_num_threads(before)
    digest = hashlib.sha256()
    for name in ("semantic", "coarse", "fine"):
        digest.update(out.tokens[name].to(torch.int64).contiguous().numpy().tobytes())
    pcm = np.round(out.audio[0].numpy() * 32767).astype(np.int16)
    return digest.hexdigest(), pcm


def test_shipped_weights_give_the_pinned_clip():
    tokens, pcm = _generate()
    assert tokens == TOKEN_SHA256
    reference, _ = sf.read(REFERENCE, dtype="int16")
    assert pcm.shape == reference.shape
    assert int(np.abs(pcm.astype(np.int32) - reference.astype(np.int32)).max()) <= 2
    assert np.abs(reference).max() > 100  # the pinned clip is not silence


if __name__ == "__main__":
    tokens, pcm = _generate()
    sf.write(REFERENCE, pcm, 24000, subtype="PCM_16")
    print(f"TOKEN_SHA256 = \"{tokens}\"", file=sys.stderr)
