# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health role through its playbook (runbook.ops.health_check) on a local host: no probe secret
reaches the output at -vvv nor the reports (issue 17, defects 6, 8 and 12), and a probe list the module
rejects is reported with the module's own message."""

from __future__ import annotations

import json
import secrets
from urllib.parse import quote

from health_fixtures import BASIC_PASSWORD, BASIC_USER, closed_port
from playbooks import run_playbook

LATENCY_OFF = {'latency_ms': {}}     # these tests are not about latency
# what health_check's argspec says about a tcp probe without port
MODULE_MESSAGE = 'type is tcp but all of the following are missing: port found in checks'


def _reports(tmp_path):
    with open(tmp_path / 'reports' / 'health.json') as f:
        text_json = f.read()
    with open(tmp_path / 'reports' / 'health.md') as f:
        text_md = f.read()
    return json.loads(text_json), text_json, text_md


def test_role_never_shows_probe_secrets_at_vvv(tmp_path, http_fixture):
    token = 'hdr-tok-' + secrets.token_hex(8)
    pg_password = 'pg-pw-' + secrets.token_hex(8)
    aws_secret = 'aws-sec-' + secrets.token_hex(8)
    endpoint_password = 'ep-pw-' + secrets.token_hex(8)
    url_password = 'url-pw-' + secrets.token_hex(8)
    basic_url = 'http://%s:%s@127.0.0.1:%d/basic' % (BASIC_USER, quote(BASIC_PASSWORD, safe=''), http_fixture.port)
    extra = {
        'health_checks_system': [],
        'health_checks_test': [
            {'name': 'api', 'type': 'http', 'url': http_fixture.url('/ok'), 'headers': {'X-Probe-Token': token},
             'thresholds': LATENCY_OFF},
            {'name': 'basic', 'type': 'http', 'url': basic_url, 'thresholds': LATENCY_OFF},
            {'name': 'basic wrong', 'type': 'http', 'thresholds': LATENCY_OFF,
             'url': 'http://%s:%s@127.0.0.1:%d/basic' % (BASIC_USER, url_password, http_fixture.port)},
            {'name': 'pg', 'type': 'postgres', 'login_host': '127.0.0.1', 'login_port': closed_port(),
             'login_password': pg_password, 'ssl_mode': 'disable', 'timeout': 5},
            {'name': 'backups', 'type': 'backup_age', 'store': 's3://rbo-nowhere/pg', 'aws_region': 'us-east-1',
             's3_endpoint_url': 'http://minio:%s@127.0.0.1:%d' % (endpoint_password, closed_port()),
             'aws_access_key': 'AKIA' + secrets.token_hex(6).upper(), 'aws_secret_key': aws_secret, 'timeout': 5},
        ],
        'health_fail_on': 'critical',
        'health_report_dir': str(tmp_path / 'reports'),
    }
    r = run_playbook('health_check', extra, tmp_path, env={'ANSIBLE_VERBOSITY': '3'}, timeout=300)
    output = r.stdout + r.stderr
    assert 'ESTABLISH LOCAL CONNECTION' in output            # really at -vvv
    assert r.returncode == 2, output[-3000:]                 # pg, backups and basic wrong are critical
    report, text_json, text_md = _reports(tmp_path)
    checks = {c['name']: c for c in report['hosts'][0]['checks']}
    assert checks['api']['status'] == 'ok'
    assert checks['basic']['status'] == 'ok', checks['basic']['message']
    assert checks['basic wrong']['message'] == 'status 401 not in expected [200]'
    assert checks['backups']['status'] == 'critical'
    assert 'http://minio:********@127.0.0.1:' in checks['backups']['message']
    for secret in (token, pg_password, aws_secret, endpoint_password, url_password, BASIC_PASSWORD,
                   quote(BASIC_PASSWORD, safe='')):
        assert secret not in output, secret
        assert secret not in text_json and secret not in text_md, secret


def test_role_reports_the_module_message_for_a_rejected_probe_list(tmp_path):
    extra = {
        'health_checks_system': [],
        'health_checks_bad': [{'name': 'db port', 'type': 'tcp', 'host': '127.0.0.1'}],
        'health_report_dir': str(tmp_path / 'reports'),
    }
    r = run_playbook('health_check', extra, tmp_path, timeout=300)
    output = r.stdout + r.stderr
    assert r.returncode == 2, output[-3000:]
    assert 'Error while resolving value' not in output and "has no attribute 'checks'" not in output
    assert MODULE_MESSAGE in r.stdout
    assert 'Could not run the health checks on localhost' in r.stdout
    report, dummy, text_md = _reports(tmp_path)
    host = report['hosts'][0]
    assert host['status'] == 'critical' and MODULE_MESSAGE in host['message']
    assert MODULE_MESSAGE in text_md


def test_user_probe_overrides_the_default_probe_of_the_same_name(tmp_path):
    # health_checks_system keeps its default (root disk, memory, load); the user's memory and load probes
    # replace the defaults of the same names (grading of the values off: this test is not about the machine's load)
    extra = {
        'health_checks_app': [
            {'name': 'memory', 'type': 'memory', 'thresholds': {'used_pct': {}}},
            {'name': 'load', 'type': 'load', 'thresholds': {'load5_per_core': {}}},
        ],
        'health_fail_on': 'critical',
        'health_report_dir': str(tmp_path / 'reports'),
    }
    r = run_playbook('health_check', extra, tmp_path, timeout=300)
    output = r.stdout + r.stderr
    report, dummy, dummy = _reports(tmp_path)
    host = report['hosts'][0]
    assert 'check names must be unique' not in output
    assert host['message'] == '', host['message']                        # the module took the probe list
    names = sorted(c['name'] for c in host['checks'])
    assert names == ['load', 'memory', 'root disk']                      # once each
    checks = {c['name']: c for c in host['checks']}
    assert checks['memory']['thresholds'] == {}                          # the user's probe, not the default
    assert checks['load']['thresholds'] == {}
    assert checks['memory']['status'] == 'ok' and checks['load']['status'] == 'ok'
    assert r.returncode == 0, output[-3000:]
