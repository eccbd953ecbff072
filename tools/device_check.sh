#!/usr/bin/env bash
# The one prepared command of a GPU session, run from the repository root on the GPU machine with .whl/ carried
# (fill it here first with tools/device_wheels.sh). It installs the carried wheels into /tmp/site, then runs
# `bench device` at base size (every part, hard limit 330 s) and its training part once more with the transformer
# blocks compiled (hard limit 150 s). Logs and JSON go to $OUT; the whole script ends inside 8 minutes.
set -uo pipefail
OUT="${OUT:-$PWD/device_out}"
mkdir -p "$OUT"
python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
  || { echo "device_check: installing .whl/ failed (run tools/device_wheels.sh and carry .whl)" >&2; exit 1; }
export PYTHONPATH="/tmp/site:$PWD" PYTHONUNBUFFERED=1 TORCH_EXTENSIONS_DIR=/tmp/torch_extensions DS_BUILD_OPS=0
{ nvidia-smi; python3 -c "import torch, deepspeed; print('torch', torch.__version__, 'cuda', torch.version.cuda,
'deepspeed', deepspeed.__version__, torch.cuda.get_device_name(0))"; } >"$OUT/machine.txt" 2>&1
tail -n 1 "$OUT/machine.txt"
timeout -k 10 330 python3 -m eval.bench.device --size base --out "$OUT/bench_device.json" 2>&1 \
  | tee "$OUT/bench_device.log" | grep -E '^(train|resume|generate|cache|two_rank|wrote):'
timeout -k 10 150 python3 -m eval.bench.device --size base --parts train --compile \
  --out "$OUT/bench_device_compile.json" 2>&1 | tee "$OUT/bench_device_compile.log" | grep -E '^(train|wrote):'
ls -l "$OUT"
