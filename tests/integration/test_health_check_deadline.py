# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""health_check never outlives its deadline (issue 17, defect 9): a body trickled at 1 byte/s and an S3
endpoint that accepts and never answers, started here on 127.0.0.1. The bounds are generous (these tests are
about not hanging for minutes, not about speed) so they hold on a busy machine."""

from __future__ import annotations

import subprocess
import threading
import time

from ansible_collections.runbook.ops.plugins.module_utils import health
from ansible_collections.runbook.ops.plugins.module_utils import health_backup_age
from ansible_collections.runbook.ops.plugins.module_utils import health_http

BOUND = 30.0     # a probe with timeout 2 s must end well within this


def _bounded(fn, limit=90.0):
    """Run ``fn`` in a daemon thread; fail if it has not returned after ``limit`` s."""
    box = {}

    def target():
        try:
            box['value'] = fn()
        except Exception as exc:  # pylint: disable=broad-except
            box['error'] = exc
    start = time.monotonic()
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), 'still running after %.0f s' % limit
    return box, time.monotonic() - start


def _s3_check(endpoint):
    return {'name': 'backups', 'type': 'backup_age', 'store': 's3://frozen-bucket/pg', 's3_endpoint_url': endpoint,
            'aws_region': 'us-east-1', 'aws_access_key': 'AKIAFROZEN', 'aws_secret_key': 'frozen-secret-0a1b',
            'timeout': 2}


def test_http_probe_bounds_a_trickled_body(trickle_server):
    (check,) = health.normalize_checks([{'name': 'trickle', 'type': 'http', 'url': trickle_server.url('/'),
                                         'timeout': 2}])
    box, elapsed = _bounded(lambda: health_http.run(check))
    assert isinstance(box.get('error'), health.ProbeError), box
    assert str(box['error']) == 'Could not request GET %s: timed out after 2 s' % trickle_server.url('/')
    assert elapsed < BOUND


def test_backup_age_probe_bounds_a_frozen_s3_endpoint(silent_server):
    (check,) = health.normalize_checks([_s3_check(silent_server.url(''))])
    box, elapsed = _bounded(lambda: health_backup_age.run(check))
    assert isinstance(box.get('error'), health.ProbeError), box
    assert str(box['error']).startswith('Could not read the backup store s3://frozen-bucket/pg')
    assert elapsed < BOUND


def test_module_returns_within_its_deadline(run_module, trickle_server, silent_server):
    checks = [
        {'name': 'trickle', 'type': 'http', 'url': trickle_server.url('/health'), 'timeout': 2},
        _s3_check(silent_server.url('')),
        {'name': 'disk', 'type': 'disk', 'path': '/', 'thresholds': {'used_pct': {}, 'inodes_pct': {}}},
    ]
    start = time.monotonic()
    try:
        result = run_module('health_check', {'checks': checks, 'fail_on': 'never'}, timeout=150)
    except subprocess.TimeoutExpired:
        raise AssertionError('health_check with 2 s timeouts was still running after 150 s')
    elapsed = time.monotonic() - start
    assert result.get('failed') is not True, result.get('msg')
    by_name = {c['name']: c for c in result['checks']}
    assert by_name['trickle']['status'] == 'critical' and 'timed out after 2 s' in by_name['trickle']['message']
    assert by_name['backups']['status'] == 'critical'
    assert by_name['disk']['status'] == 'ok'
    assert result['duration_ms'] < BOUND * 1000
    assert elapsed < 90, elapsed        # ansible's own start-up included, on a busy machine
    assert 'frozen-secret-0a1b' not in result['_stdout'] + result['_stderr']
