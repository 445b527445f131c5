#!/usr/bin/env bash
# The GPU run of issue 12, as one script: on a machine with an NVIDIA GPU it
#   1. lists the GPUs (nvidia-smi -L) and what JAX sees (jax.devices()),
#   2. grades every solution on the GPU (python -m grader solutions/ --device gpu) and
#      prints the score of each exercise,
#   3. runs the upstream-pinning tests on JAX's CUDA backend,
#   4. runs benchmarks/ops.py --device gpu --quick,
# then prints one summary (what passed, what failed) and exits non-zero if any part failed.
#
#   benchmarks/device_check.sh                 # on the GPU machine, from anywhere
#   benchmarks/device_check.sh --cpu-dry-run   # the same steps on the CPU, grading only q10
#                                              # and running one test file: checks the script
#   benchmarks/device_check.sh q05 q10         # grade only these solutions (a short GPU slot)
#
# Reports go to $OUT when it is set (grade.json, pytest.txt, ops.txt, ...), else to a fresh
# temporary folder whose name is printed. Python is $PYTHON, else .venv/bin/python, else
# python3; on the GPU machine it needs a CUDA build of jaxlib (pip install "jax[cuda12]"
# at the pinned jax version), which step 1 checks before anything else runs.

set -u -o pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 2
ROOT=$(pwd)

DRY=0
ONLY=()
for arg in "$@"; do
    case "$arg" in
        --cpu-dry-run) DRY=1 ;;
        q[0-9][0-9]) ONLY+=("solutions/$arg") ;;
        -h | --help)
            sed -n '2,19p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "device_check.sh: unknown argument $arg (try --help)" >&2
            exit 2
            ;;
    esac
done

if [ -n "${PYTHON:-}" ]; then
    PY=$PYTHON
elif [ -x "$ROOT/.venv/bin/python" ]; then
    PY=$ROOT/.venv/bin/python
else
    PY=python3
fi

if [ -n "${OUT:-}" ]; then
    REPORTS=$OUT
    mkdir -p "$REPORTS"
else
    REPORTS=$(mktemp -d "${TMPDIR:-/tmp}/device_check.XXXXXX")
fi

TESTS=(tests/test_activations.py tests/test_optim.py tests/test_conv_pool.py
    tests/test_attention.py tests/test_library_parity.py tests/test_normalization.py
    tests/test_recurrent.py)
if [ "$DRY" = 1 ]; then
    DEVICE=cpu
    export JAX_PLATFORMS=cpu
    GRADE_TARGETS=(solutions/q10)
    TESTS=(tests/test_activations.py)
else
    DEVICE=gpu
    export JAX_PLATFORMS=cuda
    GRADE_TARGETS=(solutions/)
    # Several processes (grader, its workers, pytest) share the GPU one after another:
    # allocate on demand instead of grabbing 75% of the memory in each.
    export XLA_PYTHON_CLIENT_PREALLOCATE=false
fi

SUMMARY=()
FAILED=0
record() { # name, status, detail
    SUMMARY+=("$(printf '%-8s %-26s %s' "$2" "$1" "$3")")
    if [ "$2" = FAIL ]; then FAILED=$((FAILED + 1)); fi
}
banner() { printf '\n=== %s\n' "$1"; }

echo "device_check: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), repo $ROOT, python $PY"
echo "device_check: mode $([ "$DRY" = 1 ] && echo 'cpu dry run' || echo gpu), reports in $REPORTS"

# 1. The accelerator, as the driver and as JAX see it.
banner "nvidia-smi -L"
if [ "$DRY" = 1 ]; then
    if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi -L; fi
    record "nvidia-smi" SKIP "cpu dry run"
elif ! command -v nvidia-smi >/dev/null 2>&1; then
    echo "nvidia-smi not found"
    record "nvidia-smi" FAIL "nvidia-smi not found"
elif nvidia-smi -L; then
    record "nvidia-smi" PASS "$(nvidia-smi -L | wc -l) GPU(s)"
else
    record "nvidia-smi" FAIL "nvidia-smi -L exited $?"
fi

banner "jax.devices()"
JAX_OK=1
if "$PY" - "$DEVICE" <<'EOF'; then
import sys

import jax

want = sys.argv[1]
print("jax", jax.__version__, "backend", jax.default_backend())
print(jax.devices())
if jax.default_backend() != want:
    sys.exit(f"JAX runs on {jax.default_backend()}, not {want}")
EOF
    record "jax.devices" PASS "backend $DEVICE"
else
    JAX_OK=0
    record "jax.devices" FAIL "no $DEVICE backend (a CUDA jaxlib is needed)"
fi

# 2. Every solution graded on the device.
if [ "${#ONLY[@]}" -gt 0 ]; then GRADE_TARGETS=("${ONLY[@]}"); fi
banner "python -m grader ${GRADE_TARGETS[*]} --device $DEVICE"
if [ "$JAX_OK" = 0 ]; then
    record "grader" FAIL "not run: no $DEVICE backend"
else
    "$PY" -m grader "${GRADE_TARGETS[@]}" --device "$DEVICE" --format json \
        -o "$REPORTS/grade.json" >"$REPORTS/grade.stdout" 2>"$REPORTS/grade.stderr"
    grade_rc=$?
    tail -n 20 "$REPORTS/grade.stderr"
    if detail=$("$PY" - "$REPORTS/grade.json" <<'EOF'
import json
import sys
from collections import defaultdict

try:
    with open(sys.argv[1]) as f:
        doc = json.load(f)
except (OSError, ValueError) as e:
    sys.exit(f"no readable report: {e}")
score, top, failed = defaultdict(float), defaultdict(float), defaultdict(list)
for t in doc.get("tests", []):
    ex = t.get("exercise", "?")
    score[ex] += float(t.get("score", 0))
    top[ex] += float(t.get("max_score", 0))
    if t.get("status") != "passed":
        failed[ex].append(t.get("id") or t.get("name"))
for ex in sorted(top):
    line = f"  {ex}: {score[ex]:g}/{top[ex]:g}"
    if failed[ex]:
        line += "  failed: " + ", ".join(map(str, failed[ex][:8]))
        line += " ..." if len(failed[ex]) > 8 else ""
    print(line, file=sys.stderr)
total, maximum = sum(score.values()), sum(top.values())
full = sum(1 for ex in top if score[ex] == top[ex])
print(f"{full}/{len(top)} exercises full marks, {total:g}/{maximum:g} points"
      + (", incomplete" if doc.get("incomplete") else ""))
sys.exit(0 if top and full == len(top) and not doc.get("incomplete") else 1)
EOF
    ) && [ "$grade_rc" = 0 ]; then
        record "grader" PASS "$detail"
    else
        record "grader" FAIL "${detail:-no summary} (grader exit $grade_rc)"
    fi
fi

# 3. The tests that pin dlcore to jax.nn / flax / optax, on the device backend.
banner "pytest (JAX_PLATFORMS=$JAX_PLATFORMS) ${TESTS[*]}"
if [ "$JAX_OK" = 0 ]; then
    record "pinning tests" FAIL "not run: no $DEVICE backend"
else
    rm -f "$REPORTS/pytest.xml"
    "$PY" -m pytest -m "not worker" "${TESTS[@]}" -q -p no:cacheprovider \
        --junitxml "$REPORTS/pytest.xml" 2>&1 | tee "$REPORTS/pytest.txt" | tail -n 40
    pytest_rc=${PIPESTATUS[0]}
    # The project's addopts already hold -q, so pytest prints no count line: read the XML.
    counts=$("$PY" - "$REPORTS/pytest.xml" <<'EOF'
import sys
import xml.etree.ElementTree as ET

try:
    root = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError) as e:
    sys.exit(f"no junit report: {e}")
suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
n = {k: sum(int(s.get(k, 0)) for s in suites) for k in ("tests", "failures", "errors", "skipped")}
bad = [f"{c.get('classname', '')}.{c.get('name')}" for c in root.iter("testcase")
       if c.find("failure") is not None or c.find("error") is not None]
line = (f"{n['tests'] - n['failures'] - n['errors'] - n['skipped']} passed, "
        f"{n['failures']} failed, {n['errors']} errors, {n['skipped']} skipped")
if bad:
    line += " (" + ", ".join(bad[:5]) + (" ..." if len(bad) > 5 else "") + ")"
print(line)
EOF
    )
    if [ "$pytest_rc" = 0 ]; then
        record "pinning tests" PASS "$counts"
    else
        record "pinning tests" FAIL "${counts:-no report}; pytest exit $pytest_rc"
    fi
fi

# 4. Speed next to upstream on the device.
banner "benchmarks/ops.py --device $DEVICE --quick"
if [ "$JAX_OK" = 0 ]; then
    record "ops benchmark" FAIL "not run: no $DEVICE backend"
else
    "$PY" benchmarks/ops.py --device "$DEVICE" --quick 2>&1 | tee "$REPORTS/ops.txt"
    ops_rc=${PIPESTATUS[0]}
    slow=$(awk '/^above /{on=1; next} on && /^  /{n++} /^failures:/{on=0} END{print n+0}' \
        "$REPORTS/ops.txt")
    pairs=$(grep -oE '^[0-9]+ pairs in [0-9.]+ s' "$REPORTS/ops.txt")
    if [ "$ops_rc" = 0 ]; then
        record "ops benchmark" PASS "${pairs:-?}; $slow above 1.2x (see ops.txt)"
    else
        record "ops benchmark" FAIL "exit $ops_rc; ${pairs:-no table}"
    fi
fi

banner "summary ($([ "$DRY" = 1 ] && echo 'cpu dry run' || echo gpu))"
for line in "${SUMMARY[@]}"; do echo "$line"; done
echo "reports: $REPORTS"
if [ "$FAILED" -gt 0 ]; then
    echo "device_check: $FAILED part(s) failed"
    exit 1
fi
echo "device_check: all parts passed"
exit 0
