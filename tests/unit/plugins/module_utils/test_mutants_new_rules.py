# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Rules that `make mutants` showed unpinned in the redaction, integrity and prune code."""
from __future__ import annotations

import base64

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import file_prune as fp
from ansible_collections.runbook.ops.plugins.module_utils import pg_integrity as pi
from ansible_collections.runbook.ops.plugins.module_utils import redaction as rd

M = rd.MASK
DAY = 86400
MB = 1024 * 1024


def b64(text):
    return base64.b64encode(text.encode()).decode()


# --- redaction --------------------------------------------------------------------------------

def test_url_secrets_lists_password_raw_decoded_basic_token_and_query_tokens():
    found = rd.url_secrets('https://u:p%40ss@host.test/x?token=t0k%2B&x=1&token_empty=&signature')
    assert found == ['p%40ss', 'p@ss', b64('u:p@ss'), 't0k%2B', 't0k+']


def test_url_secrets_of_a_user_only_userinfo_is_its_basic_token():
    assert rd.url_secrets('http://ghp_tokenvalue@host.test/') == [b64('ghp_tokenvalue:')]


def test_url_secrets_keeps_an_equals_sign_inside_a_token_value():
    assert rd.url_secrets('http://h.test/?token=a=b') == ['a=b', 'a=b']


def test_url_secrets_none_without_secrets():
    assert rd.url_secrets('http://h.test/x?page=2&sort=name') == []


@pytest.mark.parametrize('url, shown', [
    ('http://u:p:q@h@host.test/x', 'http://u:%s@host.test/x' % M),
    ('http://tok@host.test/', 'http://%s@host.test/' % M),
    ('http://host.test/?token=abc&page=2', 'http://host.test/?token=%s&page=2' % M),
    ('http://host.test/plain', 'http://host.test/plain'),
])
def test_safe_url_masks_only_the_secret_parts(url, shown):
    assert rd.safe_url(url) == shown


def test_mask_replaces_the_longest_secret_first():
    assert rd.mask('x ab y', ['b', 'ab']) == 'x %s y' % M


def test_mask_and_redact_take_one_character_secrets_by_default():
    assert rd.mask('xzy', ['z']) == 'x%sy' % M
    assert rd.redact('xzy', ['z']) == 'x%sy' % M
    assert rd.mask('ab', ['ab'], min_length=2) == M
    assert rd.mask('abc', ['ab'], min_length=3) == 'abc'


# --- pg_integrity comparison rules ------------------------------------------------------------

@pytest.mark.parametrize('actual, expected, same', [
    (True, True, True), (True, False, False), (True, 'true', True), (False, 'TRUE', False),
    (None, None, True), (None, 'x', False), ('x', None, False), (None, 0, False),
    ('a', 'a', True), ('a', 'b', False), (3, 3.0, True), (3, 4, False), ('5', 5, True), ('5', '6', False),
])
def test_same_value_rules(actual, expected, same):
    assert pi._same(actual, expected) is same


def test_rows_equal_needs_the_same_number_of_rows_and_values():
    assert pi._rows_equal([{'a': 1}], [[1]]) is True
    assert pi._rows_equal([{'a': 1}], [[1], [2]]) is False
    assert pi._rows_equal([{'a': 1}, {'a': 2}], [[1]]) is False
    assert pi._rows_equal([{'a': 1, 'b': 2}], [[1]]) is False
    assert pi._rows_equal([{'a': 1}], [{'a': 1, 'b': 2}]) is False
    assert pi._rows_equal([{'a': 1}], [{'a': 2}]) is False


def test_compare_rows_takes_one_dict_as_one_row_and_returns_what_was_compared():
    out = pi.compare_rows({'n': 0}, 0)
    assert out == {'ok': True, 'actual': 0, 'expect': 0}
    assert pi.compare_rows({}, 0)['ok'] is False
    assert pi.compare_rows([{'n': 1}], 0)['ok'] is False


def test_compare_row_counts_defaults_to_no_tolerance_and_reports_every_key():
    tables = [{'schema': 's', 'table': 't', 'rows': 1000}]
    out = pi.compare_row_counts([{'schema': 's', 'table': 't', 'rows': 1005}], tables)
    assert out == [{'schema': 's', 'table': 't', 'backup_rows': 1000, 'rows': 1005, 'diff_pct': 0.5, 'ok': False,
                    'note': ''}]
    exact = pi.compare_row_counts([{'schema': 's', 'table': 't', 'rows': 1000}], tables, None, None)
    assert exact[0]['ok'] is True and exact[0]['diff_pct'] == 0.0
    assert pi.compare_row_counts([{'schema': 's', 'table': 't', 'rows': 3}],
                                 [{'schema': 's', 'table': 't', 'rows': 1}], 0, None)[0]['ok'] is False
    third = pi.compare_row_counts([{'schema': 's', 'table': 't', 'rows': 1001}],
                                  [{'schema': 's', 'table': 't', 'rows': 3000}], 100)[0]
    assert third['diff_pct'] == 66.63


def test_compare_row_counts_of_an_estimate_manifest_reports_its_number():
    out = pi.compare_row_counts([{'schema': 's', 'table': 't', 'rows': 7}],
                                [{'schema': 's', 'table': 't', 'rows': 5}], 0, 'estimate')
    assert out == [{'schema': 's', 'table': 't', 'backup_rows': 5, 'rows': 7, 'diff_pct': None, 'ok': True,
                    'note': 'not compared: the backup recorded no exact count (row_counts: estimate)'}]
    gone = pi.compare_row_counts([], [{'schema': 's', 'table': 't', 'rows': 5}], 0, 'estimate')
    assert gone == [{'schema': 's', 'table': 't', 'backup_rows': 5, 'rows': None, 'diff_pct': None, 'ok': False,
                     'note': 'table missing'}]


def test_row_count_entry_defaults_to_no_tolerance():
    entry = pi.row_count_entry('app', {'id': 'b', 'manifest': {'tables': [{'schema': 's', 'table': 't', 'rows': 100}]}},
                               [{'schema': 's', 'table': 't', 'rows': 101}])
    assert entry['tolerance_pct'] == 0.0 and entry['ok'] is False


# --- file_prune planner -----------------------------------------------------------------------

def f(path, size, age_days, now=1_000_000_000):
    return {'path': path, 'size': size, 'mtime': now - age_days * DAY}


def test_age_rule_boundary_is_exact_days():
    now = 1_000_000_000
    files = [f('a', 1, 7, now), {'path': 'b', 'size': 1, 'mtime': now - 7 * DAY - 1}]
    plan = fp.plan_files(files, max_age_days=7, now=now)
    assert [e['path'] for e in plan['delete']] == ['b'] and [e['path'] for e in plan['keep']] == ['a']


def test_a_tiny_cap_still_applies_and_no_cap_keeps_everything():
    now = 1_000_000_000
    files = [f('old', 600 * 1024, 3, now), f('new', 600 * 1024, 1, now)]
    plan = fp.plan_files(files, max_total_mb=1, now=now)
    assert [e['path'] for e in plan['delete']] == ['old'] and plan['bytes_after'] == 600 * 1024
    assert fp.plan_files(files, now=now)['deleted_count'] == 0
    assert fp.plan_files([f('x', 10, 0, now)], max_total_mb=0.000001, now=now)['deleted_count'] == 1


def test_planned_entries_carry_numbers_not_strings():
    plan = fp.plan_files([{'path': 'a', 'size': '5', 'mtime': '10'}], max_age_days=1, now=10 + 2 * DAY)
    assert plan['delete'][0]['size'] == 5 and plan['delete'][0]['mtime'] == 10.0 and plan['deleted_bytes'] == 5


def test_hidden_names_match_by_default():
    assert fp.name_matches('.cache', ['*']) is True
    assert fp.name_matches('.cache', ['*'], hidden=False) is False


@pytest.mark.parametrize('real, root, ok', [
    ('/srv/cache', '/srv/cache', True), ('/srv/cache/x', '/srv/cache/', True), ('/srv/cache/x', '/srv/cache', True),
    ('/srv/cache2', '/srv/cache', False), ('/srv', '/srv/cache', False),
])
def test_inside_is_by_path_component(real, root, ok):
    assert fp.inside(real, root) is ok


def test_a_colon_in_the_password_stays_in_the_basic_token():
    assert rd.url_secrets('http://u:a:b@host.test/') == ['a:b', 'a:b', b64('u:a:b')]


def test_none_is_not_the_text_none():
    assert pi._same(None, 'None') is False and pi._same('None', None) is False


def test_manifest_counts_are_read_as_numbers():
    out = pi.compare_row_counts([{'schema': 's', 'table': 't', 'rows': 1000}],
                                [{'schema': 's', 'table': 't', 'rows': '1000'}])
    assert out[0]['ok'] is True and out[0]['backup_rows'] == 1000


def test_plan_files_uses_the_clock_when_no_time_is_given():
    import time
    plan = fp.plan_files([{'path': 'a', 'size': 1, 'mtime': time.time() - 10 * DAY}], max_age_days=1)
    assert plan['deleted_count'] == 1


def test_a_root_whose_name_ends_in_x_is_still_a_root():
    assert fp.inside('/srv/cacheX/y', '/srv/cacheX') is True


def test_a_token_value_holding_an_equals_sign_is_masked_whole():
    assert rd.safe_url('http://host.test/?token=a=b&page=2') == 'http://host.test/?token=%s&page=2' % M
