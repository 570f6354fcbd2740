#!/usr/bin/env bash
# The GPU checks of seqrec_bench in one go, printing one table at the end.
#
#   1. the gpu-marked tests                      (python -m pytest -m gpu)
#   2. two --deterministic CUDA runs of one seed  (the same test rank for every user)
#   3. bf16 against fp32 on one seed              (test NDCG@10 within 0.5% relative, Beauty shape)
#   4. the benchmark suite                        (python -m benchmarks --quick)
#
# Meant to take under 8 minutes on an H100/H200-class card. Run from anywhere:
#
#   bash benchmarks/gpu_check.sh              # on a CUDA machine
#   bash benchmarks/gpu_check.sh --dry-run    # on a CPU: tiny data, plumbing only (no gpu tests)
#
# Exit status: 0 when every check passed, 1 otherwise (the table says which).
set -euo pipefail

cd "$(dirname "$0")/.."
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
export SEQBENCH_PROGRESS=0
PY=${PYTHON:-python}

DRY=0
if [[ "${1:-}" == "--dry-run" ]]; then
    DRY=1
fi
if [[ $DRY == 1 ]]; then
    DEVICE=cpu
    SYNTH=(--synthetic n_users=300 --synthetic n_items=120 --synthetic mean_length=8)
    EPOCHS=2
else
    DEVICE=cuda
    if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
        echo "gpu_check: CUDA is not available here (try --dry-run on a CPU)" >&2
        exit 2
    fi
    SYNTH=(--synthetic n_users=22363 --synthetic n_items=12101 --synthetic mean_length=8.9)
    EPOCHS=10
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/gpu_check.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
export SEQBENCH_DATA="$WORK/cache"
ROWS=()
FAILED=0
started=$(date +%s)

row() {  # check value ok device detail -> one JSON line
    "$PY" -c 'import json, sys; a = sys.argv[1:]; print(json.dumps({"check": a[0], "value": a[1], "ok": a[2] == "1", "device": a[3], "detail": a[4]}))' "$@"
}

# 1. gpu-marked tests (skipped, not failed, without CUDA: a dry run does not run them)
if [[ $DRY == 0 ]]; then
    set +e
    "$PY" -m pytest -m gpu -q -p no:cacheprovider >"$WORK/pytest.txt" 2>&1
    rc=$?
    set -e
    summary=$(tail -n 1 "$WORK/pytest.txt")
    [[ $rc == 0 ]] || { FAILED=1; tail -n 40 "$WORK/pytest.txt" >&2; }
    row "pytest -m gpu" "$summary" "$([[ $rc == 0 ]] && echo 1 || echo 0)" "$DEVICE" "" >"$WORK/1.jsonl"
    ROWS+=("$WORK/1.jsonl")
fi

# 2. two deterministic runs of the same seed, each in a fresh process (cuBLAS starts anew)
for run in a b; do
    "$PY" -c 'from seqrec_bench.cli import main; main()' run \
        --models transformer,gru --dataset synthetic "${SYNTH[@]}" --seeds 0 \
        --set "transformer.max_epochs=$EPOCHS" --set "gru.max_epochs=$EPOCHS" \
        --device "$DEVICE" --deterministic --quiet -o "$WORK/det-$run" >"$WORK/det-$run.txt" 2>&1 \
        || { FAILED=1; tail -n 40 "$WORK/det-$run.txt" >&2; }
done
"$PY" benchmarks/gpu_check.py determinism "$WORK/det-a" "$WORK/det-b" >"$WORK/2.jsonl" || FAILED=1
ROWS+=("$WORK/2.jsonl")

# 3. bf16 against fp32, same seed
precision_args=(--device "$DEVICE")
[[ $DRY == 1 ]] && precision_args+=(--dry-run --max-epochs 2)
"$PY" benchmarks/gpu_check.py precision "${precision_args[@]}" >"$WORK/3.jsonl" 2>"$WORK/3.err" \
    || { FAILED=1; tail -n 40 "$WORK/3.err" >&2; }
ROWS+=("$WORK/3.jsonl")

# 4. the benchmark suite (its own table, then a row here)
set +e
suite_args=(--quick --device "$DEVICE" --jsonl "$WORK/suite.jsonl")
[[ $DRY == 1 ]] && suite_args+=(--only "load 1M")  # the plumbing, not the CPU's figures
"$PY" -m benchmarks "${suite_args[@]}" >"$WORK/suite.txt" 2>&1
rc=$?
set -e
[[ $rc == 0 ]] || FAILED=1
cat "$WORK/suite.txt"
row "benchmark suite (--quick)" "$(grep -c . "$WORK/suite.jsonl" 2>/dev/null || echo 0) rows" \
    "$([[ $rc == 0 ]] && echo 1 || echo 0)" "$DEVICE" "table above" >"$WORK/4.jsonl"
ROWS+=("$WORK/4.jsonl")

elapsed=$(( $(date +%s) - started ))
row "total wall time" "${elapsed}s" "$([[ $elapsed -le 480 || $DRY == 1 ]] && echo 1 || echo 0)" "$DEVICE" "target: under 480 s" >"$WORK/5.jsonl"
ROWS+=("$WORK/5.jsonl")

echo
"$PY" benchmarks/gpu_check.py table "${ROWS[@]}"
if grep -q '"ok": false' "${ROWS[@]}"; then
    FAILED=1
fi
exit $FAILED
