#!/usr/bin/env bash
# Create benchmarks/.venv-ref: a virtual environment holding the reference plugin
# (nvidia-nat-nemo-customizer, the version matching our nvidia-nat line) for the
# side-by-side benchmark. It cannot share the project venv: both register the same
# NAT component names. Idempotent: a stamp file records a finished install.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$here/.venv-ref"
ref_version="${REF_VERSION:-1.9.0}"
stamp="$venv/.installed-$ref_version"
python="${PYTHON:-python3}"

if [[ -f "$stamp" ]]; then
    exit 0
fi
echo "setting up $venv (nvidia-nat-nemo-customizer==$ref_version); this takes about a minute" >&2
log="$here/.venv-ref-install.log"
"$python" -m venv "$venv"
# pip's output goes to a log (it can be noisy); shown only when the install fails.
if ! {
    "$venv/bin/python" -m pip install --upgrade pip &&
    # polars reads the benchmark's cached synthetic data (benchmarks/synth.py).
    "$venv/bin/python" -m pip install "nvidia-nat-nemo-customizer==$ref_version" "polars>=1.0"
} >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "installing the reference environment failed; full log: $log" >&2
    exit 1
fi
"$venv/bin/python" -c "import nat.plugins.customizer.dpo.trajectory_builder, polars"
touch "$stamp"
