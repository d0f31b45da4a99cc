#!/usr/bin/env bash
# The project's GPU checks, as one prepared run for a machine with an NVIDIA GPU, such as
# a lent machine with no network whose own python3 holds PyTorch and whose PATH has nvcc.
#
#   bash benchmarks/device_check.sh [OUT_DIR] [CIFAR10_TARBALL]
#
#   OUT_DIR          where the figures go (default: runs/device-check)
#   CIFAR10_TARBALL  CIFAR-10 for the end-to-end run (default: found the way
#                    `alexnet verify` finds the shared copy; without it that step is skipped)
#   PYTHON           the interpreter that holds torch (default: python3)
#   QUICK=1          a smoke run: fewer kernel repetitions, one epoch on a subset
#   ALLOW_CPU=1      go on without a GPU (to try the script itself on a CPU machine)
#
# The machine (commit, nvidia-smi, nvcc, torch) goes to OUT/machine.txt; then steps, each
# under its own time limit so that one that hangs cannot eat the others', each step's
# output also in OUT/<step>.txt (eight files at most in all, what a lent machine returns):
#   install     this checkout into PYTHON without the network, only if it does not import
#               already (pip --no-deps --no-index --no-build-isolation -e .)
#   cuda-build  the kernels built by nvcc (`alexnet cuda build`)
#   cuda-tests  the kernel tests, now with their GPU half
#   kernels     each kernel on AlexNet's shapes at batch 128 against cuDNN fp32, TF32 off
#               (benchmarks/bench_kernels.py)                -> also OUT/kernels.json
#   end-to-end  the cifar10-80sec recipe on the GPU, the port against a plain PyTorch
#               loop (benchmarks/bench_end_to_end.py --device cuda) -> also
#               OUT/end-to-end-80sec.json
# A failed step is reported and the next one runs. Exit status: the number of failed steps.
set -u -o pipefail

OUT=${1:-runs/device-check}
DATA=${2:-}
PYTHON=${PYTHON:-python3}
QUICK=${QUICK:-0}
ALLOW_CPU=${ALLOW_CPU:-0}
export ALEXNET_CACHE=${ALEXNET_CACHE:-/tmp/alexnet-device-cache}
export PYTHONUNBUFFERED=1

cd "$(dirname "$0")/.." || exit 1
if ! mkdir -p "$OUT" 2>/dev/null || [ ! -w "$OUT" ]; then
    echo "device_check: cannot write to $OUT; expected a writable folder for the figures" >&2
    exit 1
fi

if ! "$PYTHON" -c "import torch" 2>/dev/null; then
    echo "device_check: $PYTHON cannot import torch; set PYTHON to the interpreter that holds it" >&2
    exit 1
fi
if ! "$PYTHON" -c "import sys, torch; sys.exit(0 if torch.cuda.is_available() else 1)"; then
    if [ "$ALLOW_CPU" != 1 ]; then
        echo "device_check: torch sees no CUDA device here; nothing to check (ALLOW_CPU=1 to run anyway)"
        exit 0
    fi
    DEVICE=cpu
else
    DEVICE=cuda
fi

failed=0
step() {  # step NAME SECONDS COMMAND...: run it under a limit, its output also in OUT/NAME.txt
    local name=$1 limit=$2
    shift 2
    local t0=$SECONDS
    echo "== $name (limit ${limit}s)"
    timeout --kill-after=10 "$limit" "$@" 2>&1 | tee "$OUT/$name.txt"
    local rc=${PIPESTATUS[0]}  # the command's status, not tee's
    if [ "$rc" -eq 0 ]; then
        echo "== $name: ok, $((SECONDS - t0)) s"
    else
        [ "$rc" -eq 124 ] && echo "== $name: FAILED, over its ${limit}s limit" \
                          || echo "== $name: FAILED (exit $rc), $((SECONDS - t0)) s"
        failed=$((failed + 1))
    fi
}

{
    date -u +"%Y-%m-%dT%H:%M:%SZ"
    git rev-parse HEAD 2>/dev/null || echo "commit: not a git checkout"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>&1 || true
    (nvcc --version 2>&1 || echo "nvcc: not found") | tail -1
    "$PYTHON" -c "import platform, torch; print('python', platform.python_version(), 'torch', \
torch.__version__, 'cuda', torch.version.cuda, 'cudnn', torch.backends.cudnn.version(), 'device', \
torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none')"
} | tee "$OUT/machine.txt"

if ! "$PYTHON" -c "import alexnet.cuda" 2>/dev/null; then
    step install 180 "$PYTHON" -m pip install --quiet --no-deps --no-index --no-build-isolation -e .
fi

step cuda-build 300 "$PYTHON" -m alexnet cuda build

step cuda-tests 300 "$PYTHON" -m pytest -q -p no:cacheprovider \
    tests/test_cuda_kernels.py tests/test_cuda_torch_ops.py tests/test_cuda_emulation.py

reps=20
[ "$QUICK" = 1 ] && reps=3
step kernels 300 "$PYTHON" benchmarks/bench_kernels.py --reps "$reps" --json "$OUT/kernels.json"

e2e=(--device "$DEVICE" --json "$OUT/end-to-end-80sec.json")
[ -n "$DATA" ] && e2e+=(--data "$DATA")
[ "$QUICK" = 1 ] && e2e+=(--quick)
step end-to-end 480 "$PYTHON" benchmarks/bench_end_to_end.py "${e2e[@]}"

echo "device_check: $failed step(s) failed; figures in $OUT"
exit "$failed"
