# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Connection defaults once: every role's connection variable defaults to the collection-wide dict
(``runbook_postgres``, ``runbook_store``, ``runbook_redis``), keeps its old value when the dict is not set,
is documented as such in meta/argument_specs.yml, and every module is in the ``ops`` action group."""
from __future__ import annotations

import glob
import os
import re

import jinja2
import pytest
import yaml

from testkit import REPO

# variable suffix -> (collection dict, key of the dict)
POSTGRES_KEYS = ('login_host', 'login_port', 'login_user', 'login_password', 'ssl_mode')
STORE_KEYS = ('s3_endpoint_url', 'aws_region', 'aws_access_key', 'aws_secret_key')
REDIS_KEYS = ('host', 'port', 'db', 'username', 'password', 'tls', 'validate_certs', 'ca_cert', 'client_cert',
              'client_key', 'socket_timeout')
# The frontend mirror is a website bucket of its own (rollback's frontend entry point), not the backup store.
NOT_CONNECTIONS = {'rollback_frontend_s3_endpoint_url'}
# The old defaults, when no runbook_* dict is set (behaviour unchanged).
FALLBACK = {'login_host': {'localhost', ''}, 'login_port': {'5432'}, 'login_user': {'postgres'},
            'login_password': {''}, 'ssl_mode': {'prefer'}, 'store': {''}, 's3_endpoint_url': {''},
            'aws_region': {''}, 'aws_access_key': {''}, 'aws_secret_key': {''},
            'host': {'127.0.0.1'}, 'port': {'6379'}, 'db': {'0'}, 'username': {''}, 'password': {''},
            'tls': {'False'}, 'validate_certs': {'True'}, 'ca_cert': {''}, 'client_cert': {''}, 'client_key': {''},
            'socket_timeout': {'10'}}


def classify(name):
    """(dict name, key) when ``name`` is a connection variable of a role, else None."""
    if name.startswith('_') or name in NOT_CONNECTIONS:
        return None
    for key in POSTGRES_KEYS:
        if name.endswith('_' + key):
            return 'runbook_postgres', key
    m = re.match(r'^[a-z]+(_[a-z]+)*_redis_(%s)$' % '|'.join(REDIS_KEYS), name)
    if m:
        return 'runbook_redis', m.group(2)
    if name.endswith('_store'):
        return 'runbook_store', 'store'
    for key in STORE_KEYS:
        if name.endswith('_' + key):
            return 'runbook_store', key
    return None


def role_defaults():
    out = []
    for path in sorted(glob.glob(os.path.join(REPO, 'roles', '*', 'defaults', 'main.yml'))):
        role = path.split(os.sep)[-3]
        with open(path) as f:
            for name, value in (yaml.safe_load(f) or {}).items():
                kind = classify(name)
                if kind:
                    out.append((role, name, value) + kind)
    return out


CONNECTIONS = role_defaults()
IDS = [c[1] for c in CONNECTIONS]


def render(value, context):
    env = jinja2.Environment(undefined=jinja2.Undefined)
    return env.from_string(value if isinstance(value, str) else str(value)).render(**context)


def test_the_roles_have_connection_variables():
    # the classification sees the roles it is about (a rename would otherwise empty this suite)
    names = set(IDS)
    assert {'backup_login_host', 'restore_store', 'dr_s3_endpoint_url', 'maintenance_login_password',
            'maintenance_backup_store', 'deploy_backup_login_host', 'rollback_db_store', 'cache_redis_host',
            'maintenance_redis_password'} <= names
    assert len(CONNECTIONS) >= 55


@pytest.mark.parametrize('role,name,value,dict_name,key', CONNECTIONS, ids=IDS)
def test_connection_default_goes_through_the_collection_dict(role, name, value, dict_name, key):
    assert isinstance(value, str) and dict_name in value, (
        '%s/defaults/main.yml: %s hard-codes %r; default it to %s.%s' % (role, name, value, dict_name, key))
    # the dict's key is what the role reads
    sentinel = 'from-%s-%s' % (dict_name, key)
    assert render(value, {dict_name: {key: sentinel}}) == sentinel
    # unset (or another key only): the old default
    assert render(value, {}) in FALLBACK[key]
    assert render(value, {dict_name: {'unrelated': 1}}) in FALLBACK[key]


@pytest.mark.parametrize('name,alias', [
    ('maintenance_login_host', 'backup_login_host'), ('maintenance_login_password', 'backup_login_password'),
    ('maintenance_backup_store', 'backup_store'), ('maintenance_backup_aws_secret_key', 'backup_aws_secret_key'),
    ('maintenance_redis_host', 'cache_redis_host'), ('maintenance_redis_password', 'cache_redis_password'),
])
def test_maintenance_keeps_following_the_backup_and_cache_variables(name, alias):
    value = dict((c[1], c[2]) for c in CONNECTIONS)[name]
    dict_name, key = classify(name)
    # the older role's variable (deprecated alias) still wins over the collection dict, as before
    assert render(value, {alias: 'alias', dict_name: {key: 'dict'}}) == 'alias'
    assert render(value, {dict_name: {key: 'dict'}}) == 'dict'


def _spec_options():
    # the roles that have connection variables
    for role in sorted(set(c[0] for c in CONNECTIONS)):
        path = os.path.join(REPO, 'roles', role, 'meta', 'argument_specs.yml')
        with open(path) as f:
            specs = (yaml.safe_load(f) or {}).get('argument_specs') or {}
        for entry, spec in specs.items():
            for name, option in (spec.get('options') or {}).items():
                yield role, entry, name, option


@pytest.mark.parametrize('role,entry,name,option',
                         [o for o in _spec_options() if classify(o[2])],
                         ids=lambda v: v if isinstance(v, str) else '')
def test_argument_specs_say_which_dict_key_a_connection_variable_defaults_to(role, entry, name, option):
    dict_name, key = classify(name)
    description = option.get('description')
    text = ' '.join(description) if isinstance(description, list) else str(description)
    assert '%s.%s' % (dict_name, key) in text, (
        '%s/meta/argument_specs.yml (%s): %s does not say it defaults to %s.%s' % (role, entry, name, dict_name, key))


def test_every_module_is_in_the_ops_action_group():
    with open(os.path.join(REPO, 'meta', 'runtime.yml')) as f:
        group = yaml.safe_load(f)['action_groups']['ops']
    modules = sorted(os.path.basename(p)[:-3] for p in glob.glob(os.path.join(REPO, 'plugins', 'modules', '*.py'))
                     if not os.path.basename(p).startswith('_'))
    assert sorted(m for m in group if isinstance(m, str)) == modules
