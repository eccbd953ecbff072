"""Import fairseq2 on machines without a system libsndfile by preloading the copy that soundfile bundles."""
from __future__ import annotations

import ctypes
import functools
import os


@functools.lru_cache(maxsize=1)
def ensure_fairseq2() -> None:
    """Make `import fairseq2` work: fairseq2n dlopens libsndfile.so.1, which soundfile ships under another file name."""
    try:
        ctypes.CDLL("libsndfile.so.1", mode=ctypes.RTLD_GLOBAL)
        return
    except OSError:
        pass
    import soundfile

    bundled = os.path.join(os.path.dirname(soundfile.__file__), "_soundfile_data")
    for name in sorted(os.listdir(bundled)) if os.path.isdir(bundled) else []:
        if name.startswith("libsndfile") and ".so" in name:
            ctypes.CDLL(os.path.join(bundled, name), mode=ctypes.RTLD_GLOBAL)
            return
