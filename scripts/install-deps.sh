#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the Debian 12 packages stagehand needs, only those that are missing (so re-running costs nothing).
set -euo pipefail
PACKAGES=(
  g++ cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-pthread libgloo-dev
  libyaml-cpp-dev libsentencepiece-dev sentencepiece libfmt-dev
  libboost-dev libboost-filesystem-dev libgtest-dev
  nlohmann-json3-dev libcli11-dev libssl-dev liblinear-dev libspdlog-dev libicu-dev
  chromium  # only for the test that opens the HTML report in a browser (tests/scripts/test_report_tiny.sh)
)
missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "installing missing packages: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null; then SUDO="sudo"; else
    echo "error: need root (or sudo) to install: ${missing[*]}" >&2; exit 1
  fi
fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
