# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for plugins/module_utils/acme_client.py and the cert_renew module (ACME patched)."""
from __future__ import annotations

import datetime
import json
import os
import re
import stat

import pytest
import requests

from acme import errors as acme_errors, messages

from ansible.module_utils.testing import patch_module_args

from ansible_collections.runbook.ops.plugins.module_utils import acme_client
from ansible_collections.runbook.ops.plugins.modules import cert_renew

from test_certs import make, pem


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


class TestFileSet:
    def test_commit_backs_up_and_renames(self, tmp_path):
        (tmp_path / 'cert.pem').write_text('old cert')
        (tmp_path / 'key.pem').write_text('old key')
        fs = acme_client.FileSet()
        fs.add(str(tmp_path / 'key.pem'), b'new key', 0o600)
        fs.add(str(tmp_path / 'cert.pem'), b'new cert', 0o644)
        # nothing under a live name changes before commit
        assert (tmp_path / 'cert.pem').read_text() == 'old cert'
        backups = fs.commit()
        assert (tmp_path / 'cert.pem').read_text() == 'new cert'
        assert (tmp_path / 'cert.pem.bak').read_text() == 'old cert'
        assert (tmp_path / 'key.pem.bak').read_text() == 'old key'
        assert mode(str(tmp_path / 'key.pem')) == 0o600
        assert mode(str(tmp_path / 'cert.pem')) == 0o644
        assert backups == {str(tmp_path / 'key.pem'): str(tmp_path / 'key.pem') + '.bak',
                           str(tmp_path / 'cert.pem'): str(tmp_path / 'cert.pem') + '.bak'}
        assert sorted(os.listdir(tmp_path)) == ['cert.pem', 'cert.pem.bak', 'key.pem', 'key.pem.bak']

    def test_new_file_keeps_owner_of_replaced_file(self, tmp_path):
        # the suite runs as root (CI and lab); chown to another user needs it
        import pwd
        pg = pwd.getpwnam('postgres') if 'postgres' in [p.pw_name for p in pwd.getpwall()] else pwd.getpwnam('nobody')
        (tmp_path / 'key.pem').write_text('old key')
        os.chown(str(tmp_path / 'key.pem'), pg.pw_uid, pg.pw_gid)
        fs = acme_client.FileSet()
        fs.add(str(tmp_path / 'key.pem'), b'new key', 0o600)
        fs.add(str(tmp_path / 'new.pem'), b'new', 0o644)
        fs.commit()
        for name in ('key.pem', 'key.pem.bak'):
            st = os.stat(str(tmp_path / name))
            assert (st.st_uid, st.st_gid) == (pg.pw_uid, pg.pw_gid)
        assert os.stat(str(tmp_path / 'new.pem')).st_uid == 0

    def test_abort_leaves_old_files_and_no_temp(self, tmp_path):
        (tmp_path / 'cert.pem').write_text('old cert')
        fs = acme_client.FileSet()
        fs.add(str(tmp_path / 'cert.pem'), b'new cert', 0o644)
        fs.abort()
        assert os.listdir(tmp_path) == ['cert.pem']
        assert (tmp_path / 'cert.pem').read_text() == 'old cert'

    def test_unwritable_directory(self, tmp_path):
        (tmp_path / 'file').write_text('x')
        fs = acme_client.FileSet()
        with pytest.raises(acme_client.AcmeFailure, match=r'Could not write .*/file/cert\.pem') as e:
            fs.add(str(tmp_path / 'file' / 'cert.pem'), b'x', 0o644)
        assert e.value.stage == 'write'


class TestWebroot:
    def test_deploy_and_cleanup(self, tmp_path):
        r = acme_client.WebrootResponder(str(tmp_path))
        r.start()
        r.deploy('tok-123_x', 'tok-123_x.thumb')
        path = tmp_path / '.well-known' / 'acme-challenge' / 'tok-123_x'
        assert path.read_text() == 'tok-123_x.thumb' and mode(str(path)) == 0o644
        r.stop()
        assert os.listdir(tmp_path) == []

    def test_keeps_existing_challenge_dir(self, tmp_path):
        (tmp_path / '.well-known' / 'acme-challenge').mkdir(parents=True)
        r = acme_client.WebrootResponder(str(tmp_path))
        r.start()
        r.deploy('t', 'v')
        r.stop()
        assert os.listdir(tmp_path / '.well-known' / 'acme-challenge') == []

    @pytest.mark.parametrize('token', ['../../etc/passwd', '..', '', 'a/b'])
    def test_hostile_token(self, tmp_path, token):
        r = acme_client.WebrootResponder(str(tmp_path))
        r.start()
        with pytest.raises(acme_client.AcmeFailure, match='unsafe token'):
            r.deploy(token, 'v')
        r.stop()

    def test_missing_webroot(self, tmp_path):
        with pytest.raises(acme_client.AcmeFailure, match=r'Could not use webroot .*/nope: it is not a directory'):
            acme_client.WebrootResponder(str(tmp_path / 'nope')).start()


class TestKeys:
    @pytest.mark.parametrize('kt', ['ec256', 'rsa2048'])
    def test_generate_roundtrip(self, tmp_path, kt):
        k = acme_client.generate_private_key(kt)
        assert acme_client.key_type_of(k) == kt
        p = tmp_path / 'k.pem'
        acme_client.write_account_key(str(p), k)
        assert mode(str(p)) == 0o600
        assert acme_client.key_type_of(acme_client.load_private_key(str(p))) == kt

    def test_missing_and_garbage(self, tmp_path):
        assert acme_client.load_private_key(str(tmp_path / 'none')) is None
        (tmp_path / 'bad').write_text('not a key')
        with pytest.raises(acme_client.AcmeFailure, match='It must be an unencrypted PEM key'):
            acme_client.load_private_key(str(tmp_path / 'bad'))

    def test_public_key_matches(self):
        k1, c1 = make()
        k2, dummy = make()
        assert acme_client.public_key_matches(c1, k1) is True
        assert acme_client.public_key_matches(c1, k2) is False


class TestChainSelection:
    def test_preferred_by_top_issuer(self):
        root_a_key, root_a = make(('Root A',), after=1000)
        root_b_key, root_b = make(('Root B',), after=1000)
        dummy, leaf = make(('x.test',), issuer=(root_a, root_a_key))
        default = (pem(leaf) + pem(root_a)).decode()
        alt = (pem(leaf) + pem(root_b)).decode()
        assert acme_client.select_chain([default, alt], 'Root B') == (alt, True)
        assert acme_client.select_chain([default, alt], 'Root A') == (default, True)
        assert acme_client.select_chain([default, alt], 'Nope') == (default, False)
        assert acme_client.select_chain([default, alt], None) == (default, True)

    def test_split_fullchain(self):
        ca_key, ca = make(('CA',), after=1000)
        dummy, leaf = make(('x.test',), issuer=(ca, ca_key))
        leaf_pem, chain_pem, cert = acme_client.split_fullchain((pem(leaf) + pem(ca)).decode())
        assert leaf_pem == pem(leaf) and chain_pem == pem(ca) and cert.serial_number == 0x1f2e3d


class TestGuard:
    def session(self):
        return acme_client.AcmeSession('https://acme.test/dir', acme_client.generate_private_key('ec256'))

    def raiser(self, exc):
        def f():
            raise exc
        return f

    def test_rate_limited(self):
        err = messages.Error(typ='urn:ietf:params:acme:error:rateLimited', detail='too many certificates (5) already '
                             'issued for this exact set of domains')
        with pytest.raises(acme_client.AcmeFailure) as e:
            self.session()._guard('order', self.raiser(err))
        assert e.value.stage == 'rate_limited'
        assert str(e.value) == ('Could not renew: rate limited by the ACME server https://acme.test/dir (order): too '
                                'many certificates (5) already issued for this exact set of domains. Wait for the '
                                'limit to reset, use the staging directory for tests.')

    def test_unreachable(self):
        with pytest.raises(acme_client.AcmeFailure, match=r'^Could not reach the ACME server https://acme\.test/dir '
                                                          r'\(directory\): refused\. Check acme_directory') as e:
            self.session()._guard('directory', self.raiser(requests.exceptions.ConnectionError('refused')))
        assert e.value.stage == 'directory'

    def test_tls_untrusted(self):
        with pytest.raises(acme_client.AcmeFailure, match='Set acme_ca_bundle'):
            self.session()._guard('directory', self.raiser(requests.exceptions.SSLError('bad cert')))

    def test_timeout(self):
        with pytest.raises(acme_client.AcmeFailure, match=r'timed out after 90s') as e:
            self.session()._guard('finalize', self.raiser(acme_errors.TimeoutError()))
        assert e.value.stage == 'finalize'

    def test_other_problem(self):
        err = messages.Error(typ='urn:ietf:params:acme:error:rejectedIdentifier', detail='bad name')
        with pytest.raises(acme_client.AcmeFailure, match=r'^Could not complete order with the ACME server '
                                                          r'https://acme\.test/dir: rejectedIdentifier: bad name\.$'):
            self.session()._guard('order', self.raiser(err))


def run_module(args, check=False, capsys=None):
    if check:
        args = dict(args, _ansible_check_mode=True)
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            cert_renew.main()
    return json.loads(capsys.readouterr().out)


@pytest.fixture
def site(tmp_path):
    # the module reads the real clock: the certificate must be 5 days from expiry today, not on a fixed date
    key, cert = make(('app.test',), before=-85, after=5, now=datetime.datetime.now(datetime.timezone.utc))
    (tmp_path / 'cert.pem').write_bytes(pem(cert))
    (tmp_path / 'key.pem').write_bytes(acme_client.private_key_pem(key))
    return {'domains': ['app.test'], 'cert_path': str(tmp_path / 'cert.pem'), 'key_path': str(tmp_path / 'key.pem'),
            'account_key_path': str(tmp_path / 'account.key'), 'webroot': str(tmp_path),
            'acme_directory': 'https://acme.test/dir'}


class TestModule:
    def test_not_due_contacts_nothing(self, site, capsys, mocker):
        session = mocker.patch.object(cert_renew, 'AcmeSession')
        r = run_module(dict(site, renew_before_days=3), capsys=capsys)
        assert r['changed'] is False and r['due'] is False
        assert re.match(r'^\d+\.\d days left \(>= 3\)$', r['reason'])
        session.assert_not_called()

    def test_check_mode_contacts_nothing(self, site, capsys, mocker, tmp_path):
        session = mocker.patch.object(cert_renew, 'AcmeSession')
        before = sorted(os.listdir(tmp_path))
        r = run_module(dict(site, fullchain_path=str(tmp_path / 'fc.pem')), check=True, capsys=capsys)
        assert r['changed'] is True and r['due'] is True and r['renewed'] is False
        assert r['written'] == [site['key_path'], site['cert_path'], str(tmp_path / 'fc.pem')]
        assert r['account_key_created'] is True
        session.assert_not_called()
        assert sorted(os.listdir(tmp_path)) == before

    def test_acme_failure_keeps_files(self, site, capsys, mocker, tmp_path):
        session = mocker.patch.object(cert_renew, 'AcmeSession')
        failure = acme_client.AcmeFailure('Could not validate the domains: x.', 'challenge')
        session.return_value.issue.side_effect = failure
        old = (tmp_path / 'cert.pem').read_bytes(), (tmp_path / 'key.pem').read_bytes()
        r = run_module(site, capsys=capsys)
        assert r['failed'] is True and r['failed_stage'] == 'challenge'
        assert r['msg'] == 'Could not validate the domains: x. The old certificate files were left untouched.'
        assert ((tmp_path / 'cert.pem').read_bytes(), (tmp_path / 'key.pem').read_bytes()) == old
        assert not [f for f in os.listdir(tmp_path) if f.endswith('.tmp') or f.endswith('.bak')]

    @pytest.mark.parametrize('bad', ['app.test; rm -rf /', '*.app.test', 'a\x00b.test', '', '-lead.test'])
    def test_hostile_domains(self, site, capsys, mocker, bad):
        session = mocker.patch.object(cert_renew, 'AcmeSession')
        r = run_module(dict(site, domains=['ok.test', bad]), capsys=capsys)
        assert r['failed'] is True and r['msg'].startswith('Could not use domains ')
        session.assert_not_called()

    def test_missing_webroot_fails_before_any_contact(self, site, capsys, mocker, tmp_path):
        session = mocker.patch.object(cert_renew, 'AcmeSession')
        r = run_module(dict(site, webroot=str(tmp_path / 'nope')), capsys=capsys)
        assert r['failed'] is True and r['failed_stage'] == 'challenge'
        assert r['msg'].startswith('Could not use webroot %s: it is not a directory.' % (tmp_path / 'nope'))
        session.assert_not_called()
        assert not os.path.exists(site['account_key_path'])

    def test_same_path_twice(self, site, capsys):
        r = run_module(dict(site, fullchain_path=site['cert_path']), capsys=capsys)
        assert r['failed'] is True and 'must be different files' in r['msg']

    def test_domain_not_covered_is_due(self, site, capsys):
        r = run_module(dict(site, domains=['app.test', 'www.app.test'], renew_before_days=1), check=True,
                       capsys=capsys)
        assert r['due'] is True and r['reason'] == 'certificate does not cover www.app.test'
