#!/usr/bin/env bash
# Fails when a tracked C source differs from what the checked-in .clang-format makes of it.
set -euo pipefail
cd "$(dirname "$0")/.."
files=$(git ls-files '*.c' '*.h')
clang-format --style=file --dry-run --Werror $files
echo "clang-format: $(echo "$files" | wc -l) files formatted"
