# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""health_check tls_cert with starttls: postgres against a real PostgreSQL server with ssl = on (the probe reads the
certificate through certs.py, as cert_info does), and against one with ssl = off."""

from __future__ import annotations

import os
import shutil

import pytest

from certs_fixtures import cert_pem, write_pair


@pytest.fixture(scope='module')
def pg_ssl(postgres_factory, certs_tmp, test_ca):  # noqa: F811
    d = os.path.join(certs_tmp, 'health-pgssl')
    os.makedirs(d)
    key, cert = test_ca.issue(['db.rbo.test', '127.0.0.1'], 1, 25)
    kp, cp = write_pair(d, 'server', key, [cert])
    ca = os.path.join(d, 'ca.pem')
    with open(ca, 'wb') as f:
        f.write(cert_pem(test_ca.cert))
    if os.geteuid() == 0:
        for p in (d, kp, cp):
            shutil.chown(p, 'postgres', 'postgres')
    os.chmod(kp, 0o600)
    server = postgres_factory(extra_conf=["ssl = on", "ssl_cert_file = '%s'" % cp, "ssl_key_file = '%s'" % kp])
    return server, cert, ca


def test_tls_cert_starttls_postgres(run_module, pg_ssl):
    server, cert, ca = pg_ssl
    check = {'name': 'db cert', 'type': 'tls_cert', 'host': '127.0.0.1', 'port': server.port, 'starttls': 'postgres',
             'server_name': 'db.rbo.test', 'ca_cert': ca, 'validate_certs': True}
    r = run_module('health_check', {'checks': [check], 'fail_on': 'never'})
    assert r.get('failed') is not True, r.get('msg')
    c = r['checks'][0]
    assert c['status'] == 'warning', c['message']                 # 25 days left: below the default warning 30
    m = c['metrics']
    assert m['serial_number'] == format(cert.serial_number, 'x')  # independent: the certificate we gave the server
    assert (m['chain_valid'], m['hostname_valid']) == (True, True)
    assert 24 < m['days_remaining'] <= 25
    # the same port without the preamble: PostgreSQL does not speak TLS first
    plain = dict(check, name='no preamble', timeout=5)
    del plain['starttls']
    r = run_module('health_check', {'checks': [plain], 'fail_on': 'never'})
    c = r['checks'][0]
    assert c['status'] == 'critical' and c['message'].startswith('Could not complete a TLS handshake with 127.0.0.1:')


def test_tls_cert_starttls_against_ssl_off(run_module, postgres_server):
    check = {'name': 'db cert', 'type': 'tls_cert', 'host': '127.0.0.1', 'port': postgres_server.port,
             'starttls': 'postgres'}
    r = run_module('health_check', {'checks': [check]})
    assert r['failed'] is True
    c = r['checks'][0]
    assert (c['status'], c['message']) == ('critical', 'Could not start TLS with PostgreSQL at 127.0.0.1:%d: the server '
                                           'answered the SSLRequest with N (ssl = off). Enable ssl in postgresql.conf '
                                           'or drop starttls.' % postgres_server.port)
