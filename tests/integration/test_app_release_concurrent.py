# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# Issue 17 #3 for real: two app_release processes activate at once on the same app_root, round after round.
# A activates R4 with keep=1 (it plans to prune R1, R2, R3); B activates R1 with keep=1. Both processes are started,
# wait at a barrier until both are ready, then run main() together. Whatever the interleaving, at the end current
# resolves to an existing release, every release a run says it removed is gone, every switch a run reports is in the
# history, and a run that failed says why truthfully. No timing assumption: the invariants hold for any order.

import json
import os
import shutil
import subprocess
import sys

from release_fixtures import IDS, run_inproc
from testkit import REPO

R1, R2, R3, R4 = IDS[:4]
ROUNDS = 12
COLLECTIONS = os.path.join(REPO, '.build', 'collections')

CHILD = r"""
import json, sys
from ansible.module_utils.testing import patch_module_args
from ansible_collections.runbook.ops.plugins.modules import app_release
args = json.loads(sys.argv[1])
sys.stdout.write('ready\n')
sys.stdout.flush()
sys.stdin.readline()  # the barrier: both processes are loaded before either starts
with patch_module_args(args):
    app_release.main()
"""


def start(args):
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([COLLECTIONS, os.environ.get('PYTHONPATH', '')]))
    proc = subprocess.Popen([sys.executable, '-c', CHILD, json.dumps(args)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline() == 'ready\n', proc.stderr.read()
    return proc


def finish(proc):
    out, err = proc.communicate(timeout=300)
    assert out.strip(), 'no result (rc=%s): %s' % (proc.returncode, err[-2000:])
    return json.loads(out)


def history(root):
    path = os.path.join(str(root), 'history.jsonl')
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def build_template(root, artifacts):  # noqa: F811
    for rid, v in ((R1, 'v1'), (R2, 'v2'), (R3, 'v3'), (R4, 'v1')):
        r = run_inproc(dict(app_root=str(root), release_id=rid, src=artifacts[v], shared_paths=['.env']))
        assert r['changed'] is True, r
    # a bigger R1 so that deleting it takes a while: a wide window for the race the lock closes
    bulk = root / 'releases' / R1 / 'bulk'
    bulk.mkdir()
    for i in range(1500):
        (bulk / ('f%04d' % i)).write_text('x')
    r = run_inproc(dict(app_root=str(root), release_id=R2, state='active'))
    assert r['changed'] is True, r
    os.unlink(str(root / 'history.jsonl'))


def check_round(root, a, b):
    current = os.path.join(str(root), 'current')
    target = os.path.realpath(current)
    assert os.path.islink(current) and os.path.isdir(target), \
        'current -> %s dangles; A: %r; B: %r' % (os.readlink(current), a, b)
    on_disk = sorted(n for n in os.listdir(str(root / 'releases')) if not n.startswith('.'))
    assert not [n for n in os.listdir(str(root / 'releases')) if n.startswith('.prune-')]
    assert not [n for n in os.listdir(str(root)) if n.startswith('.current')]
    entries = [(e['actor'], e['release_id']) for e in history(root) if e['action'] == 'activate']
    # the last switch in the history is what current points to
    assert entries and entries[-1][1] == os.path.basename(target)
    for name, r, rid in (('A', a, R4), ('B', b, R1)):
        if r.get('failed'):
            # refused truthfully: the release it wanted was already pruned by the other run, and it switched nothing
            assert r['msg'] == ('Could not activate release %s: %s does not exist. Create it first with '
                                'state=present.' % (rid, root / 'releases' / rid)), r
            assert rid not in on_disk and (name, rid) not in entries
            continue
        assert r['changed'] is True and r['active_release'] == rid, r
        assert (name, rid) in entries, (name, entries)  # the switch it reports happened
        for gone in r['removed_releases']:  # every release it says it removed is gone
            assert gone not in on_disk, (name, r)
        # what it reports it left: its release active, and its view of the releases consistent with the disk
        assert rid in r['releases'] and not set(r['removed_releases']) & set(r['releases'])
    assert not (a.get('failed') and b.get('failed'))


def test_two_activations_at_once_never_leave_current_dangling(app_root, artifacts, tmp_path):  # noqa: F811
    template = app_root
    build_template(template, artifacts)
    outcomes = set()
    for i in range(ROUNDS):
        root = tmp_path / ('round-%02d' % i)
        shutil.copytree(str(template), str(root), symlinks=True)
        a = start(dict(app_root=str(root), release_id=R4, state='active', keep=1, actor='A'))
        b = start(dict(app_root=str(root), release_id=R1, state='active', keep=1, actor='B'))
        # both are loaded and waiting: release them together (alternating who goes first)
        first, second = (a, b) if i % 2 == 0 else (b, a)
        first.stdin.write('go\n')
        first.stdin.flush()
        second.stdin.write('go\n')
        second.stdin.flush()
        ra, rb = finish(a), finish(b)
        check_round(root, ra, rb)
        outcomes.add((os.readlink(str(root / 'current')), bool(ra.get('failed')), bool(rb.get('failed'))))
        shutil.rmtree(str(root))
    # at the end of every round one of the two switches won and its release exists
    assert {o[0] for o in outcomes} <= {'releases/' + R4, 'releases/' + R1}
