#!/usr/bin/env bash
# Mutation testing of the safety rules (make mutants): mutmut mutates the functions listed in
# scripts/mutants.cfg (retention, manifest validation, restore verification, release/lock rules, grading)
# and runs the unit tests that call each mutated function; it prints the score per file and the survivors.
#
#   scripts/mutants.sh [SOURCE_TREE]     default: this repository (uncommitted changes included)
#   MUTANTS_JOBS=2  MUTANTS_WORK=/tmp/dir (default: a new temp dir, kept, with survivors.diff)
#
# The source tree is never touched: it is copied to $MUTANTS_WORK/ansible_collections/runbook/ops (so the
# module names mutmut derives from the paths are the ones the tests import, ansible_collections.runbook.ops...)
# and mutmut writes its mutated copy under $MUTANTS_WORK/mutants. mutmut is installed on demand from
# requirements-mutants.txt into the venv; `make test` never needs it.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SRC=$(cd "${1:-$HERE}" && pwd)
VENV=${VENV:-$HERE/.venv}
PY=$VENV/bin/python
JOBS=${MUTANTS_JOBS:-2}
WORK=${MUTANTS_WORK:-$(mktemp -d /tmp/rbo-mutants.XXXXXX)}
CFG=${MUTANTS_CFG:-$HERE/scripts/mutants.cfg}
start=$(date +%s)

if ! "$PY" -m pip show -q mutmut >/dev/null 2>&1 || \
   [ "$("$PY" -c 'import importlib.metadata as m; print(m.version("mutmut"))')" != \
     "$(sed -n 's/^mutmut==//p' "$HERE/requirements-mutants.txt")" ]; then
  echo "== installing the mutation tool from requirements-mutants.txt into $VENV"
  "$PY" -m pip install -q -r "$HERE/requirements-mutants.txt"
fi

echo "== copying $SRC to $WORK (the source tree is never mutated)"
STAGE=$WORK/ansible_collections/runbook/ops
rm -rf "$WORK/mutants" "$STAGE"
mkdir -p "$STAGE"
tar -C "$SRC" --exclude=./.venv --exclude=./.build --exclude=./.git --exclude=./.cache --exclude=./tests/output \
    --exclude=./reports --exclude=./mutants --exclude=./.pytest_cache --exclude=./.ansible --exclude=__pycache__ \
    -cf - . | tar -C "$STAGE" -xf -

# setup.cfg for mutmut (in the work dir only) and the mutant name globs of the listed functions
"$PY" - "$CFG" "$STAGE" "$WORK" <<'EOF'
import configparser, glob, os, sys
cfg_path, stage, work = sys.argv[1:4]
cfg = configparser.RawConfigParser()
cfg.optionxform = str
cfg.read(cfg_path)
pkg = 'ansible_collections/runbook/ops'
mods = [m for m in cfg['targets'] if os.path.exists(os.path.join(stage, 'plugins/module_utils/%s.py' % m))]
tests = sorted(set(p for g in cfg['tests']['globs'].split() for p in glob.glob(os.path.join(stage, g))))
globs = []
for mod in mods:
    for name in cfg['targets'][mod].split():
        key = ('x\u01c1%s\u01c1%s' % tuple(name.split('.', 1))) if '.' in name else 'x_' + name
        globs.append('ansible_collections.runbook.ops.plugins.module_utils.%s.%s__mutmut_*' % (mod, key))
lines = ['[mutmut]', 'source_paths = ansible_collections', 'only_mutate =']
lines += ['    %s/plugins/module_utils/%s.py' % (pkg, m) for m in mods]
# pytest from the mutants dir: node ids relative to it, the collection's own pytest.ini
lines += ['pytest_add_cli_args =', '    --rootdir=.', '    -c', '    %s/pytest.ini' % pkg, '    -pno:cacheprovider',
          '    -q']
lines += ['pytest_add_cli_args_test_selection ='] + ['    ' + os.path.relpath(t, work) for t in tests]
lines += ['%s = %s' % item for item in (cfg.items('mutmut') if cfg.has_section('mutmut') else [])]
with open(os.path.join(work, 'setup.cfg'), 'w') as f:
    f.write('\n'.join(lines) + '\n')
with open(os.path.join(work, 'targets.txt'), 'w') as f:
    f.write('\n'.join(globs) + '\n')
print('   %d functions in %s; %d unit test files' % (len(globs), ', '.join(mods), len(tests)))
EOF

cd "$WORK"
export ANSIBLE_COLLECTIONS_PATH=$WORK/mutants/ansible_collections/runbook/ops/.build/collections
export PATH=$VENV/bin:$PATH PYTHONDONTWRITEBYTECODE=1
mapfile -t TARGETS < targets.txt
echo "== mutmut run (jobs: $JOBS)"
rc=0
"$VENV/bin/mutmut" run --max-children "$JOBS" "${TARGETS[@]}" > mutmut-run.log 2>&1 || rc=$?
tail -n 5 mutmut-run.log | tr '\r' '\n' | tail -n 3
if [ "$rc" -ne 0 ]; then
  echo "mutmut run failed (exit $rc): see $WORK/mutmut-run.log" >&2
  exit "$rc"
fi

"$VENV/bin/mutmut" results --all true > results.txt
"$PY" - "$WORK" <<'EOF'
import collections, concurrent.futures, fnmatch, os, subprocess, sys
work = sys.argv[1]
globs = open(os.path.join(work, 'targets.txt')).read().split()
rows = []
for line in open(os.path.join(work, 'results.txt')):
    name, sep, status = line.strip().rpartition(': ')
    if sep and any(fnmatch.fnmatch(name, g) for g in globs):
        rows.append((name, status))
per_file = collections.OrderedDict()
for name, status in rows:
    mod = name.split('.plugins.module_utils.')[1].split('.')[0]
    per_file.setdefault(mod, collections.Counter())[status] += 1
KILLED = ('killed', 'timeout', 'caught by type check', 'segfault')
IGNORED = ('skipped', 'not checked', 'check was interrupted by user')
print('\n== mutation score per file (killed+timeout / tested)')
total_k = total_n = 0
for mod, c in per_file.items():
    k = sum(c[s] for s in KILLED)
    n = sum(v for s, v in c.items() if s not in IGNORED)
    total_k += k
    total_n += n
    print('  %-14s %5.1f%%  %4d/%-4d  %s' % (mod + '.py', 100.0 * k / n if n else 0, k, n,
                                            ', '.join('%s %d' % (s, v) for s, v in sorted(c.items()))))
print('  %-14s %5.1f%%  %4d/%-4d' % ('TOTAL', 100.0 * total_k / total_n if total_n else 0, total_k, total_n))
survivors = [n for n, s in rows if s not in KILLED and s not in IGNORED]
print('\n== %d surviving mutants (diffs in %s/survivors.diff)' % (len(survivors), work))
def show(name):
    return subprocess.run(['mutmut', 'show', name], cwd=work, capture_output=True, text=True).stdout
with concurrent.futures.ThreadPoolExecutor(4) as pool:
    diffs = list(pool.map(show, survivors))
with open(os.path.join(work, 'survivors.diff'), 'w') as out:
    for name, diff in zip(survivors, diffs):
        out.write(diff + '\n')
        changed = [l for l in diff.splitlines() if l[:1] in '+-' and l[:3] not in ('+++', '---')]
        print('  %s (%s)' % (name.split('.plugins.module_utils.')[1], dict(rows)[name]))
        for l in changed[:2]:
            print('      %s' % l.strip()[:150])
EOF
echo "== done in $(( $(date +%s) - start )) s; work dir: $WORK"
