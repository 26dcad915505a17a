#!/usr/bin/env bash
# The GPU check, prepared for the few minutes a GPU machine is lent to a session (the device tool runs it there).
#
#   bash bench/gpu.sh            # on a CUDA machine: KoELECTRA-base's shape, bf16, about 6 minutes on an H100
#   bash bench/gpu.sh --smoke    # anywhere, on the CPU: the tiny shape, a few steps: checks the script end to end
#
# Measures training at the shape (samples/s, real tokens/s, padding share, share of the card's bf16 peak, accuracy)
# for ours, the Hugging Face Trainer (random and group_by_length batches) and static padding, on the same rows
# (bench/benchmark.py), then prediction speed with our Predictor: full precision and fp16 autocast on the GPU,
# int8 on the machine's CPU (bench/gpu_summary.py), and continued pretraining's tokens/s against the run_mlm.py
# recipe (bench/pretraining.py, with NSMC and the vocabulary). Writes training.json, gpu.json and gpu.md into $OUT (the
# device tool's output folder) or bench/out/gpu. The GPU machine cannot download: it uses the torch,
# transformers, accelerate and ONNX Runtime its image holds and this checkout's src/ (no install of our own
# package, whose pinned CPU torch would replace the image's). Data: DATA_DIR (NSMC's two files) and VOCAB
# (KoELECTRA's vocab.txt), carried beside the checkout; without them, the bundled samples (speed only).
set -euo pipefail
cd "$(dirname "$0")/.."
mode=full
if [ "${1:-}" = "--smoke" ]; then mode=smoke; fi
out_dir=${OUT:-bench/out/gpu}
mkdir -p "$out_dir"
python=${PYTHON:-python3}
if [ -x .venv/bin/python ] && [ "$mode" = smoke ]; then python=.venv/bin/python; fi
export PYTHONPATH="$PWD/src${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1

# What the check needs from the image; a missing one is named, not half-run.
"$python" - <<'PY'
import importlib.util, sys
needed = ["torch", "transformers", "accelerate", "tokenizers", "safetensors", "sklearn", "pandas", "yaml", "tqdm",
          "onnxruntime", "onnx", "onnxscript", "matplotlib"]
missing = [name for name in needed if importlib.util.find_spec(name) is None]
if missing:
    sys.exit(f"error: bench/gpu.sh needs {', '.join(missing)} (carry them as wheels; see the device tool's notes)")
PY

data_args=()
data_dir=${DATA_DIR:-}
if [ -z "$data_dir" ] && [ -f ../shared/data/nsmc/ratings_test.txt ]; then data_dir=../shared/data/nsmc; fi
if [ -n "$data_dir" ]; then data_args+=(--data-dir "$data_dir"); fi
vocab=${VOCAB:-}
if [ -z "$vocab" ] && [ -f ../shared/vocab/koelectra-v1-vocab.txt ]; then vocab=../shared/vocab/koelectra-v1-vocab.txt; fi
if [ -n "$vocab" ]; then data_args+=(--vocab "$vocab"); fi

if [ "$mode" = smoke ]; then
    shape_args=(--shape tiny --device cpu --train-rows 256 --eval-rows 128 --steps 4 --threads 1)
    predict_rows=64
else
    "$python" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 'error: no CUDA device (use --smoke on a CPU)')"
    nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader || true
    shape_args=(--shape base --device cuda --bf16 --train-rows 20000 --eval-rows 5000)
    predict_rows=5000
fi
"$python" bench/benchmark.py "${shape_args[@]}" "${data_args[@]}" --methods ours,hf_random,hf_grouped,static \
    --no-startup --out "$out_dir/training.md" --json "$out_dir/training.json"
# The summary's prediction reads the test file: the bundled samples stand in without real data.
test_dir=${data_dir:-data/samples/nsmc}
"$python" bench/gpu_summary.py --training "$out_dir/training.json" --data-dir "$test_dir" --rows "$predict_rows" \
    --out "$out_dir"
# Continued pretraining's throughput (ours: replaced-token detection and masked LM; the run_mlm.py recipe), bf16.
if [ "$mode" = full ] && [ -n "$data_dir" ] && [ -n "$vocab" ]; then
    "$python" bench/pretraining.py throughput --device cuda --shapes small,base --steps 200 --nsmc "$data_dir" \
        --vocab "$vocab" > "$out_dir/pretraining.md" && cp bench/out/pretraining/throughput.json "$out_dir/pretraining.json" \
        || echo "note: the pretraining throughput did not finish (see $out_dir/pretraining.md)"
fi
echo "gpu check ($mode): $out_dir/gpu.md"
