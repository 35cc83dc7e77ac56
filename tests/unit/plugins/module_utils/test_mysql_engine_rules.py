# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The mysql engine's pure rules: connection options, the private option file, argv, manifests, restore and
maintenance planning, the health probe's replica facts."""
from __future__ import annotations

import os
import stat

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs
from ansible_collections.runbook.ops.plugins.module_utils import health_mysql as hm
from ansible_collections.runbook.ops.plugins.module_utils import mysql as my
from ansible_collections.runbook.ops.plugins.module_utils import mysql_backup as mb
from ansible_collections.runbook.ops.plugins.module_utils import mysql_maintenance as mm
from ansible_collections.runbook.ops.plugins.module_utils import mysql_restore as mr

SECRET = 'p"w\\d\'; --x'
PARAMS = dict(engine='mysql', login_host='db1', login_port=5432, login_user='postgres', login_password=SECRET,
              config_file='/nonexistent/.my.cnf')


def test_pg_defaults_of_a_shared_spec_read_as_unset():
    p = my.mysql_params(PARAMS)
    assert p['login_port'] == 3306 and p['login_user'] is None
    p = my.mysql_params(dict(PARAMS, login_port=3307, login_user='app'))
    assert p['login_port'] == 3307 and p['login_user'] == 'app'
    # a MySQL-only module (no engine key) keeps what it is given
    assert my.mysql_params({'login_port': 5432})['login_port'] == 5432


def test_connect_kwargs_socket_tls_and_config_file(tmp_path):
    cnf = tmp_path / 'my.cnf'
    cnf.write_text('[client]\nuser=fromfile\n')
    kw = my.connect_kwargs(my.mysql_params(dict(login_unix_socket='/run/mysqld/mysqld.sock', ca_cert='/ca.pem',
                                                client_cert='/c.pem', client_key='/k.pem', config_file=str(cnf))),
                           db='app')
    assert kw['unix_socket'] == '/run/mysqld/mysqld.sock' and 'host' not in kw
    assert kw['ssl'] == {'ca': '/ca.pem', 'cert': '/c.pem', 'key': '/k.pem'}
    assert kw['read_default_file'] == str(cnf) and kw['database'] == 'app' and 'user' not in kw


@pytest.mark.parametrize('value, expected', [
    ('plain', '"plain"'), ('a"b', '"a\\"b"'), ('a\\b', '"a\\\\b"'), ("it's; #x", '"it\'s; #x"')])
def test_option_value_quotes_for_the_option_parser(value, expected):
    assert my.option_value(value) == expected


def test_option_value_refuses_line_breaks():
    with pytest.raises(my.MysqlError):
        my.option_value('a\nb')


def test_defaults_file_is_private_and_removed(tmp_path):
    with my.defaults_file(PARAMS, tmp_dir=str(tmp_path)) as path:
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert stat.S_IMODE(os.stat(os.path.dirname(path)).st_mode) == 0o700
        text = open(path).read()
        assert text.startswith('[client]\n') and 'password=%s\n' % my.option_value(SECRET) in text
        assert 'port=3306' in text and 'user=' not in text
    assert not os.path.exists(path) and not os.path.exists(os.path.dirname(path))


def test_defaults_text_includes_the_users_config_file_first(tmp_path):
    cnf = tmp_path / 'my.cnf'
    cnf.write_text('[client]\nuser=ops\n[mysqldump]\nmax_allowed_packet=1G\n')
    text = my.defaults_text(dict(PARAMS, config_file=str(cnf)))
    assert text.index('user=ops') < text.index('password=') and text.count('[client]') == 2


def test_dump_argv_has_no_secret_and_quotes_nothing():
    argv = mb.dump_argv('/usr/bin/mariadb-dump', '/tmp/x/client.cnf', '-db`; DROP')
    assert argv[1] == '--defaults-file=/tmp/x/client.cnf'
    assert argv[-2:] == ['--', '-db`; DROP']
    assert {'--single-transaction', '--quick', '--routines', '--triggers', '--events'} <= set(argv)
    assert not any(SECRET in a for a in argv)
    assert mr.client_argv('mariadb', '/t/c.cnf', 'rbo_restore_0123456789ab')[-1] == \
        '--database=rbo_restore_0123456789ab'


def test_non_transactional_and_events_refusal():
    tables = [('a', 'InnoDB', 'BASE TABLE'), ('b', 'MyISAM', 'BASE TABLE'), ('v', None, 'VIEW'),
              ('c', 'Aria', 'BASE TABLE'), ('s', 'SEQUENCE', 'SEQUENCE')]
    assert mb.non_transactional(tables) == [('b', 'MyISAM'), ('c', 'Aria')]
    assert mb.events_refusal('a"b', 1) and mb.events_refusal("a'b", 2) and mb.events_refusal('a\\b', 1)
    assert mb.events_refusal('a"b', 0) is None and mb.events_refusal('a`b ü', 3) is None


def test_tool_version_and_compressors():
    assert mb.parse_tool_version('mariadb-dump from 11.4.2-MariaDB, client 10.19') == '11.4.2'
    assert mb.parse_tool_version('mysqldump  Ver 10.19 Distrib 10.11.14-MariaDB, for debian') == '10.11.14'
    assert mb.parse_tool_version('nonsense') is None
    assert mb.compressor_argv('zstd', None, 2) == ['zstd', '-q', '-c', '-T2', '-1']
    assert mb.compressor_argv('none') is None


def manifest(**kw):
    m = {'id': '20260131T020000Z-app-3f9a1c', 'engine': 'mysql', 'format': 'sql', 'server_version': '10.11.14 (x)',
         'database': 'app', 'created_at': '2026-01-31T02:00:00.000000Z', 'duration_s': 1.0, 'compression': 'zstd',
         'size': 10, 'sha256': 'a' * 64, 'data_key': 'data.dump.zst', 'tables': [{'schema': 'app', 'table': 't',
                                                                                 'rows': 3}],
         'dump_version': '10.11.14', 'row_counts': 'exact', 'globals': None, 'tags': {}}
    m.update(kw)
    return m


def test_validate_manifest_mysql():
    assert mb.validate_manifest(manifest(), '20260131T020000Z-app-3f9a1c') == []
    assert 'field engine is not mysql' in mb.validate_manifest(manifest(engine='postgresql'))
    assert any('dump_version' in p for p in mb.validate_manifest(manifest(dump_version='x')))
    assert any('sha256' in p for p in mb.validate_manifest(manifest(sha256='nothex')))
    # backup_store alone refuses it, so a PostgreSQL restore never picks a MySQL backup
    assert bs.validate_manifest(manifest())


def test_list_backups_judges_mysql_manifests(tmp_path):
    store = bs.open_store({'store': str(tmp_path)})
    store.check(create=True)
    m = manifest()
    store.put_bytes(bs.backup_key(m['id'], 'data.dump.zst'), b'0123456789')
    import json
    store.put_bytes(bs.backup_key(m['id'], bs.MANIFEST_NAME), json.dumps(m).encode())
    entries = mb.list_backups(store, database='app')
    assert [(e['id'], e['valid'], e['reason']) for e in entries] == [(m['id'], True, 'ok')]
    store.put_bytes(bs.backup_key(m['id'], 'data.dump.zst'), b'012345678')
    entry = mb.list_backups(store, database='app')[0]
    assert entry['valid'] is False and 'truncated' in entry['reason']
    assert bs.list_backups(store)[0]['valid'] is False


def test_restore_helpers():
    assert mr.detect_compression(b'\x1f\x8b\x08') == 'gzip'
    assert mr.detect_compression(b'\x28\xb5\x2f\xfd\x00') == 'zstd'
    assert mr.detect_compression(b'-- MariaDB dump') == 'none'
    assert mr.adopted_source('s3://bucket/daily/backup-2026-01-31.sql.gz') == (
        's3://bucket/daily', 'backup-2026-01-31.sql.gz')
    assert mr.adopted_source('/var/backups/b.sql') == ('/var/backups', 'b.sql')
    assert mr.adopted_source('latest') is None and mr.adopted_source('20260131T020000Z-app-3f9a1c') is None
    with pytest.raises(mr.RestoreError):
        mr.adopted_source('s3://bucket')
    ddl = 'CREATE VIEW `rbo_restore_0123456789ab`.`v` AS select `rbo_restore_0123456789ab`.`t`.`a` from `x`.`t`'
    assert mr.requalify(ddl, 'rbo_restore_0123456789ab', 'a`b') == \
        'CREATE VIEW `a``b`.`v` AS select `a``b`.`t`.`a` from `x`.`t`'
    assert mr.NAMES_DATABASE_RE.search(b'-- x\nUSE `app`;\n')
    assert mr.NAMES_DATABASE_RE.search(b'CREATE DATABASE /*!32312 IF NOT EXISTS*/ `app`;')
    assert not mr.NAMES_DATABASE_RE.search(b"INSERT INTO t VALUES ('USE x');\n")


def test_sweep_takes_only_marked_scratch_databases_whose_lock_is_free():
    rows = [('rbo_restore_0123456789ab', {'pid': 1}), ('rbo_restore_aaaaaaaaaaaa', {'pid': 2}),
            ('rbo_restore_bbbbbbbbbbbb', None), ('app', {'pid': 3}), ('rbo_restore_0123', {'pid': 4})]
    free = {'rbo_restore_0123456789ab': True, 'rbo_restore_aaaaaaaaaaaa': False, 'rbo_restore_bbbbbbbbbbbb': True,
            'app': True, 'rbo_restore_0123': True}
    assert [p['database'] for p in mr.plan_sweep(rows, free)] == ['rbo_restore_0123456789ab']


def test_qi_doubles_backticks_and_refuses_nul():
    assert my.qi('a`b') == '`a``b`'
    with pytest.raises(my.MysqlError):
        my.qi('a\x00b')


def test_fragmented_needs_both_thresholds():
    mib = 1024 * 1024
    assert mm.fragmented({'data_length': 10 * mib, 'index_length': 0, 'data_free': 40 * mib}, 20, 10)[0]
    assert not mm.fragmented({'data_length': 10 * mib, 'index_length': 0, 'data_free': 4 * mib}, 20, 10)[0]
    assert not mm.fragmented({'data_length': 1000 * mib, 'index_length': 0, 'data_free': 40 * mib}, 20, 10)[0]
    assert not mm.fragmented({'data_length': 0, 'index_length': 0, 'data_free': 0}, 0, 0)[0]


def test_kill_candidates_never_self_server_or_excluded():
    rows = [
        {'id': 1, 'user': 'app', 'db': 'shop', 'command': 'Query', 'time_s': 900.0, 'state': 'x', 'info': 'q'},
        {'id': 2, 'user': 'me', 'db': 'shop', 'command': 'Query', 'time_s': 900.0, 'state': 'x', 'info': 'q'},
        {'id': 3, 'user': 'system user', 'db': None, 'command': 'Query', 'time_s': 900.0, 'state': '', 'info': ''},
        {'id': 4, 'user': 'etl', 'db': 'shop', 'command': 'Query', 'time_s': 900.0, 'state': 'x', 'info': 'q'},
        {'id': 5, 'user': 'app', 'db': 'shop', 'command': 'Sleep', 'time_s': 900.0, 'state': '', 'info': ''},
        {'id': 6, 'user': 'app', 'db': 'shop', 'command': 'Query', 'time_s': 5.0, 'state': 'x', 'info': 'q'},
        {'id': 7, 'user': 'app', 'db': 'other', 'command': 'Query', 'time_s': 900.0, 'state': 'x', 'info': 'q'},
    ]
    got = mm.kill_candidates(rows, own_id=2, min_s=60, exclude_users=['etl'], db='shop')
    assert [r['id'] for r in got] == [1]
    assert [r['id'] for r in mm.kill_candidates(rows, 2, 60, ['etl'])] == [1, 7]


def test_replica_facts():
    cols = ['Connection_name', 'Slave_IO_Running', 'Slave_SQL_Running', 'Seconds_Behind_Master']
    assert hm.replica_facts([], cols) == (False, None, [])
    assert hm.replica_facts([('', 'Yes', 'Yes', 12), ('b', 'Yes', 'Yes', 40)], cols) == (True, 40, [])
    assert hm.replica_facts([('', 'No', 'Yes', None)], cols) == (True, None, ['default'])
