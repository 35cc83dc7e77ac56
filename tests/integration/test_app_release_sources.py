# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# app_release sources, in-process against real things: a loopback HTTP server, a git repository (git CLI),
# zip archives and directories.

import os
import shutil
import zipfile

from release_fixtures import IDS, git, sha256

R1, R2, R3 = IDS[0], IDS[1], IDS[2]


def test_url_with_checksum(run_release, app_root, artifacts, http_dir):
    www, base = http_dir
    shutil.copy(artifacts['v2'], str(www / 'app.tgz'))
    url = base + '/app.tgz'
    good = sha256(artifacts['v2'])
    # no checksum: refused before any download
    r = run_release('app_release', dict(app_root=str(app_root), release_id=R1, src=url))
    assert r.get('failed') is True and 'a URL needs a checksum' in r['msg']
    # wrong checksum: refused, nothing left behind
    r = run_release('app_release', dict(app_root=str(app_root), release_id=R1, src=url, checksum='sha256:' + '0' * 64))
    assert r.get('failed') is True and 'its checksum is %s' % good in r['msg']
    assert os.listdir(str(app_root / 'releases')) == []
    # check mode: no download, no release
    r = run_release('app_release', dict(app_root=str(app_root), release_id=R1, src=url, checksum=good), check=True)
    assert r['changed'] is True and os.listdir(str(app_root / 'releases')) == []
    r = run_release('app_release', dict(app_root=str(app_root), release_id=R1, src=url, checksum=good))
    assert r['changed'] is True and r['checksum'] == good
    assert (app_root / 'releases' / R1 / 'VERSION').read_text() == 'v2\n'
    # idempotent without downloading: remove the artifact from the server, same checksum -> unchanged
    os.unlink(str(www / 'app.tgz'))
    r = run_release('app_release', dict(app_root=str(app_root), release_id=R1, src=url, checksum=good))
    assert r['changed'] is False
    # a 404 is a clear failure
    r = run_release('app_release', dict(app_root=str(app_root), release_id=R2, src=url, checksum=good))
    assert r.get('failed') is True and r['msg'].startswith('Could not download %s' % url)


def test_git_export(run_release, app_root, git_repo):
    repo, c1, c2 = git_repo
    args = dict(app_root=str(app_root), release_id=R1, git_repo=str(repo), git_ref='v1')
    r = run_release('app_release', args, check=True)
    assert r['changed'] is True and not (app_root / 'releases').exists()
    r = run_release('app_release', args)
    assert r['changed'] is True, r
    assert r['checksum'] == 'git:' + c1 and r['revision'] == c1
    rel = app_root / 'releases' / R1
    assert (rel / 'VERSION').read_text() == 'v1\n'
    assert (rel / 'REVISION').read_text() == c1 + '\n'
    assert not (rel / '.git').exists()
    assert run_release('app_release', args)['changed'] is False
    # a branch and a bare commit
    r = run_release('app_release', dict(app_root=str(app_root), release_id=R2, git_repo=str(repo), git_ref='main'))
    assert r['revision'] == c2 and (app_root / 'releases' / R2 / 'VERSION').read_text() == 'v2\n'
    r = run_release('app_release', dict(app_root=str(app_root), release_id=R3, git_repo=str(repo), git_ref=c1))
    assert r['revision'] == c1
    # the branch moved: same release id now means other content -> refused
    (repo / 'VERSION').write_text('v3\n')
    git(repo, 'commit', '-qam', 'v3')
    r = run_release('app_release', dict(app_root=str(app_root), release_id=R2, git_repo=str(repo), git_ref='main'))
    assert r.get('failed') is True and 'already exists with checksum git:%s' % c2 in r['msg']
    # hostile refs never reach git
    r = run_release('app_release', dict(app_root=str(app_root), release_id=IDS[3], git_repo=str(repo),
                                        git_ref='--upload-pack=touch %s' % (app_root / 'pwned')))
    assert r.get('failed') is True and 'Could not use git ref' in r['msg']
    assert not (app_root / 'pwned').exists()
    r = run_release('app_release', dict(app_root=str(app_root), release_id=IDS[3], git_repo=str(repo),
                                        git_ref='nope'))
    assert r.get('failed') is True and 'nope' in r['msg']
    assert sorted(n for n in os.listdir(str(app_root / 'releases'))) == [R1, R2, R3]


def test_zip_directory_mode_and_owner(run_release, app_root, tmp_path):
    z = str(tmp_path / 'app.zip')
    with zipfile.ZipFile(z, 'w') as zf:
        zf.writestr('VERSION', 'zip\n')
    r = run_release('app_release', dict(app_root=str(app_root), release_id=R1, src=z, mode='0750',
                                        owner=str(os.getuid()), group=str(os.getgid())))
    assert r['changed'] is True and r['checksum'] == sha256(z)
    assert os.stat(str(app_root / 'releases' / R1)).st_mode & 0o777 == 0o750
    assert (app_root / 'releases' / R1 / 'VERSION').read_text() == 'zip\n'
    d = tmp_path / 'build'
    (d / 'static').mkdir(parents=True)
    (d / 'static' / 'index.html').write_text('<h1>v2</h1>')
    r = run_release('app_release', dict(app_root=str(app_root), release_id=R2, src=str(d)))
    assert r['changed'] is True
    assert (app_root / 'releases' / R2 / 'static' / 'index.html').read_text() == '<h1>v2</h1>'
    assert run_release('app_release', dict(app_root=str(app_root), release_id=R2, src=str(d)))['changed'] is False
    # checksum given for a local archive is verified
    r = run_release('app_release', dict(app_root=str(app_root), release_id=R3, src=z, checksum='sha256:' + 'a' * 64))
    assert r.get('failed') is True and 'expected sha256:' + 'a' * 64 in r['msg']
    r = run_release('app_release', dict(app_root=str(app_root), release_id=R3, src=z, owner='no-such-user-xyz'))
    assert r.get('failed') is True and 'no such user or group' in r['msg']
    r = run_release('app_release', dict(app_root=str(app_root), release_id=R3, src=z, mode='rwx'))
    assert r.get('failed') is True and 'octal string' in r['msg']
    assert not (app_root / 'releases' / R3).exists()


def test_force_replaces_but_never_the_active(run_release, app_root, artifacts):
    root = str(app_root)
    run_release('app_release', dict(app_root=root, release_id=R1, src=artifacts['v1']))
    r = run_release('app_release', dict(app_root=root, release_id=R1, src=artifacts['v2'], force=True))
    assert r['changed'] is True and (app_root / 'releases' / R1 / 'VERSION').read_text() == 'v2\n'
    run_release('app_release', dict(app_root=root, release_id=R1, state='active'))
    r = run_release('app_release', dict(app_root=root, release_id=R1, src=artifacts['v3'], force=True))
    assert r.get('failed') is True and 'it is the active release' in r['msg']
    assert (app_root / 'current' / 'VERSION').read_text() == 'v2\n'
    assert sorted(os.listdir(str(app_root / 'releases'))) == [R1]
