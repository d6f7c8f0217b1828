#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The fault-injection suite (scripts/faults.sh, `make faults` runs it with 20 kills) in CI's small configuration:
# 3 SIGKILLs at random moments of a training run, each resumed to bit-identical weights; SIGTERM (exit 143 and a
# checkpoint); a file-size limit hit during a checkpoint write (one clear error, the previous checkpoint intact);
# a truncated checkpoint (refused by its checksum, the previous one used).
set -euo pipefail
SRC=$1
BUILD=$2
bash "$SRC/scripts/faults.sh" "$BUILD/bin/runner" 3
