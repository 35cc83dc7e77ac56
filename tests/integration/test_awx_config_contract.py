# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Contract tests (offline) of the controller configuration as code: awx/ applied by playbooks/awx_configure.yml.

No AWX can run on these machines, and the awx.awx modules need a live controller even in check mode. So the
playbook runs for real with ansible-playbook against a stand-in ``awx.awx`` collection, first on
ANSIBLE_COLLECTIONS_PATH: each stand-in module is ``AnsibleModule(argument_spec=<the real module's options from
`ansible-doc --json awx.awx.<module>`>)`` (types, elements, choices, required, suboptions), so Ansible itself
templates every task (loops, omit, module_defaults, lookups) and validates the arguments exactly as the module
would before it talks to the controller; the stand-in then records them. Every other assertion reads those
recorded arguments: what AWX would have been sent.

What only a real AWX proves (docs/awx.md): that the objects are accepted by the API (credential type injectors,
survey specs, rrules, node links), that the playbooks are found in the synced project, and how jobs behave.
"""
from __future__ import annotations

import datetime
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
import yaml

from jinja2 import meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from testkit import REPO

VENV_BIN = os.path.dirname(sys.executable)
COLLECTIONS = os.path.join(REPO, '.build', 'collections')
PLAYBOOK = os.path.join(REPO, 'playbooks', 'awx_configure.yml')
AWX_DIR = os.path.join(REPO, 'awx')
REAL_AWX = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(yaml.__file__))), 'ansible_collections')

_spec = importlib.util.spec_from_file_location('awx_surveys', os.path.join(REPO, 'scripts', 'awx_surveys.py'))
awx_surveys = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(awx_surveys)


class _Loader(yaml.SafeLoader):
    """YAML with Ansible's !unsafe tag (a plain string here)."""


_Loader.add_constructor('!unsafe', lambda loader, node: loader.construct_scalar(node))


def load(path):
    with open(path, encoding='utf-8') as f:
        return yaml.load(f, Loader=_Loader)  # noqa: S506 - a SafeLoader subclass


def awx_modules_of_playbook():
    mods = []

    def walk(tasks):
        for task in tasks or []:
            mods.extend(k for k in task if k.startswith('awx.awx.'))
            for section in ('block', 'rescue', 'always'):
                walk(task.get(section))
    for play in load(PLAYBOOK):
        walk(play.get('tasks'))
    return mods


STUB = '''#!/usr/bin/python
# Stand-in for %(fqcn)s written by tests/integration/test_awx_config_contract.py: validates the arguments
# against the options of `ansible-doc --json %(fqcn)s`, records them, talks to nobody.
import json
import os
from ansible.module_utils.basic import AnsibleModule

SPEC = json.loads(%(spec)r)


def main():
    module = AnsibleModule(argument_spec=SPEC, supports_check_mode=True)
    args = dict((k, v) for k, v in module.params.items() if v is not None)
    with open(os.environ['RUNBOOK_AWX_RECORD'], 'a') as f:
        f.write(json.dumps({'module': %(fqcn)r, 'args': args}) + '\\n')
    module.exit_json(changed=True)


if __name__ == '__main__':
    main()
'''

# The same validation in the controller process (an action plugin of the module's name runs instead of the
# module): ArgumentSpecValidator is what AnsibleModule validates with; no process per task on a loaded machine.
ACTION = '''# Stand-in action for %(fqcn)s (see the module stand-in).
import json
import os

from ansible.module_utils.common.arg_spec import ArgumentSpecValidator
from ansible.plugins.action import ActionBase

SPEC = json.loads(%(spec)r)


class ActionModule(ActionBase):
    def run(self, tmp=None, task_vars=None):
        result = super().run(tmp, task_vars)
        checked = ArgumentSpecValidator(SPEC).validate(dict(self._task.args))
        if checked.error_messages:
            return dict(result, failed=True, msg='; '.join(checked.error_messages))
        args = dict((k, v) for k, v in checked.validated_parameters.items() if v is not None)
        with open(os.environ['RUNBOOK_AWX_RECORD'], 'a') as f:
            f.write(json.dumps({'module': %(fqcn)r, 'args': args}) + '\\n')
        return dict(result, changed=True)
'''


def doc_to_argspec(options):
    """ansible-doc options -> an AnsibleModule argument_spec (defaults left out: only what a task sends counts)."""
    spec = {}
    for name, doc in options.items():
        entry = {'type': doc.get('type', 'str')}
        for key in ('elements', 'choices', 'required', 'aliases', 'no_log'):
            if key in doc:
                entry[key] = doc[key]
        if 'suboptions' in doc:
            entry['options'] = doc_to_argspec(doc['suboptions'])
        spec[name] = entry
    return spec


@pytest.fixture(scope='module')
def awx_docs():
    modules = sorted(set(awx_modules_of_playbook()))
    out = subprocess.run([os.path.join(VENV_BIN, 'ansible-doc'), '--json'] + modules, capture_output=True,
                         text=True, check=True, env=dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS))
    docs = json.loads(out.stdout)
    assert sorted(docs) == modules
    return {m: d['doc']['options'] for m, d in docs.items()}


@pytest.fixture(scope='module')
def stub_collections(awx_docs, tmp_path_factory):
    root = tmp_path_factory.mktemp('awx-stub')
    coll = root / 'ansible_collections' / 'awx' / 'awx'
    (coll / 'plugins' / 'modules').mkdir(parents=True)
    (coll / 'plugins' / 'action').mkdir()
    (coll / 'meta').mkdir()
    shutil.copy(os.path.join(REAL_AWX, 'awx', 'awx', 'meta', 'runtime.yml'), coll / 'meta' / 'runtime.yml')
    for fqcn, options in awx_docs.items():
        name = fqcn.split('.')[-1]
        values = {'fqcn': fqcn, 'spec': json.dumps(doc_to_argspec(options))}
        (coll / 'plugins' / 'modules' / (name + '.py')).write_text(STUB % values)
        (coll / 'plugins' / 'action' / (name + '.py')).write_text(ACTION % values)
    return str(root)


FULL = {
    'awx_project_scm_url': 'https://git.invalid/ops/runbooks.git',
    'awx_project_scm_credential': 'git over https',
    'awx_execution_environment_image': 'registry.invalid/runbook-ops-ee:1',
    'awx_credential_inputs': {'postgres': {'login_host': 'db1', 'login_password': 'pg-secret'},
                              'notify': {'url': 'https://hooks.invalid/T/B/x'}},
    'awx_notification_templates': [{
        'name': 'ops channel', 'notification_type': 'slack',
        'notification_configuration': {'token': 'xoxb-secret', 'channels': ['#ops']}}],
}


def apply(stub_collections, tmp_path, extra):
    record = tmp_path / 'record.jsonl'
    vars_file = tmp_path / 'vars.json'
    vars_file.write_text(json.dumps(extra))
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.pathsep.join([stub_collections, COLLECTIONS]),
               RUNBOOK_AWX_RECORD=str(record), CONTROLLER_HOST='https://awx.invalid', ANSIBLE_NOCOLOR='1',
               ANSIBLE_STDOUT_CALLBACK='default', ANSIBLE_CALLBACK_RESULT_FORMAT='json')
    env.pop('CONTROLLER_OAUTH_TOKEN', None)
    proc = subprocess.run([os.path.join(VENV_BIN, 'ansible-playbook'), '-i', 'localhost,', PLAYBOOK,
                           '-e', '@%s' % vars_file], capture_output=True, text=True, env=env, cwd=str(tmp_path),
                          timeout=600, check=False)
    records = [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []
    return proc, records


@pytest.fixture(scope='module')
def applied(stub_collections, tmp_path_factory):
    """awx_configure with every optional part on (project, EE, credential secrets, notification templates)."""
    proc, records = apply(stub_collections, tmp_path_factory.mktemp('awx-full'), FULL)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return records


def of(records, module):
    return [r['args'] for r in records if r['module'] == 'awx.awx.' + module]


def survey_file(name):
    with open(os.path.join(AWX_DIR, 'surveys', name + '.json'), encoding='utf-8') as f:
        return json.load(f)


def role_options(role, entry_point):
    return load(os.path.join(REPO, 'roles', role, 'meta', 'argument_specs.yml'))['argument_specs'][entry_point][
        'options']


# --- the generator and the list of job templates -------------------------------------------------------------

def test_every_playbook_has_a_job_template_and_surveys_are_up_to_date_contract():
    problems = awx_surveys.problems(REPO)
    assert not problems, '\n'.join(problems)


def test_check_names_a_playbook_without_job_template_contract(tmp_path):
    for sub in ('playbooks', 'awx', 'roles'):
        shutil.copytree(os.path.join(REPO, sub), tmp_path / sub, symlinks=True,
                        ignore=shutil.ignore_patterns('__pycache__'))
    (tmp_path / 'playbooks' / 'zz_new_runbook.yml').write_text('---\n- name: New\n  hosts: all\n  tasks: []\n')
    survey = tmp_path / 'awx' / 'surveys' / 'backup.json'
    survey.write_text(survey.read_text().replace('"app"', '"other"'))
    problems = awx_surveys.problems(str(tmp_path))
    assert any('playbooks/zz_new_runbook.yml has no job template' in p for p in problems), problems
    assert any('awx/surveys/backup.json is out of date' in p for p in problems), problems
    proc = subprocess.run([sys.executable, os.path.join(REPO, 'scripts', 'awx_surveys.py'), '--check',
                           '--repo', str(tmp_path)], capture_output=True, text=True, check=False)
    assert proc.returncode == 1 and 'zz_new_runbook.yml' in proc.stderr


@pytest.mark.parametrize('spec, expected', [
    ({'type': 'bool', 'default': False}, {'type': 'multiplechoice', 'choices': ['true', 'false'], 'default': 'false'}),
    ({'type': 'str', 'choices': ['a', 'b'], 'default': 'b'}, {'type': 'multiplechoice', 'choices': ['a', 'b'],
                                                              'default': 'b'}),
    ({'type': 'int', 'default': 3, 'required': True}, {'type': 'integer', 'default': 3, 'required': True}),
    ({'type': 'float', 'default': 1.5}, {'type': 'float', 'default': 1.5}),
    ({'type': 'path'}, {'type': 'text'}),
    ({'type': 'str', 'default': '{{ other }}'}, {'type': 'text'}),
    ({'type': 'list', 'elements': 'str', 'choices': ['x', 'y'], 'default': ['x']},
     {'type': 'multiselect', 'choices': ['x', 'y'], 'default': 'x'}),
])
def test_survey_question_types_from_the_argspec(spec, expected):
    q = awx_surveys.question('opt', dict(spec, description='An option. More.'), 'here')
    assert q['variable'] == 'opt' and q['question_name'] == 'opt: An option'
    assert {k: q[k] for k in expected} == expected
    if 'default' not in expected:
        assert 'default' not in q
    assert q['required'] is bool(spec.get('required'))


@pytest.mark.parametrize('name, spec', [('deploy_token', {'type': 'str', 'default': 'x'}),
                                        ('anything', {'type': 'str', 'no_log': True})])
def test_a_secret_is_a_password_question_without_default(name, spec):
    q = awx_surveys.question(name, dict(spec, description='A secret.'), 'here')
    assert q['type'] == 'password' and 'default' not in q


@pytest.mark.parametrize('name, spec, why', [
    ('x_password', {'type': 'str', 'description': 'Password. Defaults to C(runbook_postgres.login_password).'},
     'connection option'),
    ('x_notify_webhook_url', {'type': 'str', 'description': 'Webhook.'}, 'webhook URL is a secret'),
    ('x_map', {'type': 'dict', 'description': 'A map.'}, 'cannot be a survey answer'),
    ('x_list', {'type': 'list', 'elements': 'dict', 'description': 'Items.'}, 'cannot be a survey answer'),
])
def test_survey_refuses_what_must_not_or_cannot_be_asked(name, spec, why):
    with pytest.raises(awx_surveys.SurveyError, match=why):
        awx_surveys.question(name, spec, 'here')


# --- every awx.awx task, validated by the modules' own option specs --------------------------------------------

def test_every_awx_task_is_validated_against_its_module_spec_offline(applied):
    recorded = {r['module'] for r in applied}
    assert recorded == set(awx_modules_of_playbook()), 'tasks that never ran: %s' % (
        set(awx_modules_of_playbook()) - recorded)


def test_minimal_apply_skips_the_optional_parts_contract(stub_collections, tmp_path):
    proc, records = apply(stub_collections, tmp_path, {})
    assert proc.returncode == 0, proc.stdout[-4000:]
    assert not of(records, 'project') and not of(records, 'execution_environment')
    assert not of(records, 'notification_template')
    creds = of(records, 'credential')
    assert creds and all('inputs' not in c and c['update_secrets'] is False for c in creds)
    assert all('execution_environment' not in jt for jt in of(records, 'job_template'))


def test_a_wrong_argument_fails_the_stand_in(stub_collections, tmp_path):
    """The stand-in is strict: a survey_spec that is not a dict, an unknown option, a bad choice all fail."""
    bad = tmp_path / 'bad.yml'
    bad.write_text('---\n- hosts: localhost\n  gather_facts: false\n  tasks:\n'
                   '    - awx.awx.schedule: {name: x, rrule: y, verbosity: 9}\n')
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=os.pathsep.join([stub_collections, COLLECTIONS]),
               RUNBOOK_AWX_RECORD=str(tmp_path / 'r.jsonl'))
    proc = subprocess.run([os.path.join(VENV_BIN, 'ansible-playbook'), '-i', 'localhost,', '-c', 'local',
                           str(bad)], capture_output=True, text=True, env=env, check=False)
    assert proc.returncode != 0 and 'verbosity' in proc.stdout


def test_the_controller_connection_is_never_in_a_file(applied):
    for r in applied:
        assert not {'controller_password', 'controller_username', 'controller_oauthtoken'} & set(r['args'])
    controller = load(os.path.join(AWX_DIR, 'controller.yml'))
    assert controller['awx_credential_inputs'] == {} and controller['awx_notification_templates'] == []


# --- job templates and surveys ----------------------------------------------------------------------------------

COMPATIBLE = {'str': {'text', 'textarea', 'multiplechoice', 'password'}, 'path': {'text', 'textarea'},
              'int': {'integer'}, 'float': {'float', 'integer'}, 'bool': {'multiplechoice'},
              'list': {'multiselect'}}


AWX_TYPES = {'text': str, 'textarea': str, 'password': str, 'multiplechoice': str, 'multiselect': str,
             'integer': int, 'float': float}


def awx_survey_errors(survey):
    """The checks AWX's API makes on a survey spec (JobTemplateSurveySpec._validate_spec_data, awx 24)."""
    errors = []
    if not isinstance(survey.get('name'), str) or not isinstance(survey.get('description'), str):
        errors.append('name and description must be strings')
    if not isinstance(survey.get('spec'), list) or not survey['spec']:
        return errors + ["'spec' doesn't contain any items"]
    seen = set()
    for idx, q in enumerate(survey['spec']):
        for field in ('type', 'question_name', 'variable', 'required'):
            if not isinstance(q.get(field), bool if field == 'required' else str):
                errors.append('%d: %s missing or of the wrong type' % (idx, field))
        if q.get('variable') in seen:
            errors.append('%d: variable %s duplicated' % (idx, q['variable']))
        seen.add(q.get('variable'))
        qtype = q.get('type')
        if qtype not in AWX_TYPES:
            errors.append('%d: type %s' % (idx, qtype))
            continue
        default = q.get('default', '')
        if default != '' and (not isinstance(default, AWX_TYPES[qtype]) or isinstance(default, bool)):
            errors.append('%d: default %r is not a %s' % (idx, default, qtype))
        for key in ('min', 'max'):
            if q.get(key) is not None and not isinstance(q[key], int):
                errors.append('%d: %s must be an integer' % (idx, key))
        if qtype in ('multiplechoice', 'multiselect'):
            if 'choices' not in q:
                errors.append('%d: no choices' % idx)
            elif 'default' in q:
                defaults = q['default'].splitlines() if isinstance(q['default'], str) else q['default']
                if qtype == 'multiplechoice' and len(defaults) > 1:
                    errors.append('%d: one default only' % idx)
                if any(d not in q['choices'] for d in defaults):
                    errors.append('%d: default not among the choices' % idx)
        if qtype == 'password' and 'default' in q:
            errors.append('%d: a password question with a default' % idx)
    return errors


def check_survey(survey, role, entry_point, action=None, playbook=None):
    assert not awx_survey_errors(survey), awx_survey_errors(survey)
    options = role_options(role, entry_point)
    for q in survey['spec']:
        var = q['variable']
        if action and var == action['name']:
            # picks the entry point the playbook includes: its choices are entry points of the role
            entry_points = set(load(os.path.join(REPO, 'roles', role, 'meta', 'argument_specs.yml'))['argument_specs'])
            assert set(q['choices']) <= entry_points and q['default'] in q['choices'], q
            with open(os.path.join(REPO, 'playbooks', playbook), encoding='utf-8') as f:
                assert re.search(r'tasks_from:\s*["\']\{\{\s*%s\b' % var, f.read()), playbook
            continue
        assert var in options, '%s is not an option of roles/%s (%s)' % (var, role, entry_point)
        spec = options[var]
        otype = spec.get('type', 'str')
        assert q['type'] in COMPATIBLE.get(otype, ()), '%s: %s question for a %s option' % (var, q['type'], otype)
        desc = awx_surveys.plain(spec.get('description'))
        assert not re.search(r'runbook_(postgres|store|redis|notify_targets)', desc), \
            '%s is a connection option: it must come from a credential' % var
        if otype == 'bool':
            assert q['choices'] == ['true', 'false']
        elif spec.get('choices'):
            assert [str(c) for c in spec['choices']] == q['choices'], var
        if 'default' in q:
            assert q['type'] != 'password'
            if q['type'] == 'multiplechoice':
                assert q['default'] in q['choices']
            if spec.get('default') is not None and otype != 'bool':
                assert str(q['default']) == str(spec['default']) or q['type'] == 'multiselect'
        if spec.get('no_log') or re.search(r'(password|secret|token)$', var):
            assert q['type'] == 'password'
        assert q['required'] == bool(spec.get('required', False))


def test_job_templates_name_existing_playbooks_with_valid_surveys_contract(applied):
    jts = {jt['name']: jt for jt in of(applied, 'job_template')}
    playbooks = sorted(f for f in os.listdir(os.path.join(REPO, 'playbooks')) if f.endswith('.yml'))
    entries = {e['name']: e for e in awx_surveys.load_runbooks(REPO)}
    # only the playbooks that exist (others may appear later: the generator test names them)
    assert {jt['playbook'] for jt in jts.values()} >= {'playbooks/' + e['playbook'] for e in entries.values()}
    cred_names = {c['name'] for c in of(applied, 'credential')}
    for name, jt in jts.items():
        assert os.path.isfile(os.path.join(REPO, jt['playbook'])), '%s: %s does not exist' % (name, jt['playbook'])
        assert jt['playbook'][len('playbooks/'):] in playbooks
        assert jt['project'] == 'runbook.ops' and jt['organization'] == 'runbook'
        assert set(jt['credentials']) <= cred_names
        entry = entries[name[len('runbook.ops '):]]
        if entry.get('role'):
            assert jt['survey_enabled'] is True
            assert jt['survey_spec'] == survey_file(entry['name'])
            check_survey(jt['survey_spec'], entry['role'], entry.get('entry_point', 'main'),
                         entry.get('action_variable'), entry['playbook'])
        else:
            assert jt['survey_enabled'] is False and 'survey_spec' not in jt


def test_fleet_health_check_is_a_sliced_job_contract(applied):
    jts = {jt['name']: jt for jt in of(applied, 'job_template')}
    assert jts['runbook.ops health_check']['job_slice_count'] > 1
    assert all(jt.get('job_slice_count', 1) == 1 for n, jt in jts.items() if n != 'runbook.ops health_check')


# --- credential types: the injectors give the roles what they read -------------------------------------------

def role_reads():
    """{dict name: {key: set of role defaults}} of `(runbook_X | default({})).key | default(D)` in roles."""
    found = {}
    pattern = re.compile(r"\((runbook_(?:postgres|store|redis)) \| default\(\{\}\)\)\.(\w+) \| default\(([^)]*)\)")
    for role in sorted(os.listdir(os.path.join(REPO, 'roles'))):
        path = os.path.join(REPO, 'roles', role, 'defaults', 'main.yml')
        if os.path.isfile(path):
            with open(path, encoding='utf-8') as f:
                for dct, key, default in pattern.findall(f.read()):
                    found.setdefault(dct, {}).setdefault(key, set()).add(default.strip("'"))
    return found


def render(injectors, inputs):
    """Render the extra_vars injectors the way AWX does (sandboxed Jinja over the inputs, recursively)."""
    env = ImmutableSandboxedEnvironment()

    def walk(node):
        if isinstance(node, dict):
            return {walk(k): walk(v) for k, v in node.items()}
        if isinstance(node, list):
            return [walk(x) for x in node]
        return env.from_string(node).render(**inputs)
    return walk(injectors['extra_vars'])


def test_credential_types_inject_every_key_the_roles_read_contract(applied):
    types = {t['name']: t for t in of(applied, 'credential_type')}
    reads = role_reads()
    injected = {}
    for ctype in types.values():
        fields = {f['id']: f for f in ctype['inputs']['fields']}
        booleans = {k: False for k, f in fields.items() if f['type'] == 'boolean'}  # AWX: missing booleans False
        env = ImmutableSandboxedEnvironment()
        for leaf in re.findall(r'\{\{.*?\}\}', json.dumps(ctype['injectors'])):
            assert meta.find_undeclared_variables(env.parse(leaf)) <= set(fields), (ctype['name'], leaf)
        for var, value in render(ctype['injectors'], booleans).items():
            injected.setdefault(var, []).append((ctype['name'], value))
        for fid, field in fields.items():
            if re.search(r'password|secret|key$|^url$', fid) and fid not in ('aws_access_key', 'client_key'):
                assert field.get('secret') is True, '%s.%s must be secret' % (ctype['name'], fid)
    for dct, keys in reads.items():
        (name, value), = injected[dct]
        assert set(value) == set(keys), '%s injects %s, the roles read %s' % (name, sorted(value), sorted(keys))
        for key, defaults in keys.items():
            if len(defaults) == 1:  # an empty field injects the roles' own default
                assert value[key].lower() == next(iter(defaults)).lower(), (dct, key, value[key], defaults)


def test_notification_credential_types_give_the_notify_targets_contract(applied):
    spec = importlib.util.spec_from_file_location('notify_utils', os.path.join(
        REPO, 'plugins', 'module_utils', 'notify.py'))
    src = open(spec.origin, encoding='utf-8').read()
    types_ = re.search(r"TYPES = \(([^)]*)\)", src).group(1)
    known_keys = set(re.findall(r"target(?:\.get\(|\[)'(\w+)'", src)) | {'type', 'name'}
    notify = [t for t in of(applied, 'credential_type') if 'runbook_notify_targets' in t['injectors']['extra_vars']]
    assert {t['injectors']['extra_vars']['runbook_notify_targets'][0]['type'] for t in notify} == set(
        re.findall(r"'(\w+)'", types_))
    for t in notify:
        fields = {f['id'] for f in t['inputs']['fields']}
        sample = {f: 'x' for f in fields}
        targets = render(t['injectors'], sample)['runbook_notify_targets']
        assert len(targets) == 1 and set(targets[0]) <= known_keys, (t['name'], set(targets[0]) - known_keys)


# --- schedules -------------------------------------------------------------------------------------------------

def awx_rrule_errors(rrule):
    """The checks AWX's API makes on a schedule's rrule before dateutil parses it (SchedulePreviewSerializer)."""
    errors = []
    if len(re.findall(r'DTSTART', rrule)) != 1 or not re.match(r'DTSTART(;TZID=[^:]+)?:\d{8}T\d{6}Z? RRULE:', rrule):
        errors.append('exactly one DTSTART;TZID=<zone>:<YYYYMMDDTHHMMSS> followed by one RRULE')
    for bad in ('FREQ=SECONDLY', 'BYYEARDAY', 'BYWEEKNO'):
        if bad in rrule:
            errors.append('%s is not supported' % bad)
    if re.search(r'BYDAY=[^;]*[-+]?\d', rrule):
        errors.append('BYDAY with a numeric prefix is not supported')
    if 'COUNT' in rrule and 'UNTIL' in rrule:
        errors.append('COUNT and UNTIL together')
    count = re.search(r'COUNT=(\d+)', rrule)
    if count and int(count.group(1)) > 999:
        errors.append('COUNT over 999')
    return errors


def occurrences(rrule, count=3):
    from dateutil.rrule import rrulestr
    rule = rrulestr(rrule.replace(' RRULE:', '\nRRULE:'))
    return list(rule[:count]) if hasattr(rule, '__getitem__') else [next(iter(rule))]


def test_schedules_parse_and_run_at_the_seeds_cadences_contract(applied):
    jts = {jt['name']: jt for jt in of(applied, 'job_template')}
    by_jt = {}
    for s in of(applied, 'schedule'):
        assert s['unified_job_template'] in jts, s['name']
        assert not awx_rrule_errors(s['rrule']), (s['name'], awx_rrule_errors(s['rrule']))
        by_jt[s['unified_job_template']] = (s, occurrences(s['rrule']))
        survey = {q['variable']: q for q in jts[s['unified_job_template']].get('survey_spec', {}).get('spec', [])}
        for var, value in (s.get('extra_data') or {}).items():
            assert var in survey, '%s: %s is not a survey question' % (s['name'], var)
            assert value in survey[var].get('choices', [value])
    five = by_jt['runbook.ops health_check'][1]
    assert five[1] - five[0] == datetime.timedelta(minutes=5)
    for name in ('runbook.ops backup', 'runbook.ops dr_rehearsal'):
        days = by_jt[name][1]
        assert days[1] - days[0] == datetime.timedelta(days=1), name
    maint = by_jt['runbook.ops weekly_maintenance'][1]
    assert all(t.weekday() == 6 and (t.hour, t.minute) == (2, 0) for t in maint)
    assert maint[1] - maint[0] == datetime.timedelta(weeks=1)
    cert_s, cert = by_jt['runbook.ops cert_renewal']
    assert cert[1] - cert[0] == datetime.timedelta(weeks=1) and cert_s['extra_data'] == {'certs_mode': 'report'}
    rehearsal = by_jt['runbook.ops dr_rehearsal'][1][0]
    assert not (rehearsal.hour in (2, 3, 4)), 'the DR rehearsal must not run inside the Sunday window'


# --- workflows --------------------------------------------------------------------------------------------------

def graph(workflow):
    nodes = {n['identifier']: n for n in workflow['workflow_nodes']}
    edges = {}
    for ident, node in nodes.items():
        for kind in ('success_nodes', 'failure_nodes', 'always_nodes'):
            for target in (node.get('related') or {}).get(kind) or []:
                assert target['identifier'] in nodes, (ident, target)
                edges.setdefault(ident, []).append((kind, target['identifier']))
    return nodes, edges


def paths_to(nodes, edges, goal):
    """Every path from a root node to ``goal`` (lists of identifiers)."""
    targets = {t for outs in edges.values() for _kind, t in outs}
    out = []

    def walk(ident, path):
        if ident == goal:
            out.append(path + [ident])
        for _kind, nxt in edges.get(ident, []):
            walk(nxt, path + [ident])
    for root in set(nodes) - targets:
        walk(root, [])
    return out


def is_approval(node):
    return node['unified_job_template'].get('type') == 'workflow_approval'


def test_workflows_gate_production_and_failover_behind_approvals_contract(applied):
    jts = {jt['name'] for jt in of(applied, 'job_template')}
    notify = [n['name'] for n in of(applied, 'notification_template')]
    flows = {w['name']: w for w in of(applied, 'workflow_job_template')}
    for w in flows.values():
        nodes = graph(w)[0]
        for n in nodes.values():
            if not is_approval(n):
                assert n['unified_job_template']['name'] in jts, n
                assert n['unified_job_template']['type'] == 'job_template'
            else:
                assert n['unified_job_template']['timeout'] > 0
        assert w['notification_templates_success'] == notify and w['notification_templates_error'] == notify
        assert w['notification_templates_approvals'] == notify
    deploy = flows['runbook.ops deploy (staging, approval, production)']
    nodes, edges = graph(deploy)
    check_survey(deploy['survey_spec'], 'deploy', 'main')
    prod = 'deploy-production'
    assert nodes[prod]['inventory']['name'] == 'runbook.ops production'
    assert nodes['deploy-staging']['inventory']['name'] == 'runbook.ops staging'
    routes = paths_to(nodes, edges, prod)
    assert routes and all(any(is_approval(nodes[i]) for i in r[:-1]) for r in routes), routes
    # a failed production deploy leads to the rollback job (through its approval) and nothing else
    failure = [t for kind, t in edges[prod] if kind == 'failure_nodes']
    reach, todo = set(), list(failure)
    while todo:
        ident = todo.pop()
        reach.add(ident)
        todo.extend(t for _kind, t in edges.get(ident, []))
    assert {nodes[i]['unified_job_template']['name'] for i in reach if not is_approval(nodes[i])} == {
        'runbook.ops rollback'}
    assert all((nodes[i].get('inventory') or {}).get('name') == 'runbook.ops production' for i in reach
               if not is_approval(nodes[i]))
    dr = flows['runbook.ops DR failover (approval)']
    nodes, edges = graph(dr)
    check_survey(dr['survey_spec'], 'dr', 'start')
    failover = [i for i, n in nodes.items() if n['unified_job_template'].get('name') == 'runbook.ops dr_failover']
    assert failover
    for ident in failover:
        routes = paths_to(nodes, edges, ident)
        assert routes and all(any(is_approval(nodes[i]) for i in r[:-1]) for r in routes)


def test_secrets_stay_out_of_surveys_and_extra_vars_contract(applied):
    for jt in of(applied, 'job_template'):
        assert 'extra_vars' not in jt
        for q in jt.get('survey_spec', {}).get('spec', []):
            assert not re.search(r'password|secret|token|webhook', q['variable']) or q['type'] == 'password'
    for s in of(applied, 'schedule'):
        assert not re.search(r'password|secret|token|webhook', json.dumps(s.get('extra_data') or {}))


# --- ansible-lint, production profile ---------------------------------------------------------------------------

def test_ansible_lint_production_passes_on_awx_configure_offline():
    env = dict(os.environ, ANSIBLE_COLLECTIONS_PATH=COLLECTIONS, PATH=VENV_BIN + os.pathsep + os.environ['PATH'])
    proc = subprocess.run([os.path.join(VENV_BIN, 'ansible-lint'), '--offline', '--profile', 'production',
                           '--strict', 'playbooks/awx_configure.yml', 'awx/'], cwd=REPO, capture_output=True,
                          text=True, env=env, timeout=900, check=False)
    assert proc.returncode == 0, proc.stdout[-6000:] + proc.stderr[-3000:]


# --- the AWX-side checks above can fail ------------------------------------------------------------------------

@pytest.mark.parametrize('question, error', [
    ({'type': 'float', 'default': 5}, 'is not a float'),
    ({'type': 'integer', 'default': '5'}, 'is not a integer'),
    ({'type': 'multiplechoice', 'choices': ['a'], 'default': 'b'}, 'not among the choices'),
    ({'type': 'multiplechoice'}, 'no choices'),
    ({'type': 'password', 'default': 'x'}, 'password question with a default'),
    ({'type': 'boolean'}, 'type boolean'),
])
def test_awx_survey_checks_catch_what_awx_refuses(question, error):
    survey = {'name': 'n', 'description': 'd',
              'spec': [dict({'question_name': 'q', 'variable': 'v', 'required': False}, **question)]}
    assert any(error in e for e in awx_survey_errors(survey)), awx_survey_errors(survey)
    assert "'spec' doesn't contain any items" in awx_survey_errors(dict(survey, spec=[]))


@pytest.mark.parametrize('rrule', [
    'RRULE:FREQ=DAILY', 'DTSTART:20260101T000000Z RRULE:FREQ=SECONDLY',
    'DTSTART;TZID=UTC:20260101T000000 RRULE:FREQ=MONTHLY;BYDAY=1MO',
    'DTSTART;TZID=UTC:20260101T000000 RRULE:FREQ=DAILY;COUNT=5;UNTIL=20270101T000000Z',
])
def test_awx_rrule_checks_catch_what_awx_refuses(rrule):
    assert awx_rrule_errors(rrule)
