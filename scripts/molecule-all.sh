#!/usr/bin/env bash
# Run every Molecule scenario (or those named as arguments), MOLECULE_JOBS at a time (default 2):
# scenarios use their own container names and podman networks, so they can run side by side.
# Each scenario's output goes to .build/molecule-logs/<scenario>.log and is printed when it ends.
set -uo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
cd "$REPO" || exit 1
JOBS="${MOLECULE_JOBS:-2}"
LOGS="$REPO/.build/molecule-logs"
mkdir -p "$LOGS"
if [ "$#" -gt 0 ]; then
  SCENARIOS=("$@")
else
  mapfile -t SCENARIOS < <(for f in molecule/*/molecule.yml; do basename "$(dirname "$f")"; done)
  # the longest first, so the two queues end together (dr ~10 min, deploy ~6 min, the others 2-4 min)
  mapfile -t SCENARIOS < <(printf '%s\n' "${SCENARIOS[@]}" | awk '{ print ($1 == "dr" ? 0 : ($1 == "deploy" || $1 == "seed_000" || $1 == "seed_002") ? 1 : 2) " " $1 }' | sort -k1,1n -k2 | cut -d' ' -f2)
fi

run_one() {
  local s="$1" start rc
  start=$(date +%s)
  molecule test -s "$s" > "$LOGS/$s.log" 2>&1
  rc=$?
  {
    echo "==================== molecule test -s $s (exit $rc, $(( $(date +%s) - start )) s) ===================="
    cat "$LOGS/$s.log"
  } | sed 's/\x1b\[[0-9;]*m//g'
  echo "$rc $(( $(date +%s) - start ))" > "$LOGS/$s.rc"
}
export -f run_one
export LOGS

rm -f "$LOGS"/*.rc
printf '%s\n' "${SCENARIOS[@]}" | xargs -P "$JOBS" -I{} bash -c 'run_one "$@"' _ {}

failed=0
echo "Molecule summary:"
for s in "${SCENARIOS[@]}"; do
  read -r rc secs < "$LOGS/$s.rc" 2>/dev/null || { rc=1; secs='?'; }
  if [ "$rc" = 0 ]; then
    state=passed
  else
    state=FAILED
    failed=$((failed + 1))
  fi
  echo "  $s: $state in ${secs}s"
done
echo "$(( ${#SCENARIOS[@]} - failed )) passed, $failed failed"
[ "$failed" -eq 0 ]
