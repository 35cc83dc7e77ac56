# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_backup / pg_restore: argv (no password on it), retention planning with faked dates, helpers."""
from __future__ import annotations

import datetime
import hashlib

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs
from ansible_collections.runbook.ops.plugins.module_utils import pg_backup as pb
from ansible_collections.runbook.ops.plugins.module_utils import pg_restore as pr

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 3, 15, 12, 0, 0, tzinfo=UTC)
PARAMS = {'login_host': 'db1', 'login_port': 5433, 'login_user': 'backup', 'login_password': 'S3cret!pw',
          'ssl_mode': 'require'}


def test_pg_dump_argv_has_no_password_and_no_dbname():
    argv = pb.pg_dump_argv('/usr/bin/pg_dump', snapshot='00000003-0000001B-1')
    assert argv == ['/usr/bin/pg_dump', '--format=custom', '--compress=0', '--no-password',
                    '--snapshot=00000003-0000001B-1']
    assert pb.pg_dumpall_globals_argv('/x/pg_dumpall') == ['/x/pg_dumpall', '--globals-only', '--no-password']
    env = pb.child_env(PARAMS, 'db."x; --')
    assert env['PGPASSWORD'] == 'S3cret!pw' and env['PGDATABASE'] == 'db."x; --'
    assert env['PGHOST'] == 'db1' and env['PGPORT'] == '5433' and env['PGSSLMODE'] == 'require'
    assert not any('S3cret' in a for a in argv)


def test_pg_restore_and_psql_argv():
    argv = pr.pg_restore_argv('/usr/bin/pg_restore', 'rbo_restore_abc', '/tmp/w/data.dump', jobs=4)
    assert argv == ['/usr/bin/pg_restore', '--exit-on-error', '--no-password', '--jobs=4',
                    '--dbname=rbo_restore_abc', '/tmp/w/data.dump']
    assert pr.pg_restore_argv('pg_restore', 's', 'f', no_owner=True)[-3:] == ['--no-owner', '--no-acl', 'f']
    assert pr.psql_file_argv('psql', '/tmp/g.sql') == ['psql', '-X', '-q', '--no-password', '-v',
                                                       'ON_ERROR_STOP=0', '-f', '/tmp/g.sql']


def test_compression_argv():
    assert pb.compressor_argv('zstd') == ['zstd', '-q', '-c', '-T2', '-1']
    assert pb.compressor_argv('zstd', level=9, threads=4) == ['zstd', '-q', '-c', '-T4', '-9']
    assert pb.compressor_argv('gzip') == ['gzip', '-c', '-6']
    assert pb.compressor_argv('none') is None
    assert pb.decompressor_argv('zstd') == ['zstd', '-q', '-d', '-c']
    assert pb.decompressor_argv('gzip') == ['gzip', '-d', '-c']
    assert pb.decompressor_argv('none') is None


def test_tool_version_parsing_and_preflight():
    assert pb.parse_tool_version('pg_dump (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)') == (15, 18)
    assert pb.parse_tool_version('pg_dump (PostgreSQL) 17devel') == (17, 0)
    assert pb.parse_tool_version('garbage') is None
    pb.check_tool_not_older('pg_dump', (16, 2), 15, '15.18')
    with pytest.raises(pb.BackupError) as e:
        pb.check_tool_not_older('pg_dump', (13, 4), 15, '15.18')
    assert str(e.value) == ('Could not start pg_dump: pg_dump 13.4 is older than the server (PostgreSQL 15.18) '
                            'and cannot dump it. Install the PostgreSQL 15 client tools and point bin_dir at them.')


def test_stream_to_store_hashes_and_reports_failures(tmp_path):
    store = bs.open_store({'store': str(tmp_path)})
    w = store.open_writer('20260315T120000Z-app-abcdef/data.dump')
    n, digest = pb.stream_to_store(['printf', 'hello world'], None, None, w, PARAMS, 'printf')
    w.commit()
    assert (n, digest) == (11, hashlib.sha256(b'hello world').hexdigest())
    # the compressor stage: the stored bytes are gzip, the hash covers what is stored
    w = store.open_writer('20260315T120000Z-app-abcdef/data.dump.gz')
    n, digest = pb.stream_to_store(['printf', 'hello world'], ['gzip', '-c', '-1'], None, w, PARAMS, 'printf')
    w.commit()
    stored = store.read_bytes('20260315T120000Z-app-abcdef/data.dump.gz')
    assert stored[:2] == b'\x1f\x8b' and digest == hashlib.sha256(stored).hexdigest() and n == len(stored)
    # a producer that dies: the error names it and redacts the password from its stderr
    w = store.open_writer('20260315T120000Z-app-abcdef/x')
    with pytest.raises(pb.BackupError) as e:
        pb.stream_to_store(['sh', '-c', 'echo "conn S3cret!pw failed" >&2; exit 3'], ['gzip', '-c'], None, w,
                           PARAMS, 'pg_dump')
    w.abort()
    assert str(e.value) == 'pg_dump exited with code 3: conn ******** failed'
    with pytest.raises(pb.BackupError, match='Could not start /nonexistent/pg_dump'):
        pb.stream_to_store(['/nonexistent/pg_dump'], None, None, w, PARAMS, 'pg_dump')


def entry(created, valid=True, reason='ok'):
    return {'id': bs.new_backup_id('app', created), 'created_at': bs.format_time(created), 'valid': valid,
            'reason': reason}


def actions(plan):
    return {p['id']: p['action'] for p in plan}


def test_gfs_retention_over_faked_dates():
    # one backup a day at 02:00 for 400 days, plus a second one on the newest day
    days = [entry(NOW.replace(hour=2) - datetime.timedelta(days=d)) for d in range(400)]
    extra = entry(NOW.replace(hour=10))
    plan = pb.plan_retention([extra] + days, {'daily': 7, 'weekly': 4, 'monthly': 12}, now=NOW)
    keep = [p for p in plan if p['action'] == 'keep']
    kept_dates = sorted({p['created_at'][:10] for p in keep}, reverse=True)
    # daily: the newest of each of the 7 newest days (the 10:00 one wins on 03-15)
    assert extra['id'] in actions(plan) and actions(plan)[extra['id']] == 'keep'
    assert actions(plan)[days[0]['id']] == 'delete'
    assert kept_dates[:7] == ['2026-03-15', '2026-03-14', '2026-03-13', '2026-03-12', '2026-03-11', '2026-03-10',
                              '2026-03-09']
    # weekly: Sundays (the newest backup of each ISO week) 03-08, 03-01, 02-22 (03-15 is a Sunday, already kept)
    for d in ('2026-03-08', '2026-03-01', '2026-02-22'):
        assert d in kept_dates
    # monthly: the last day of each of the 12 newest months
    for d in ('2026-02-28', '2026-01-31', '2025-12-31', '2025-04-30'):
        assert d in kept_dates
    assert '2025-03-31' not in kept_dates
    assert len(keep) == 7 + 3 + 11  # 12 months, the current one already kept by daily
    reasons = {p['id']: p['reasons'] for p in plan}
    assert reasons[extra['id']] == ['newest valid backup', 'daily 2026-03-15', 'weekly 2026-W11', 'monthly 2026-03']
    assert all(p['reasons'] == ['kept by no rule of {"daily": 7, "monthly": 12, "weekly": 4}']
               for p in plan if p['action'] == 'delete')


def test_gfs_counts_days_that_have_backups():
    # backups stopped 30 days ago: daily 3 still keeps the last 3 days that have backups
    old = [entry(NOW - datetime.timedelta(days=30 + d)) for d in range(10)]
    plan = pb.plan_retention(old, {'daily': 3}, now=NOW)
    assert [p['action'] for p in plan] == ['keep'] * 3 + ['delete'] * 7


def test_keep_last_max_age_and_union():
    es = [entry(NOW - datetime.timedelta(days=d)) for d in range(10)]
    assert [p['action'] for p in pb.plan_retention(es, {'keep_last': 2}, now=NOW)] == ['keep'] * 2 + ['delete'] * 8
    plan = pb.plan_retention(es, {'max_age_days': 3}, now=NOW)
    assert [p['action'] for p in plan] == ['keep'] * 4 + ['delete'] * 6
    plan = pb.plan_retention(es, {'keep_last': 1, 'max_age_days': 2, 'daily': None}, now=NOW)
    assert [p['action'] for p in plan] == ['keep'] * 3 + ['delete'] * 7


def test_retention_never_deletes_newest_valid_and_ignores_invalid():
    es = [entry(NOW - datetime.timedelta(days=100 + d)) for d in range(3)]
    broken = entry(NOW, valid=False, reason='no manifest')
    plan = pb.plan_retention([broken] + es, {'max_age_days': 1}, now=NOW)
    assert plan[0] == {'id': broken['id'], 'created_at': broken['created_at'], 'action': 'ignore',
                       'reasons': ['invalid (no manifest): retention leaves it alone']}
    assert plan[1]['action'] == 'keep' and plan[1]['reasons'] == ['newest valid backup']
    assert [p['action'] for p in plan[2:]] == ['delete', 'delete']
    # keep_last 0 turns the rule off: alone, it is refused (never "keep only the newest"); no rule keeps all
    with pytest.raises(pb.BackupError, match='0 turns a rule off'):
        pb.plan_retention(es, {'keep_last': 0}, now=NOW)
    assert [p['action'] for p in pb.plan_retention(es, {}, now=NOW)] == ['keep'] * 3
    # the backup just made is protected even when a faked future backup is "newer"
    future = entry(NOW + datetime.timedelta(days=1))
    plan = pb.plan_retention([future] + es, {'keep_last': 1}, now=NOW, protect=(es[0]['id'],))
    assert actions(plan)[es[0]['id']] == 'keep' and actions(plan)[future['id']] == 'keep'


def test_apply_retention_deletes_manifest_first(tmp_path):
    store = bs.open_store({'store': str(tmp_path)})
    calls = []
    store.put_bytes('20260315T120000Z-app-abcdef/data.dump.zst', b'x')
    store.put_bytes('20260315T120000Z-app-abcdef/manifest.json', b'{}')
    real = store.delete
    store.delete = lambda keys: (calls.append(list(keys)), real(keys))
    pruned = pb.apply_retention(store, [{'id': '20260315T120000Z-app-abcdef', 'action': 'delete'},
                                        {'id': '20260314T120000Z-app-abcdef', 'action': 'keep'}])
    assert pruned == ['20260315T120000Z-app-abcdef']
    assert calls == [['20260315T120000Z-app-abcdef/manifest.json'], ['20260315T120000Z-app-abcdef/data.dump.zst']]
    assert store.list_objects() == {}


def test_restore_helpers():
    when = datetime.datetime(2026, 3, 15, 12, 0, 1, tzinfo=UTC)
    assert pr.previous_name('app', when) == 'app_pre_restore_20260315120001'
    long_name = 'é' * 40
    name = pr.previous_name(long_name, when)
    assert len(name.encode('utf-8')) <= 63 and name.endswith('_pre_restore_20260315120001')
    assert pr.scratch_name().startswith('rbo_restore_') and len(pr.scratch_name()) == 24
    ok, rows = pr.compare_counts([{'schema': 'public', 'table': 't', 'rows': 3},
                                  {'schema': 's', 'table': 'gone', 'rows': 1}],
                                 {('public', 't'): 3, ('s', 'gone'): None})
    assert ok is False
    assert rows == [{'schema': 'public', 'table': 't', 'expected': 3, 'actual': 3, 'ok': True},
                    {'schema': 's', 'table': 'gone', 'expected': 1, 'actual': None, 'ok': False}]


def test_compare_counts_by_kind_of_manifest_counts():
    expected = [{'schema': 'public', 'table': 't', 'rows': 1200}, {'schema': 'public', 'table': 'new', 'rows': None},
                {'schema': 's', 'table': 'x"; --', 'rows': 5}]
    actual = {('public', 't'): 1500, ('public', 'new'): 3, ('s', 'x"; --'): 5}
    # exact (the default, and manifests written before the field existed): every count must match
    ok, rows = pr.compare_counts(expected, actual)
    assert ok is False and [r['ok'] for r in rows] == [False, False, True]
    # estimates and none: differences are reported, not failed; the tables must all exist
    for kind in ('estimate', 'none'):
        ok, rows = pr.compare_counts(expected, actual, kind)
        assert ok is True
        assert rows[0] == {'schema': 'public', 'table': 't', 'expected': 1200, 'actual': 1500, 'ok': True}
        missing = dict(actual)
        missing[('s', 'x"; --')] = None
        ok, rows = pr.compare_counts(expected, missing, kind)
        assert ok is False and rows[2] == {'schema': 's', 'table': 'x"; --', 'expected': 5, 'actual': None,
                                           'ok': False}
    # an empty table restored as empty still counts as present
    ok, _rows = pr.compare_counts([{'schema': 'p', 'table': 'e', 'rows': None}], {('p', 'e'): 0}, 'none')
    assert ok is True


def test_row_count_estimates_and_peak_rss():
    assert pb._estimate(1234.6, 'estimate') == 1235
    assert pb._estimate(0.0, 'estimate') == 0
    assert pb._estimate(-1.0, 'estimate') is None  # never vacuumed nor analyzed (PostgreSQL 14+)
    assert pb._estimate(None, 'estimate') is None
    assert pb._estimate(1234.0, 'none') is None
    assert pb.peak_rss_mib() > 1
    with pytest.raises(pb.BackupError, match='row_counts must be one of exact, estimate, none'):
        pb.run_backup({'db': 'app', 'compression': 'zstd', 'row_counts': 'guess', 'store': '/nonexistent'})


def test_stream_to_store_large_output_through_wide_pipes(tmp_path):
    store = bs.open_store({'store': str(tmp_path)})
    w = store.open_writer('20260315T120000Z-app-abcdef/data.dump')
    # 5 MiB (several reads, several pipe fills) through a compressor stage
    n, digest = pb.stream_to_store(['head', '-c', str(5 * 1024 * 1024), '/dev/urandom'], ['cat'], None, w, PARAMS,
                                   'head')
    w.commit()
    stored = store.read_bytes('20260315T120000Z-app-abcdef/data.dump')
    assert n == len(stored) == 5 * 1024 * 1024 and digest == hashlib.sha256(stored).hexdigest()
