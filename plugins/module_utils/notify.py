# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Notifications: one runbook event to Slack-compatible webhooks, JSON webhooks, email and PagerDuty.

The rules owned here:
- the payload of every target type (:func:`slack_payload`, :func:`webhook_payload`, :func:`pagerduty_payloads`,
  :func:`email_message`) and the HMAC-SHA256 signature of a JSON webhook (:func:`signature`);
- what a result may show of a target: its scheme and host, never its path, query or credentials
  (:func:`endpoint`; a webhook URL is the credential);
- retries: which failures are retried (:func:`retryable`) and the exponential backoff schedule
  (:func:`backoff_schedule`);
- the health check's "notify on a state change only" rule (:func:`state_changes`).

Only the standard library is used (urllib, smtplib, hmac).
"""

from __future__ import annotations

import datetime
import hashlib
import hmac
import json
import smtplib
import socket
import ssl
import time

from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from urllib.error import HTTPError, URLError
from urllib.parse import urlsplit
from urllib.request import HTTPSHandler, Request, build_opener

from ansible_collections.runbook.ops.plugins.module_utils.redaction import MASK, mask

TYPES = ('slack', 'webhook', 'email', 'pagerduty')
STATUSES = ('start', 'success', 'failure', 'info')
SEVERITIES = ('info', 'warning', 'error', 'critical')
HEALTH_STATES = ('ok', 'warning', 'critical')
EMOJI = {'start': ':arrow_forward:', 'success': ':white_check_mark:', 'failure': ':red_circle:',
         'info': ':information_source:'}
PAGERDUTY_URL = 'https://events.pagerduty.com/v2/enqueue'
SIGNATURE_HEADER = 'X-Runbook-Signature'
USER_AGENT = 'runbook.ops-notify/0.1'
SECRET_KEYS = ('url', 'secret', 'routing_key', 'password')


class NotifyError(Exception):
    """A delivery attempt failed; ``status`` is the HTTP status or SMTP code (-1: no answer)."""

    def __init__(self, msg, status=-1, retry=True):
        super(NotifyError, self).__init__(msg)
        self.msg = msg
        self.status = status
        self.retry = retry


# ---------------------------------------------------------------------------------------------- the event

def _utcnow():
    return datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')


def host_names(hosts):
    """Host names of an event's ``hosts`` (strings, or dicts with a ``name`` or ``host`` key)."""
    out = []
    for item in hosts or []:
        if isinstance(item, dict):
            name = item.get('name', item.get('host'))
            if name not in (None, ''):
                out.append(str(name))
        elif item not in (None, ''):
            out.append(str(item))
    return out


def normalize_event(event):
    """The event with every key present: runbook, phase, status, severity, summary, text, hosts, figures,
    report, dedup_key, timestamp. The severity defaults from the status (failure: error, else info)."""
    event = dict(event or {})
    status = event.get('status') or 'info'
    if status not in STATUSES:
        raise ValueError('status must be one of %s, got %r' % (', '.join(STATUSES), status))
    severity = event.get('severity') or ('error' if status == 'failure' else 'info')
    if severity not in SEVERITIES:
        raise ValueError('severity must be one of %s, got %r' % (', '.join(SEVERITIES), severity))
    return {
        'runbook': str(event.get('runbook') or 'runbook'),
        'phase': str(event.get('phase') or ''),
        'status': status,
        'severity': severity,
        'summary': str(event.get('summary') or ''),
        'text': str(event.get('text') or ''),
        'hosts': host_names(event.get('hosts')),
        'figures': dict(event.get('figures') or {}),
        'report': str(event.get('report') or ''),
        'dedup_key': str(event.get('dedup_key') or ''),
        'timestamp': str(event.get('timestamp') or _utcnow()),
    }


def _where(event):
    hosts = event['hosts']
    if not hosts:
        return ''
    if len(hosts) <= 5:
        return ' on ' + ', '.join(hosts)
    return ' on %d hosts (%s, ...)' % (len(hosts), ', '.join(hosts[:5]))


def title(event):
    """One line: ``backup (phase database) FAILED on db1`` (the phase is left out when it repeats the runbook)."""
    phase = event['phase']
    head = event['runbook'] + ((' (phase %s)' % phase) if phase and phase != event['runbook'] else '')
    word = {'start': 'STARTED', 'success': 'SUCCEEDED', 'failure': 'FAILED', 'info': 'INFO'}[event['status']]
    return '%s %s%s' % (head, word, _where(event))


def _figures_line(figures):
    return ', '.join('%s=%s' % (k, figures[k]) for k in sorted(figures))


def text(event):
    """The chat text: the event's ``text`` when given, else emoji, title, summary, figures and report."""
    if event['text']:
        return event['text']
    out = '%s %s' % (EMOJI[event['status']], title(event))
    if event['summary']:
        out += ': ' + event['summary']
    if event['figures']:
        out += ' [' + _figures_line(event['figures']) + ']'
    if event['report']:
        out += ' Report: ' + event['report']
    return out


# ---------------------------------------------------------------------------------------------- payloads

def slack_payload(event, target=None):
    """Slack-compatible incoming webhook body: ``{"text": ...}``, plus ``channel`` and Block Kit ``blocks``
    when the target asks for them."""
    target = target or {}
    body = {'text': text(event)}
    if target.get('channel'):
        body['channel'] = target['channel']
    if target.get('blocks'):
        blocks = [{'type': 'section', 'text': {'type': 'mrkdwn', 'text': text(event)}}]
        if event['figures']:
            blocks.append({'type': 'section', 'fields': [
                {'type': 'mrkdwn', 'text': '*%s*\n%s' % (k, event['figures'][k])} for k in sorted(event['figures'])][:10]})
        if event['report']:
            blocks.append({'type': 'context', 'elements': [{'type': 'mrkdwn', 'text': 'Report: ' + event['report']}]})
        body['blocks'] = blocks
    return body


def webhook_payload(event):
    """Generic JSON webhook body: the event's fields, plus ``source`` and ``text``."""
    body = {'source': 'runbook.ops', 'text': text(event)}
    for key in ('runbook', 'phase', 'status', 'severity', 'summary', 'hosts', 'figures', 'report', 'timestamp'):
        body[key] = event[key]
    return body


def encode(body):
    """The exact bytes posted (and signed): compact JSON with sorted keys, UTF-8."""
    return json.dumps(body, sort_keys=True, separators=(',', ':'), ensure_ascii=False).encode('utf-8')


def signature(secret, body_bytes):
    """HMAC-SHA256 of the posted bytes, as the header value ``sha256=<hex>``."""
    return 'sha256=' + hmac.new(str(secret).encode('utf-8'), body_bytes, hashlib.sha256).hexdigest()


def dedup_key(event, host=None, target=None):
    """PagerDuty dedup key: the target's or the event's when given, else ``runbook.ops/<runbook>/<host|fleet>``
    (a trigger and the later resolve of the same runbook on the same host share it)."""
    given = (target or {}).get('dedup_key') or event['dedup_key']
    if given:
        return given
    return 'runbook.ops/%s/%s' % (event['runbook'], host or 'fleet')


def pagerduty_action(event):
    """``trigger`` for a failure (or any status with severity warning/critical), ``resolve`` for a success,
    None (nothing to send) for start and info."""
    if event['status'] == 'failure' or (event['status'] == 'info' and event['severity'] in ('warning', 'critical')):
        return 'trigger'
    if event['status'] == 'success':
        return 'resolve'
    return None


def pagerduty_payloads(event, target):
    """Events API v2 bodies: one per host of the event (one ``fleet`` event without hosts, or one when a
    dedup key is given), so the resolve of a host closes that host's incident only. [] for start/info."""
    action = pagerduty_action(event)
    if action is None:
        return []
    fixed = (target or {}).get('dedup_key') or event['dedup_key']
    hosts = [None] if fixed or not event['hosts'] else event['hosts']
    out = []
    for host in hosts:
        body = {'routing_key': target.get('routing_key') or '', 'event_action': action,
                'dedup_key': dedup_key(event, host, target)}
        if action == 'trigger':
            severity = event['severity'] if event['severity'] != 'info' else 'error'
            body['payload'] = {
                'summary': text(event)[:1024],
                'source': host or 'fleet',
                'severity': severity,
                'timestamp': event['timestamp'],
                'component': event['runbook'],
                'group': event['phase'] or event['runbook'],
                'class': event['status'],
                'custom_details': {'summary': event['summary'], 'figures': event['figures'],
                                   'report': event['report'], 'hosts': event['hosts']},
            }
            if event['report'].startswith(('http://', 'https://')):
                body['links'] = [{'href': event['report'], 'text': 'Report'}]
        out.append(body)
    return out


def subject(event, target=None):
    """Email subject: ``[runbook.ops] backup FAILED on db1``, with the target's prefix when given."""
    prefix = (target or {}).get('subject_prefix') or '[runbook.ops]'
    return ('%s %s' % (prefix, title(event)))[:200]


def email_message(event, target):
    """The mail (an EmailMessage): subject from the event, a plain text body with summary, figures, report."""
    msg = EmailMessage()
    msg['Subject'] = subject(event, target)
    msg['From'] = target['mail_from']
    msg['To'] = ', '.join(target['mail_to'])
    msg['Date'] = formatdate(localtime=False)
    msg['Message-ID'] = make_msgid(domain='runbook.ops')
    lines = [title(event), '']
    if event['summary']:
        lines += [event['summary'], '']
    if event['figures']:
        lines += ['Figures:'] + ['  %s: %s' % (k, event['figures'][k]) for k in sorted(event['figures'])] + ['']
    if event['report']:
        lines += ['Report: ' + event['report'], '']
    lines += ['Severity: %s' % event['severity'], 'Time: %s' % event['timestamp']]
    msg.set_content('\n'.join(lines) + '\n')
    return msg


# ---------------------------------------------------------------------------------------------- redaction

def endpoint(target):
    """What a result shows of a target: ``scheme://host[:port]`` of its URL (never path, query, credentials),
    ``smtp://host:port`` for email."""
    if target.get('type') == 'email':
        return 'smtp://%s:%s' % (target.get('smtp_host') or 'localhost', smtp_port(target))
    url = target.get('url') or (PAGERDUTY_URL if target.get('type') == 'pagerduty' else '')
    try:
        parts = urlsplit(url)
        host = parts.hostname or ''
        port = parts.port
    except ValueError:
        return '<invalid url>'
    if not parts.scheme or not host:
        return '<invalid url>'
    if ':' in host:
        host = '[%s]' % host
    return '%s://%s%s' % (parts.scheme, host, (':%d' % port) if port else '')


def hostname(target):
    """The host name alone (for warnings)."""
    if target.get('type') == 'email':
        return target.get('smtp_host') or 'localhost'
    try:
        return urlsplit(target.get('url') or PAGERDUTY_URL).hostname or ''
    except ValueError:
        return ''


def secrets_of(targets):
    """Every secret value of the targets (URLs, HMAC secrets, routing keys, passwords) and the URL paths."""
    out = []
    for target in targets or []:
        for key in SECRET_KEYS:
            value = target.get(key)
            if value:
                out.append(str(value))
        out.extend(str(v) for v in (target.get('headers') or {}).values() if v)
        try:
            parts = urlsplit(target.get('url') or '')
            if parts.path and parts.path != '/':
                out.append(parts.path)
            if parts.query:
                out.append(parts.query)
        except ValueError:
            pass
    return out


def scrub(value, secrets):
    """``value`` (a str, or dicts and lists of them) with every secret masked."""
    if isinstance(value, dict):
        return dict((k, scrub(v, secrets)) for k, v in value.items())
    if isinstance(value, list):
        return [scrub(v, secrets) for v in value]
    if isinstance(value, str):
        return mask(value, secrets, min_length=4)
    return value


# ---------------------------------------------------------------------------------------------- retries

def backoff_schedule(retries, base=1.0, maximum=30.0):
    """The sleeps between attempts: ``base * 2**n`` capped at ``maximum``, one per retry."""
    retries = max(0, int(retries))
    return [min(float(maximum), float(base) * (2 ** n)) for n in range(retries)]


def retryable(status):
    """An HTTP failure worth another attempt: no answer (-1), 408, 429 or any 5xx."""
    return status == -1 or status in (408, 429) or 500 <= status < 600


def smtp_retryable(code):
    """An SMTP failure worth another attempt: a transient 4xx reply (421, 450, 451, 452)."""
    return code in (421, 450, 451, 452)


# ---------------------------------------------------------------------------------------------- transports

def _ssl_context(target):
    if target.get('validate_certs', True) is False:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        return ctx
    return ssl.create_default_context(cafile=target.get('ca_path') or None)


def post_json(url, body_bytes, headers, timeout, target):
    """POST the bytes; returns the HTTP status; raises NotifyError (status -1 when nothing answered)."""
    req = Request(url, data=body_bytes, method='POST')
    req.add_header('Content-Type', 'application/json')
    req.add_header('User-Agent', USER_AGENT)
    for key, value in (headers or {}).items():
        req.add_header(key, value)
    context = _ssl_context(target) if url.lower().startswith('https://') else None
    try:
        opener = build_opener(HTTPSHandler(context=context)) if context is not None else build_opener()
        resp = opener.open(req, timeout=timeout)  # nosec - the URL is the operator's target
        try:
            resp.read(65536)
        finally:
            resp.close()
        return resp.status
    except HTTPError as exc:
        raise NotifyError('HTTP %d %s' % (exc.code, exc.reason or ''), status=exc.code, retry=retryable(exc.code))
    except (socket.timeout, TimeoutError):
        raise NotifyError('no answer within %s s (timed out)' % timeout)
    except URLError as exc:
        reason = exc.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise NotifyError('no answer within %s s (timed out)' % timeout)
        raise NotifyError('connection failed: %s' % reason)
    except (OSError, ValueError) as exc:
        raise NotifyError('connection failed: %s' % exc)


def smtp_port(target):
    if target.get('smtp_port'):
        return int(target['smtp_port'])
    return {'ssl': 465, 'starttls': 587}.get(target.get('smtp_security') or 'starttls', 25)


def send_mail(message, target, timeout):
    """Send over SMTP (none, starttls or ssl; login when a username is given). Returns 250."""
    host, port = target.get('smtp_host') or 'localhost', smtp_port(target)
    security = target.get('smtp_security') or 'starttls'
    try:
        if security == 'ssl':
            client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=_ssl_context(target))
        else:
            client = smtplib.SMTP(host, port, timeout=timeout)
        try:
            client.ehlo()
            if security == 'starttls':
                client.starttls(context=_ssl_context(target))
                client.ehlo()
            if target.get('username'):
                client.login(target['username'], target.get('password') or '')
            refused = client.send_message(message)
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                pass
    except smtplib.SMTPAuthenticationError as exc:
        raise NotifyError('SMTP authentication failed (%d)' % exc.smtp_code, status=exc.smtp_code, retry=False)
    except smtplib.SMTPRecipientsRefused as exc:
        raise NotifyError('every recipient was refused (%d)' % len(exc.recipients), status=550, retry=False)
    except smtplib.SMTPResponseException as exc:
        reply = exc.smtp_error
        if isinstance(reply, bytes):
            reply = reply.decode('utf-8', 'replace')
        raise NotifyError('SMTP %d %s' % (exc.smtp_code, reply), status=exc.smtp_code,
                          retry=smtp_retryable(exc.smtp_code))
    except smtplib.SMTPNotSupportedError as exc:
        raise NotifyError('the server does not support %s: %s' % (security, exc), retry=False)
    except (socket.timeout, TimeoutError):
        raise NotifyError('no answer within %s s (timed out)' % timeout)
    except (smtplib.SMTPException, ssl.SSLError, OSError) as exc:
        raise NotifyError('SMTP failed: %s' % exc)
    if refused:
        raise NotifyError('recipients refused: %s' % ', '.join(sorted(refused)), status=550, retry=False)
    return 250


# ---------------------------------------------------------------------------------------------- delivery

def requests_for(event, target):
    """What a target gets: a list of ``{'kind': 'http', 'url', 'body', 'headers'}`` or ``{'kind': 'email',
    'message'}``. Empty when the target has nothing to send for this event (PagerDuty on start/info)."""
    kind = target['type']
    if kind == 'slack':
        return [{'kind': 'http', 'url': target['url'], 'body': slack_payload(event, target), 'headers': {}}]
    if kind == 'webhook':
        body = webhook_payload(event)
        headers = dict(target.get('headers') or {})
        if target.get('secret'):
            headers[target.get('signature_header') or SIGNATURE_HEADER] = signature(target['secret'], encode(body))
        return [{'kind': 'http', 'url': target['url'], 'body': body, 'headers': headers}]
    if kind == 'pagerduty':
        url = target.get('url') or PAGERDUTY_URL
        return [{'kind': 'http', 'url': url, 'body': b, 'headers': {}} for b in pagerduty_payloads(event, target)]
    if kind == 'email':
        return [{'kind': 'email', 'message': email_message(event, target)}]
    raise ValueError('unknown target type %r' % kind)


def preview(req, target):
    """A request as check mode shows it: no URL beyond scheme+host, no secret header, no routing key."""
    if req['kind'] == 'email':
        msg = req['message']
        return {'to': target['mail_to'], 'from': target['mail_from'], 'subject': msg['Subject'],
                'body': msg.get_content()}
    body = dict(req['body'])
    if 'routing_key' in body:
        body['routing_key'] = MASK
    headers = dict((k, MASK) for k in req['headers'])
    return {'endpoint': endpoint(target), 'body': body, 'headers': headers}


def _attempt(req, target, timeout):
    if req['kind'] == 'email':
        return send_mail(req['message'], target, timeout)
    return post_json(req['url'], encode(req['body']), req['headers'], timeout, target)


def deliver(event, target, timeout=10.0, retries=2, backoff=1.0, backoff_max=30.0, sleep=time.sleep):
    """Send one event to one target with retries; never raises for a delivery failure. Returns
    ``{name, type, endpoint, host, ok, status, attempts, error, sent}``."""
    timeout = float(target.get('timeout') or timeout)
    retries = int(target['retries']) if target.get('retries') is not None else int(retries)
    delays = backoff_schedule(retries, backoff, backoff_max)
    result = {'name': target.get('name') or target['type'], 'type': target['type'], 'endpoint': endpoint(target),
              'host': hostname(target), 'ok': True, 'status': 0, 'attempts': 0, 'error': '', 'sent': 0}
    for req in requests_for(event, target):
        attempt = 0
        while True:
            attempt += 1
            result['attempts'] += 1
            try:
                result['status'] = _attempt(req, target, timeout)
                result['sent'] += 1
                break
            except NotifyError as exc:
                result['status'] = exc.status
                if exc.retry and attempt <= len(delays):
                    sleep(delays[attempt - 1])
                    continue
                result['ok'] = False
                result['error'] = 'Could not notify %s target %s (%s): %s after %d attempt(s).' % (
                    target['type'], result['name'], result['endpoint'], exc.msg, attempt)
                break
        if not result['ok']:
            break
    return result


def notify(event, targets, check_mode=False, timeout=10.0, retries=2, backoff=1.0, backoff_max=30.0,
           sleep=time.sleep):
    """Send ``event`` to every target. Returns the module result: ``changed``, ``ok``, ``event``, ``targets``
    (one result per target), ``failed_targets``, and in check mode ``would_send``. Secrets are scrubbed."""
    event = normalize_event(event)
    secrets = secrets_of(targets)
    results, would_send = [], []
    for target in targets:
        if check_mode:
            reqs = requests_for(event, target)
            would_send.append({'name': target.get('name') or target['type'], 'type': target['type'],
                               'requests': [preview(r, target) for r in reqs]})
            results.append({'name': target.get('name') or target['type'], 'type': target['type'],
                            'endpoint': endpoint(target), 'host': hostname(target), 'ok': True, 'status': 0,
                            'attempts': 0, 'error': '', 'sent': 0})
            continue
        results.append(deliver(event, target, timeout, retries, backoff, backoff_max, sleep))
    failed = [r for r in results if not r['ok']]
    out = {
        'changed': any(r['sent'] for r in results) or (check_mode and any(w['requests'] for w in would_send)),
        'ok': not failed,
        'event': event,
        'targets': results,
        'failed_targets': [r['name'] for r in failed],
    }
    if check_mode:
        out['would_send'] = would_send
    return scrub(out, secrets)


# ---------------------------------------------------------------------------------------------- state changes

def load_state(text):
    """The kept state (host -> state) from the state file's text: ``{"hosts": {...}}`` or a plain mapping.
    An empty, unreadable or malformed file counts as no state (every host as ``ok``)."""
    if isinstance(text, dict):
        data = text
    else:
        try:
            data = json.loads(text or '{}')
        except ValueError:
            return {}
    if isinstance(data, dict) and isinstance(data.get('hosts'), dict):
        data = data['hosts']
    if not isinstance(data, dict):
        return {}
    return dict((str(k), _state(v)) for k, v in data.items())


def _state(value):
    value = str(value or 'critical').lower()
    return value if value in HEALTH_STATES else 'critical'


def state_changes(previous, current):
    """The health rule "notify on a state change only".

    ``previous`` and ``current`` map host -> ok|warning|critical (an unknown status counts as critical);
    ``previous`` may also be the state file's text (see :func:`load_state`).
    A host seen for the first time counts as coming from ``ok`` (a new healthy host says nothing, a new
    failing host is reported). Returns ``{'degraded': [...], 'recovered': [...], 'state': {...}}``: each
    change ``{'host', 'from', 'to'}``; degraded = now warning/critical and different from before (ok ->
    warning, warning -> critical, critical -> warning); recovered = now ok after warning/critical.
    ``state`` is the new state to keep: ``previous`` updated with ``current`` (hosts not in this run kept).
    """
    previous = load_state(previous or {})
    current = dict((str(k), _state(v)) for k, v in (current or {}).items())
    degraded, recovered = [], []
    for host in sorted(current):
        before, now = previous.get(host, 'ok'), current[host]
        if before == now:
            continue
        change = {'host': host, 'from': before, 'to': now}
        (recovered if now == 'ok' else degraded).append(change)
    state = dict(previous)
    state.update(current)
    return {'degraded': degraded, 'recovered': recovered, 'state': state}
