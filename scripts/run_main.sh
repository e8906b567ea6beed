#!/usr/bin/env bash
# The main job. Until lesson 16 (the trainer) lands, it runs lesson 06 on SST-2.
set -euo pipefail
cd "$(dirname "$0")/.."
exec build/06_evaluation_and_checkpoints "$@"
