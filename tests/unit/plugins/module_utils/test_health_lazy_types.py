# -*- coding: utf-8 -*-
"""A health_check run imports only the type files of its checks (bench/fleet: the controller's cost per host is
mostly the module's start-up), while AnsiballZ still ships every type file, the argspec of a run's types judges
its checks exactly as the argspec of every type would, and an unknown type gets the same error.

A process loads the registry once, so what a run loads is observed in a fresh interpreter."""
from __future__ import annotations

import ast
import json
import os
import subprocess
import sys

import pytest

from ansible.executor.module_common import ModuleDepFinder

from ansible_collections.runbook.ops.plugins.module_utils import health

MU = 'ansible_collections.runbook.ops.plugins.module_utils'
MODULE = os.path.join(os.path.dirname(os.path.dirname(health.__file__)), 'modules', 'health_check.py')


def _fresh(code):
    """Run ``code`` (health imported as h) in a new interpreter; return what it printed as JSON."""
    prologue = 'import json, sys\nfrom %s import health as h\n' % MU
    out = subprocess.run([sys.executable, '-c', prologue + code], capture_output=True, text=True, check=True,
                         env={'PYTHONPATH': ':'.join(sys.path)})
    return json.loads(out.stdout)


LOADED = "print(json.dumps(sorted(m.rsplit('.', 1)[1] for m in sys.modules if m.startswith(%r + '.health_'))))" % MU


def test_importing_health_loads_no_type_file():
    assert _fresh(LOADED) == []


@pytest.mark.parametrize('checks, loaded', [
    ([{'name': 'root', 'type': 'disk', 'path': '/'}], ['health_disk']),
    ([{'name': 'db', 'type': 'tcp', 'host': '127.0.0.1', 'port': 5432, 'timeout': 3, 'thresholds': None},
      {'name': 'root', 'type': 'disk', 'path': '/'}], ['health_disk', 'health_tcp']),
    ([{'name': 'cert', 'type': 'tls_cert', 'path': '/x.pem'}], ['health_tls']),
    ([{'name': 'my', 'type': 'mysql', 'config_file': '/root/.my.cnf'}], ['health_mysql']),
])
def test_a_run_loads_only_the_type_files_of_its_checks(checks, loaded):
    code = "h.load_types_for({'checks': %r}); print(json.dumps([%s, 'EXTRA_PROBE_TYPES' in vars(h)]))" % (
        checks, LOADED[len('print(json.dumps('):-2])
    assert _fresh(code) == [loaded, False]


@pytest.mark.parametrize('params', [
    None,                                                               # validate-modules: no arguments
    {},
    {'checks': 'root'},                                                 # a string (AnsibleModule splits it)
    {'checks': []},
    {'checks': [{'name': 'x', 'type': 'no-such-type'}]},                # the choices error of every type
    {'checks': [{'name': 'x', 'type': ['tcp']}]},
    {'checks': [{'name': 'x', 'type': 'tcp', 'host': 'h', 'port': 1, 'path': '/'}]},   # an option of another type
    {'checks': [{'name': 'x', 'type': 'tcp', 'host': 'h', 'port': 1, 'url': None}]},   # even when null
    {'checks': [{'name': 'x', 'type': 'disk', 'path': '/'}, 'not a mapping']},
    {'checks': [{'name': 'my', 'type': 'mysql', 'login_host': 'db1'}]},   # its spec is declared by postgres
    {'checks': [{'name': 'q', 'type': 'queue', 'engine': 'bullmq', 'host': 'r1'}]},    # ... by tcp and redis
])
def test_anything_the_run_types_cannot_judge_alone_loads_every_type(params):
    code = "h.load_types_for(%r); print(json.dumps([len(h._registry().EXTRA_PROBE_TYPES), 'EXTRA_PROBE_TYPES' " \
           "in vars(h)]))" % (params,)
    assert _fresh(code) == [len(health.PROBE_TYPE_FILES), True]


def test_the_argspec_of_one_type_is_the_full_argspec_restricted_to_that_type():
    """For every type alone: the same choices, the same spec for each option it takes, its own rules."""
    code = ("out = {}\nfor name in h.TYPE_NAMES:\n    h.load_types({name})\n    out[name] = h.argument_spec()\n"
            "h.load_types()\nout['*'] = h.argument_spec()\nprint(json.dumps(out))")
    specs = _fresh(code)
    full = specs.pop('*')
    assert full == json.loads(json.dumps(health.argument_spec()))      # the same as in this process
    for name, spec in specs.items():
        own = set(health.COMMON_OPTIONS) | set(health.TYPE_OPTIONS[name])
        checks, full_checks = spec.pop('checks'), dict(full['checks'])
        assert spec == {k: v for k, v in full.items() if k != 'checks'}
        assert checks['options']['type'] == full_checks['options']['type']          # every type is a choice
        # the options it declares (an option whose spec another type declares makes a check naming it load
        # every type: test_anything_the_run_types_cannot_judge_alone_loads_every_type)
        assert set(checks['options']) <= own
        assert dict((k, v) for k, v in full_checks['options'].items() if k in checks['options']) == checks['options']
        assert [r for r in full_checks['required_if'] if r[1] == name] == checks['required_if']


def test_no_type_declares_an_argspec_rule_that_could_apply_to_a_check_of_another_type():
    """What makes load_types_for() exact: a check names only options of its own type, so the rules of the types a
    run leaves out (mutually_exclusive, required_by, required_together) can never apply to it."""
    for owner in health.EXTRA_PROBE_TYPES:
        for other in health.EXTRA_PROBE_TYPES:
            if other is owner:
                continue
            own = set(health.COMMON_OPTIONS) | set(other.options)
            assert not [g for g in owner.mutually_exclusive if set(g) <= own], (owner.name, other.name)
            assert not [k for k in owner.required_by if k in own], (owner.name, other.name)
            assert not [g for g in owner.required_together if set(g) & own], (owner.name, other.name)


def test_every_loader_returns_the_type_of_its_name_and_ansiballz_sees_every_type_file():
    assert [name for name, dummy in health.PROBE_TYPE_FILES] == [t.name for t in health.EXTRA_PROBE_TYPES]
    assert health.TYPE_NAMES == health.CHECK_TYPES
    # AnsiballZ's dependency finder, on health.py: every type file is shipped (imports inside functions count)
    with open(health.__file__) as source:
        finder = ModuleDepFinder(MU + '.health', ast.parse(source.read()))
    shipped = set('.'.join(parts) for parts in finder.submodules)
    files = set(t.run.__module__ for t in health.EXTRA_PROBE_TYPES)
    assert len(files) == len(health.PROBE_TYPE_FILES)
    assert files <= shipped, files - shipped


def _run_module(args, tmp_path):
    path = tmp_path / 'args.json'
    path.write_text(json.dumps({'ANSIBLE_MODULE_ARGS': args}))
    proc = subprocess.run([sys.executable, '-X', 'importtime', MODULE, str(path)], capture_output=True, text=True,
                          check=False, env={'PYTHONPATH': ':'.join(sys.path), 'PATH': os.environ.get('PATH', '/usr/bin:/bin')})
    imported = sorted(set(line.rsplit('.', 1)[1] for line in proc.stderr.splitlines() if MU + '.health_' in line))
    return json.loads(proc.stdout), imported


def test_a_module_run_with_one_disk_probe_imports_only_the_disk_type_file(tmp_path):
    result, imported = _run_module({'checks': [{'name': 'root', 'type': 'disk', 'path': '/',
                                                'thresholds': {'used_pct': {'critical': 100}}}]}, tmp_path)
    assert imported == ['health_disk']
    assert result['checks'][0]['name'] == 'root' and result['checks'][0]['metrics']['used_pct'] >= 0
    assert not result.get('failed'), result


def test_an_unknown_type_gets_the_error_naming_every_type(tmp_path):
    result, imported = _run_module({'checks': [{'name': 'x', 'type': 'no-such-type'}]}, tmp_path)
    assert result['failed'] and 'no-such-type' in result['msg']
    assert 'must be one of: %s' % ', '.join(health.TYPE_NAMES) in result['msg']
    assert len(imported) == len(health.PROBE_TYPE_FILES)
