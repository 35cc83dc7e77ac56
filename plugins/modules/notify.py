#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
---
module: notify
short_description: Send one runbook event to Slack-compatible, JSON webhook, email and PagerDuty targets
version_added: 0.1.0
description:
  - Posts one event of a runbook (its name, phase, status C(start), C(success), C(failure) or C(info), a summary of
    the hosts or the fleet, a report link and a dict of figures) to every target of O(targets).
  - C(slack) targets get a Slack-compatible incoming webhook body, a JSON object with C(text) (plus C(channel) and
    Block Kit C(blocks) when asked). C(webhook) targets get the event as JSON, signed with HMAC-SHA256 over the exact posted
    bytes when O(targets[].secret) is set (header C(X-Runbook-Signature) by default, value C(sha256=<hex>)). C(email)
    targets get a plain text mail over SMTP (STARTTLS, SSL or plain; login when a user name is given). C(pagerduty)
    targets get an Events API v2 body, C(trigger) on a failure and C(resolve) on a success, one per host of the
    event with the dedup key C(runbook.ops/<runbook>/<host>) (or O(event.dedup_key)); start and info events send
    nothing to PagerDuty.
  - Each target is tried O(retries) more times after a failure that may pass (no answer, a timeout, HTTP 408, 429 or
    5xx, a transient SMTP reply), sleeping O(backoff) seconds, doubled at each retry, at most O(backoff_max).
  - A target that still fails is reported in RV(targets) and RV(failed_targets); the module fails only with
    O(fail_on_error=true). Secrets (URLs, which are the credential of incoming webhooks, HMAC secrets, routing keys,
    passwords) never appear in the result; a target is shown by the scheme and host of its URL only.
  - Runs where it is called; roles run it on the control node.
author:
  - runbook.ops maintainers (@runbook-ops)
extends_documentation_fragment:
  - runbook.ops.attributes
attributes:
  check_mode:
    support: full
    details:
      - Builds every request and returns it in RV(would_send) (without secrets); nothing is sent.
  diff_mode:
    support: none
  idempotent:
    support: none
    details:
      - Every run sends the event again.
options:
  event:
    description: The event.
    type: dict
    required: true
    suboptions:
      runbook:
        description: Name of the runbook (C(backup), C(dr_failover), ...).
        type: str
        required: true
      phase:
        description: Phase of the runbook the event is about (C(database), C(switch)); empty for the whole run.
        type: str
        default: ""
      status:
        description: What happened.
        type: str
        required: true
        choices: [start, success, failure, info]
      severity:
        description:
          - Severity (PagerDuty's). Defaults to C(error) for a failure, else C(info). An C(info) event with
            severity C(warning) or C(critical) triggers PagerDuty.
        type: str
        choices: [info, warning, error, critical]
      summary:
        description: One or a few lines about the hosts or the fleet.
        type: str
        default: ""
      text:
        description: The exact chat text of C(slack) targets (and the C(text) field of C(webhook) bodies); empty builds it from the event.
        type: str
        default: ""
      hosts:
        description: The hosts the event is about (names, or dicts with a C(name)).
        type: list
        elements: raw
        default: []
      figures:
        description: Key figures (backup size, rows, RTO...).
        type: dict
        default: {}
      report:
        description: Path or URL of the report.
        type: str
        default: ""
      dedup_key:
        description: PagerDuty dedup key; empty derives C(runbook.ops/<runbook>/<host>) per host (C(fleet) without hosts).
        type: str
        default: ""
  targets:
    description: Where to send the event. An empty list sends nothing.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description: Name of the target in the result; defaults to its type.
        type: str
      type:
        description: Kind of target.
        type: str
        required: true
        choices: [slack, webhook, email, pagerduty]
      url:
        description:
          - URL to post to (C(slack), C(webhook); C(pagerduty) defaults to C(https://events.pagerduty.com/v2/enqueue)).
          - A secret (incoming webhook URLs carry their token); only its scheme and host are ever shown.
        type: str
      secret:
        description: C(webhook) HMAC-SHA256 key; the signature of the posted bytes goes to O(targets[].signature_header).
        type: str
      signature_header:
        description: Header that carries the signature (C(sha256=<hex>)).
        type: str
        default: X-Runbook-Signature
      headers:
        description: Extra HTTP headers (C(webhook)), for example an C(Authorization) header; treated as secrets.
        type: dict
      channel:
        description: C(slack) channel, for webhooks that accept one.
        type: str
      blocks:
        description: C(slack) also gets Block Kit C(blocks) (text, figures, report).
        type: bool
        default: false
      routing_key:
        description: C(pagerduty) integration (routing) key.
        type: str
      dedup_key:
        description: C(pagerduty) dedup key for every event to this target (overrides O(event.dedup_key)).
        type: str
      smtp_host:
        description: C(email) SMTP server.
        type: str
        default: localhost
      smtp_port:
        description: C(email) SMTP port; defaults to 587 (starttls), 465 (ssl) or 25 (none).
        type: int
      smtp_security:
        description: C(email) transport security.
        type: str
        choices: [starttls, ssl, none]
        default: starttls
      username:
        description: C(email) SMTP user; empty sends without login.
        type: str
      password:
        description: C(email) SMTP password.
        type: str
      mail_from:
        description: C(email) sender address.
        type: str
      mail_to:
        description: C(email) recipients.
        type: list
        elements: str
      subject_prefix:
        description: C(email) subject prefix.
        type: str
        default: "[runbook.ops]"
      ca_path:
        description: CA bundle to verify the server's certificate (HTTPS, STARTTLS, SSL); empty uses the system's.
        type: path
      validate_certs:
        description: Verify the server's certificate.
        type: bool
        default: true
      timeout:
        description: Seconds per attempt for this target; defaults to O(timeout).
        type: float
      retries:
        description: Retries for this target; defaults to O(retries).
        type: int
  timeout:
    description: Seconds an attempt may take (connect and answer).
    type: float
    default: 10
  retries:
    description: Attempts after the first one, for failures that may pass.
    type: int
    default: 2
  backoff:
    description: Seconds before the first retry; doubled at each further retry.
    type: float
    default: 1
  backoff_max:
    description: Longest sleep between two attempts.
    type: float
    default: 30
  fail_on_error:
    description: Fail when a target did not take the event (by default the failure is only reported).
    type: bool
    default: false
'''

EXAMPLES = r'''
- name: Tell the team the backup failed
  runbook.ops.notify:
    event:
      runbook: backup
      status: failure
      summary: "pg_dump: database app does not exist"
      hosts: [db1]
      figures: {duration_s: 12}
      report: /var/lib/runbook/reports/backup.json
    targets:
      - {name: ops-chat, type: slack, url: "{{ vault_slack_webhook }}"}
      - {name: audit, type: webhook, url: "https://hooks.example.com/runbook", secret: "{{ vault_hmac_key }}"}
      - {name: oncall, type: pagerduty, routing_key: "{{ vault_pd_key }}"}
      - name: mail
        type: email
        smtp_host: smtp.example.com
        username: runbook
        password: "{{ vault_smtp_password }}"
        mail_from: runbook@example.com
        mail_to: [ops@example.com]
  delegate_to: localhost
  register: sent
'''

RETURN = r'''
ok:
  description: Every target took the event.
  returned: always
  type: bool
  sample: false
event:
  description: The event as sent (normalized; severity, hosts and timestamp filled in).
  returned: always
  type: dict
  sample: {runbook: backup, phase: "", status: failure, severity: error, summary: "...", text: "", hosts: [db1],
           figures: {}, report: "", dedup_key: "", timestamp: "2026-01-01T02:00:00Z"}
targets:
  description: One result per target, in the order of O(targets).
  returned: always
  type: list
  elements: dict
  contains:
    name:
      description: The target's name.
      type: str
    type:
      description: The target's type.
      type: str
    endpoint:
      description: Scheme and host of the target (C(smtp://host:port) for email); never the path or a credential.
      type: str
    host:
      description: Host name of the target.
      type: str
    ok:
      description: The target took the event.
      type: bool
    status:
      description: Last HTTP status or SMTP code; -1 when nothing answered; 0 when nothing was sent.
      type: int
    attempts:
      description: Attempts made (all requests of the target).
      type: int
    sent:
      description: Requests the target accepted (PagerDuty sends one per host).
      type: int
    error:
      description: Why the target did not take the event (no secret in it); empty when it did.
      type: str
  sample: [{name: ops-chat, type: slack, endpoint: "https://hooks.slack.com", host: hooks.slack.com, ok: false,
            status: 500, attempts: 3, sent: 0, error: "Could not notify slack target ops-chat (https://hooks.slack.com): HTTP 500 ..."}]
failed_targets:
  description: Names of the targets that did not take the event.
  returned: always
  type: list
  elements: str
  sample: [ops-chat]
would_send:
  description: In check mode, per target, the requests that would be sent (bodies, header names, endpoint; no secret).
  returned: check mode
  type: list
  elements: dict
  sample: [{name: ops-chat, type: slack, requests: [{endpoint: "https://hooks.slack.com", body: {text: "..."}, headers: {}}]}]
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils.notify import notify

EVENT = dict(
    runbook=dict(type='str', required=True),
    phase=dict(type='str', default=''),
    status=dict(type='str', required=True, choices=['start', 'success', 'failure', 'info']),
    severity=dict(type='str', choices=['info', 'warning', 'error', 'critical']),
    summary=dict(type='str', default=''),
    text=dict(type='str', default=''),
    hosts=dict(type='list', elements='raw', default=[]),
    figures=dict(type='dict', default={}),
    report=dict(type='str', default=''),
    dedup_key=dict(type='str', default='', no_log=False),
)

TARGET = dict(
    name=dict(type='str'),
    type=dict(type='str', required=True, choices=['slack', 'webhook', 'email', 'pagerduty']),
    url=dict(type='str', no_log=True),
    secret=dict(type='str', no_log=True),
    signature_header=dict(type='str', default='X-Runbook-Signature'),
    headers=dict(type='dict', no_log=True),
    channel=dict(type='str'),
    blocks=dict(type='bool', default=False),
    routing_key=dict(type='str', no_log=True),
    dedup_key=dict(type='str', no_log=False),
    smtp_host=dict(type='str', default='localhost'),
    smtp_port=dict(type='int'),
    smtp_security=dict(type='str', choices=['starttls', 'ssl', 'none'], default='starttls'),
    username=dict(type='str'),
    password=dict(type='str', no_log=True),
    mail_from=dict(type='str'),
    mail_to=dict(type='list', elements='str'),
    subject_prefix=dict(type='str', default='[runbook.ops]'),
    ca_path=dict(type='path'),
    validate_certs=dict(type='bool', default=True),
    timeout=dict(type='float'),
    retries=dict(type='int'),
)


def argument_spec():
    return dict(
        event=dict(type='dict', required=True, options=EVENT),
        targets=dict(type='list', elements='dict', required=True, options=TARGET,
                     required_if=[('type', 'slack', ['url']), ('type', 'webhook', ['url']),
                                  ('type', 'pagerduty', ['routing_key']),
                                  ('type', 'email', ['mail_from', 'mail_to'])]),
        timeout=dict(type='float', default=10),
        retries=dict(type='int', default=2),
        backoff=dict(type='float', default=1),
        backoff_max=dict(type='float', default=30),
        fail_on_error=dict(type='bool', default=False),
    )


def main():
    module = AnsibleModule(argument_spec=argument_spec(), supports_check_mode=True)
    p = module.params
    result = notify(p['event'], p['targets'], check_mode=module.check_mode, timeout=p['timeout'],
                    retries=p['retries'], backoff=p['backoff'], backoff_max=p['backoff_max'])
    if p['fail_on_error'] and not result['ok']:
        module.fail_json(msg='Could not notify every target: %s. Check the targets and their receivers.'
                         % '; '.join(t['error'] for t in result['targets'] if not t['ok']), **result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
