# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""runbook.ops.notify through ansible against real local receivers: an HTTP server recording every request
(payloads, HMAC signature), aiosmtpd with STARTTLS and AUTH, a receiver answering 500, one that hangs, a closed
port. Secrets (the webhook URL token, the HMAC key, the routing key, the SMTP password) never reach the output."""
from __future__ import annotations

import hashlib
import hmac
import json

from notify_fixtures import smtp_receiver
from webhook_fixtures import webhook_receiver

EVENT = {'runbook': 'backup', 'status': 'failure', 'summary': 'pg_dump: database "app" does not exist',
         'hosts': ['db1'], 'figures': {'duration_s': 3}, 'report': '/srv/reports/backup.json'}


def _no_secret(result, *secrets):
    out = result['_stdout'] + result['_stderr']
    for secret in secrets:
        assert secret not in out


def test_slack_webhook_and_pagerduty_are_posted_and_signed(run_module):
    with webhook_receiver(200) as slack, webhook_receiver(200) as hook, webhook_receiver(202) as pd:
        targets = [
            {'name': 'chat', 'type': 'slack', 'url': slack.url, 'channel': '#ops'},
            {'name': 'audit', 'type': 'webhook', 'url': hook.url, 'secret': 'hmac-' + hook.token,
             'signature_header': 'X-Hub-Signature-256'},
            {'name': 'oncall', 'type': 'pagerduty', 'url': pd.url, 'routing_key': 'rk-' + pd.token},
        ]
        r = run_module('notify', {'event': EVENT, 'targets': targets})
    _no_secret(r, slack.token, hook.token, pd.token)
    assert r['ok'] is True and r['changed'] is True and r['failed_targets'] == []
    assert [(t['name'], t['ok'], t['status'], t['attempts']) for t in r['targets']] == [
        ('chat', True, 200, 1), ('audit', True, 200, 1), ('oncall', True, 202, 1)]
    assert r['targets'][0]['endpoint'] == 'http://127.0.0.1:%s' % slack.url.split(':')[2].split('/')[0]
    # slack: text built from the event, channel kept
    body = slack.received[0]
    assert body['channel'] == '#ops'
    assert body['text'].startswith(':red_circle: backup FAILED on db1: pg_dump: database "app" does not exist')
    assert 'Report: /srv/reports/backup.json' in body['text']
    # webhook: the event as JSON, signed over the exact bytes posted
    req = hook.requests[0]
    expected = 'sha256=' + hmac.new(('hmac-' + hook.token).encode(), req['body'], hashlib.sha256).hexdigest()
    assert req['headers']['X-Hub-Signature-256'] == expected
    sent = json.loads(req['body'])
    assert (sent['runbook'], sent['status'], sent['severity'], sent['hosts'], sent['figures']) == (
        'backup', 'failure', 'error', ['db1'], {'duration_s': 3})
    # pagerduty: a trigger with the dedup key of the runbook and host
    (trigger,) = pd.received
    assert trigger['event_action'] == 'trigger' and trigger['routing_key'] == 'rk-' + pd.token
    assert trigger['dedup_key'] == 'runbook.ops/backup/db1' and trigger['payload']['severity'] == 'error'
    assert trigger['payload']['source'] == 'db1'


def test_pagerduty_resolves_with_the_same_dedup_key_and_skips_start(run_module):
    with webhook_receiver(202) as pd:
        target = [{'type': 'pagerduty', 'url': pd.url, 'routing_key': 'rk'}]
        start = run_module('notify', {'event': dict(EVENT, status='start'), 'targets': target})
        done = run_module('notify', {'event': dict(EVENT, status='success'), 'targets': target})
    assert start['ok'] and start['changed'] is False and start['targets'][0]['attempts'] == 0
    assert done['ok'] and done['changed'] is True
    assert pd.received == [{'routing_key': 'rk', 'event_action': 'resolve', 'dedup_key': 'runbook.ops/backup/db1'}]


def test_a_webhook_answering_500_is_retried_reported_and_does_not_fail(run_module):
    with webhook_receiver(500) as bad, webhook_receiver(200) as good:
        targets = [{'name': 'broken', 'type': 'slack', 'url': bad.url},
                   {'name': 'fine', 'type': 'webhook', 'url': good.url}]
        r = run_module('notify', {'event': EVENT, 'targets': targets, 'retries': 2, 'backoff': 0.2})
    _no_secret(r, bad.token, good.token)
    assert r.get('failed') is not True
    assert r['ok'] is False and r['failed_targets'] == ['broken']
    broken, fine = r['targets']
    assert (broken['ok'], broken['status'], broken['attempts']) == (False, 500, 3)
    assert 'HTTP 500' in broken['error'] and broken['error'].startswith('Could not notify slack target broken')
    assert len(bad.received) == 3
    # the backoff doubles: the second gap is longer than the first (0.2 s then 0.4 s at least)
    gaps = [b['at'] - a['at'] for a, b in zip(bad.requests, bad.requests[1:])]
    assert gaps[0] >= 0.2 and gaps[1] >= 0.4
    assert fine['ok'] is True and len(good.received) == 1


def test_a_500_then_200_succeeds_on_the_retry(run_module):
    with webhook_receiver([500, 200]) as hook:
        r = run_module('notify', {'event': EVENT, 'targets': [{'type': 'slack', 'url': hook.url}], 'backoff': 0.1})
    assert r['ok'] is True and r['targets'][0]['attempts'] == 2 and r['targets'][0]['status'] == 200


def test_fail_on_error_fails_the_task_without_a_secret(run_module):
    with webhook_receiver(None) as closed:
        r = run_module('notify', {'event': EVENT, 'targets': [{'type': 'slack', 'url': closed.url}],
                                  'retries': 0, 'fail_on_error': True})
    _no_secret(r, closed.token)
    assert r['failed'] is True and r['msg'].startswith('Could not notify every target: Could not notify slack')
    assert r['targets'][0]['status'] == -1 and 'connection failed' in r['targets'][0]['error']


def test_a_hanging_webhook_times_out_and_is_reported(run_module):
    with webhook_receiver(hang=True) as hook:
        r = run_module('notify', {'event': EVENT, 'targets': [{'name': 'slow', 'type': 'webhook', 'url': hook.url}],
                                  'timeout': 1, 'retries': 1, 'backoff': 0.1})
    _no_secret(r, hook.token)
    assert r.get('failed') is not True and r['ok'] is False
    t = r['targets'][0]
    assert (t['status'], t['attempts']) == (-1, 2) and 'timed out' in t['error']
    assert len(hook.received) == 2


def test_check_mode_sends_nothing_and_shows_what_it_would_send(run_module):
    with webhook_receiver(200) as hook, webhook_receiver(200) as pd:
        targets = [{'name': 'audit', 'type': 'webhook', 'url': hook.url, 'secret': 's3cret-' + hook.token},
                   {'name': 'oncall', 'type': 'pagerduty', 'url': pd.url, 'routing_key': 'rk-' + pd.token}]
        r = run_module('notify', {'event': EVENT, 'targets': targets}, check=True)
    _no_secret(r, hook.token, pd.token)
    assert hook.received == [] and pd.received == []
    assert r['changed'] is True
    audit, oncall = r['would_send']
    assert audit['requests'][0]['headers'] == {'X-Runbook-Signature': '********'}
    assert audit['requests'][0]['body']['summary'] == EVENT['summary']
    assert oncall['requests'][0]['body']['routing_key'] == '********'


def test_email_over_starttls_with_auth(run_module, tmp_path):
    password = 'smtp-pw-0a9b8c7d'
    with smtp_receiver(tmp_path, starttls=True, auth=('runbook', password)) as smtp:
        target = {'name': 'mail', 'type': 'email', 'smtp_host': '127.0.0.1', 'smtp_port': smtp.port,
                  'smtp_security': 'starttls', 'ca_path': smtp.ca, 'username': 'runbook', 'password': password,
                  'mail_from': 'runbook@example.test', 'mail_to': ['ops@example.test', 'dba@example.test']}
        r = run_module('notify', {'event': EVENT, 'targets': [target]})
        wrong = run_module('notify', {'event': EVENT, 'targets': [dict(target, password='nope-' + password)],
                                      'retries': 0})
    _no_secret(r, password)
    _no_secret(wrong, password)
    assert r['ok'] is True and r['targets'][0]['status'] == 250 and r['targets'][0]['endpoint'] == \
        'smtp://127.0.0.1:%d' % smtp.port
    (msg,) = smtp.messages
    assert smtp.logins == ['runbook'] and smtp.tls == [True]
    assert msg['Subject'] == '[runbook.ops] backup FAILED on db1'
    assert smtp.envelopes[0]['to'] == ['ops@example.test', 'dba@example.test']
    body = msg.get_payload(decode=True).decode()
    assert 'pg_dump: database "app" does not exist' in body and 'duration_s: 3' in body
    assert wrong['ok'] is False and wrong['targets'][0]['status'] == 535
    assert 'authentication failed' in wrong['targets'][0]['error']


def test_email_plain_without_auth(run_module, tmp_path):
    with smtp_receiver(tmp_path, starttls=False) as smtp:
        target = {'type': 'email', 'smtp_host': '127.0.0.1', 'smtp_port': smtp.port, 'smtp_security': 'none',
                  'mail_from': 'runbook@example.test', 'mail_to': ['ops@example.test']}
        r = run_module('notify', {'event': dict(EVENT, status='success', summary='backup 20260101T020000Z'),
                                  'targets': [target]})
    assert r['ok'] is True
    assert smtp.messages[0]['Subject'] == '[runbook.ops] backup SUCCEEDED on db1' and smtp.tls == [False]
