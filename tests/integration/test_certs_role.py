# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The certs role through playbooks/cert_renewal.yml on localhost, with a real nginx, a real pebble
(real HTTP-01 through nginx) and a local webhook receiver standing in for Slack.

Independent checks: `openssl s_client` for what nginx serves, `openssl x509` for the files, the
bodies the webhook receiver got, the report files.
"""
from __future__ import annotations

import json
import os
import stat

import pytest

from certs_fixtures import free_port, openssl_x509, served_serial
from playbooks import run_playbook
from webhook_fixtures import webhook_receiver

DOMAIN = 'app1.rbo.test'


@pytest.fixture(scope='module')
def webhook():
    """The Slack stand-in; ``webhook.received`` accumulates over the numbered tests of this module."""
    with webhook_receiver(200) as hook:
        yield hook


@pytest.fixture(scope='module')
def lab(nginx_with_pebble, certs_tmp, webhook):
    nginx, pebble, site = nginx_with_pebble
    variables = {
        'certs_certificates': [{'name': 'app1', 'domains': [DOMAIN], 'cert_path': site['cert'],
                                'key_path': site['key'], 'fullchain_path': site['fullchain'],
                                'port': nginx.tls_port}],
        'certs_acme_directory': pebble.directory, 'certs_acme_ca_bundle': pebble.ca_bundle,
        'certs_account_key_path': os.path.join(certs_tmp, 'acme', 'account.key'),
        'certs_terms_agreed': True, 'certs_webroot': nginx.webroot,
        'certs_nginx_test_command': nginx.argv('-t'), 'certs_nginx_reload_command': nginx.argv('-s', 'reload'),
        'certs_webhook_url': webhook.url, 'certs_report_dir': os.path.join(certs_tmp, 'reports'),
    }
    play_dir = os.path.join(certs_tmp, 'play')
    os.makedirs(play_dir, exist_ok=True)
    return nginx, pebble, site, play_dir, variables


def playbook(lab, extra=None, check=False):
    """Run runbook.ops.cert_renewal on localhost (group web) with the lab's variables updated by ``extra``;
    returns (rc, stats of localhost, the ansible.posix.json output, stdout)."""
    dummy, dummy2, dummy3, play_dir, variables = lab
    r = run_playbook('cert_renewal', dict(variables, **(extra or {})), play_dir, groups=('web',), check=check,
                     timeout=300, env={'ANSIBLE_STDOUT_CALLBACK': 'ansible.posix.json',
                                       'ANSIBLE_LOAD_CALLBACK_PLUGINS': '1'})
    try:
        out = json.loads(r.stdout)
    except ValueError:
        raise AssertionError('no JSON from ansible-playbook (rc=%s): %s %s' % (r.returncode, r.stdout[-3000:],
                                                                               r.stderr[-3000:]))
    return r.returncode, out['stats']['localhost'], out, r.stdout


def file_serial(path):
    return format(int(openssl_x509(path, 'serial')['serial'], 16), 'x')


def test_01_check_mode_changes_nothing(lab, webhook):
    nginx, dummy, site, dummy2, dummy3 = lab
    before = served_serial(nginx.tls_port, DOMAIN)
    rc, stats, dummy4, dummy5 = playbook(lab, check=True)
    assert rc == 0 and stats['failures'] == 0
    assert served_serial(nginx.tls_port, DOMAIN) == before == file_serial(site['cert'])
    assert webhook.received == []


def test_02_renews_reloads_confirms_notifies(lab, webhook):
    nginx, pebble, site, dummy, dummy2 = lab
    old = served_serial(nginx.tls_port, DOMAIN)
    rc, stats, dummy3, stdout = playbook(lab)
    assert rc == 0, stdout[-4000:]
    new = served_serial(nginx.tls_port, DOMAIN)
    assert new != old and new == file_serial(site['cert']) == file_serial(site['fullchain'])
    assert pebble.cert_status(new)['Status'] == 'Valid'
    assert stat.S_IMODE(os.stat(site['key']).st_mode) == 0o600
    assert file_serial(site['cert'] + '.bak') == old
    assert len(webhook.received) == 1
    text = webhook.received[0]['text']
    assert text.startswith(':lock: localhost: renewed app1 (app1.rbo.test), serial %s -> %s' % (old, new))
    assert webhook.token not in stdout  # the webhook URL is a credential


def test_03_second_run_changes_nothing(lab, webhook):
    nginx, dummy, site, dummy2, dummy3 = lab
    served = served_serial(nginx.tls_port, DOMAIN)
    rc, stats, dummy4, dummy5 = playbook(lab)
    assert rc == 0 and stats['changed'] == 0
    assert served_serial(nginx.tls_port, DOMAIN) == served
    assert len(webhook.received) == 1


def test_04_broken_nginx_config_restores_and_fails(lab, webhook):
    nginx, dummy, site, dummy2, dummy3 = lab
    served = served_serial(nginx.tls_port, DOMAIN)
    with open(site['key'], 'rb') as f:
        key_before = f.read()
    nginx.write_conf(extra='this_directive_does_not_exist on;')
    try:
        rc, stats, dummy4, stdout = playbook(lab, {'certs_force': True})
    finally:
        nginx.write_conf(extra='')
    assert rc != 0 and stats['failures'] == 1
    assert 'nginx rejected its configuration with the new certificate of app1' in stdout
    assert served_serial(nginx.tls_port, DOMAIN) == served == file_serial(site['cert'])
    assert file_serial(site['fullchain']) == served
    with open(site['key'], 'rb') as f:
        assert f.read() == key_before
    assert stat.S_IMODE(os.stat(site['key']).st_mode) == 0o600
    assert len(webhook.received) == 2
    assert webhook.received[1]['text'].startswith(':rotating_light: localhost: could not renew app1 (app1.rbo.test): '
                                                  'nginx rejected its configuration')


def test_05_report_mode(lab, certs_tmp, webhook):
    nginx, dummy, site, dummy2, variables = lab
    certificates = variables['certs_certificates'] + [
        {'name': 'gone', 'domains': ['gone.rbo.test'], 'cert_path': '/nonexistent', 'key_path': '/nonexistent.key',
         'port': free_port()}]
    served = served_serial(nginx.tls_port, DOMAIN)
    # the report is written first; then fail_on=critical turns the play red because of the error row
    rc, stats, dummy3, stdout = playbook(lab, {'certs_certificates': certificates, 'certs_mode': 'report',
                                               'certs_report_fail_on': 'critical'})
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
    assert len(webhook.received) == 2  # report mode notifies nobody
