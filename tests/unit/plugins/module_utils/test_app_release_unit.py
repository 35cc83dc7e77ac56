# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

import datetime
import json
import os
import zipfile

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import release as rel
from ansible_collections.runbook.ops.plugins.module_utils.release import ReleaseError
from testkit import make_tarball

R1, R2, R3, R4, R5 = ('20261101T080000Z', '20261110T120000Z', '20261120T101500Z',
                      '20261122T090000Z', '20261123T150405Z')


# --------------------------------------------------------------------------- ids

@pytest.mark.parametrize('rid', [R1, '20000229T235959Z', '20991231T000000Z'])
def test_valid_ids(rid):
    assert rel.validate_release_id(rid) == rid


@pytest.mark.parametrize('rid', [
    '../x', 'a/b', '\x00', '20261123T150405Z\x00', '20261123T150405Z/../../etc', '', '.', '..',
    '20261123T150405', '20261123t150405z', '2026-11-23T15:04:05Z', ' 20261123T150405Z', '20261123T150405Z\n',
    '20261332T150405Z', '20260230T000000Z', '20261123T256000Z', 'current', '20261123T150405Z.failed',
])
def test_hostile_and_malformed_ids_are_refused(rid):
    with pytest.raises(ReleaseError) as e:
        rel.validate_release_id(rid)
    assert 'Could not use release id' in str(e.value)
    assert 'UTC timestamp like 20261123T150405Z' in str(e.value)


def test_non_string_id_is_refused():
    with pytest.raises(ReleaseError):
        rel.validate_release_id(None)


def test_sort_is_by_id_and_drops_non_ids():
    assert rel.sort_release_ids([R3, 'junk', R1, '.tmp-x', R2, R1]) == [R1, R2, R3]


def test_new_release_id_is_valid():
    rid = rel.new_release_id(datetime.datetime(2026, 11, 23, 15, 4, 5, tzinfo=datetime.timezone.utc))
    assert rid == R5 and rel.is_release_id(rid)


def test_order_ignores_mtimes(tmp_path):
    tree = rel.ReleaseTree(str(tmp_path))
    for i, rid in enumerate([R1, R2, R3]):
        os.makedirs(tree.release_path(rid))
        # the oldest id gets the newest mtime
        os.utime(tree.release_path(rid), (1e9 - i * 1e6, 1e9 - i * 1e6))
    assert tree.releases() == [R1, R2, R3]
    assert tree.rollback_candidate(active=R3) == R2


# --------------------------------------------------------------------------- keep-N

def test_keep_removes_oldest_good():
    assert rel.plan_cleanup([R1, R2, R3, R4], active=R4, failed=[], keep=2) == [R1, R2]


def test_keep_zero_disables_cleanup():
    assert rel.plan_cleanup([R1, R2, R3], active=R3, failed=[], keep=0) == []


def test_failed_releases_do_not_count_toward_keep():
    # R3 and R4 failed: the two good ones kept are R1 and R2, plus the newest failed one
    assert rel.plan_cleanup([R1, R2, R3, R4], active=R2, failed=[R3, R4], keep=2, keep_failed=1) == [R3]


def test_keep_failed_zero_removes_failed():
    assert rel.plan_cleanup([R1, R2, R3], active=R2, failed=[R3], keep=2, keep_failed=0) == [R3]


def test_active_old_release_and_newest_good_are_kept():
    # rolled back to R1; keep=1 must still keep R1 (active) and R3 (newest good)
    assert rel.plan_cleanup([R1, R2, R3], active=R1, failed=[], keep=1) == [R2]


def test_newest_good_kept_even_if_all_newer_failed():
    assert rel.plan_cleanup([R1, R2, R3, R4, R5], active=R5, failed=[R3, R4, R5], keep=1,
                            keep_failed=0) == [R1, R3, R4]


def test_active_failed_release_is_kept():
    assert R5 not in rel.plan_cleanup([R1, R5], active=R5, failed=[R5], keep=1, keep_failed=0)


def test_protect_keeps_release_being_created():
    assert rel.plan_cleanup([R1, R2, R3], active=R2, failed=[], keep=1, protect=[R1]) == []


# --------------------------------------------------------------------------- history

def test_history_append_and_previous(tmp_path):
    path = str(tmp_path / 'h.jsonl')
    rel.append_history(path, {'action': 'activate', 'release_id': R1, 'previous': None})
    rel.append_history(path, {'action': 'activate', 'release_id': R2, 'previous': R1})
    rel.append_history(path, {'action': 'failed', 'release_id': R2})
    rel.append_history(path, {'action': 'activate', 'release_id': R1, 'previous': R2})
    with open(path, 'a') as f:
        f.write('{"torn": ')  # a torn line never hides the rest
    entries = rel.read_history(path)
    assert [e['action'] for e in entries] == ['activate', 'activate', 'failed', 'activate']
    assert rel.previous_from_history(entries, R1) == R2
    assert rel.previous_from_history(entries, R3) is None


def test_history_missing_file(tmp_path):
    assert rel.read_history(str(tmp_path / 'nope')) == []


def test_activate_writes_history_and_previous(tmp_path):
    tree = rel.ReleaseTree(str(tmp_path), actor='alice', reason='deploy')
    for rid in (R1, R2):
        os.makedirs(tree.release_path(rid))
    assert tree.activate(R1) == {'changed': True, 'previous_release': None}
    assert tree.activate(R2) == {'changed': True, 'previous_release': R1}
    assert tree.activate(R2) == {'changed': False, 'previous_release': R1}
    assert os.readlink(tree.current) == 'releases/' + R2
    entries = tree.history()
    assert [(e['release_id'], e['previous'], e['actor'], e['reason']) for e in entries] == [
        (R1, None, 'alice', 'deploy'), (R2, R1, 'alice', 'deploy')]
    assert tree.info()['previous_release'] == R1


def test_failed_release_refused_unless_force(tmp_path):
    tree = rel.ReleaseTree(str(tmp_path))
    for rid in (R1, R2):
        os.makedirs(tree.release_path(rid))
    tree.activate(R1)
    tree.mark_failed(R2)
    with pytest.raises(ReleaseError) as e:
        tree.activate(R2)
    assert 'is marked failed' in str(e.value) and 'force=true' in str(e.value)
    assert tree.activate(R2, force=True)['changed'] is True
    assert tree.history()[-1]['forced'] is True


def test_mark_active_refused(tmp_path):
    tree = rel.ReleaseTree(str(tmp_path))
    os.makedirs(tree.release_path(R1))
    tree.activate(R1)
    with pytest.raises(ReleaseError) as e:
        tree.mark_failed(R1)
    assert 'it is the active release' in str(e.value)
    assert tree.mark_failed(R1, force=True) == {'changed': True}
    assert tree.mark_failed(R1, force=True) == {'changed': False}


def test_current_directory_is_refused(tmp_path):
    tree = rel.ReleaseTree(str(tmp_path))
    os.makedirs(tree.current)
    with pytest.raises(ReleaseError) as e:
        tree.active()
    assert 'is not a symlink' in str(e.value)


def test_relative_app_root_refused():
    with pytest.raises(ReleaseError):
        rel.ReleaseTree('srv/app')


# --------------------------------------------------------------------------- shared paths, checksums

@pytest.mark.parametrize('path', ['../etc', '/etc/passwd', 'a/../../b', '', '.', 'x\x00y'])
def test_hostile_shared_paths(path):
    with pytest.raises(ReleaseError):
        rel.safe_relpath(path, 'shared path')


def test_parse_checksum():
    assert rel.parse_checksum('a' * 64) == ('sha256', 'sha256:' + 'a' * 64)
    assert rel.parse_checksum('SHA512:' + 'B' * 128) == ('sha512', 'sha512:' + 'b' * 128)
    for bad in ('md5:' + 'a' * 32, 'sha256:xyz', 'sha256:' + 'a' * 63):
        with pytest.raises(ReleaseError):
            rel.parse_checksum(bad)


# --------------------------------------------------------------------------- unpacking

@pytest.mark.parametrize('members,needle', [
    ([('/etc/evil', 'file', b'x')], 'absolute path'),
    ([('a/../../evil', 'file', b'x')], 'contains ".."'),
    ([('up', 'sym', '../../outside')], 'outside the release'),
    ([('abs', 'sym', '/etc/passwd')], 'outside the release'),
    ([('pipe', 'fifo', None)], 'special file'),
    ([('hard', 'lnk', '../x')], 'contains ".."'),
])
def test_hostile_tar_refused(tmp_path, members, needle):
    archive = str(tmp_path / 'evil.tgz')
    make_tarball(archive, members)
    dest = tmp_path / 'dest'
    dest.mkdir()
    with pytest.raises(ReleaseError) as e:
        rel.unpack(archive, str(dest))
    assert needle in str(e.value)
    assert not (tmp_path / 'evil').exists()


@pytest.mark.parametrize('data_filter', [True, False], ids=['pep706', 'old-python'])
def test_symlink_chain_escape_refused(tmp_path, monkeypatch, data_filter):
    if not data_filter:
        monkeypatch.delattr(rel.tarfile, 'data_filter', raising=False)
    # s -> . and y -> s/.. look inside lexically, but y resolves to the parent of the release
    archive = str(tmp_path / 'chain.tgz')
    make_tarball(archive, [('s', 'sym', '.'), ('y', 'sym', 's/..')])
    dest = tmp_path / 'dest'
    dest.mkdir()
    with pytest.raises(ReleaseError) as e:
        rel.unpack(archive, str(dest))
    assert 'outside the release' in str(e.value)


def test_tar_with_inside_links_ok(tmp_path):
    archive = str(tmp_path / 'ok.tgz')
    make_tarball(archive, [('lib/real.js', 'file', b'ok'), ('node_modules/.bin/x', 'sym', '../../lib/real.js')])
    dest = tmp_path / 'dest'
    dest.mkdir()
    assert rel.unpack(archive, str(dest)) == 'tar'
    assert (dest / 'node_modules/.bin/x').read_bytes() == b'ok'


def test_zip_traversal_refused(tmp_path):
    archive = str(tmp_path / 'evil.zip')
    with zipfile.ZipFile(archive, 'w') as zf:
        zf.writestr('../evil', 'x')
    dest = tmp_path / 'dest'
    dest.mkdir()
    with pytest.raises(ReleaseError) as e:
        rel.unpack(archive, str(dest))
    assert 'contains ".."' in str(e.value)


def test_zip_ok_keeps_mode(tmp_path):
    archive = str(tmp_path / 'ok.zip')
    with zipfile.ZipFile(archive, 'w') as zf:
        info = zipfile.ZipInfo('bin/run')
        info.external_attr = 0o100755 << 16
        zf.writestr(info, '#!/bin/sh\n')
    dest = tmp_path / 'dest'
    dest.mkdir()
    assert rel.unpack(archive, str(dest)) == 'zip'
    assert os.stat(dest / 'bin/run').st_mode & 0o777 == 0o755


def test_not_an_archive(tmp_path):
    junk = tmp_path / 'junk.bin'
    junk.write_bytes(b'not an archive')
    dest = tmp_path / 'dest'
    dest.mkdir()
    with pytest.raises(ReleaseError) as e:
        rel.unpack(str(junk), str(dest))
    assert 'neither a directory nor a tar or zip archive' in str(e.value)


# --------------------------------------------------------------------------- git source (run_command patched)

def test_git_source_argv(tmp_path):
    calls = []
    src_tar = tmp_path / 'src.tar'
    make_tarball(str(src_tar), [('app.py', 'file', b'print(1)')])

    def fake_run(argv):
        calls.append(argv)
        if argv[1] == 'ls-remote':
            return 0, 'c' * 40 + '\trefs/heads/main\n', ''
        if 'rev-parse' in argv:
            return (0, 'c' * 40 + '\n', '') if argv[-1].startswith('refs/remotes/origin/') else (1, '', '')
        if 'archive' in argv:
            out = [a for a in argv if a.startswith('--output=')][0][len('--output='):]
            with open(out, 'wb') as f:
                f.write(src_tar.read_bytes())
        return 0, '', ''

    source = rel.GitSource('https://git.example/app.git', 'main', fake_run, git='/usr/bin/git')
    assert source.identity() == 'git:' + 'c' * 40
    dest = tmp_path / 'dest'
    work = tmp_path / 'work'
    dest.mkdir()
    work.mkdir()
    assert source.materialize(str(dest), str(work)) == ('git:' + 'c' * 40, 'c' * 40, 'git')
    clone = str(work / 'clone')
    assert calls[0] == ['/usr/bin/git', 'ls-remote', '--', 'https://git.example/app.git', 'main',
                        'refs/tags/main^{}']
    assert calls[1] == ['/usr/bin/git', 'clone', '--quiet', '--no-checkout', '--', 'https://git.example/app.git',
                        clone]
    assert calls[2] == ['/usr/bin/git', '-C', clone, 'rev-parse', '--verify', '--quiet',
                        'refs/remotes/origin/main^{commit}']
    assert calls[3] == ['/usr/bin/git', '-C', clone, 'archive', '--format=tar',
                        '--output=%s' % (work / 'export.tar'), 'c' * 40]
    assert (dest / 'app.py').read_bytes() == b'print(1)'


@pytest.mark.parametrize('ref', ['--upload-pack=touch /tmp/x', '-x', 'a..b', 'main;rm -rf /', 'a b', 'x\x00'])
def test_git_hostile_refs(ref):
    with pytest.raises(ReleaseError) as e:
        rel.GitSource('repo', ref, lambda argv: (0, '', ''))
    assert 'Could not use git ref' in str(e.value)


def test_git_hostile_repo():
    with pytest.raises(ReleaseError):
        rel.GitSource('--upload-pack=evil', 'main', lambda argv: (0, '', ''))


def test_git_failure_message():
    source = rel.GitSource('repo', 'main', lambda argv: (128, '', 'fatal: repository not found'))
    with pytest.raises(ReleaseError) as e:
        source.identity()
    assert str(e.value) == ('Could not resolve main in repo: git exited 128: fatal: repository not found. '
                            'Check git_repo, git_ref and access to the repository.')


# --------------------------------------------------------------------------- url source

def test_url_requires_checksum():
    with pytest.raises(ReleaseError) as e:
        rel.UrlSource('https://x/app.tgz', None, lambda u, d: None)
    assert 'a URL needs a checksum' in str(e.value)


def test_url_checksum_mismatch(tmp_path):
    def fetch(url, dest):
        with open(dest, 'wb') as f:
            f.write(b'tampered')
    source = rel.UrlSource('https://x/app.tgz', 'sha256:' + '0' * 64, fetch)
    with pytest.raises(ReleaseError) as e:
        source.materialize(str(tmp_path), str(tmp_path))
    assert 'expected sha256:' + '0' * 64 in str(e.value)


def test_present_keeps_no_partial_release_on_failure(tmp_path):
    tree = rel.ReleaseTree(str(tmp_path / 'app'))
    junk = tmp_path / 'junk.bin'
    junk.write_bytes(b'nope')
    with pytest.raises(ReleaseError):
        tree.present(R1, rel.PathSource(str(junk)))
    assert os.listdir(tree.releases_dir) == []


def test_release_metadata(tmp_path):
    src = tmp_path / 'src'
    src.mkdir()
    (src / 'app.py').write_text('v1')
    tree = rel.ReleaseTree(str(tmp_path / 'app'), actor='ci')
    r = tree.present(R1, rel.PathSource(str(src)))
    meta = json.loads((tmp_path / 'app/releases' / R1 / '.release.json').read_text())
    assert meta['checksum'] == r['checksum'] == rel.tree_checksum(str(src))
    assert (tmp_path / 'app/releases' / R1 / 'REVISION').read_text() == r['checksum'] + '\n'
    assert r['kind'] == 'directory' and meta['actor'] == 'ci'
