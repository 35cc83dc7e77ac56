# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 17 #4: cert_renew commits the key, cert, fullchain and chain all or nothing, and says what is on disk.

A rename onto a bind-mounted or immutable file fails with EBUSY or EPERM. Here os.rename/os.replace fail for one
destination (the Nth file of the set): the files already swapped in must be put back, and the message must tell the
truth; when putting them back fails too, it must say exactly which files are new and which are old.
"""
from __future__ import annotations

import datetime
import errno
import json
import os

import pytest

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from ansible.module_utils.testing import patch_module_args

from ansible_collections.runbook.ops.plugins.module_utils import acme_client
from ansible_collections.runbook.ops.plugins.modules import cert_renew

from test_certs import make, pem

NAMES = ('key.pem', 'cert.pem', 'fullchain.pem', 'chain.pem')


def fail_renames_onto(monkeypatch, should_fail):
    """Make os.rename and os.replace raise for destinations ``should_fail(dst, attempt)`` picks (attempt from 1)."""
    attempts = {}
    real_rename, real_replace = os.rename, os.replace

    def wrap(real):
        def fake(src, dst, *args, **kwargs):
            dst_s = os.path.abspath(os.fspath(dst))
            attempts[dst_s] = attempts.get(dst_s, 0) + 1
            err = should_fail(dst_s, attempts[dst_s])
            if err:
                raise OSError(err, os.strerror(err), os.fspath(src), os.fspath(dst))
            return real(src, dst, *args, **kwargs)
        return fake
    monkeypatch.setattr(os, 'rename', wrap(real_rename))
    monkeypatch.setattr(os, 'replace', wrap(real_replace))
    return attempts


def staged_set(tmp_path, chain_exists=False):
    """Old files on disk (chain.pem only when asked), an older .bak of cert.pem, and a FileSet of new ones."""
    paths = dict((n, str(tmp_path / n)) for n in NAMES)
    for n in NAMES:
        if n != 'chain.pem' or chain_exists:
            (tmp_path / n).write_text('old ' + n)
    (tmp_path / 'cert.pem.bak').write_text('older cert')
    os.chmod(paths['key.pem'], 0o600)
    fs = acme_client.FileSet()
    for n in NAMES:
        fs.add(paths[n], ('new ' + n).encode(), 0o600 if n == 'key.pem' else 0o644)
    return fs, paths


def on_disk(tmp_path):
    return dict((n, (tmp_path / n).read_text()) for n in sorted(os.listdir(str(tmp_path)))
                if os.path.isfile(str(tmp_path / n)))


@pytest.mark.parametrize('err', [errno.EBUSY, errno.EPERM])
@pytest.mark.parametrize('nth', [1, 2, 3, 4])
@pytest.mark.parametrize('chain_exists', [True, False])
def test_failed_rename_rolls_back_every_file(tmp_path, monkeypatch, err, nth, chain_exists):
    fs, paths = staged_set(tmp_path, chain_exists)
    before = on_disk(tmp_path)
    before = dict((k, v) for k, v in before.items() if not k.startswith('.'))  # staged temp files
    failing = paths[NAMES[nth - 1]]
    fail_renames_onto(monkeypatch, lambda dst, attempt: err if dst == failing else 0)
    with pytest.raises(acme_client.AcmeFailure) as e:
        fs.commit()
    fs.abort()  # what cert_renew does after a failure: must not undo the rollback
    # every file is the old one, chain.pem is absent when it was absent, no temp or keep file is left,
    # and the older .bak was not overwritten by a commit that did not happen
    assert on_disk(tmp_path) == before
    assert os.stat(paths['key.pem']).st_mode & 0o777 == 0o600
    msg = str(e.value)
    assert e.value.stage == 'write' and e.value.files_state == 'restored' and e.value.written == []
    assert msg.startswith('Could not install the new certificate: %s could not be replaced: %s (%s).'
                          % (failing, os.strerror(err), errno.errorcode[err])), msg
    replaced = [paths[n] for n in NAMES[:nth - 1]]
    if replaced:
        assert 'The files already replaced (%s) were put back' % ', '.join(replaced) in msg, msg
    else:
        assert 'No file had been replaced yet' in msg, msg
    assert 'the old certificate files are all in place' in msg
    assert 'left untouched' not in msg
    assert msg.endswith('Check that %s is not a bind mount or an immutable file (lsattr), then rerun.' % failing)


def test_rollback_that_fails_says_which_files_are_new_and_which_old(tmp_path, monkeypatch):
    fs, paths = staged_set(tmp_path, chain_exists=True)
    # fullchain.pem cannot be replaced (bind mount); cert.pem takes the new file but refuses the way back
    fail_renames_onto(monkeypatch, lambda dst, attempt: (
        errno.EBUSY if dst == paths['fullchain.pem'] else
        errno.EPERM if dst == paths['cert.pem'] and attempt == 2 else 0))
    with pytest.raises(acme_client.AcmeFailure) as e:
        fs.commit()
    fs.abort()
    msg = str(e.value)
    assert e.value.files_state == 'mixed' and e.value.written == [paths['cert.pem']]
    # what the message says is what is on disk
    assert (tmp_path / 'cert.pem').read_text() == 'new cert.pem'
    for n in ('key.pem', 'fullchain.pem', 'chain.pem'):
        assert (tmp_path / n).read_text() == 'old ' + n
    keep = [n for n in os.listdir(str(tmp_path)) if n.startswith('.cert.pem.') and n.endswith('.old')]
    assert len(keep) == 1 and (tmp_path / keep[0]).read_text() == 'old cert.pem'
    assert msg.startswith('Could not install the new certificate: %s could not be replaced: Device or resource '
                          'busy (EBUSY), and putting the old files back failed too.' % paths['fullchain.pem']), msg
    assert 'NEW files in place: %s.' % paths['cert.pem'] in msg
    assert 'OLD files in place: %s, %s, %s.' % (paths['key.pem'], paths['fullchain.pem'], paths['chain.pem']) in msg
    assert 'The old %s is kept at %s (Operation not permitted (EPERM)).' % (
        paths['cert.pem'], str(tmp_path / keep[0])) in msg
    assert 'left untouched' not in msg and 'all in place' not in msg
    # nothing else is left behind: no staged temp file
    assert not [n for n in os.listdir(str(tmp_path)) if n.endswith('.tmp')]


def test_success_keeps_backups_and_leaves_no_keep_file(tmp_path):
    fs, paths = staged_set(tmp_path, chain_exists=False)
    backups = fs.commit()
    assert dict((n, (tmp_path / n).read_text()) for n in NAMES) == dict((n, 'new ' + n) for n in NAMES)
    assert backups == dict((paths[n], paths[n] + '.bak') for n in NAMES if n != 'chain.pem')
    for n in ('key.pem', 'cert.pem', 'fullchain.pem'):
        assert (tmp_path / (n + '.bak')).read_text() == 'old ' + n
    assert os.stat(paths['key.pem'] + '.bak').st_mode & 0o777 == 0o600
    assert sorted(os.listdir(str(tmp_path))) == sorted(list(NAMES) + [n + '.bak' for n in NAMES[:3]])


def test_success_without_backup_leaves_no_keep_file(tmp_path):
    fs, paths = staged_set(tmp_path, chain_exists=True)
    assert fs.commit(backup=False) == {}
    assert sorted(os.listdir(str(tmp_path))) == sorted(list(NAMES) + ['cert.pem.bak'])
    assert (tmp_path / 'cert.pem.bak').read_text() == 'older cert'


def test_keep_copy_when_hard_link_is_refused(tmp_path, monkeypatch):
    """An immutable or foreign-owned file cannot be hard-linked: the old content is copied instead."""
    fs, paths = staged_set(tmp_path, chain_exists=True)

    def no_link(*args, **kwargs):
        raise OSError(errno.EPERM, os.strerror(errno.EPERM))
    monkeypatch.setattr(os, 'link', no_link)
    fail_renames_onto(monkeypatch, lambda dst, attempt: errno.EBUSY if dst == paths['chain.pem'] else 0)
    with pytest.raises(acme_client.AcmeFailure) as e:
        fs.commit()
    assert e.value.files_state == 'restored'
    for n in NAMES:
        assert (tmp_path / n).read_text() == 'old ' + n
    assert os.stat(paths['key.pem']).st_mode & 0o777 == 0o600


# --------------------------------------------------------------------------- through the module

def run_module(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            cert_renew.main()
    return json.loads(capsys.readouterr().out)


def cert_for(key, names=('app.test',)):
    now = datetime.datetime.now(datetime.timezone.utc)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])])
    return (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(0x7a03bb91).not_valid_before(now - datetime.timedelta(days=1))
            .not_valid_after(now + datetime.timedelta(days=90))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
            .sign(key, hashes.SHA256()))


@pytest.fixture
def due_site(tmp_path):
    key, cert = make(('app.test',), before=-85, after=5, now=datetime.datetime.now(datetime.timezone.utc))
    (tmp_path / 'cert.pem').write_bytes(pem(cert))
    (tmp_path / 'key.pem').write_bytes(acme_client.private_key_pem(key))
    (tmp_path / 'fullchain.pem').write_bytes(pem(cert))
    new = cert_for(key)
    fullchain = (pem(new) + pem(cert)).decode()
    args = {'domains': ['app.test'], 'cert_path': str(tmp_path / 'cert.pem'), 'key_path': str(tmp_path / 'key.pem'),
            'fullchain_path': str(tmp_path / 'fullchain.pem'), 'chain_path': str(tmp_path / 'chain.pem'),
            'account_key_path': str(tmp_path / 'account.key'), 'webroot': str(tmp_path),
            'acme_directory': 'https://acme.test/dir'}
    return args, fullchain


@pytest.mark.parametrize('err', [errno.EBUSY, errno.EPERM])
@pytest.mark.parametrize('reuse_key', [True, False])
def test_module_reports_a_rolled_back_commit_truthfully(due_site, capsys, mocker, monkeypatch, tmp_path, err,
                                                        reuse_key):
    args, fullchain = due_site
    if not reuse_key:
        mocker.patch.object(cert_renew, 'public_key_matches', return_value=True)
    session = mocker.patch.object(cert_renew, 'AcmeSession')
    session.return_value.issue.return_value = (fullchain, True)
    session.return_value.account_created = False
    names = ('cert.pem', 'key.pem', 'fullchain.pem')
    old = dict((n, (tmp_path / n).read_bytes()) for n in names)
    fail_renames_onto(monkeypatch, lambda dst, attempt: err if dst == args['fullchain_path'] else 0)
    r = run_module(dict(args, reuse_key=reuse_key), capsys)
    assert r['failed'] is True and r['failed_stage'] == 'write'
    assert dict((n, (tmp_path / n).read_bytes()) for n in names) == old
    assert not (tmp_path / 'chain.pem').exists()
    assert r['msg'].startswith('Could not install the new certificate: %s could not be replaced: %s'
                               % (args['fullchain_path'], os.strerror(err)))
    replaced = ([] if reuse_key else [args['key_path']]) + [args['cert_path']]
    assert 'The files already replaced (%s) were put back, so the old certificate files are all in place.' \
        % ', '.join(replaced) in r['msg']
    assert 'left untouched' not in r['msg']
    assert r['written'] == [] and r['renewed'] is False and r['new'] is None
    assert not [n for n in os.listdir(str(tmp_path)) if n.startswith('.')]
