# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cert_renew with its standalone HTTP-01 responder (real validation by pebble) and chain selection.

pebble here offers one alternate chain (PEBBLE_ALTERNATE_ROOTS=1); preferred_chain picks it by
the root's common name, checked against pebble's own /roots/1.
"""
from __future__ import annotations

import os
import socket

import pytest

from cryptography import x509
from cryptography.x509.oid import NameOID

from certs_fixtures import PebbleServer, free_port


@pytest.fixture(scope='module')
def pebble_standalone():
    port = free_port()
    pebble = PebbleServer(http_port=port, alternate_roots=1).start()
    yield pebble, port
    pebble.stop()


def root_cn(pem):
    return x509.load_pem_x509_certificate(pem.encode()).subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def top_issuer_cn(path):
    with open(path, 'rb') as f:
        certs = x509.load_pem_x509_certificates(f.read())
    return certs[-1].issuer.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value


def base_args(pebble, port, d):
    return {'domains': ['solo.rbo.test', 'www.solo.rbo.test'], 'cert_path': os.path.join(d, 'cert.pem'),
            'key_path': os.path.join(d, 'key.pem'), 'fullchain_path': os.path.join(d, 'fullchain.pem'),
            'account_key_path': os.path.join(d, 'account.key'), 'acme_directory': pebble.directory,
            'acme_ca_bundle': pebble.ca_bundle, 'terms_agreed': True, 'challenge': 'standalone',
            'standalone_address': '127.0.0.1', 'standalone_port': port, 'timeout': 60}


def test_standalone_first_issue_and_preferred_chain(run_module, pebble_standalone, certs_tmp):  # noqa: F811
    pebble, port = pebble_standalone
    d = os.path.join(certs_tmp, 'solo')
    args = base_args(pebble, port, d)
    alt_root = root_cn(pebble.root_pem(1))
    assert alt_root != root_cn(pebble.root_pem(0))
    r = run_module('cert_renew', dict(args, preferred_chain=alt_root))
    assert r.get('failed') is not True, r.get('msg')
    assert r['renewed'] is True and r['old'] is None and r['backups'] == {}
    assert r['reason'] == 'no certificate at %s' % args['cert_path']
    assert r['preferred_chain_found'] is True
    assert top_issuer_cn(args['fullchain_path']) == alt_root
    assert pebble.cert_status(r['new']['serial'])['Status'] == 'Valid'
    info = run_module('cert_info', {'path': args['cert_path']})
    assert info['subject_alt_names'] == ['solo.rbo.test', 'www.solo.rbo.test'] and info['chain_length'] == 1
    # the standalone server is gone: the port is free again
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is fine, a listener is not
        s.bind(('127.0.0.1', port))
        s.listen(1)
    # an unknown preferred chain falls back to the default one
    r = run_module('cert_renew', dict(args, force=True, preferred_chain='No Such Root'))
    assert r['renewed'] is True and r['preferred_chain_found'] is False
    assert top_issuer_cn(args['fullchain_path']) == root_cn(pebble.root_pem(0))


def test_standalone_port_busy(run_module, pebble_standalone, certs_tmp):  # noqa: F811
    pebble, port = pebble_standalone
    d = os.path.join(certs_tmp, 'busy')
    args = base_args(pebble, port, d)
    with socket.socket() as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(('127.0.0.1', port))
        s.listen(1)
        r = run_module('cert_renew', args)
    assert r['failed'] is True and r['failed_stage'] == 'challenge'
    assert r['msg'].startswith('Could not listen on 127.0.0.1:%d for the HTTP-01 challenge: ' % port)
    assert not os.path.exists(args['cert_path']) and not os.path.exists(args['key_path'])
