# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules of adopting dumps made without the collection (both engines) and of the MySQL users-and-grants restore."""
from __future__ import annotations

import gzip
import os

import pymysql
import pytest

from ansible_collections.runbook.ops.plugins.module_utils import adopted_dump as ad
from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs
from ansible_collections.runbook.ops.plugins.module_utils import mysql_restore as mr
from ansible_collections.runbook.ops.plugins.module_utils import pg_restore as pr


# ------------------------------------------------------------------------------------------------ shared detection

def test_compression_detection_has_one_owner():
    assert mr.detect_compression is ad.detect_compression and mr.decompressor_argv is ad.decompressor_argv
    assert ad.detect_compression(gzip.compress(b'x')) == 'gzip'
    assert ad.detect_compression(b'\x28\xb5\x2f\xfd\x04') == 'zstd'
    assert ad.detect_compression(b'PGDMP') == 'none' and ad.detect_compression(b'') == 'none'
    assert ad.decompressor_argv('gzip', '/t/-x') == ['gzip', '-d', '-c', '--', '/t/-x']
    assert ad.decompressor_argv('none', '/t/x') is None


def test_adopted_source_and_dispatch():
    assert ad.adopted_source('s3://b/daily/backup.sql.gz') == ('s3://b/daily', 'backup.sql.gz')
    assert ad.adopted_source(' /var/b/x.sql ') == ('/var/b', 'x.sql')
    assert ad.adopted_source('before:2026-01-01') is None
    with pytest.raises(ad.AdoptedSourceError):
        ad.adopted_source('s3://bucket')
    with pytest.raises(mr.RestoreError):
        mr.adopted_source('s3://bucket/')
    assert pr.is_adopted('s3://b/k') and pr.is_adopted('/x.sql')
    assert not pr.is_adopted('latest') and not pr.is_adopted('20260131T020000Z-app-3f9a1c') and not pr.is_adopted(None)


def test_psql_load_is_one_transaction_stopping_at_the_first_error():
    argv = pr.psql_load_argv('/usr/bin/psql', '/tmp/d/data.sql')
    assert argv[0] == '/usr/bin/psql' and argv[-2:] == ['-f', '/tmp/d/data.sql']
    assert 'ON_ERROR_STOP=1' in argv and '--single-transaction' in argv and '--no-password' in argv and '-X' in argv


# ------------------------------------------------------------------------------------------------ plain SQL scan

def scan(text, no_owner=False):
    s = pr.PlainDumpScanner(no_owner)
    kept = [line for line in pr.iter_lines(text, iter(())) if s.feed(line)]
    return s, b''.join(kept)


DUMP = (b'\\restrict abc\n--\n-- PostgreSQL database dump\n--\nSET client_encoding = \'UTF8\';\n'
        b'CREATE TABLE public.t (a int, b text);\nALTER TABLE public.t OWNER TO app;\n'
        b'COPY public.t (a, b) FROM stdin;\n1\t\\N\n\\N\tx\n\\connect other\n2\tCREATE DATABASE y;\n\\.\n'
        b'CREATE USER MAPPING FOR app SERVER s;\nGRANT SELECT ON TABLE public.t TO reporting;\n'
        b'REVOKE ALL ON SCHEMA public FROM PUBLIC;\n\\unrestrict abc\n')


def test_scanner_keeps_a_pg_dump_and_reads_copy_data_as_data():
    s, kept = scan(DUMP)
    assert s.problem is None and kept == DUMP and s.left_out == 0 and not s.in_copy


def test_scanner_no_owner_leaves_out_owner_and_acl_statements_only():
    s, kept = scan(DUMP, no_owner=True)
    assert s.problem is None and s.left_out == 3
    assert b'OWNER TO' not in kept and b'GRANT SELECT' not in kept and b'REVOKE' not in kept
    assert b'\\connect other\n' in kept   # COPY data stays as it is


@pytest.mark.parametrize('line, what', [
    (b'\\connect app\n', '\\connect'),
    (b'\\c app\n', '\\connect'),
    (b'\\! rm -rf /\n', '\\!'),
    (b'  \\o /tmp/x\n', '\\o'),
    (b'CREATE DATABASE app WITH TEMPLATE = template0;\n', 'CREATE DATABASE'),
    (b'ALTER DATABASE app SET search_path = x;\n', 'ALTER DATABASE'),
    (b'create role evil;\n', 'CREATE ROLE'),
    (b'DROP USER app;\n', 'DROP USER'),
    (b'COMMENT ON DATABASE app IS \'x\';\n', 'COMMENT ON DATABASE'),
    (b'GRANT CONNECT ON DATABASE app TO x;\n', 'GRANT'),
    (b'CREATE TABLESPACE t LOCATION \'/x\';\n', 'CREATE TABLESPACE'),
])
def test_scanner_refuses_what_writes_outside_the_scratch_database(line, what):
    s, _kept = scan(b'SET x = 1;\n' + line + b'SELECT 1;\n')
    assert s.problem is not None and what.split()[0].lstrip('\\') in s.problem and 'line 2' in s.problem


def test_iter_lines_joins_a_line_split_across_reads():
    import io
    assert list(pr.iter_lines(b'ab\ncd', io.BytesIO(b'ef\ngh'))) == [b'ab\n', b'cdef\n', b'gh']
    assert list(pr.iter_lines(b'', io.BytesIO(b''))) == []


# ------------------------------------------------------------------------------------------------ fetch_adopted

def _fetch(tmp_path, name, data, no_owner=False):
    src = tmp_path / 'src'
    src.mkdir(exist_ok=True)
    (src / name).write_bytes(data)
    work = tmp_path / ('w-' + name)
    work.mkdir()
    info = pr.fetch_adopted(bs.open_store({'store': str(src)}), name, str(work), no_owner)
    assert not os.path.exists(str(work / 'adopted.raw'))
    return info


def test_fetch_adopted_plain_gzip_and_custom(tmp_path):
    info = _fetch(tmp_path, 'b.sql.gz', gzip.compress(DUMP))
    assert (info['compression'], info['format'], info['problem']) == ('gzip', 'plain', None)
    with open(info['path'], 'rb') as f:
        assert f.read() == DUMP
    assert oct(os.stat(info['path']).st_mode & 0o777) == '0o600'
    info = _fetch(tmp_path, 'c.dump', b'PGDMP\x01\x0e\x00' + b'\x00' * 100)
    assert (info['compression'], info['format'], info['problem']) == ('none', 'custom', None)


def test_fetch_adopted_refusals(tmp_path):
    data = bytearray(gzip.compress(DUMP * 50))
    data[len(data) // 2:len(data) // 2 + 8] = b'\x00' * 8
    info = _fetch(tmp_path, 'bad.sql.gz', bytes(data))
    assert 'gzip could not decompress it' in info['problem'] and 'corrupted' in info['problem']
    assert 'no database' not in info['problem']
    info = _fetch(tmp_path, 'create.sql', b'CREATE DATABASE app;\n\\connect app\n')
    assert 'CREATE DATABASE' in info['problem'] and '--create' in info['problem']
    assert 'neither a plain-SQL dump' in _fetch(tmp_path, 'x.tar', b'toc.dat\x00\x00\x00')['problem']
    assert 'empty' in _fetch(tmp_path, 'empty.sql', b'')['problem']


# ------------------------------------------------------------------------------------------------ MySQL globals

GLOBALS = ("-- users and grants, by runbook.ops db_backup (SHOW CREATE USER / SHOW GRANTS)\n"
           "CREATE USER `app`@`%` IDENTIFIED BY PASSWORD '*A4B6157319038724E3560894F7F932C8886EBFCF';\n"
           "GRANT USAGE ON *.* TO `app`@`%` IDENTIFIED BY PASSWORD '*A4B6157319038724E3560894F7F932C8886EBFCF';\n"
           "GRANT SELECT, INSERT ON `shop`.* TO `app`@`%`;\n"
           "CREATE USER `o'k;x`@`10.0.0.%` IDENTIFIED VIA ed25519 USING 'hash;with;semis' REQUIRE SSL;\n"
           "GRANT USAGE ON *.* TO `o'k;x`@`10.0.0.%` IDENTIFIED VIA ed25519 USING 'hash;with;semis' REQUIRE SSL "
           "WITH MAX_QUERIES_PER_HOUR 10;\n")


def test_split_statements_respects_quotes_and_comments():
    stmts = mr.split_statements(GLOBALS)
    assert len(stmts) == 5 and not stmts[0].startswith('--')
    assert stmts[3].endswith("REQUIRE SSL") and "'hash;with;semis'" in stmts[3]
    assert mr.split_statements("SELECT ';' /* ; */ FROM t; # c;\nSELECT 2") == ["SELECT ';'   FROM t", 'SELECT 2']


def test_created_account_and_grants_without_passwords():
    stmts = mr.split_statements(GLOBALS)
    assert mr.created_account(stmts[0]) == ('app', '%')
    assert mr.created_account(stmts[3]) == ("o'k;x", '10.0.0.%')
    assert mr.created_account("CREATE USER 'a''b'@'localhost' IDENTIFIED BY PASSWORD '*X'") == ("a'b", 'localhost')
    assert mr.created_account('CREATE USER IF NOT EXISTS bob') == ('bob', '%')
    assert mr.created_account(stmts[1]) is None
    assert mr.without_identification(stmts[1]) == 'GRANT USAGE ON *.* TO `app`@`%`'
    assert mr.without_identification(stmts[4]) == \
        "GRANT USAGE ON *.* TO `o'k;x`@`10.0.0.%` REQUIRE SSL WITH MAX_QUERIES_PER_HOUR 10"
    assert mr.without_identification(stmts[2]) == stmts[2]
    assert mr.without_identification(stmts[0]) == stmts[0]   # CREATE USER keeps its hash: it is only run when missing
    assert mr.without_identification("GRANT SELECT ON t TO `identified`@`%`") == "GRANT SELECT ON t TO `identified`@`%`"


def test_plan_globals_creates_missing_keeps_existing_and_adds_missing_grants():
    stmts = mr.split_statements(GLOBALS)
    existing = {('app', '%')}
    current = {('app', '%'): {'GRANT USAGE ON *.* TO `app`@`%`'}}
    plan = mr.plan_globals(stmts, existing, current)
    assert [(p['account'], p['exists']) for p in plan] == [(('app', '%'), True), (("o'k;x", '10.0.0.%'), False)]
    assert plan[0]['grants'] == ['GRANT SELECT, INSERT ON `shop`.* TO `app`@`%`']
    assert plan[1]['create'] == stmts[3] and len(plan[1]['grants']) == 1
    assert all('PASSWORD' not in g and 'USING' not in g for p in plan for g in p['grants'])


class _Cur(object):
    def __init__(self, log, fail_on=()):
        self.log, self.fail_on = log, fail_on

    def execute(self, statement, args=None):
        if any(f in statement for f in self.fail_on):
            raise pymysql.err.ProgrammingError(1064, "You have an error near 'IDENTIFIED BY PASSWORD '*A4B6' at 1")
        self.log.append(statement)

    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


class _Conn(object):
    def __init__(self, fail_on=()):
        self.log, self.fail_on = [], fail_on

    def cursor(self):
        return _Cur(self.log, self.fail_on)


def test_apply_globals_never_recreates_an_existing_account_and_check_mode_runs_nothing():
    stmts = mr.split_statements(GLOBALS)
    plan = mr.plan_globals(stmts, {('app', '%')}, {})
    conn = _Conn()
    report, errors = mr.apply_globals(conn, plan, True)
    assert conn.log == [] and errors == [] and report['applied'] is False
    assert report['created'] == ["`o'k;x`@`10.0.0.%`"] and report['kept'] == ['`app`@`%`'] and report['grants'] == 3
    report, errors = mr.apply_globals(conn, plan, False)
    assert errors == [] and report['applied'] is True and report['grants'] == 3
    assert not any(s.startswith('CREATE USER `app`') for s in conn.log)
    assert conn.log[2] == stmts[3]
    assert not any('IDENTIFIED' in s for s in conn.log if s.startswith('GRANT'))


def test_apply_globals_errors_carry_no_password_hash():
    plan = mr.plan_globals(mr.split_statements(GLOBALS), set(), {})
    _report, errors = mr.apply_globals(_Conn(fail_on=('CREATE USER `app`',)), plan, False)
    assert len(errors) == 1 and errors[0].startswith('create user `app`@`%`') and '(1064)' in errors[0]
    assert '*A4B6' not in errors[0] and 'PASSWORD' not in errors[0]


# ------------------------------------------------------------------------------------------------ PostgreSQL globals

def test_pg_globals_leave_existing_roles_as_they_are():
    lines = ['CREATE ROLE app;\n', "ALTER ROLE app WITH NOSUPERUSER LOGIN PASSWORD 'SCRAM-SHA-256$4096:x';\n",
             'CREATE ROLE "We""ird";\n', "ALTER ROLE \"We\"\"ird\" WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:y';\n",
             'CREATE ROLE newbie;\n', "ALTER ROLE newbie WITH LOGIN PASSWORD 'SCRAM-SHA-256$4096:z';\n",
             'GRANT app TO newbie;\n', "ALTER ROLE app SET search_path TO 'x';\n"]
    kept, left = pr.keep_existing_roles(lines, {'app', 'We"ird', 'postgres'})
    assert left == ['app', 'We"ird']
    assert kept == [lines[0], lines[2], lines[4], lines[5], lines[6], lines[7]]
