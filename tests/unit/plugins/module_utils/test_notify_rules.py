# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/notify.py: payloads of every target type, the HMAC signature, redaction of the targets,
the retry and backoff rules, delivery with a patched transport, and the health "state change only" rule."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from ansible_collections.runbook.ops.plugins.filter.notify import notify_state_changes
from ansible_collections.runbook.ops.plugins.module_utils import notify as n

TOKEN = 'T000/B000/XXXXsecrettoken'
SLACK_URL = 'https://hooks.slack.example/services/' + TOKEN


def ev(**kw):
    base = {'runbook': 'backup', 'status': 'failure', 'summary': 'pg_dump failed', 'hosts': ['db1'],
            'figures': {'size': 10, 'duration_s': 2}, 'report': '/r/backup.json', 'timestamp': '2026-01-01T00:00:00Z'}
    base.update(kw)
    return n.normalize_event(base)


# ------------------------------------------------------------------------------------ event and text

def test_normalize_fills_severity_from_status_and_refuses_unknown_values():
    assert ev()['severity'] == 'error'
    assert ev(status='success')['severity'] == 'info'
    assert ev(severity='critical')['severity'] == 'critical'
    assert ev(hosts=[{'name': 'a'}, 'b', '', None, {'host': 'c'}])['hosts'] == ['a', 'b', 'c']
    with pytest.raises(ValueError):
        ev(status='bogus')
    with pytest.raises(ValueError):
        ev(severity='fatal')


@pytest.mark.parametrize('status,start', [('start', ':arrow_forward: backup STARTED'),
                                          ('success', ':white_check_mark: backup SUCCEEDED'),
                                          ('failure', ':red_circle: backup FAILED'),
                                          ('info', ':information_source: backup INFO')])
def test_text_per_status(status, start):
    assert n.text(ev(status=status)) == start + ' on db1: pg_dump failed [duration_s=2, size=10] Report: /r/backup.json'


def test_text_names_the_phase_and_shortens_long_host_lists():
    e = ev(runbook='dr_failover', phase='database', hosts=['h%d' % i for i in range(8)], figures={}, report='',
           summary='')
    assert n.text(e) == ':red_circle: dr_failover (phase database) FAILED on 8 hosts (h0, h1, h2, h3, h4, ...)'
    assert n.title(ev(phase='backup', hosts=[])) == 'backup FAILED'


def test_an_explicit_text_is_sent_as_is():
    assert n.slack_payload(ev(text='certificate app1 renewed')) == {'text': 'certificate app1 renewed'}


# ------------------------------------------------------------------------------------ payloads

def test_slack_payload_with_channel_and_blocks():
    body = n.slack_payload(ev(), {'channel': '#ops', 'blocks': True})
    assert body['channel'] == '#ops' and body['text'].startswith(':red_circle: backup FAILED')
    assert body['blocks'][0] == {'type': 'section', 'text': {'type': 'mrkdwn', 'text': body['text']}}
    assert body['blocks'][1]['fields'][0] == {'type': 'mrkdwn', 'text': '*duration_s*\n2'}
    assert body['blocks'][2]['elements'][0]['text'] == 'Report: /r/backup.json'
    assert set(n.slack_payload(ev())) == {'text'}


def test_webhook_payload_carries_the_event():
    body = n.webhook_payload(ev())
    assert body['source'] == 'runbook.ops'
    assert {k: body[k] for k in ('runbook', 'status', 'severity', 'hosts', 'figures', 'report')} == {
        'runbook': 'backup', 'status': 'failure', 'severity': 'error', 'hosts': ['db1'],
        'figures': {'size': 10, 'duration_s': 2}, 'report': '/r/backup.json'}


def test_signature_is_hmac_sha256_of_the_exact_bytes_posted():
    body = n.webhook_payload(ev())
    raw = n.encode(body)
    assert json.loads(raw) == body
    assert n.signature('k3y', raw) == 'sha256=' + hmac.new(b'k3y', raw, hashlib.sha256).hexdigest()
    (req,) = n.requests_for(ev(), {'type': 'webhook', 'url': 'http://h/x', 'secret': 'k3y',
                                   'signature_header': 'X-Sig'})
    assert req['headers'] == {'X-Sig': n.signature('k3y', n.encode(req['body']))}
    (plain,) = n.requests_for(ev(), {'type': 'webhook', 'url': 'http://h/x'})
    assert plain['headers'] == {}


def test_pagerduty_trigger_resolve_and_nothing_for_start():
    target = {'type': 'pagerduty', 'routing_key': 'rk'}
    (trigger,) = n.pagerduty_payloads(ev(), target)
    assert trigger['event_action'] == 'trigger' and trigger['dedup_key'] == 'runbook.ops/backup/db1'
    assert trigger['payload']['severity'] == 'error' and trigger['payload']['source'] == 'db1'
    assert trigger['payload']['component'] == 'backup'
    assert n.pagerduty_payloads(ev(status='success'), target) == [
        {'routing_key': 'rk', 'event_action': 'resolve', 'dedup_key': 'runbook.ops/backup/db1'}]
    assert n.pagerduty_payloads(ev(status='start'), target) == []
    assert n.pagerduty_payloads(ev(status='info'), target) == []
    assert n.pagerduty_payloads(ev(status='info', severity='warning'), target)[0]['event_action'] == 'trigger'
    assert n.pagerduty_payloads(ev(severity='critical'), target)[0]['payload']['severity'] == 'critical'


def test_pagerduty_one_event_per_host_unless_a_dedup_key_is_given():
    target = {'type': 'pagerduty', 'routing_key': 'rk'}
    keys = [b['dedup_key'] for b in n.pagerduty_payloads(ev(hosts=['a', 'b']), target)]
    assert keys == ['runbook.ops/backup/a', 'runbook.ops/backup/b']
    assert [b['dedup_key'] for b in n.pagerduty_payloads(ev(hosts=[]), target)] == ['runbook.ops/backup/fleet']
    assert [b['dedup_key'] for b in n.pagerduty_payloads(ev(hosts=['a', 'b'], dedup_key='k'), target)] == ['k']
    assert [b['dedup_key'] for b in n.pagerduty_payloads(ev(), dict(target, dedup_key='t'))] == ['t']
    (req,) = n.requests_for(ev(), target)
    assert req['url'] == n.PAGERDUTY_URL


def test_email_message():
    msg = n.email_message(ev(), {'mail_from': 'a@x', 'mail_to': ['b@x', 'c@x']})
    assert msg['Subject'] == '[runbook.ops] backup FAILED on db1' and msg['To'] == 'b@x, c@x'
    body = msg.get_content()
    assert 'pg_dump failed' in body and '  size: 10' in body and 'Report: /r/backup.json' in body
    assert n.subject(ev(), {'subject_prefix': '[prod]'}) == '[prod] backup FAILED on db1'


# ------------------------------------------------------------------------------------ redaction

@pytest.mark.parametrize('target,shown', [
    ({'type': 'slack', 'url': SLACK_URL}, 'https://hooks.slack.example'),
    ({'type': 'webhook', 'url': 'http://user:pw@127.0.0.1:8080/h?token=abc'}, 'http://127.0.0.1:8080'),
    ({'type': 'webhook', 'url': 'http://[::1]:81/x'}, 'http://[::1]:81'),
    ({'type': 'pagerduty'}, 'https://events.pagerduty.com'),
    ({'type': 'email', 'smtp_host': 'mx', 'smtp_security': 'ssl'}, 'smtp://mx:465'),
    ({'type': 'email', 'smtp_host': 'mx', 'smtp_security': 'none'}, 'smtp://mx:25'),
    ({'type': 'webhook', 'url': 'not a url'}, '<invalid url>'),
])
def test_endpoint_is_scheme_and_host_only(target, shown):
    assert n.endpoint(target) == shown


def test_results_never_carry_a_secret():
    targets = [{'type': 'slack', 'url': SLACK_URL, 'name': 'chat'},
               {'type': 'pagerduty', 'routing_key': 'routingkey-123', 'name': 'pd'},
               {'type': 'webhook', 'url': 'http://h/hook', 'secret': 'hmac-key-9',
                'headers': {'Authorization': 'Bearer tok-777'}}]
    calls = []

    def fake(req, target, timeout):
        calls.append(req)
        raise n.NotifyError('refused by %s with %s' % (target.get('url'), target.get('routing_key')), status=400,
                            retry=False)
    orig = n._attempt
    n._attempt = fake
    try:
        out = n.notify(ev(summary='url is ' + SLACK_URL), targets)
        shown = n.notify(ev(), targets, check_mode=True)
    finally:
        n._attempt = orig
    text = json.dumps(out) + json.dumps(shown)
    for secret in (TOKEN, 'routingkey-123', 'hmac-key-9', '/services/', 'tok-777'):
        assert secret not in text
    assert len(calls) == 3 and out['failed_targets'] == ['chat', 'pd', 'webhook']


# ------------------------------------------------------------------------------------ retries

def test_backoff_schedule_doubles_and_is_capped():
    assert n.backoff_schedule(0) == []
    assert n.backoff_schedule(3) == [1.0, 2.0, 4.0]
    assert n.backoff_schedule(5, base=0.5, maximum=3) == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert n.backoff_schedule(-1) == []


@pytest.mark.parametrize('status,retry', [(-1, True), (408, True), (429, True), (500, True), (503, True),
                                          (400, False), (401, False), (404, False), (302, False)])
def test_which_http_failures_are_retried(status, retry):
    assert n.retryable(status) is retry


def test_smtp_only_transient_replies_are_retried():
    assert [c for c in (421, 450, 451, 452, 535, 550, 554) if n.smtp_retryable(c)] == [421, 450, 451, 452]


def _deliver(answers, **kw):
    seen, slept = [], []

    def fake(req, target, timeout):
        seen.append(timeout)
        answer = answers.pop(0)
        if isinstance(answer, n.NotifyError):
            raise answer
        return answer
    orig = n._attempt
    n._attempt = fake
    try:
        result = n.deliver(ev(), dict({'type': 'slack', 'url': SLACK_URL}, **kw.pop('target', {})),
                           sleep=slept.append, **kw)
    finally:
        n._attempt = orig
    return result, slept, seen


def test_deliver_retries_with_backoff_then_reports():
    err = n.NotifyError('HTTP 500', status=500)
    result, slept, seen = _deliver([err, err, err], retries=2, backoff=0.5, timeout=3)
    assert (result['ok'], result['status'], result['attempts'], result['sent']) == (False, 500, 3, 0)
    assert slept == [0.5, 1.0] and seen == [3.0, 3.0, 3.0]
    assert result['error'] == ('Could not notify slack target slack (https://hooks.slack.example): HTTP 500 '
                               'after 3 attempt(s).')


def test_deliver_stops_on_success_and_on_a_permanent_error():
    result, slept, dummy = _deliver([n.NotifyError('x', status=503), 200], retries=5, backoff=1)
    assert (result['ok'], result['attempts'], slept) == (True, 2, [1.0])
    result, slept, dummy = _deliver([n.NotifyError('x', status=404, retry=False)], retries=5)
    assert (result['ok'], result['attempts'], slept) == (False, 1, [])


def test_per_target_retries_and_timeout_override_the_defaults():
    err = n.NotifyError('x')
    result, slept, seen = _deliver([err], retries=4, target={'retries': 0, 'timeout': 7})
    assert result['attempts'] == 1 and seen == [7.0]


# ------------------------------------------------------------------------------------ state changes

def test_state_changes_only_on_a_change():
    first = n.state_changes({}, {'web1': 'ok', 'web2': 'critical'})
    assert first['degraded'] == [{'host': 'web2', 'from': 'ok', 'to': 'critical'}] and first['recovered'] == []
    again = n.state_changes(first['state'], {'web1': 'ok', 'web2': 'critical'})
    assert again['degraded'] == [] and again['recovered'] == []
    worse = n.state_changes(again['state'], {'web1': 'warning', 'web2': 'critical'})
    assert worse['degraded'] == [{'host': 'web1', 'from': 'ok', 'to': 'warning'}]
    back = n.state_changes(worse['state'], {'web1': 'ok', 'web2': 'ok'})
    assert back['recovered'] == [{'host': 'web1', 'from': 'warning', 'to': 'ok'},
                                 {'host': 'web2', 'from': 'critical', 'to': 'ok'}]
    assert back['degraded'] == []


def test_state_changes_keep_absent_hosts_and_grade_unknown_as_critical():
    out = n.state_changes({'gone': 'critical', 'a': 'warning'}, {'a': 'critical', 'b': 'weird'})
    assert out['degraded'] == [{'host': 'a', 'from': 'warning', 'to': 'critical'},
                               {'host': 'b', 'from': 'ok', 'to': 'critical'}]
    assert out['state'] == {'gone': 'critical', 'a': 'critical', 'b': 'critical'}
    assert notify_state_changes({'a': 'ok'}, None) == {'degraded': [], 'recovered': [], 'state': {'a': 'ok'}}


@pytest.mark.parametrize('text,state', [
    ('{"hosts": {"a": "critical"}, "updated_at": "x"}', {'a': 'critical'}),
    ('{"a": "warning"}', {'a': 'warning'}),
    ('', {}), ('not json', {}), ('[1, 2]', {}), ('{"hosts": 3}', {'hosts': 'critical'}),
])
def test_load_state_from_the_file_text(text, state):
    assert n.load_state(text) == state


def test_the_filter_takes_the_file_text_and_a_corrupt_file_means_no_state():
    out = notify_state_changes({'a': 'ok', 'b': 'warning'}, '{"hosts": {"a": "critical"}}')
    assert out['recovered'] == [{'host': 'a', 'from': 'critical', 'to': 'ok'}]
    assert out['degraded'] == [{'host': 'b', 'from': 'ok', 'to': 'warning'}]
    assert notify_state_changes({'a': 'critical'}, '{garbage')['degraded'] == [{'host': 'a', 'from': 'ok', 'to': 'critical'}]
