# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""cert_info against real files, `openssl s_server` endpoints, nginx and a PostgreSQL server with ssl=on.

Independent checks go through the openssl CLI (`openssl x509`, `openssl s_client`).
"""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from certs_fixtures import NginxServer, cert_pem, make_cert, openssl_x509, served_serial, write_pair


def _int_serial(hexstr):
    return int(hexstr, 16)


@pytest.fixture(scope='module')
def endpoints(certs_tmp, test_ca, tls_endpoints):  # noqa: F811
    """name -> (port, cert_file) for each kind of certificate, served by openssl s_server."""
    kinds = {
        'good': test_ca.issue(['good.rbo.test', 'www.good.rbo.test'], 10, 80),
        'expired': test_ca.issue(['expired.rbo.test'], 100, -10),
        'future': test_ca.issue(['future.rbo.test'], -5, 60),
        'selfsigned': make_cert(['self.rbo.test'], 1, 20),
        'wronghost': test_ca.issue(['other.rbo.test'], 1, 60),
    }
    out = {}
    for name, (key, cert) in kinds.items():
        kp, cp = write_pair(certs_tmp, name, key, [cert])
        chain = None
        if name == 'good':
            chain = os.path.join(certs_tmp, 'ca.pem')
            with open(chain, 'wb') as f:
                f.write(cert_pem(test_ca.cert))
        out[name] = (tls_endpoints(cp, kp, chain).port, cp)
    return out


def test_file_fullchain(run_module, certs_tmp, test_ca):  # noqa: F811
    key, cert = test_ca.issue(['file.rbo.test'], 30, 60)
    path = os.path.join(certs_tmp, 'fullchain-file.pem')
    with open(path, 'wb') as f:
        f.write(cert_pem(cert) + cert_pem(test_ca.cert))
    r = run_module('cert_info', {'path': path})
    assert r.get('failed') is not True, r.get('msg')
    assert r['changed'] is False
    ref = openssl_x509(path, 'serial', 'enddate', 'subject')
    assert _int_serial(r['serial']) == int(ref['serial'], 16)
    assert r['chain_length'] == 2 and r['chain'][0]['subject'] == 'CN=runbook.ops test CA'
    assert r['subject_alt_names'] == ['file.rbo.test'] and r['self_signed'] is False
    assert r['days_remaining'] == 59 and r['should_renew'] is False and r['hostname_matches'] is None
    assert r['source'] == path and r['exists'] is True
    # a lifetime threshold: 60 of 90 days left = 66.7 % < 70 % -> due
    r2 = run_module('cert_info', {'path': path, 'renew_before_pct': 70}, check=True)
    assert r2['should_renew'] is True and r2['changed'] is False
    assert r2['renew_reason'].startswith('66.') and r2['renew_reason'].endswith('of the lifetime left (< 70.0%)')


def test_file_missing_and_garbage(run_module, certs_tmp):  # noqa: F811
    missing = os.path.join(certs_tmp, 'nope', 'cert.pem')
    r = run_module('cert_info', {'path': missing})
    assert r.get('failed') is not True and r['exists'] is False and r['should_renew'] is True
    garbage = os.path.join(certs_tmp, 'garbage.pem')
    with open(garbage, 'w') as f:
        f.write('hello\n')
    r = run_module('cert_info', {'path': garbage})
    assert r['failed'] is True
    assert r['msg'] == ('Could not read a certificate from %s: no PEM CERTIFICATE block found. Point the path at a '
                        'PEM certificate (cert, fullchain or bundle).' % garbage)


def test_live_good_with_chain(run_module, endpoints):
    port, cp = endpoints['good']
    r = run_module('cert_info', {'host': '127.0.0.1', 'port': port, 'server_name': 'www.good.rbo.test'})
    assert r.get('failed') is not True, r.get('msg')
    assert r['serial'] == served_serial(port, 'www.good.rbo.test')
    assert _int_serial(r['serial']) == int(openssl_x509(cp, 'serial')['serial'], 16)
    assert r['hostname_matches'] is True and r['chain_length'] == 2 and r['self_signed'] is False
    assert r['expired'] is False and r['not_yet_valid'] is False and r['days_remaining'] == 79
    assert r['endpoint'] == '127.0.0.1:%d' % port and r['server_name'] == 'www.good.rbo.test'


def test_live_expired(run_module, endpoints):
    port, dummy = endpoints['expired']
    r = run_module('cert_info', {'host': '127.0.0.1', 'port': port, 'server_name': 'expired.rbo.test',
                                 'renew_before_days': 0})
    assert r['expired'] is True and r['days_remaining'] == -10 and r['should_renew'] is True
    assert r['renew_reason'].startswith('expired on ')


def test_live_not_yet_valid(run_module, endpoints):
    port, dummy = endpoints['future']
    r = run_module('cert_info', {'host': '127.0.0.1', 'port': port, 'server_name': 'future.rbo.test'})
    assert r['not_yet_valid'] is True and r['expired'] is False and r['should_renew'] is True


def test_live_self_signed(run_module, endpoints):
    port, dummy = endpoints['selfsigned']
    r = run_module('cert_info', {'host': '127.0.0.1', 'port': port, 'server_name': 'self.rbo.test'})
    assert r['self_signed'] is True and r['issuer'] == r['subject'] == 'CN=self.rbo.test'
    assert r['should_renew'] is True and r['days_remaining'] == 19


def test_live_wrong_host_and_hostile_name(run_module, endpoints):
    port, dummy = endpoints['wronghost']
    r = run_module('cert_info', {'host': '127.0.0.1', 'port': port, 'server_name': 'www.rbo.test'})
    assert r['hostname_matches'] is False and r['subject_alt_names'] == ['other.rbo.test']
    # hostile SNI: never matches, never crashes into a traceback
    r = run_module('cert_info', {'host': '127.0.0.1', 'port': port, 'server_name': 'other.rbo.test;rm -rf /'})
    assert r.get('failed') is not True, r.get('msg')
    assert r['hostname_matches'] is False


def test_nginx_endpoint(run_module, certs_tmp, test_ca):  # noqa: F811
    key, cert = test_ca.issue(['nginx.rbo.test'], 1, 45)
    d = os.path.join(certs_tmp, 'nginx-site')
    os.makedirs(d)
    kp, cp = write_pair(d, 'site', key, [cert])
    nginx = NginxServer(cp, kp).start()
    try:
        r = run_module('cert_info', {'host': '127.0.0.1', 'port': nginx.tls_port, 'server_name': 'nginx.rbo.test'})
        assert r['serial'] == format(cert.serial_number, 'x') == served_serial(nginx.tls_port, 'nginx.rbo.test')
        assert r['hostname_matches'] is True and r['days_remaining'] == 44
        # plain HTTP port: the handshake fails with a message, not a traceback
        r = run_module('cert_info', {'host': '127.0.0.1', 'port': nginx.http_port, 'timeout': 5})
        assert r['failed'] is True
        assert r['msg'].startswith('Could not complete a TLS handshake with 127.0.0.1:%d' % nginx.http_port)
    finally:
        nginx.stop()


@pytest.fixture(scope='module')
def pg_ssl(postgres_factory, certs_tmp, test_ca):  # noqa: F811
    d = os.path.join(certs_tmp, 'pgssl')
    os.makedirs(d)
    key, cert = test_ca.issue(['db.rbo.test', '127.0.0.1'], 1, 25)
    kp, cp = write_pair(d, 'server', key, [cert])
    if os.geteuid() == 0:
        for p in (d, kp, cp):
            shutil.chown(p, 'postgres', 'postgres')
    os.chmod(kp, 0o600)
    server = postgres_factory(extra_conf=["ssl = on", "ssl_cert_file = '%s'" % cp, "ssl_key_file = '%s'" % kp])
    return server, cert


def test_postgres_starttls(run_module, pg_ssl):
    server, cert = pg_ssl
    r = run_module('cert_info', {'host': '127.0.0.1', 'port': server.port, 'starttls': 'postgres',
                                 'server_name': 'db.rbo.test'})
    assert r.get('failed') is not True, r.get('msg')
    assert r['serial'] == format(cert.serial_number, 'x')
    assert r['days_remaining'] == 24 and r['should_renew'] is True and r['hostname_matches'] is True
    # independent: the server really has TLS on, seen through psql
    env = dict(os.environ, PGPASSWORD=server.password, PGSSLMODE='require')
    out = subprocess.run(['psql', '-h', '127.0.0.1', '-p', str(server.port), '-U', 'postgres', '-XAtc',
                          'SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()'],
                         env=env, capture_output=True, text=True, check=True).stdout.strip()
    assert out == 't'


def test_postgres_without_starttls_and_ssl_off(run_module, pg_ssl, postgres_server):
    server, dummy = pg_ssl
    r = run_module('cert_info', {'host': '127.0.0.1', 'port': server.port, 'timeout': 3})
    assert r['failed'] is True and 'use starttls for PostgreSQL' in r['msg']
    r = run_module('cert_info', {'host': '127.0.0.1', 'port': postgres_server.port, 'starttls': 'postgres'})
    assert r['failed'] is True
    assert r['msg'] == ('Could not start TLS with PostgreSQL at 127.0.0.1:%d: the server answered the SSLRequest '
                        'with N (ssl = off). Enable ssl in postgresql.conf or drop starttls.' % postgres_server.port)
