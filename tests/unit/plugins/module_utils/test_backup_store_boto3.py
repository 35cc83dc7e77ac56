# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One boto3 presence check (backup_store.require_boto3) used by db_backup, db_backup_info, db_restore,
files_restore and the health_check backup_age probe."""

from __future__ import annotations

import json

import pytest
from ansible.module_utils.testing import patch_module_args

from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs
from ansible_collections.runbook.ops.plugins.module_utils import health
from ansible_collections.runbook.ops.plugins.modules import db_backup, db_backup_info, db_restore, files_restore


@pytest.fixture
def no_boto3(monkeypatch):
    monkeypatch.setattr(bs, 'HAS_BOTO3', False)
    monkeypatch.setattr(bs, 'BOTO3_IMP_ERR', 'ImportError: no module named boto3')


def run(module, args, capsys):
    with patch_module_args(args):
        with pytest.raises(SystemExit):
            module.main()
    return json.loads(capsys.readouterr().out)


@pytest.mark.parametrize('store,missing', [('s3://b/p', True), (' s3://b/p', True), ('/srv/backups', False),
                                           (None, True)])
def test_missing_boto3(no_boto3, store, missing):
    assert bs.missing_boto3(store) is missing


def test_boto3_present_is_never_missing(monkeypatch):
    monkeypatch.setattr(bs, 'HAS_BOTO3', True)
    assert bs.missing_boto3('s3://b') is False and bs.missing_boto3() is False


@pytest.mark.parametrize('module,args', [
    (db_backup, {'db': 'app', 'store': 's3://bkt/pg'}),
    (db_backup_info, {'store': 's3://bkt/pg'}),
    (db_restore, {'store': 's3://bkt/pg'}),
    (files_restore, {'src': 's3://bkt/files', 'dest': '/tmp/rbo-never-written'}),
])
def test_modules_fail_with_missing_required_lib(no_boto3, capsys, module, args):
    result = run(module, args, capsys)
    assert result['failed'] is True
    assert result['msg'].startswith('Failed to import the required Python library (boto3)')


def test_health_check_requirements_use_the_same_check(no_boto3, monkeypatch):
    calls = []
    real = bs.missing_boto3
    monkeypatch.setattr(bs, 'missing_boto3', lambda store=None: calls.append(store) or real(store))
    checks = health.normalize_checks([{'name': 'b', 'type': 'backup_age', 'store': 's3://bk'}])
    assert health.check_requirements(checks) == ('boto3', 'ImportError: no module named boto3')
    assert calls == ['s3://bk']
