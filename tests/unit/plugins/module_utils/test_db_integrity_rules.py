# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""db_integrity's comparison rules (moved from the maintenance filters' tests) and its option checks."""
from __future__ import annotations

import datetime
import decimal
import uuid

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import pg_integrity as pi


@pytest.mark.parametrize('name, rows, expect, ok', [
    ('count', [{'count': 5000}], 5000, True),
    ('decimal', [{'x': 2.5}], 2.5, True),
    ('int against float', [{'x': 3}], 3.0, True),
    ('text of a number', [{'x': '7'}], 7, True),                  # other values also compare as text
    ('bool as text', [{'x': True}], 'true', True),
    ('rows', [{'id': 1, 'name': 'c1'}, {'id': 2, 'name': 'c2'}], [[1, 'c1'], [2, 'c2']], True),
    ('dicts', [{'id': 1}], [{'id': 1}], True),
    ('dict missing a column', [{'id': 1, 'n': 2}], [{'id': 1}], False),
    ('none expected', [], [], True),
    ('no result set (postgresql_query shape)', {}, [], True),
    ('scalar in a one-item list', [{'a': 1}], [1], True),
    ('null', [{'a': None}], None, True),
    ('null is not zero', [{'a': None}], 0, False),
    ('wrong', [{'count': 2}], 0, False),
    ('two rows for a scalar', [{'a': 1}, {'a': 1}], 1, False),
    ('two columns for a scalar', [{'a': 1, 'b': 1}], 1, False),
    ('row order', [{'a': 1}, {'a': 2}], [[2], [1]], False),
])
def test_compare_rows(name, rows, expect, ok):
    assert pi.compare_rows(rows, expect)['ok'] is ok, name


def test_compare_rows_actual_shapes():
    assert pi.compare_rows([{'count': 2}], 0)['actual'] == 2
    assert pi.compare_rows([{'a': 1}, {'a': 2}], 1)['actual'] == [[1], [2]]
    assert pi.compare_rows([{'id': 1}], [{'id': 1}])['actual'] == [{'id': 1}]
    assert pi.compare_rows([{'id': 1, 'n': 'x'}], [[1, 'x']])['actual'] == [[1, 'x']]


def test_assertion_failure_lines():
    assertions = [
        {'name': 'count', 'db': 'app', 'ok': True, 'expect': 5000, 'actual': 5000, 'error': ''},
        {'name': 'wrong', 'db': 'app', 'ok': False, 'expect': 0, 'actual': 2, 'error': ''},
        {'name': 'rows', 'db': 'app', 'ok': False, 'expect': [[1, 'a']], 'actual': [[1, 'b']], 'error': ''},
        {'name': 'boom', 'db': 'app', 'ok': False, 'expect': 0, 'actual': None,
         'error': 'cannot execute DELETE in a read-only transaction'},
    ]
    assert pi.integrity_failures(assertions) == [
        'assertion wrong (db app): expected 0, got 2',
        'assertion rows (db app): expected [[1, "a"]], got [[1, "b"]]',
        'assertion boom (db app): cannot execute DELETE in a read-only transaction']


def test_row_counts_tolerance_and_missing_table():
    hostile = 't"; DROP TABLE x; --'
    manifest = {'tables': [{'schema': 'public', 'table': 'orders', 'rows': 1000},
                           {'schema': 'public', 'table': hostile, 'rows': 0},
                           {'schema': 'public', 'table': 'gone', 'rows': 5},
                           {'schema': 'public', 'table': 'grew', 'rows': 100},
                           {'schema': 'public', 'table': 'locked', 'rows': 1}]}
    selected = {'id': 'b1', 'created_at': '2026-01-31T02:00:00Z', 'manifest': manifest}
    rows = [{'schema': 'public', 'table': 'orders', 'rows': 1040},
            {'schema': 'public', 'table': hostile, 'rows': 0},
            {'schema': 'public', 'table': 'gone', 'rows': None},
            {'schema': 'public', 'table': 'grew', 'rows': 200},
            {'schema': 'public', 'table': 'locked', 'rows': None, 'error': 'could not count the rows: timeout'}]
    entry = pi.row_count_entry('app', selected, rows, 5)
    tables = dict((t['table'], t) for t in entry['tables'])
    assert tables['orders']['ok'] is True and tables['orders']['diff_pct'] == 4.0 and tables['orders']['note'] == ''
    assert tables[hostile]['ok'] is True
    assert tables['gone']['ok'] is False and tables['gone']['note'] == 'table missing'
    assert tables['gone']['rows'] is None and tables['gone']['diff_pct'] is None
    assert tables['grew']['ok'] is False and tables['grew']['diff_pct'] == 100.0
    assert tables['locked']['note'] == 'could not count the rows: timeout'
    assert entry['ok'] is False and entry['backup_id'] == 'b1' and entry['tolerance_pct'] == 5.0
    assert entry['backup_created_at'] == '2026-01-31T02:00:00Z' and entry['error'] == ''
    assert pi.integrity_failures([], [entry]) == [
        'row count of app.public.gone: table missing',
        'row count of app.public.grew: 200 rows now, 100 in backup b1 (100.0% off, tolerance 5%)',
        'row count of app.public.locked: could not count the rows: timeout']


@pytest.mark.parametrize('backup_rows, rows, tolerance, ok', [
    (1000, 1050, 5, True),      # exactly at the tolerance
    (1000, 950, 5, True),       # fewer rows, same rule
    (1000, 949, 5, False),
    (1000, 999, 0, False),      # no tolerance: exact
    (0, 1, 100, True),          # an empty table counts as 1 row of base
    (0, 2, 100, False),
])
def test_row_count_tolerance_bounds(backup_rows, rows, tolerance, ok):
    out = pi.compare_row_counts([{'schema': 's', 'table': 't', 'rows': rows}],
                                [{'schema': 's', 'table': 't', 'rows': backup_rows}], tolerance)
    assert out[0]['ok'] is ok


def test_a_database_that_could_not_be_counted_fails_and_store_errors_are_failures():
    entry = pi.row_count_entry('app', {'id': 'b1', 'manifest': {'tables': []}}, [], 0,
                               error='Could not count the rows of app: boom.')
    assert entry['ok'] is False
    assert pi.integrity_failures([], [entry], ['Could not list the backups of app in /x: gone.']) == [
        'row counts of app: Could not count the rows of app: boom.', 'Could not list the backups of app in /x: gone.']


def test_jsonable_matches_what_a_module_returns():
    when = datetime.datetime(2026, 1, 31, 2, 0, tzinfo=datetime.timezone.utc)
    u = uuid.UUID('12345678-1234-5678-1234-567812345678')
    assert pi.jsonable(decimal.Decimal('2.50')) == 2.5
    assert pi.jsonable(datetime.timedelta(hours=1)) == '1:00:00'
    assert pi.jsonable(when) == '2026-01-31T02:00:00+00:00'
    assert pi.jsonable(datetime.date(2026, 1, 31)) == '2026-01-31'
    assert pi.jsonable(u) == str(u)
    assert pi.jsonable({'a': [decimal.Decimal('1'), None, True]}) == {'a': [1.0, None, True]}
    assert pi.jsonable(b'\x00\xff') == '\\x00ff'
    assert pi.compare_rows([{'d': pi.jsonable(datetime.date(2026, 1, 31))}], '2026-01-31')['ok'] is True


@pytest.mark.parametrize('value, ok', [
    ('5min', True), ('30s', True), ('500ms', True), ('1h', True), ('0', True), (' 30s ', True),
    ('1.5s', False), ('30 s', False), ('30s; DROP TABLE x', False), ('', False), (None, False), ('-1s', False),
])
def test_statement_timeout(value, ok):
    if ok:
        assert pi.validate_statement_timeout(value) == str(value).strip()
    else:
        with pytest.raises(pi.IntegrityError, match=r'^Could not use statement_timeout='):
            pi.validate_statement_timeout(value)


def _params(**kw):
    p = dict(login_host='127.0.0.1', login_port=1, login_user='postgres', login_password='s3cret', ssl_mode='disable',
             connect_timeout=1, databases=None, db=None, assertions=[], row_counts=False, tolerance_pct=0,
             statement_timeout='5min', store=None)
    p.update(kw)
    return p


def test_an_assertion_without_db_needs_the_db_option():
    with pytest.raises(pi.IntegrityError, match='names no db'):
        pi.run_integrity(_params(assertions=[{'name': 'x', 'query': 'SELECT 1', 'expect': 1, 'db': None}]))


def test_negative_tolerance_is_refused():
    with pytest.raises(pi.IntegrityError, match='tolerance_pct=-1'):
        pi.run_integrity(_params(tolerance_pct=-1))


def test_store_errors_fail_except_in_check_mode(tmp_path):
    params = _params(databases=['app'], row_counts=True, store=str(tmp_path / 'nowhere'))
    real = pi.run_integrity(params)
    assert real['store_errors'] and 'does not exist' in real['store_errors'][0]
    assert real['failures'] == real['store_errors'] and real['msg'].startswith('Integrity check(s) failed: ')
    check = pi.run_integrity(params, check_mode=True)
    assert check['store_errors'] == real['store_errors'] and check['failures'] == []
    assert check['row_counts'] == [] and check['no_backup_to_compare'] == []


def test_empty_store_means_no_backup_to_compare(tmp_path):
    result = pi.run_integrity(_params(db='app', row_counts=True, store=str(tmp_path)))
    assert result['no_backup_to_compare'] == ['app'] and result['failures'] == [] and result['store_errors'] == []
    assert result['assertions_passed'] == 0 and result['assertions_failed'] == 0 and result['changed'] is False


@pytest.mark.parametrize('mode', ['estimate', 'none'])
def test_a_manifest_without_exact_counts_is_reported_not_failed(mode):
    """A backup taken with row_counts estimate/none holds no exact count: its tables are not failed
    against 0 (a non-empty table would always fail); a missing table still fails."""
    tables = [{'schema': 'public', 'table': 't', 'rows': None if mode == 'none' else 900},
              {'schema': 'public', 'table': 'gone', 'rows': None}]
    out = pi.compare_row_counts([{'schema': 'public', 'table': 't', 'rows': 1000}], tables, 0, mode)
    assert out[0]['ok'] is True and out[0]['rows'] == 1000 and 'not compared' in out[0]['note']
    assert out[1]['ok'] is False and out[1]['note'] == 'table missing'
    entry = pi.row_count_entry('app', {'id': 'b', 'manifest': {'row_counts': mode, 'tables': tables[:1]}},
                               [{'schema': 'public', 'table': 't', 'rows': 1000}])
    assert entry['ok'] is True


def test_an_exact_manifest_count_of_null_is_not_taken_as_zero():
    out = pi.compare_row_counts([{'schema': 'public', 'table': 't', 'rows': 5}],
                                [{'schema': 'public', 'table': 't', 'rows': None}], 0, 'exact')
    assert out[0]['ok'] is True and out[0]['backup_rows'] is None


def test_an_exact_count_still_fails_when_rows_are_missing():
    out = pi.compare_row_counts([{'schema': 'public', 'table': 't', 'rows': 999}],
                                [{'schema': 'public', 'table': 't', 'rows': 1000}], 0, 'exact')
    assert out[0]['ok'] is False
