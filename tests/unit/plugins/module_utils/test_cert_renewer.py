# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""CertRenewer (plugins/module_utils/cert_renew.py) without Ansible: a fake ACME session, real files."""
from __future__ import annotations

import datetime
import os

import pytest

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ansible_collections.runbook.ops.plugins.module_utils import acme_client
from ansible_collections.runbook.ops.plugins.module_utils.cert_renew import CertRenewError, CertRenewer

from test_certs import make, pem

NOW = datetime.datetime.now(datetime.timezone.utc)


def params(tmp_path, **kw):
    p = dict(domains=['app.test'], cert_path=str(tmp_path / 'cert.pem'), key_path=str(tmp_path / 'key.pem'),
             fullchain_path=str(tmp_path / 'fullchain.pem'), chain_path=None,
             account_key_path=str(tmp_path / 'account.key'), acme_directory='https://acme.test/dir',
             acme_ca_bundle=None, contact_email=None, terms_agreed=True, challenge='webroot', webroot=str(tmp_path),
             standalone_address='0.0.0.0', standalone_port=80, key_type='ec256', reuse_key=False,
             preferred_chain=None, force=False, renew_before_days=None, renew_before_pct=None, backup=True,
             owner=None, group=None, timeout=120)
    p.update(kw)
    return p


@pytest.fixture
def due(tmp_path):
    """A certificate 5 days from expiry with its key and fullchain; returns the bytes of every file."""
    key, cert = make(('app.test',), before=-85, after=5, now=NOW)
    (tmp_path / 'cert.pem').write_bytes(pem(cert))
    (tmp_path / 'key.pem').write_bytes(acme_client.private_key_pem(key))
    (tmp_path / 'fullchain.pem').write_bytes(pem(cert))
    return tree_bytes(tmp_path)


def tree_bytes(root):
    out = {}
    for dirpath, dirnames, filenames in os.walk(str(root)):
        for n in dirnames + filenames:
            full = os.path.join(dirpath, n)
            st = os.lstat(full)
            data = open(full, 'rb').read() if os.path.isfile(full) else None
            out[os.path.relpath(full, str(root))] = (st.st_mode, data)
    return out


class FakeSession(object):
    """Issues a certificate for the CSR key, signed by a throwaway CA; records the calls."""
    calls = []

    def __init__(self, directory, account_key, ca_bundle=None, timeout=None):
        self.account_created = True
        FakeSession.calls.append(('init', directory))

    def connect(self):
        FakeSession.calls.append(('connect',))

    def register(self, email, agreed):
        FakeSession.calls.append(('register', email, agreed))

    def issue(self, domains, key, responder, preferred_chain):
        FakeSession.calls.append(('issue', tuple(domains)))
        ca_key = ec.generate_private_key(ec.SECP256R1())
        ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, 'Fake CA')])
        ca = (x509.CertificateBuilder().subject_name(ca_name).issuer_name(ca_name).public_key(ca_key.public_key())
              .serial_number(1).not_valid_before(NOW - datetime.timedelta(days=1))
              .not_valid_after(NOW + datetime.timedelta(days=900)).sign(ca_key, hashes.SHA256()))
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, domains[0])])
        leaf = (x509.CertificateBuilder().subject_name(subject)
                .issuer_name(ca_name).public_key(key.public_key()).serial_number(0x7a03bb91)
                .not_valid_before(NOW - datetime.timedelta(days=1)).not_valid_after(NOW + datetime.timedelta(days=90))
                .add_extension(x509.SubjectAlternativeName([x509.DNSName(d) for d in domains]), critical=False)
                .sign(ca_key, hashes.SHA256()))
        return (pem(leaf) + pem(ca)).decode(), True


@pytest.fixture(autouse=True)
def reset_calls():
    FakeSession.calls = []


def no_session(*args, **kwargs):
    raise AssertionError('the ACME server must not be contacted')


def test_check_mode_touches_nothing_and_contacts_nothing(tmp_path, due):
    r = CertRenewer(params(tmp_path), check_mode=True, diff=True, session_factory=no_session).run()
    assert r['changed'] is True and r['due'] is True and r['renewed'] is False
    assert r['written'] == [str(tmp_path / 'key.pem'), str(tmp_path / 'cert.pem'), str(tmp_path / 'fullchain.pem')]
    assert r['account_key_created'] is True
    assert r['diff']['after'] == '(a new certificate for app.test)\n'
    assert tree_bytes(tmp_path) == due


def test_check_mode_with_reuse_key_would_not_write_the_key(tmp_path, due):
    r = CertRenewer(params(tmp_path, reuse_key=True), check_mode=True, session_factory=no_session).run()
    assert r['written'] == [str(tmp_path / 'cert.pem'), str(tmp_path / 'fullchain.pem')]


def test_not_due_contacts_nothing(tmp_path, due):
    r = CertRenewer(params(tmp_path, renew_before_days=3), session_factory=no_session).run()
    assert r['changed'] is False and r['due'] is False and r['new'] is None
    assert tree_bytes(tmp_path) == due


def test_renewal_installs_every_file_and_reports(tmp_path, due):
    warnings = []
    r = CertRenewer(params(tmp_path), diff=True, warn=warnings.append, session_factory=FakeSession).run()
    assert [c[0] for c in FakeSession.calls] == ['init', 'connect', 'register', 'issue']
    assert r['changed'] is True and r['renewed'] is True and r['key_rotated'] is True
    assert r['account_created'] is True and r['account_key_created'] is True and r['preferred_chain_found'] is True
    assert r['new']['serial'] != r['old']['serial']
    assert r['written'] == [str(tmp_path / 'key.pem'), str(tmp_path / 'cert.pem'), str(tmp_path / 'fullchain.pem')]
    assert sorted(r['backups']) == sorted(r['written'])
    assert r['diff']['after'].startswith('serial: %s\n' % r['new']['serial'])
    assert os.stat(str(tmp_path / 'key.pem')).st_mode & 0o777 == 0o600
    assert os.stat(str(tmp_path / 'account.key')).st_mode & 0o777 == 0o600
    # a second run finds a fresh certificate: nothing due, nothing contacted
    again = CertRenewer(params(tmp_path), session_factory=no_session).run()
    assert again['changed'] is False and again['due'] is False


def test_acme_failure_is_reported_with_stage_and_the_old_files_stay(tmp_path, due):
    class Refused(FakeSession):
        def issue(self, *args):
            raise acme_client.AcmeFailure('Could not validate the domains: x.', 'challenge')

    with pytest.raises(CertRenewError) as e:
        CertRenewer(params(tmp_path), session_factory=Refused).run()
    assert str(e.value) == 'Could not validate the domains: x. The old certificate files were left untouched.'
    assert e.value.result['failed_stage'] == 'challenge' and 'changed' not in e.value.result
    assert e.value.result['renewed'] is False and e.value.result['written'] == []
    assert e.value.result['account_key_created'] is True
    assert dict((k, v) for k, v in tree_bytes(tmp_path).items() if k != 'account.key') == due


def test_key_mismatch_fails_at_finalize_before_any_write(tmp_path, due):
    with pytest.raises(CertRenewError) as e:
        CertRenewer(params(tmp_path), session_factory=FakeSession, key_matches=lambda leaf, key: False).run()
    assert e.value.result['failed_stage'] == 'finalize'
    assert str(e.value).startswith('Could not install the new certificate: its public key does not match')
    assert dict((k, v) for k, v in tree_bytes(tmp_path).items() if k != 'account.key') == due


@pytest.mark.parametrize('kw, msg', [
    (dict(domains=['ok.test', '*.app.test']), "Could not use domains ['*.app.test']: each must be a DNS name"),
    (dict(domains=['a.test; rm -rf /']), 'Could not use domains '),
    (dict(domains=['a\x00b.test']), 'Could not use domains '),
    (dict(renew_before_pct=100.0), 'Could not use renew_before_pct=100.0: it must be between 0 and 100'),
    (dict(chain_path='CERT'), 'Could not use the paths '),
])
def test_invalid_options_refused_before_anything(tmp_path, due, kw, msg):
    if kw.get('chain_path') == 'CERT':
        kw = dict(chain_path=str(tmp_path / 'cert.pem'))
    with pytest.raises(CertRenewError) as e:
        CertRenewer(params(tmp_path, force=True, **kw), session_factory=no_session).run()
    assert str(e.value).startswith(msg) and e.value.result == {}
    assert tree_bytes(tmp_path) == due


def test_missing_webroot_fails_before_the_account_key_is_made(tmp_path, due):
    with pytest.raises(CertRenewError) as e:
        CertRenewer(params(tmp_path, webroot=str(tmp_path / 'nope')), session_factory=no_session).run()
    assert e.value.result['failed_stage'] == 'challenge'
    assert tree_bytes(tmp_path) == due
