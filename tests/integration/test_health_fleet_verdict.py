# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The health role's verdict per host on a fleet (four local-connection hosts), now that the probe task itself
fails a host and the verdict message is written by its rescue (one task less per host, bench/fleet): each host is
red or green as before, with the same messages, and the fleet report is written even when every host failed.
Real probes: tcp against a listening socket (ok) and a closed port (critical); a latency warning threshold of 0 ms
makes a deterministic warning; a tcp probe without port is a probe list the module rejects."""
from __future__ import annotations

import json
import re
import socket

import pytest

from health_fixtures import closed_port
from playbooks import run_playbook

OFF = {'latency_ms': {}}                                          # not about latency
WARN = {'latency_ms': {'warning': 0, 'critical': 3600000}}        # any latency >= 0 ms: a warning, never critical
REJECTED = 'type is tcp but all of the following are missing: port found in checks'


@pytest.fixture(scope='module')
def listening_port():
    listener = socket.socket()
    listener.bind(('127.0.0.1', 0))
    listener.listen(64)
    yield listener.getsockname()[1]
    listener.close()


def _probe(port, thresholds=None, fail_on='critical'):
    """Host vars: one tcp probe (no port: a probe list the module rejects) and the host's own health_fail_on."""
    check = {'name': 'svc', 'type': 'tcp', 'host': '127.0.0.1', 'timeout': 10, 'thresholds': thresholds or OFF}
    if port is not None:
        check['port'] = port
    return {'health_checks_test': [check], 'health_fail_on': fail_on}


def _run(tmp_path, hosts):
    extra = {'health_checks_system': [], 'health_report_dir': str(tmp_path / 'reports')}
    r = run_playbook('health_check', extra, tmp_path, groups=('web',), hosts=hosts, timeout=300)
    with open(tmp_path / 'reports' / 'health.json') as f:
        report = json.load(f)
    return r, r.stdout + r.stderr, {h['host']: h for h in report['hosts']}


def _recap(out):
    """{host: (ok, failed, rescued)} from the PLAY RECAP."""
    rows = re.findall(r'^(\S+)\s*:\s*ok=(\d+).*?failed=(\d+).*?rescued=(\d+)', out, re.M)
    return {h: (int(ok), int(failed), int(rescued)) for h, ok, failed, rescued in rows}


def _failure(out, host):
    """The message of the host's verdict (the last fatal line of that host)."""
    text = out.split('fatal: [%s]: FAILED!' % host)[-1].split('\n')[0]
    return json.loads(text.split('=>', 1)[1])['msg']


def test_each_host_red_or_green_with_the_verdict_message(tmp_path, listening_port):
    # one run, health_fail_on per host (host vars): critical, warning and never side by side
    down = closed_port()
    hosts = {'web-ok': _probe(listening_port), 'web-warn': _probe(listening_port, WARN),
             'web-warn-red': _probe(listening_port, WARN, 'warning'), 'web-crit': _probe(down),
             'web-crit-never': _probe(down, fail_on='never'), 'web-bad': _probe(None),
             'web-bad-never': _probe(None, fail_on='never')}
    r, out, report = _run(tmp_path, hosts)
    assert r.returncode == 2, out[-3000:]
    failed = {h: row[1] for h, row in _recap(out).items()}
    assert failed == {'web-ok': 0, 'web-warn': 0, 'web-warn-red': 1, 'web-crit': 1, 'web-crit-never': 0,
                      'web-bad': 1, 'web-bad-never': 0}, out[-3000:]
    said = _failure(out, 'web-crit')
    assert said.startswith('Health critical on web-crit: svc ('), said
    said = _failure(out, 'web-warn-red')
    assert said.startswith('Health warning on web-warn-red: svc (latency_ms'), said
    said = _failure(out, 'web-bad')
    assert said.startswith('Could not run the health checks on web-bad: '), said
    assert REJECTED in said and said.endswith("(fix this host's health_checks_* variables)"), said
    # the report holds every host, the failed ones included, with the same statuses as before
    assert {h: v['status'] for h, v in report.items()} == {
        'web-ok': 'ok', 'web-warn': 'warning', 'web-warn-red': 'warning', 'web-crit': 'critical',
        'web-crit-never': 'critical', 'web-bad': 'critical', 'web-bad-never': 'critical'}
    for host in ('web-bad', 'web-bad-never'):
        assert REJECTED in report[host]['message'] and report[host]['checks'] == []
    assert report['web-crit']['checks'][0]['status'] == 'critical'
    assert 'Fleet health CRITICAL: 1 ok, 2 warning, 4 critical host(s).' in ' '.join(out.split())


def test_the_report_is_written_when_every_host_failed(tmp_path):
    hosts = {'db1': _probe(closed_port()), 'db2': _probe(None)}
    r, out, report = _run(tmp_path, hosts)
    assert r.returncode == 2, out[-3000:]
    assert {h: v['status'] for h, v in report.items()} == {'db1': 'critical', 'db2': 'critical'}
    assert {h: row[1] for h, row in _recap(out).items()} == {'db1': 1, 'db2': 1}
