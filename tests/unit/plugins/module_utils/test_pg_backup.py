# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""pg_backup / pg_restore: argv (no password on it), helpers (retention: test_backup_retention.py)."""
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
