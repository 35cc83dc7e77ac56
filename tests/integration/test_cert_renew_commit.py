# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Issue 17 #4 for real: cert_renew against pebble, with the live fullchain made immutable (chattr +i).

The certificate is really issued (HTTP-01 through nginx), the key and cert are renamed into place, then the rename
over the immutable fullchain fails with EPERM (root cannot bypass the immutable flag, unlike file permissions).
The commit must put the key and cert back, so nginx keeps a matching old key/cert pair, and say so. Once the flag is
cleared, the same task installs the whole new set.
"""
from __future__ import annotations

import hashlib
import os
import subprocess

import pytest

from certs_fixtures import openssl_x509, served_serial

DOMAIN = 'app1.rbo.test'


def digest(paths):
    out = {}
    for p in paths:
        with open(p, 'rb') as f:
            out[p] = hashlib.sha256(f.read()).hexdigest()
    return out


def chattr(flag, path):
    return subprocess.run(['chattr', flag, path], capture_output=True, text=True, check=False)


@pytest.fixture
def immutable_fullchain(nginx_with_pebble):  # noqa: F811
    nginx, pebble, site = nginx_with_pebble
    r = chattr('+i', site['fullchain'])
    if r.returncode != 0:
        pytest.skip('chattr +i is not available here (needs root and a filesystem with the immutable flag): %s'
                    % r.stderr.strip())
    try:
        yield site['fullchain']
    finally:
        chattr('-i', site['fullchain'])


def test_immutable_fullchain_rolls_back_key_and_cert(run_module, nginx_with_pebble, certs_tmp,  # noqa: F811
                                                     immutable_fullchain):
    nginx, pebble, site = nginx_with_pebble
    args = {
        'domains': [DOMAIN], 'cert_path': site['cert'], 'key_path': site['key'], 'fullchain_path': site['fullchain'],
        'chain_path': os.path.join(site['dir'], 'chain.pem'),
        'account_key_path': os.path.join(certs_tmp, 'acme-commit', 'account.key'),
        'acme_directory': pebble.directory, 'acme_ca_bundle': pebble.ca_bundle, 'terms_agreed': True,
        'webroot': nginx.webroot, 'timeout': 60,
    }
    live = [args['key_path'], args['cert_path'], args['fullchain_path']]
    before = digest(live)
    listing = sorted(os.listdir(site['dir']))
    old_serial = served_serial(nginx.tls_port, DOMAIN)

    r = run_module('cert_renew', args)
    assert r['failed'] is True and r['failed_stage'] == 'write', r
    assert r['msg'].startswith('Could not install the new certificate: %s could not be replaced: Operation not '
                               'permitted (EPERM). The files already replaced (%s, %s) were put back, so the old '
                               'certificate files are all in place.'
                               % (args['fullchain_path'], args['key_path'], args['cert_path'])), r['msg']
    assert 'left untouched' not in r['msg']
    assert r['written'] == [] and r['renewed'] is False
    # independent checks: the bytes of every live file, no chain.pem, no temp/kept/backup file, and nginx still
    # loads a matching pair (the old key with the old certificate)
    assert digest(live) == before
    assert sorted(os.listdir(site['dir'])) == listing
    assert nginx.test_config().returncode == 0
    nginx.reload()
    assert served_serial(nginx.tls_port, DOMAIN) == old_serial
    assert format(int(openssl_x509(args['cert_path'], 'serial')['serial'], 16), 'x') == old_serial

    # the cause removed, the same task installs the whole set
    assert chattr('-i', args['fullchain_path']).returncode == 0
    r = run_module('cert_renew', args)
    assert r.get('failed') is not True, r.get('msg')
    assert r['renewed'] is True and r['written'] == live + [args['chain_path']]
    for p in (args['cert_path'], args['fullchain_path']):
        assert format(int(openssl_x509(p, 'serial')['serial'], 16), 'x') == r['new']['serial']
    assert digest([args['key_path']]) != {args['key_path']: before[args['key_path']]}
    assert nginx.test_config().returncode == 0
    nginx.reload()
    assert served_serial(nginx.tls_port, DOMAIN) == r['new']['serial']
