# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cert_renew against a real pebble ACME server, HTTP-01 validated for real through a real nginx.

pebble resolves every name to 127.0.0.1 through pebble-challtestsrv and fetches
http://app1.rbo.test:<nginx http port>/.well-known/acme-challenge/<token>, which nginx serves
from the webroot the module writes to (no PEBBLE_VA_ALWAYS_VALID in this file).
Independent checks: `openssl x509`, `openssl s_client` against nginx after a reload, and
pebble's management API (cert-status-by-serial).
"""
from __future__ import annotations

import hashlib
import os
import stat
import tempfile

import pytest

from certs_fixtures import free_port, openssl_x509, served_serial

DOMAIN = 'app1.rbo.test'


def digest(*paths):
    out = {}
    for p in paths:
        with open(p, 'rb') as f:
            out[p] = hashlib.sha256(f.read()).hexdigest()
    return out


def mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture(scope='module')
def env(nginx_with_pebble, certs_tmp):  # noqa: F811
    nginx, pebble, site = nginx_with_pebble
    args = {
        'domains': [DOMAIN],
        'cert_path': os.path.join(site['dir'], 'cert.pem'),
        'key_path': site['key'],
        'fullchain_path': site['fullchain'],
        'chain_path': os.path.join(site['dir'], 'chain.pem'),
        'account_key_path': os.path.join(certs_tmp, 'acme', 'account.key'),
        'acme_directory': pebble.directory,
        'acme_ca_bundle': pebble.ca_bundle,
        'contact_email': 'ops@rbo.test',
        'terms_agreed': True,
        'webroot': nginx.webroot,
        'timeout': 60,
    }
    os.rename(site['cert'], args['cert_path'])
    return nginx, pebble, args


def files(args):
    return [args['cert_path'], args['key_path'], args['fullchain_path']]


def test_01_check_mode_writes_nothing(run_module, env):
    nginx, pebble, args = env
    before = digest(*files(args))
    r = run_module('cert_renew', args, check=True, diff=True)
    assert r.get('failed') is not True, r.get('msg')
    assert r['changed'] is True and r['due'] is True and r['renewed'] is False
    assert r['written'] == [args['key_path'], args['cert_path'], args['fullchain_path'], args['chain_path']]
    assert r['account_key_created'] is True
    assert digest(*files(args)) == before
    assert not os.path.exists(args['account_key_path']) and not os.path.exists(args['chain_path'])
    assert 'acme-challenge' not in str(os.listdir(nginx.webroot))
    assert 'sign-me-up' not in pebble.log()  # no account was registered


def test_02_issue_real_http01_through_nginx(run_module, env):
    nginx, pebble, args = env
    old_serial = served_serial(nginx.tls_port, DOMAIN)
    old_key = digest(args['key_path'])[args['key_path']]
    r = run_module('cert_renew', args, diff=True)
    assert r.get('failed') is not True, r.get('msg')
    assert r['changed'] is True and r['renewed'] is True and r['key_rotated'] is True
    assert r['old']['serial'] == old_serial and r['new']['serial'] != old_serial
    assert r['account_created'] is True and r['account_key_created'] is True
    # files on disk, read by openssl
    assert format(int(openssl_x509(args['cert_path'], 'serial')['serial'], 16), 'x') == r['new']['serial']
    assert format(int(openssl_x509(args['fullchain_path'], 'serial')['serial'], 16), 'x') == r['new']['serial']
    assert 'Pebble Intermediate CA' in openssl_x509(args['chain_path'], 'subject')['subject']
    assert mode(args['key_path']) == 0o600 and mode(args['account_key_path']) == 0o600
    assert digest(args['key_path'])[args['key_path']] != old_key
    # previous files kept as .bak
    assert r['backups'] == {p: p + '.bak' for p in files(args)}
    assert format(int(openssl_x509(args['cert_path'] + '.bak', 'serial')['serial'], 16), 'x') == old_serial
    # pebble issued it (its own records), HTTP-01 was really fetched through nginx
    assert pebble.cert_status(r['new']['serial'])['Status'] == 'Valid'
    with open(os.path.join(nginx.dir, 'access.log')) as f:
        assert '/.well-known/acme-challenge/' in f.read()
    assert os.listdir(nginx.webroot) == []  # challenge files and dirs removed
    # diff: serial and date, never key material
    assert r['diff']['before'] == 'serial: %s\nnot_after: %s\n' % (old_serial, r['old']['not_after'])
    assert r['diff']['after'] == 'serial: %s\nnot_after: %s\n' % (r['new']['serial'], r['new']['not_after'])
    assert 'PRIVATE KEY' not in r['_stdout'] + r['_stderr']
    # nginx serves the new certificate after a reload
    assert nginx.test_config().returncode == 0
    nginx.reload()
    assert served_serial(nginx.tls_port, DOMAIN) == r['new']['serial']


def test_03_not_due_is_unchanged(run_module, env):
    nginx, pebble, args = env
    before = digest(*files(args))
    r = run_module('cert_renew', args)
    assert r['changed'] is False and r['due'] is False and r['renewed'] is False and r['new'] is None
    assert r['reason'].endswith('days left (>= 30)')
    assert digest(*files(args)) == before
    r = run_module('cert_renew', args, check=True)
    assert r['changed'] is False and r['written'] == []


def test_04_force_reuse_key(run_module, env):
    nginx, pebble, args = env
    before = digest(*files(args))
    old = openssl_x509(args['cert_path'], 'serial')['serial']
    r = run_module('cert_renew', dict(args, force=True, reuse_key=True))
    assert r.get('failed') is not True, r.get('msg')
    assert r['renewed'] is True and r['key_rotated'] is False and r['account_created'] is False
    assert r['reason'] == 'forced'
    assert format(int(old, 16), 'x') == r['old']['serial'] != r['new']['serial']
    after = digest(*files(args))
    assert after[args['key_path']] == before[args['key_path']]
    assert after[args['cert_path']] != before[args['cert_path']]
    assert args['key_path'] not in r['backups'] and args['key_path'] not in r['written']


def test_05_force_rotate_rsa(run_module, env):
    nginx, pebble, args = env
    before = digest(*files(args))
    r = run_module('cert_renew', dict(args, force=True, key_type='rsa2048'))
    assert r.get('failed') is not True, r.get('msg')
    assert r['key_rotated'] is True
    assert digest(args['key_path'])[args['key_path']] != before[args['key_path']]
    assert digest(args['key_path'] + '.bak')[args['key_path'] + '.bak'] == before[args['key_path']]
    assert mode(args['key_path']) == 0o600
    info = run_module('cert_info', {'path': args['fullchain_path']})
    assert info['public_key'] == 'rsa2048' and info['serial'] == r['new']['serial'] and info['chain_length'] == 2


def test_06_failing_challenge_leaves_files(run_module, env):
    nginx, pebble, args = env
    before = digest(*files(args))
    not_served = tempfile.mkdtemp(prefix='rbo-notserved-')
    r = run_module('cert_renew', dict(args, force=True, webroot=not_served))
    assert r['failed'] is True and r['failed_stage'] == 'challenge'
    assert r['msg'].startswith('Could not validate the domains: the challenge failed (http-01 for app1.rbo.test: ')
    assert r['msg'].endswith('The old certificate files were left untouched.')
    assert '404' in r['msg']
    assert digest(*files(args)) == before
    assert os.listdir(not_served) == []  # token removed
    assert not [f for f in os.listdir(os.path.dirname(args['cert_path'])) if f.endswith('.tmp')]
    os.rmdir(not_served)


def test_07_unreachable_and_untrusted(run_module, env):
    nginx, pebble, args = env
    before = digest(*files(args))
    port = free_port()
    r = run_module('cert_renew', dict(args, force=True, acme_directory='https://127.0.0.1:%d/dir' % port))
    assert r['failed'] is True and r['failed_stage'] == 'directory'
    assert r['msg'].startswith('Could not reach the ACME server https://127.0.0.1:%d/dir (directory): ' % port)
    r = run_module('cert_renew', dict(args, force=True, acme_ca_bundle=None))
    assert r['failed'] is True and 'Set acme_ca_bundle' in r['msg']
    assert digest(*files(args)) == before


def test_08_hostile_domain(run_module, env):
    nginx, pebble, args = env
    before = digest(*files(args))
    r = run_module('cert_renew', dict(args, force=True, domains=[DOMAIN, '$(touch /tmp/pwned).rbo.test']))
    assert r['failed'] is True and r['msg'].startswith('Could not use domains ')
    assert digest(*files(args)) == before and not os.path.exists('/tmp/pwned')
