# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Unit tests for the backup_age probe of health_check: options, thresholds, grading, messages, secrets."""

from __future__ import annotations

import datetime
import hashlib
import json
import os

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs
from ansible_collections.runbook.ops.plugins.module_utils import health
from ansible_collections.runbook.ops.plugins.modules import health_check

SECRET = 'aws-secret-Zq9x'
HOSTILE_DB = 'db."x; --'


def run_main(args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit) as exc:
            health_check.main()
    out = capsys.readouterr().out
    result = json.loads(out)
    return exc.value.code != 0 or bool(result.get('failed')), result, out


def norm(*checks):
    return health.normalize_checks([dict(c) for c in checks])


def one(check):
    return health.run_checks(norm(check))['checks'][0]


def fake_backup_age(found=True, age_s=3600.0, valid=1, invalid=0, store='/srv/backups', error=None, calls=None):
    def backup_age(params, database=None, now=None):
        if calls is not None:
            calls.append((dict(params), database))
        if error is not None:
            raise error
        return {'found': found, 'id': '20260131T020000Z-app-abc123' if found else None,
                'created_at': '2026-01-31T02:00:00.000000Z' if found else None,
                'age_s': age_s if found else None, 'valid_count': valid, 'invalid_count': invalid, 'store': store}
    return backup_age


def write_backup(root, database, created_at, size=64, valid=True):
    """A backup folder laid out like db_backup writes it (manifest last), by hand."""
    bid = '%s-%s-%s' % (created_at.strftime('%Y%m%dT%H%M%SZ'), bs.slug(database), os.urandom(3).hex())
    folder = os.path.join(root, bid)
    os.makedirs(folder)
    data = os.urandom(size)
    with open(os.path.join(folder, 'data.dump'), 'wb') as f:
        f.write(data if valid else data[:size // 2])
    manifest = {
        'id': bid, 'engine': 'postgresql', 'server_version': '15.8', 'database': database,
        'created_at': created_at.strftime('%Y-%m-%dT%H:%M:%S.%fZ'), 'duration_s': 1.0, 'format': 'custom',
        'compression': 'none', 'size': size, 'sha256': hashlib.sha256(data).hexdigest(), 'data_key': 'data.dump',
        'tables': [{'schema': 'public', 'table': 'items', 'rows': 3}], 'pg_dump_version': '15.8',
    }
    with open(os.path.join(folder, 'manifest.json'), 'w') as f:
        json.dump(manifest, f)
    return bid


def hours_ago(h):
    return datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=h)


# --------------------------------------------------------------------------- options and thresholds

def test_backup_age_is_a_declared_type():
    assert 'backup_age' in health.CHECK_TYPES
    assert set(health.TYPE_OPTIONS['backup_age']) == {'store', 'source_db', 's3_endpoint_url', 'aws_region',
                                                      'aws_access_key', 'aws_secret_key'}
    spec = health.argument_spec()['checks']
    assert ('type', 'backup_age', ('store',)) in spec['required_if']
    assert ('aws_access_key', 'aws_secret_key') in spec['required_together']
    opts = spec['options']
    assert opts['aws_secret_key']['no_log'] is True and opts['aws_access_key']['no_log'] is True
    assert 'required' not in opts['store'] and 'default' not in opts['store']


def test_default_thresholds_age_h():
    check = norm({'name': 'b', 'type': 'backup_age', 'store': '/srv/backups'})[0]
    assert check['_thresholds'] == {'age_h': {'warning': 26, 'critical': 50}}
    assert 'url' not in check and check['store'] == '/srv/backups'


def test_age_s_thresholds_replace_the_age_h_default():
    check = norm({'name': 'b', 'type': 'backup_age', 'store': '/s',
                  'thresholds': {'age_s': {'warning': 3600, 'critical': 7200}}})[0]
    assert check['_thresholds'] == {'age_s': {'warning': 3600.0, 'critical': 7200.0}}
    check = norm({'name': 'b', 'type': 'backup_age', 'store': '/s', 'thresholds': {'age_h': {'critical': 200}}})[0]
    assert check['_thresholds'] == {'age_h': {'warning': None, 'critical': 200.0}}
    check = norm({'name': 'b', 'type': 'backup_age', 'store': '/s', 'thresholds': {'age_h': {}}})[0]
    assert check['_thresholds'] == {}


def test_age_h_and_age_s_together_is_an_error():
    with pytest.raises(health.HealthConfigError) as e:
        norm({'name': 'b', 'type': 'backup_age', 'store': '/s',
              'thresholds': {'age_h': {'warning': 1}, 'age_s': {'warning': 10}}})
    assert str(e.value) == "check 'b': thresholds name age_h and age_s, which measure the same thing; give only one of them"


def test_unknown_metric_names_the_backup_age_metrics():
    with pytest.raises(health.HealthConfigError) as e:
        norm({'name': 'b', 'type': 'backup_age', 'store': '/s', 'thresholds': {'age_days': {'warning': 1}}})
    assert "unknown metric 'age_days'; metrics that can be graded for backup_age: age_h, age_s" in str(e.value)


def test_thresholds_order_checked():
    with pytest.raises(health.HealthConfigError, match=r'warning \(60\) must not be above critical \(30\)'):
        norm({'name': 'b', 'type': 'backup_age', 'store': '/s', 'thresholds': {'age_h': {'warning': 60, 'critical': 30}}})


def test_options_of_other_types_rejected_both_ways():
    with pytest.raises(health.HealthConfigError, match=r"check 'b' \(type backup_age\) does not take option\(s\) url"):
        norm({'name': 'b', 'type': 'backup_age', 'store': '/s', 'url': 'http://x'})
    with pytest.raises(health.HealthConfigError, match=r"check 'd' \(type disk\) does not take option\(s\) source_db, store"):
        norm({'name': 'd', 'type': 'disk', 'path': '/', 'store': '/s', 'source_db': 'app'})


# --------------------------------------------------------------------------- probe and grading

def test_probe_passes_store_options_and_source_db(monkeypatch):
    calls = []
    monkeypatch.setattr(bs, 'backup_age', fake_backup_age(calls=calls))
    r = one({'name': 'b', 'type': 'backup_age', 'store': 's3://bk/pg', 'source_db': 'app',
             's3_endpoint_url': 'http://127.0.0.1:9', 'aws_region': 'eu-west-1', 'aws_access_key': 'AKIA1',
             'aws_secret_key': SECRET})
    assert calls == [({'store': 's3://bk/pg', 's3_endpoint_url': 'http://127.0.0.1:9', 'aws_region': 'eu-west-1',
                       'aws_access_key': 'AKIA1', 'aws_secret_key': SECRET,
                       # the S3 client is bounded by the probe's timeout (10 s by default), without retries
                       's3_connect_timeout': 10, 's3_read_timeout': 10, 's3_max_attempts': 1}, 'app')]
    assert (r['status'], r['message']) == ('ok', 'ok')
    assert r['metrics'] == {'found': True, 'backup_id': '20260131T020000Z-app-abc123',
                            'created_at': '2026-01-31T02:00:00.000000Z', 'age_s': 3600.0, 'age_h': 1.0,
                            'valid_count': 1, 'invalid_count': 0, 'store': '/srv/backups'}


def test_probe_without_source_db_asks_for_every_database(monkeypatch):
    calls = []
    monkeypatch.setattr(bs, 'backup_age', fake_backup_age(calls=calls))
    one({'name': 'b', 'type': 'backup_age', 'store': '/srv/backups'})
    assert calls[0][1] is None


@pytest.mark.parametrize('age_h, status, message', [
    (1, 'ok', 'ok'),
    (25.99, 'ok', 'ok'),
    (26, 'warning', 'age_h 26 >= warning 26'),
    (30.5, 'warning', 'age_h 30.5 >= warning 26'),
    (50, 'critical', 'age_h 50 >= critical 50'),
    (24 * 9, 'critical', 'age_h 216 >= critical 50'),
])
def test_default_grading_by_age(monkeypatch, age_h, status, message):
    monkeypatch.setattr(bs, 'backup_age', fake_backup_age(age_s=age_h * 3600.0))
    r = one({'name': 'b', 'type': 'backup_age', 'store': '/srv/backups'})
    assert (r['status'], r['message']) == (status, message)


def test_grading_with_age_s(monkeypatch):
    monkeypatch.setattr(bs, 'backup_age', fake_backup_age(age_s=5000.0))
    r = one({'name': 'b', 'type': 'backup_age', 'store': '/s', 'thresholds': {'age_s': {'warning': 3600, 'critical': 7200}}})
    assert (r['status'], r['message']) == ('warning', 'age_s 5000 >= warning 3600')


def test_no_valid_backup_is_critical_and_says_so(monkeypatch):
    monkeypatch.setattr(bs, 'backup_age', fake_backup_age(found=False, valid=0, invalid=2))
    r = one({'name': 'b', 'type': 'backup_age', 'store': '/srv/backups', 'source_db': 'app'})
    assert r['status'] == 'critical'
    assert r['message'] == "no valid backup of database 'app' in /srv/backups (2 invalid or unfinished)"
    assert r['metrics']['found'] is False and r['metrics']['age_s'] is None and r['metrics']['age_h'] is None
    monkeypatch.setattr(bs, 'backup_age', fake_backup_age(found=False, valid=0, invalid=0))
    r = one({'name': 'b', 'type': 'backup_age', 'store': '/srv/backups'})
    assert (r['status'], r['message']) == ('critical', 'no valid backup in /srv/backups')


def test_unreadable_store_is_critical_with_secret_redacted(monkeypatch):
    err = bs.StoreError('cannot list s3://bk/pg: access denied (InvalidAccessKeyId) for %s' % SECRET)
    monkeypatch.setattr(bs, 'backup_age', fake_backup_age(error=err))
    r = one({'name': 'b', 'type': 'backup_age', 'store': 's3://bk/pg', 's3_endpoint_url': 'http://u:pw@127.0.0.1:9',
             'aws_access_key': 'AKIA1', 'aws_secret_key': SECRET})
    assert r['status'] == 'critical' and r['metrics'] == {}
    assert r['message'] == ('Could not read the backup store s3://bk/pg (endpoint http://u:********@127.0.0.1:9): '
                            'cannot list s3://bk/pg: access denied (InvalidAccessKeyId) for ********')


def test_secrets_of_include_aws_keys():
    assert set(health.secrets_of({'aws_access_key': 'AKIA1', 'aws_secret_key': SECRET})) == {'AKIA1', SECRET}


def test_boto3_required_only_for_s3_stores(monkeypatch):
    monkeypatch.setattr(bs, 'HAS_BOTO3', False)
    monkeypatch.setattr(bs, 'BOTO3_IMP_ERR', 'ImportError: boto3')
    assert health.check_requirements(norm({'name': 'b', 'type': 'backup_age', 'store': '/srv/backups'})) is None
    assert health.check_requirements(norm({'name': 'b', 'type': 'backup_age', 'store': 's3://bk'})) == \
        ('boto3', 'ImportError: boto3')


# --------------------------------------------------------------------------- a real local store (no mocks)

def test_real_local_store_newest_valid_backup(tmp_path):
    root = str(tmp_path / 'store')
    write_backup(root, 'app', hours_ago(100))
    newest_valid = write_backup(root, 'app', hours_ago(30))
    write_backup(root, 'app', hours_ago(1), valid=False)        # truncated: never counts
    write_backup(root, 'other', hours_ago(2))
    r = one({'name': 'b', 'type': 'backup_age', 'store': root, 'source_db': 'app'})
    assert r['status'] == 'warning'
    assert r['metrics']['backup_id'] == newest_valid
    assert 29.9 < r['metrics']['age_h'] < 30.1
    assert abs(r['metrics']['age_s'] - r['metrics']['age_h'] * 3600) < 5
    assert (r['metrics']['valid_count'], r['metrics']['invalid_count']) == (2, 1)
    assert r['message'].startswith('age_h 30') and r['message'].endswith('>= warning 26')
    # every database: the 'other' backup of 2 hours ago is the newest valid one
    r = one({'name': 'b', 'type': 'backup_age', 'store': 'file://' + root})
    assert r['status'] == 'ok' and 1.9 < r['metrics']['age_h'] < 2.1


def test_real_local_store_empty_and_missing(tmp_path):
    root = tmp_path / 'store'
    root.mkdir()
    r = one({'name': 'b', 'type': 'backup_age', 'store': str(root)})
    assert (r['status'], r['message']) == ('critical', 'no valid backup in %s' % root)
    r = one({'name': 'b', 'type': 'backup_age', 'store': str(tmp_path / 'nope')})
    assert r['status'] == 'critical'
    assert r['message'].startswith('Could not read the backup store %s: ' % (tmp_path / 'nope'))


@pytest.mark.parametrize('store', ['relative/dir', 'ftp://host/x', '', '*'])
def test_bad_store_urls_are_critical_not_crashes(store):
    r = one({'name': 'b', 'type': 'backup_age', 'store': store})
    assert r['status'] == 'critical'
    assert r['message'].startswith('Could not read the backup store')


def test_hostile_source_db_matches_nothing_and_is_reported(tmp_path):
    root = str(tmp_path / 'store')
    write_backup(root, 'app', hours_ago(1))
    for db in (HOSTILE_DB, '*', 'app\x00'):
        r = one({'name': 'b', 'type': 'backup_age', 'store': root, 'source_db': db})
        assert r['status'] == 'critical'
        assert r['message'].startswith('no valid backup of database %r in ' % db)
        assert '\x00' not in r['message']


# --------------------------------------------------------------------------- the module

def test_module_requires_store_for_backup_age(capsys):
    failed, result, dummy = run_main({'checks': [{'name': 'b', 'type': 'backup_age'}]}, capsys)
    assert failed and 'type is backup_age' in result['msg'] and 'store' in result['msg']


def test_module_requires_both_aws_keys(capsys):
    failed, result, dummy = run_main({'checks': [{'name': 'b', 'type': 'backup_age', 'store': 's3://bk',
                                                  'aws_access_key': 'AKIA1'}]}, capsys)
    assert failed and 'parameters are required together: aws_access_key, aws_secret_key' in result['msg']


def test_module_both_age_metrics_message(capsys):
    failed, result, dummy = run_main({'checks': [{'name': 'b', 'type': 'backup_age', 'store': '/s', 'thresholds': {
        'age_h': {'warning': 1}, 'age_s': {'warning': 1}}}]}, capsys)
    assert failed and result['msg'] == ("Could not validate checks: check 'b': thresholds name age_h and age_s, which "
                                        "measure the same thing; give only one of them. Fix the checks option.")


def test_module_no_backup_fails_and_never_shows_the_secret(capsys, monkeypatch):
    monkeypatch.setattr(bs, 'backup_age', fake_backup_age(found=False, valid=0, store='s3://bk/pg'))
    failed, result, out = run_main({'checks': [{'name': 'nightly', 'type': 'backup_age', 'store': 's3://bk/pg',
                                                'aws_access_key': 'AKIA1', 'aws_secret_key': SECRET}]}, capsys)
    assert failed and result['changed'] is False
    assert result['msg'].startswith('Health check failed (fail_on=critical): critical: nightly. ')
    assert result['checks'][0]['message'] == 'no valid backup in s3://bk/pg'
    assert SECRET not in out
