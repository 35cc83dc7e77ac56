# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Database-level properties (issue 16): settings (ALTER DATABASE / ALTER ROLE ... IN DATABASE ... SET) and the
database ACL, read by db_backup into the manifest and planned by db_restore for the restored database."""
from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import pg_backup as pb
from ansible_collections.runbook.ops.plugins.module_utils import pg_restore as pr


def test_settings_rows_become_manifest_entries():
    rows = [(None, ['work_mem=64MB', 'search_path="$user", public, "we, ird"']),
            ('app', ['statement_timeout=5s', 'app.tenant=a=b'])]
    assert pb.settings_entries(rows) == [
        {'role': None, 'name': 'work_mem', 'value': '64MB'},
        {'role': None, 'name': 'search_path', 'value': '"$user", public, "we, ird"'},
        {'role': 'app', 'name': 'statement_timeout', 'value': '5s'},
        {'role': 'app', 'name': 'app.tenant', 'value': 'a=b'}]


def test_acl_rows_become_manifest_entries_and_none_means_default():
    assert pb.acl_entries(True, []) is None
    assert pb.acl_entries(False, [(None, 'CONNECT', False), ('ro', 'CONNECT', True)]) == [
        {'grantee': None, 'privilege': 'CONNECT', 'grantable': False},
        {'grantee': 'ro', 'privilege': 'CONNECT', 'grantable': True}]


@pytest.mark.parametrize('value, items', [
    ('"$user", public', ['$user', 'public']),
    ('a,b', ['a', 'b']),
    ('"we, ird", "q""uote"', ['we, ird', 'q"uote']),
    ('""', ['']),
    ('single', ['single']),
])
def test_split_guc_list_like_pg_dump(value, items):
    assert pr.split_guc_list(value) == items


def test_plan_settings_grants_and_skips_missing_roles():
    props = {'acl': [{'grantee': None, 'privilege': 'CONNECT', 'grantable': False},
                     {'grantee': 'owner1', 'privilege': 'CREATE', 'grantable': False},
                     {'grantee': 'ro', 'privilege': 'TEMPORARY', 'grantable': True},
                     {'grantee': 'gone', 'privilege': 'CONNECT', 'grantable': False}],
             'settings': [{'role': None, 'name': 'search_path', 'value': '"$user", public'},
                          {'role': None, 'name': 'work_mem', 'value': '64MB'},
                          {'role': 'gone', 'name': 'work_mem', 'value': '1MB'},
                          {'role': 'ro', 'name': 'app.tenant', 'value': "x'; DROP"}]}
    steps, skipped = pr.plan_database_properties(props, roles={'owner1', 'ro'}, owner='owner1')
    assert steps == [
        ('set', None, ['search_path'], ['$user', 'public']),
        ('set', None, ['work_mem'], ['64MB']),
        ('set', 'ro', ['app', 'tenant'], ["x'; DROP"]),
        ('revoke_all', None), ('revoke_all', 'owner1'),
        ('grant', None, 'CONNECT', False),
        ('grant', 'owner1', 'CREATE', False),
        ('grant', 'ro', 'TEMPORARY', True)]
    assert skipped == ['setting work_mem for role "gone" (the role does not exist here)',
                       'grant of CONNECT to "gone" (the role does not exist here)']


def test_plan_default_acl_and_no_acl():
    props = {'acl': None, 'settings': []}
    assert pr.plan_database_properties(props, roles=set(), owner=None) == ([], [])
    props = {'acl': [{'grantee': None, 'privilege': 'CONNECT', 'grantable': False}], 'settings': []}
    steps, skipped = pr.plan_database_properties(props, roles=set(), owner=None, acl=False)
    assert steps == [] and skipped == ['the database ACL (no_owner=true)']


@pytest.mark.parametrize('props', [
    'x', {'acl': 'x'}, {'settings': [{'name': 1}]}, {'acl': [{'grantee': None, 'privilege': 'DROP TABLE'}]},
    {'settings': [{'role': None, 'name': 'a;b', 'value': 'x'}]},
])
def test_malformed_properties_are_refused(props):
    with pytest.raises(pr.RestoreError, match='database_properties'):
        pr.plan_database_properties(props, roles=set(), owner=None)


def test_old_manifest_without_properties_plans_nothing():
    assert pr.plan_database_properties(None, roles=set(), owner=None) == ([], [])
