#!/usr/bin/env bash
# Usage: tier.sh NAME COMMAND...  Runs one test tier, prints its wall time, keeps its exit code.
set -euo pipefail
name=$1; shift
start=$(date +%s)
echo "=== tier ${name}: start $(date -u +%H:%M:%S) ==="
rc=0
"$@" || rc=$?
end=$(date +%s)
echo "=== tier ${name}: $([ "$rc" = 0 ] && echo OK || echo "FAILED rc=$rc") in $((end - start)) s ===" 
mkdir -p .artifacts && echo "${name} $((end - start)) ${rc}" >> .artifacts/tier-times.txt
exit "$rc"
