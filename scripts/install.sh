#!/usr/bin/env bash
# Install what this project needs on a Debian machine (idempotent): system tools, Python packages,
# the offline models, and the generated test corpus. Needs root (or sudo) for apt.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(nginx prometheus prometheus-alertmanager ffmpeg sox espeak-ng docker-compose libsndfile1)
missing=()
for pkg in "${APT_PACKAGES[@]}"; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if ((${#missing[@]})); then
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  echo "install.sh: apt-get install ${missing[*]}"
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

PIP=(python3 -m pip install -q --disable-pip-version-check)
# torch first and pinned: a bare `torch` requirement would pull the CUDA build (several GB).
python3 -c 'import torch' 2>/dev/null || "${PIP[@]}" "torch==2.13.0"
# whisper-live's declared dependencies pull several GB (openvino, tensorrt helpers, openai-whisper):
# install it without them; the [server] extra carries what its faster_whisper backend imports.
"${PIP[@]}" -e '.[server,exporters,dev]'
"${PIP[@]}" --no-deps "whisper-live==0.10.0" "silero-vad==6.2.3"

python3 -m test_audio.generate
echo "install.sh: ready"
