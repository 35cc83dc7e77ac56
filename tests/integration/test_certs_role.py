# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The certs role through playbooks/cert_renewal.yml on localhost, with a real nginx, a real pebble
(real HTTP-01 through nginx) and a local webhook receiver standing in for Slack.

Independent checks: `openssl s_client` for what nginx serves, `openssl x509` for the files, the
bodies the webhook receiver got, the report files.
"""
from __future__ import annotations

import http.server
import json
import os
import stat
import subprocess
import sys
import threading

import pytest

from certs_fixtures import (  # noqa: F401  pylint: disable=unused-import
    certs_tmp, free_port, nginx_with_pebble, openssl_x509, served_serial, test_ca)

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
VENV_BIN = os.path.dirname(sys.executable)
DOMAIN = 'app1.rbo.test'


class Hook(http.server.BaseHTTPRequestHandler):
    received = []

    def do_POST(self):  # noqa: N802
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        Hook.received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b'ok')

    def log_message(self, *args):
        pass


@pytest.fixture(scope='module')
def webhook():
    server = http.server.HTTPServer(('127.0.0.1', free_port()), Hook)
    t = threading.Thread(target=server.serve_forever, kwargs={'poll_interval': 0.1}, daemon=True)
    t.start()
    yield 'http://127.0.0.1:%d/services/T000/B000/XXXX' % server.server_address[1]
    server.shutdown()
    server.server_close()


@pytest.fixture(scope='module')
def lab(nginx_with_pebble, certs_tmp, webhook):  # noqa: F811
    nginx, pebble, site = nginx_with_pebble
    inventory = os.path.join(certs_tmp, 'hosts.yml')
    with open(inventory, 'w') as f:
        json.dump({'web': {'hosts': {'localhost': {'ansible_connection': 'local',
                                                   'ansible_python_interpreter': sys.executable}}}}, f)
    variables = {
        'certs_certificates': [{'name': 'app1', 'domains': [DOMAIN], 'cert_path': site['cert'],
                                'key_path': site['key'], 'fullchain_path': site['fullchain'],
                                'port': nginx.tls_port}],
        'certs_acme_directory': pebble.directory, 'certs_acme_ca_bundle': pebble.ca_bundle,
        'certs_account_key_path': os.path.join(certs_tmp, 'acme', 'account.key'),
        'certs_terms_agreed': True, 'certs_webroot': nginx.webroot,
        'certs_nginx_test_command': nginx.argv('-t'), 'certs_nginx_reload_command': nginx.argv('-s', 'reload'),
        'certs_webhook_url': webhook, 'certs_report_dir': os.path.join(certs_tmp, 'reports'),
    }
    varfile = os.path.join(certs_tmp, 'vars.json')
    with open(varfile, 'w') as f:
        json.dump(variables, f)
    return nginx, pebble, site, inventory, varfile


def playbook(lab, *extra, check=False):
    dummy, dummy2, dummy3, inventory, varfile = lab
    argv = [os.path.join(VENV_BIN, 'ansible-playbook'), '-i', inventory, 'runbook.ops.cert_renewal',
            '-e', '@' + varfile] + list(extra)
    if check:
        argv.append('--check')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.path.join(REPO, '.build', 'collections'),
               ANSIBLE_STDOUT_CALLBACK='ansible.posix.json', ANSIBLE_LOAD_CALLBACK_PLUGINS='1',
               ANSIBLE_NOCOLOR='1', ANSIBLE_DEPRECATION_WARNINGS='False', ANSIBLE_RETRY_FILES_ENABLED='0')
    r = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=REPO, timeout=300, check=False)
    try:
        out = json.loads(r.stdout)
    except ValueError:
        raise AssertionError('no JSON from ansible-playbook (rc=%s): %s %s' % (r.returncode, r.stdout[-3000:],
                                                                               r.stderr[-3000:]))
    return r.returncode, out['stats']['localhost'], out, r.stdout


def file_serial(path):
    return format(int(openssl_x509(path, 'serial')['serial'], 16), 'x')


def test_01_check_mode_changes_nothing(lab):
    nginx, dummy, site, dummy2, dummy3 = lab
    before = served_serial(nginx.tls_port, DOMAIN)
    rc, stats, dummy4, dummy5 = playbook(lab, check=True)
    assert rc == 0 and stats['failures'] == 0
    assert served_serial(nginx.tls_port, DOMAIN) == before == file_serial(site['cert'])
    assert Hook.received == []


def test_02_renews_reloads_confirms_notifies(lab):
    nginx, pebble, site, dummy, dummy2 = lab
    old = served_serial(nginx.tls_port, DOMAIN)
    rc, stats, dummy3, stdout = playbook(lab)
    assert rc == 0, stdout[-4000:]
    new = served_serial(nginx.tls_port, DOMAIN)
    assert new != old and new == file_serial(site['cert']) == file_serial(site['fullchain'])
    assert pebble.cert_status(new)['Status'] == 'Valid'
    assert stat.S_IMODE(os.stat(site['key']).st_mode) == 0o600
    assert file_serial(site['cert'] + '.bak') == old
    assert len(Hook.received) == 1
    text = Hook.received[0]['text']
    assert text.startswith(':lock: localhost: renewed app1 (app1.rbo.test), serial %s -> %s' % (old, new))
    assert 'T000/B000' not in stdout  # the webhook URL is a credential


def test_03_second_run_changes_nothing(lab):
    nginx, dummy, site, dummy2, dummy3 = lab
    served = served_serial(nginx.tls_port, DOMAIN)
    rc, stats, dummy4, dummy5 = playbook(lab)
    assert rc == 0 and stats['changed'] == 0
    assert served_serial(nginx.tls_port, DOMAIN) == served
    assert len(Hook.received) == 1


def test_04_broken_nginx_config_restores_and_fails(lab):
    nginx, dummy, site, dummy2, dummy3 = lab
    served = served_serial(nginx.tls_port, DOMAIN)
    with open(site['key'], 'rb') as f:
        key_before = f.read()
    nginx.write_conf(extra='this_directive_does_not_exist on;')
    try:
        rc, stats, dummy4, stdout = playbook(lab, '-e', 'certs_force=true')
    finally:
        nginx.write_conf(extra='')
    assert rc != 0 and stats['failures'] == 1
    assert 'nginx rejected its configuration with the new certificate of app1' in stdout
    assert served_serial(nginx.tls_port, DOMAIN) == served == file_serial(site['cert'])
    assert file_serial(site['fullchain']) == served
    with open(site['key'], 'rb') as f:
        assert f.read() == key_before
    assert stat.S_IMODE(os.stat(site['key']).st_mode) == 0o600
    assert len(Hook.received) == 2
    assert Hook.received[1]['text'].startswith(':rotating_light: localhost: could not renew app1 (app1.rbo.test): '
                                               'nginx rejected its configuration')


def test_05_report_mode(lab, certs_tmp):  # noqa: F811
    nginx, dummy, site, dummy2, varfile = lab
    with open(varfile) as f:
        variables = json.load(f)
    variables['certs_certificates'].append({'name': 'gone', 'domains': ['gone.rbo.test'], 'cert_path': '/nonexistent',
                                            'key_path': '/nonexistent.key', 'port': free_port()})
    extra = os.path.join(certs_tmp, 'report-vars.json')
    with open(extra, 'w') as f:
        json.dump(dict(variables, certs_mode='report'), f)
    served = served_serial(nginx.tls_port, DOMAIN)
    # the report is written first; then fail_on=critical turns the play red because of the error row
    rc, stats, dummy3, stdout = playbook(lab, '-e', '@' + extra, '-e', 'certs_report_fail_on=critical')
    assert rc != 0 and 'Certificates needing attention: gone' in stdout
    with open(os.path.join(certs_tmp, 'reports', 'certificates.json')) as f:
        report = json.load(f)
    rows = {r['name']: r for r in report['certificates']}
    assert rows['app1']['status'] == 'ok' and rows['app1']['serial'] == served
    assert rows['app1']['days_remaining'] > 30 and rows['app1']['hostname_matches'] is True
    assert rows['gone']['status'] == 'error' and rows['gone']['error'].startswith('Could not connect to 127.0.0.1:')
    assert [r['name'] for r in report['certificates']] == ['gone', 'app1']  # worst first
    with open(os.path.join(certs_tmp, 'reports', 'certificates.md')) as f:
        md = f.read()
    assert '| ok | localhost | app1 |' in md and '| error | localhost | gone |' in md
    assert served_serial(nginx.tls_port, DOMAIN) == served
    assert len(Hook.received) == 2  # report mode notifies nobody
