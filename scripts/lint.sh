#!/usr/bin/env bash
# make lint: ansible-lint (production profile, offline), then the checks Galaxy makes on the package.
#   scripts/lint.sh                ansible-lint on the repo, then the package checks
#   scripts/lint.sh <paths>        ansible-lint on those paths only (quick, for YAML you just edited)
#   scripts/lint.sh --package      the package checks only:
#     1. build the tarball into .build/galaxy/dist (galaxy.yml's build_ignore decides what ships);
#     2. galaxy-importer (Galaxy's own import checks) on it, offline: scripts/galaxy-importer.cfg turns
#        ansible-test off (it wants a container image; `make sanity` runs it); any ERROR fails;
#     3. antsibull-docs lint-collection-docs --plugin-docs on the tarball installed into .build/galaxy/collections.
# Galaxy is unreachable: the collection is found through ANSIBLE_COLLECTIONS_PATH (.build/collections).
set -euo pipefail
REPO="$(cd "$(dirname "$0")/.." && pwd)"
export PATH="${VENV:-$REPO/.venv}/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$REPO/.build/collections"
export CONTAINERS_CONF="$REPO/containers.conf"
cd "$REPO"

package_checks() {
    local out="$REPO/.build/galaxy" tarball import log rc=0 repo_url
    rm -rf "$out"
    mkdir -p "$out/dist" "$out/import" "$out/collections" "$out/tmp"
    ansible-galaxy collection build --force --output-path "$out/dist" "$REPO" >/dev/null
    tarball="$(ls "$out"/dist/runbook-ops-*.tar.gz)"
    echo "==> tarball $(basename "$tarball"): $(stat -c %s "$tarball") bytes," \
        "$(tar -tvzf "$tarball" | grep -c '^-') files"

    # Galaxy requires `repository`. galaxy.yml names none until the project has a public URL (no placeholder
    # ships): the import check then runs on a copy whose MANIFEST.json names $RUNBOOK_REPOSITORY_URL, the git
    # origin, or a stand-in, and says so. The tarball in dist/ is left as built.
    import="$out/import/$(basename "$tarball")"
    if grep -q '^repository:' galaxy.yml; then
        cp "$tarball" "$import"
    else
        repo_url="${RUNBOOK_REPOSITORY_URL:-$(git -C "$REPO" remote get-url origin 2>/dev/null || true)}"
        if [ -z "$repo_url" ]; then
            repo_url="https://repository.invalid/runbook/ops"
            echo "WARNING: galaxy.yml has no repository, which Galaxy requires for an upload; checking a copy" \
                "that names $repo_url (set RUNBOOK_REPOSITORY_URL, or add repository: to galaxy.yml)" >&2
        fi
        python - "$tarball" "$import" "$repo_url" <<'EOF'
import io, json, sys, tarfile
src, dest, url = sys.argv[1:]
with tarfile.open(src) as tin, tarfile.open(dest, 'w:gz') as tout:
    for member in tin.getmembers():
        data = tin.extractfile(member).read() if member.isfile() else None
        if member.name == 'MANIFEST.json':
            manifest = json.loads(data)
            manifest['collection_info']['repository'] = url
            data = json.dumps(manifest, indent=4).encode()
            member.size = len(data)
        tout.addfile(member, io.BytesIO(data) if data is not None else None)
EOF
    fi

    echo "==> galaxy-importer (ansible-test off: scripts/galaxy-importer.cfg)"
    log="$out/galaxy-importer.log"
    # the importer writes importer_result.json into its current directory: run it in $out
    (cd "$out" && GALAXY_IMPORTER_CONFIG="$REPO/scripts/galaxy-importer.cfg" ANSIBLE_LOCAL_TMP="$out/tmp" \
        python -m galaxy_importer.main "$import" >"$log" 2>&1) || rc=$?
    grep -E '^(ERROR|WARNING)' "$log" || true
    echo "galaxy-importer: exit $rc, $(grep -c '^ERROR' "$log" || true) errors," \
        "$(grep -c '^WARNING' "$log" || true) warnings (full log: ${log#"$REPO"/})"
    if [ "$rc" -ne 0 ] || grep -q '^ERROR' "$log"; then
        return 1
    fi

    echo "==> antsibull-docs lint-collection-docs --plugin-docs (the installed tarball)"
    export ANSIBLE_COLLECTIONS_PATH="$out/collections"
    ansible-galaxy collection install --force --offline --no-deps -p "$out/collections" "$tarball" >/dev/null
    antsibull-docs lint-collection-docs --plugin-docs "$out/collections/ansible_collections/runbook/ops"
    echo "antsibull-docs: no errors"
}

case "${1:-}" in
    --package)
        package_checks
        ;;
    "")
        ansible-lint --offline --profile production
        package_checks
        ;;
    *)
        ansible-lint --offline --profile production "$@"
        ;;
esac
