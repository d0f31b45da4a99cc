#!/bin/sh
# Replays the hand-annealed learning-rate history of run 145 (see SCHEDULE-145.md) with
# this project's re-creation of the 2012 driver: one fresh start, then five resumes with
# -f, each pointing --layer-params at the next stage's file. Written for this project.
#
# Needs: DATA (a folder of 2012-format ImageNet batches, 256x256 pixels) and SAVE (the
# checkpoint root). Optional: TRAIN (training batch range), TEST (test batch range),
# PY (the Python interpreter), EXTRA (more options, e.g. --mini=128).
set -e
: "${DATA:?set DATA to the batch folder}"
: "${SAVE:?set SAVE to the checkpoint root}"
TRAIN=${TRAIN:-1-1000}
TEST=${TEST:-1001-1010}
PY=${PY:-python}
HERE=$(cd "$(dirname "$0")" && pwd)
RUN="$PY -m alexnet.original.convnet"

$RUN --layer-def="$HERE/layers-145.cfg" --layer-params="$HERE/layer-params-145.cfg" \
     --data-path="$DATA" --save-path="$SAVE" --train-range="$TRAIN" --test-range="$TEST" \
     --data-provider=inet-lr-cropped --crop-border=16 --color-noise=0.1 --num-gpus=2 \
     --test-freq=100 --epochs=24 $EXTRA

# the run folder just created (the newest ConvNet__* under SAVE)
CKPT=$(ls -d "$SAVE"/ConvNet__* | sort | tail -n 1)

$RUN -f "$CKPT" --layer-params="$HERE/layer-params-145-stage2.cfg" --epochs=50
$RUN -f "$CKPT" --layer-params="$HERE/layer-params-145-stage3.cfg" --epochs=66
$RUN -f "$CKPT" --layer-params="$HERE/layer-params-145-stage4.cfg" --color-noise=0 --epochs=71
$RUN -f "$CKPT" --layer-params="$HERE/layer-params-145-stage5.cfg" --epochs=78
$RUN -f "$CKPT" --layer-params="$HERE/layer-params-145-stage6.cfg" --epochs=91
