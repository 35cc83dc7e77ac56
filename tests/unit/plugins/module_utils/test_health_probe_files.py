# -*- coding: utf-8 -*-
"""Every health check type lives in its own module_utils/health_<type>.py and joins health.py's one registry;
health.py keeps the runner, the grading and the registry.  Also the shared pieces the probe files and the queue
modules take from one place (probe.secrets_of/redact, queues.missing_library)."""
from __future__ import annotations

import ast
import importlib
import os

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import health
from ansible_collections.runbook.ops.plugins.module_utils import probe
from ansible_collections.runbook.ops.plugins.module_utils import queues
from ansible_collections.runbook.ops.plugins.module_utils import redaction

MODULE_UTILS = os.path.dirname(health.__file__)
BUILT_IN = ('http', 'tcp', 'postgres', 'redis', 'disk', 'memory', 'load', 'tls_cert', 'backup_age')


def _probe_files():
    found = {}
    for name in sorted(os.listdir(MODULE_UTILS)):
        if name.startswith('health_') and name.endswith('.py'):
            module = importlib.import_module('ansible_collections.runbook.ops.plugins.module_utils.' + name[:-3])
            if hasattr(module, 'PROBE_TYPE'):
                found[name[:-3]] = module
    return found


def test_every_probe_file_is_registered_once_in_the_one_list():
    files = _probe_files()
    registered = list(health.EXTRA_PROBE_TYPES)
    assert sorted(id(m.PROBE_TYPE) for m in files.values()) == sorted(id(t) for t in registered)
    assert [t.name for t in registered][:len(BUILT_IN)] == list(BUILT_IN)     # the built-in choices keep their order
    assert list(health.CHECK_TYPES) == [t.name for t in registered]


def test_every_probe_comes_from_its_own_file():
    for ptype in health.EXTRA_PROBE_TYPES:
        run = health.PROBES[ptype.name]
        assert run is ptype.run
        assert run.__module__ != health.__name__ and run.__module__.split('.')[-1].startswith('health_')


def test_health_py_defines_no_probe():
    tree = ast.parse(open(health.__file__).read())
    functions = [node.name for node in tree.body if isinstance(node, ast.FunctionDef)]
    assert not [f for f in functions if f.startswith('probe_') or f.startswith('_probe')]
    assert 'urlopen' not in open(health.__file__).read() and 'statvfs' not in open(health.__file__).read()


def test_each_built_in_type_declares_its_argspec_rules():
    checks = health.argument_spec()['checks']
    assert ('type', 'tls_cert', ('host', 'path'), True) in checks['required_if']
    assert ('type', 'http', ('url',)) in checks['required_if']
    assert ('type', 'tcp', ('host', 'port')) in checks['required_if']
    assert ('type', 'disk', ('path',)) in checks['required_if']
    assert ('type', 'backup_age', ('store',)) in checks['required_if']
    assert checks['mutually_exclusive'] == [('host', 'path')]
    assert checks['required_by'] == {'starttls': ('host',)}
    assert checks['required_together'] == [('aws_access_key', 'aws_secret_key')]
    # shared connection options come without their defaults (one element spec for every type)
    assert checks['options']['login_port'] == {'type': 'int'} and checks['options']['port'] == {'type': 'int'}
    assert 'required' not in checks['options']['store']


def test_a_type_declares_argspec_rules_that_join_the_element_spec(monkeypatch):
    extra = probe.ProbeType(name='twin', run=lambda c: probe.ProbeResult(), metrics={}, options=('a', 'b'),
                            suboptions={'a': dict(type='str'), 'b': dict(type='str')}, required=('a', 'b'),
                            required_any=True, mutually_exclusive=[('a', 'b')], required_by={'b': ('a',)},
                            required_together=[('a', 'b')])
    monkeypatch.setattr(health, 'EXTRA_PROBE_TYPES', health.EXTRA_PROBE_TYPES + (extra,))
    checks = health.argument_spec()['checks']
    assert ('type', 'twin', ('a', 'b'), True) in checks['required_if']
    assert ('a', 'b') in checks['mutually_exclusive'] and ('host', 'path') in checks['mutually_exclusive']
    assert checks['required_by'] == {'starttls': ('host',), 'b': ('a',)}
    assert ('a', 'b') in checks['required_together']


def test_probe_secrets_of_covers_passwords_headers_and_urls():
    check = {'type': 'http', 'url': 'https://u:url-pw@h/x?token=tok-1', 'headers': {'X-Api-Key': 'hdr-2'},
             'login_password': 'pg-3', 'custom': 'c-4'}
    found = probe.secrets_of(check)
    assert {'url-pw', 'tok-1', 'hdr-2', 'pg-3'} <= set(found) and 'c-4' not in found
    assert found == sorted(set(found))
    assert 'c-4' in probe.secrets_of(check, ('custom',))
    text = probe.redact('failed https://u:url-pw@h/x?token=tok-1 with hdr-2, pg-3 and c-4', check, ('custom',))
    for secret in ('url-pw', 'tok-1', 'hdr-2', 'pg-3', 'c-4'):
        assert secret not in text
    assert redaction.MASK in text


def test_health_secrets_of_adds_the_type_declared_secrets():
    check = {'type': 'queue', 'password': 'q-pw', 'name': 'q'}
    assert health.secrets_of(check) == ['q-pw']
    assert health.secrets_of({'type': 'no-such-type', 'aws_secret_key': 'k'}) == ['k']


def test_probe_fmt_and_one_line():
    assert (probe.fmt(5.0), probe.fmt(2.5), probe.fmt(3)) == ('5', '2.5', '3')
    assert probe.one_line('a\n  b\tc ') == 'a b c'
    assert health._fmt is probe.fmt


@pytest.mark.parametrize('has_redis, has_bullmq, has_celery, engine, want', [
    (True, True, True, 'bullmq', None),
    (True, True, True, 'celery', None),
    (False, True, True, 'bullmq', 'redis'),
    (False, True, True, 'celery', 'redis'),
    (True, False, True, 'bullmq', 'bullmq'),
    (True, False, True, 'bull', 'bullmq'),
    (True, False, True, 'celery', None),
    (True, True, False, 'celery', 'celery'),
    (True, True, False, 'bullmq', None),
])
def test_queue_missing_library(monkeypatch, has_redis, has_bullmq, has_celery, engine, want):
    from ansible_collections.runbook.ops.plugins.module_utils import health_queue, queues_celery
    monkeypatch.setattr(queues, 'HAS_REDIS', has_redis)
    monkeypatch.setattr(queues, 'HAS_BULLMQ', has_bullmq)
    monkeypatch.setattr(queues_celery, 'HAS_CELERY', has_celery)
    missing = queues.missing_library(engine)
    assert (missing[0] if missing else None) == want
    # the queue health check asks the same question
    missing = health_queue.requirement([{'engine': engine}])
    assert (missing[0] if missing else None) == want
