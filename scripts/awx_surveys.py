#!/usr/bin/env python
"""Write the AWX job-template surveys (awx/surveys/<name>.json) from the roles' meta/argument_specs.yml.

The list of job templates is awx/runbooks.yml (one entry per playbook in playbooks/). For each entry with a role,
every variable of ``questions`` becomes one survey question built from the role's argument spec (and
``action_variable``, for a playbook that runs ``tasks_from: "{{ <variable> }}"``, a choice among the role's entry
points):

- type: str/path -> text, int -> integer, float -> float, bool -> multiplechoice true/false,
  choices -> multiplechoice, a list of str with choices -> multiselect; a secret (no_log, or a name like
  *_password / *_secret / *_token / *_key) -> password, never with a default;
- required and default from the spec (a Jinja default is left out: AWX would pass it as a literal string);
- refused: options that are not in the entry point's spec, dict/raw/free lists (a survey answer is a string),
  connection options (they default to runbook_postgres / runbook_store / runbook_redis: those come from the
  credentials, see awx/credential_types.yml) and webhook URLs (the notification credential's job).

  python scripts/awx_surveys.py           write the files
  python scripts/awx_surveys.py --check   exit 1 naming every playbook without an entry, every survey that is
                                          missing, stale or left over (what the contract test asserts)
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys

import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RUNBOOKS = os.path.join('awx', 'runbooks.yml')
SURVEYS = os.path.join('awx', 'surveys')

CONNECTION_RE = re.compile(r'\brunbook_(?:postgres|store|redis|notify_targets)\b')
SECRET_NAME_RE = re.compile(r'(password|passphrase|secret|token|_key|_key_id)$')
WEBHOOK_RE = re.compile(r'webhook(_url)?$')
MARKUP_RE = re.compile(r'\b([CVOMIBULE]|RV|HORIZONTALLINE)\(([^()]*)\)')
SCALAR_TYPES = {'str': 'text', 'path': 'text', 'int': 'integer', 'float': 'float'}


class SurveyError(ValueError):
    """An entry of awx/runbooks.yml asks for a variable that cannot or must not be a survey question."""


def plain(text):
    """Argument-spec markup (C(), O(), V(), M(), ...) to plain text; a list of paragraphs to one string."""
    if isinstance(text, list):
        text = ' '.join(str(t) for t in text)
    text = str(text or '')
    prev = None
    while prev != text:
        prev = text
        text = MARKUP_RE.sub(lambda m: m.group(2).split('#')[-1].split(':')[-1] if m.group(1) == 'O' else m.group(2),
                             text)
    return ' '.join(text.split())


def first_sentence(text, limit=60):
    sentence = re.split(r'(?<=[.;:])\s| \(', text, maxsplit=1)[0].rstrip('.;:')
    return sentence if len(sentence) <= limit else sentence[:limit - 3].rstrip() + '...'


def load_runbooks(repo=REPO):
    with open(os.path.join(repo, RUNBOOKS), encoding='utf-8') as f:
        return yaml.safe_load(f)['awx_runbooks']


def load_specs(repo, role):
    with open(os.path.join(repo, 'roles', role, 'meta', 'argument_specs.yml'), encoding='utf-8') as f:
        return yaml.safe_load(f)['argument_specs']


def load_spec(repo, role, entry_point):
    path = os.path.join(repo, 'roles', role, 'meta', 'argument_specs.yml')
    specs = load_specs(repo, role)
    if entry_point not in specs:
        raise SurveyError('Could not find entry point %s in %s: it declares %s. Fix the entry in %s.'
                          % (entry_point, path, ', '.join(sorted(specs)), RUNBOOKS))
    return specs[entry_point].get('options') or {}


def is_connection(spec):
    """An option whose value comes from a collection-wide connection dict (and so from a credential)."""
    return bool(CONNECTION_RE.search(plain(spec.get('description'))))


def is_secret(name, spec):
    return bool(spec.get('no_log')) or bool(SECRET_NAME_RE.search(name)) and spec.get('type', 'str') == 'str'


def question(name, spec, where):
    """One AWX survey question for option ``name`` of an argument spec."""
    if is_connection(spec):
        raise SurveyError('Could not ask %s (%s): it is a connection option; it comes from a credential '
                          '(awx/credential_types.yml), never from a survey.' % (name, where))
    if WEBHOOK_RE.search(name):
        raise SurveyError('Could not ask %s (%s): a webhook URL is a secret; it comes from the notification '
                          'credential (runbook_notify_targets).' % (name, where))
    otype = spec.get('type', 'str')
    choices = spec.get('choices')
    default = spec.get('default')
    if isinstance(default, str) and ('{{' in default or '{%' in default):
        default = None
    description = plain(spec.get('description'))
    q = {
        'variable': name,
        'question_name': '%s: %s' % (name, first_sentence(description)) if description else name,
        'question_description': description,
        'required': bool(spec.get('required', False)),
    }
    if otype == 'bool':
        q['type'] = 'multiplechoice'
        q['choices'] = ['true', 'false']
        if default is not None:
            q['default'] = 'true' if default else 'false'
    elif otype == 'list' and spec.get('elements', 'str') == 'str' and choices:
        q['type'] = 'multiselect'
        q['choices'] = [str(c) for c in choices]
        if default:
            q['default'] = '\n'.join(str(d) for d in default)
    elif otype in SCALAR_TYPES:
        if is_secret(name, spec):
            q['type'] = 'password'
            return q
        if choices:
            q['type'] = 'multiplechoice'
            q['choices'] = [str(c) for c in choices]
            if default is not None:
                q['default'] = str(default)
        else:
            q['type'] = SCALAR_TYPES[otype]
            if default is not None:  # AWX checks the default's JSON type against the question's
                q['default'] = {'int': int, 'float': float}.get(otype, str)(default)
    else:
        raise SurveyError('Could not ask %s (%s): type %s%s cannot be a survey answer (a string); set it in the '
                          'inventory.' % (name, where, otype,
                                          ' of %s' % spec['elements'] if spec.get('elements') else ''))
    return q


def survey(entry, repo=REPO):
    """The survey spec (AWX's /survey_spec/ document) of one awx/runbooks.yml entry, or None."""
    if not entry.get('role'):
        if entry.get('questions'):
            raise SurveyError('Could not build the survey of %s: questions need a role and entry_point.'
                              % entry['name'])
        return None
    entry_point = entry.get('entry_point', 'main')
    options = load_spec(repo, entry['role'], entry_point)
    where = 'roles/%s/meta/argument_specs.yml, entry point %s' % (entry['role'], entry_point)
    spec = []
    action = entry.get('action_variable')
    if action:
        # a playbook that runs `tasks_from: "{{ <variable> }}"`: the question picks one of the role's entry points
        choices = [e for e in load_specs(repo, entry['role']) if e != 'main']
        spec.append({'variable': action['name'], 'question_name': '%s: what to do' % action['name'],
                     'question_description': 'The entry point of roles/%s to run.' % entry['role'],
                     'required': False, 'type': 'multiplechoice', 'choices': choices,
                     'default': action['default']})
        if action['default'] not in choices:
            raise SurveyError('Could not ask %s for %s: its default %s is not an entry point of roles/%s.'
                              % (action['name'], entry['name'], action['default'], entry['role']))
    for name in entry.get('questions') or []:
        if name not in options:
            raise SurveyError('Could not ask %s for %s: it is not an option of %s.' % (name, entry['name'], where))
        spec.append(question(name, options[name], where))
    return {
        'name': 'runbook.ops %s' % entry['name'],
        'description': 'Generated by scripts/awx_surveys.py from %s; do not edit.' % where,
        'spec': spec,
    }


def render(repo=REPO):
    """{relative path: file text} of every survey file awx/runbooks.yml implies."""
    out = {}
    for entry in load_runbooks(repo):
        doc = survey(entry, repo)
        if doc is not None:
            out[os.path.join(SURVEYS, entry['name'] + '.json')] = json.dumps(doc, indent=2, sort_keys=True) + '\n'
    return out


def playbooks(repo=REPO):
    return sorted(f for f in os.listdir(os.path.join(repo, 'playbooks')) if f.endswith(('.yml', '.yaml')))


def problems(repo=REPO):
    """Everything --check reports: playbooks without a job template, unknown playbooks, stale surveys."""
    out = []
    entries = load_runbooks(repo)
    listed = {e['playbook'] for e in entries}
    for pb in playbooks(repo):
        if pb not in listed:
            out.append('playbooks/%s has no job template: add an entry for it to %s and run '
                       'scripts/awx_surveys.py' % (pb, RUNBOOKS))
    for e in entries:
        if not os.path.isfile(os.path.join(repo, 'playbooks', e['playbook'])):
            out.append('%s names playbooks/%s, which does not exist' % (RUNBOOKS, e['playbook']))
    names = [e['name'] for e in entries]
    out.extend('%s lists %s twice' % (RUNBOOKS, n) for n in sorted({n for n in names if names.count(n) > 1}))
    wanted = render(repo)
    for rel, text in sorted(wanted.items()):
        path = os.path.join(repo, rel)
        if not os.path.isfile(path):
            out.append('%s is missing: run scripts/awx_surveys.py' % rel)
        else:
            with open(path, encoding='utf-8') as f:
                if f.read() != text:
                    out.append('%s is out of date with its argument spec: run scripts/awx_surveys.py' % rel)
    surveys_dir = os.path.join(repo, SURVEYS)
    if os.path.isdir(surveys_dir):
        for f in sorted(os.listdir(surveys_dir)):
            if os.path.join(SURVEYS, f) not in wanted:
                out.append('%s/%s belongs to no entry of %s: delete it' % (SURVEYS, f, RUNBOOKS))
    return out


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n', maxsplit=1)[0])
    parser.add_argument('--check', action='store_true', help='report what is missing or stale; write nothing')
    parser.add_argument('--repo', default=REPO)
    args = parser.parse_args(argv)
    try:
        if args.check:
            found = problems(args.repo)
            for p in found:
                print(p, file=sys.stderr)
            return 1 if found else 0
        wanted = render(args.repo)
    except SurveyError as exc:
        print(exc, file=sys.stderr)
        return 1
    os.makedirs(os.path.join(args.repo, SURVEYS), exist_ok=True)
    for rel, text in sorted(wanted.items()):
        with open(os.path.join(args.repo, rel), 'w', encoding='utf-8') as f:
            f.write(text)
        print('wrote %s' % rel)
    for p in problems(args.repo):
        print(p, file=sys.stderr)
    return 0


if __name__ == '__main__':
    sys.exit(main())
