"""health_check's redis probe over TLS, against a real redis-server serving only TLS (with a password and,
in one case, client certificates required)."""
import os
import shutil
import subprocess
import tempfile

import pytest

from health_fixtures import make_ca_and_leaf
from servers import free_port, stop_process, wait_port

PASSWORD = 'tls-redis-pw-9f3e'


def _client_cert(base):
    """A client CA and a client certificate (extendedKeyUsage clientAuth) made with openssl."""
    def run(*argv):
        subprocess.run(['openssl'] + list(argv), cwd=base, check=True, capture_output=True)
    run('req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '30',
        '-subj', '/CN=runbook.ops client CA', '-keyout', 'client-ca.key', '-out', 'client-ca.pem')
    run('req', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-subj', '/CN=health-check',
        '-keyout', 'client.key', '-out', 'client.csr')
    with open(os.path.join(base, 'client.ext'), 'w') as ext:
        ext.write('extendedKeyUsage = clientAuth\nbasicConstraints = CA:FALSE\n')
    run('x509', '-req', '-in', 'client.csr', '-CA', 'client-ca.pem', '-CAkey', 'client-ca.key', '-CAcreateserial',
        '-days', '30', '-extfile', 'client.ext', '-out', 'client.pem')
    return {'client_ca': os.path.join(base, 'client-ca.pem'), 'client_cert': os.path.join(base, 'client.pem'),
            'client_key': os.path.join(base, 'client.key')}


@pytest.fixture(scope='module')
def tls_redis():
    base = tempfile.mkdtemp(prefix='rbo-redis-tls-')
    files = make_ca_and_leaf(base, days=30)
    files.update(_client_cert(base))
    with open(os.path.join(base, 'cas.pem'), 'w') as bundle:
        for ca in (files['ca'], files['client_ca']):
            with open(ca) as handle:
                bundle.write(handle.read())
    port = free_port()
    argv = [shutil.which('redis-server') or '/usr/bin/redis-server', '--port', '0', '--tls-port', str(port),
            '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', base, '--requirepass', PASSWORD,
            '--tls-cert-file', files['cert'], '--tls-key-file', files['key'], '--tls-ca-cert-file', os.path.join(base, 'cas.pem'),
            '--tls-auth-clients', 'optional']
    log = open(os.path.join(base, 'redis.log'), 'wb')
    proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
    wait_port(port, proc=proc)
    yield {'port': port, 'files': files}
    stop_process(proc, 10)
    shutil.rmtree(base, ignore_errors=True)


def _check(tls_redis, **kw):
    check = {'name': 'cache', 'type': 'redis', 'host': '127.0.0.1', 'port': tls_redis['port'],
             'password': PASSWORD, 'tls': True, 'ca_cert': tls_redis['files']['ca']}
    check.update(kw)
    return check


def test_redis_probe_over_tls_with_the_ca(run_module, tls_redis):
    result = run_module('health_check', {'checks': [_check(tls_redis)]})
    check = result['checks'][0]
    assert check['status'] == 'ok', check['message']
    assert check['metrics']['reachable'] is True
    assert PASSWORD not in result['_stdout']


def test_redis_probe_over_tls_refuses_an_unknown_ca(run_module, tls_redis):
    result = run_module('health_check', {'fail_on': 'never', 'checks': [_check(tls_redis, ca_cert=None)]})
    check = result['checks'][0]
    assert check['status'] == 'critical'
    assert 'certificate' in check['message'].lower()


def test_redis_probe_plaintext_to_a_tls_port_is_critical_not_hung(run_module, tls_redis):
    result = run_module('health_check', {'fail_on': 'never', 'checks': [
        _check(tls_redis, tls=False, ca_cert=None, timeout=5)]})
    assert result['checks'][0]['status'] == 'critical'


def test_redis_probe_over_tls_with_a_client_certificate(run_module, tls_redis):
    files = tls_redis['files']
    result = run_module('health_check', {'checks': [_check(tls_redis, client_cert=files['client_cert'],
                                                           client_key=files['client_key'])]})
    assert result['checks'][0]['status'] == 'ok', result['checks'][0]['message']


def test_redis_refuses_a_client_certificate_not_made_for_clients(run_module, tls_redis):
    # the server's own certificate (extendedKeyUsage serverAuth) presented as a client certificate
    files = tls_redis['files']
    result = run_module('health_check', {'fail_on': 'never', 'checks': [
        _check(tls_redis, client_cert=files['cert'], client_key=files['key'])]})
    assert result['checks'][0]['status'] == 'critical'
    assert 'Could not' in result['checks'][0]['message']
