#!/usr/bin/env bash
# Fill the git-ignored .whl/ with what the GPU machine lacks for `python3 -m eval.bench.device`: a pure-Python
# DeepSpeed wheel (no compiled ops: the engine JIT-builds nothing for bf16 ZeRO-2 with torch's fused AdamW) and the
# cp312 manylinux wheels of its runtime dependencies that the machine's image does not already hold.
# Run it here, from anywhere; the machine has no package registry, so the wheels travel with the working tree.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="$ROOT/.whl"
PYTHON="${PYTHON:-python3}"
DEEPSPEED=deepspeed==0.19.8
# Versions of requirements.lock. Already on the machine's image (its package list): numpy, packaging, psutil,
# py-cpuinfo, msgpack, ninja, einops, tqdm, pyyaml, torch 2.11. typing_extensions travels too: pydantic needs >= 4.16.
MISSING=(hjson==3.1.0 pydantic==2.14.3 pydantic_core==2.50.4 annotated-types==0.8.0 typing-inspection==0.4.5
         typing_extensions==4.16.0)
PLATFORMS=(manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64)

rm -rf "$DEST"
mkdir -p "$DEST"
build="$(mktemp -d)"
trap 'rm -rf "$build"' EXIT
DS_BUILD_OPS=0 "$PYTHON" -m pip wheel -q --no-deps --no-build-isolation --no-binary deepspeed -w "$build" "$DEEPSPEED"
ds_wheel="$(ls "$build"/deepspeed-*.whl)"
case "$(basename "$ds_wheel")" in
  *-py3-none-any.whl) cp "$ds_wheel" "$DEST"/ ;;
  *) echo "device_wheels: $(basename "$ds_wheel") is not a pure-Python wheel" >&2; exit 1 ;;
esac
platform_args=()
for p in "${PLATFORMS[@]}"; do platform_args+=(--platform "$p"); done
"$PYTHON" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
  "${platform_args[@]}" -d "$DEST" "${MISSING[@]}"
ls -1 "$DEST"
du -sh "$DEST"
