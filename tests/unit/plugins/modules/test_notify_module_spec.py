# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugins/modules/notify.py: the argspec marks every secret no_log, holds the per-type requirements, and
matches its DOCUMENTATION."""

from __future__ import annotations

import yaml

from ansible_collections.runbook.ops.plugins.modules import notify as mod


def test_secrets_are_no_log():
    spec = mod.argument_spec()['targets']['options']
    assert sorted(k for k, v in spec.items() if v.get('no_log')) == ['headers', 'password', 'routing_key', 'secret', 'url']


def test_each_type_requires_its_settings():
    rules = dict((t, req) for dummy, t, req in mod.argument_spec()['targets']['required_if'])
    assert rules == {'slack': ['url'], 'webhook': ['url'], 'pagerduty': ['routing_key'],
                     'email': ['mail_from', 'mail_to']}


def test_documentation_matches_the_argspec():
    doc = yaml.safe_load(mod.DOCUMENTATION)['options']
    spec = mod.argument_spec()
    assert sorted(doc) == sorted(spec)
    assert sorted(doc['event']['suboptions']) == sorted(spec['event']['options'])
    assert sorted(doc['targets']['suboptions']) == sorted(spec['targets']['options'])
    for name, opt in spec['targets']['options'].items():
        assert doc['targets']['suboptions'][name]['type'] == opt['type'], name
        assert doc['targets']['suboptions'][name].get('default') == opt.get('default'), name
    returned = yaml.safe_load(mod.RETURN)
    assert sorted(returned) == ['event', 'failed_targets', 'ok', 'targets', 'would_send']
