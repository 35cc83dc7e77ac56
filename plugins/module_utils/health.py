# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Typed health probes, threshold grading and the concurrent runner behind ``health_check``.

A probe is a function ``probe(check) -> ProbeResult`` that measures a target and
returns its metrics, plus any "hard" findings (an HTTP status that was not
expected, an expired certificate).  It raises :class:`ProbeError` when it cannot
run at all.  :func:`run_checks` runs the probes in a thread pool, never lets an
exception escape, grades every numeric metric against its thresholds and builds
the report; :func:`run_until_healthy` repeats such passes until the report passes
``fail_on`` or ``wait_timeout`` has passed.  Everything here is read-only.

A probe's ``timeout`` bounds the whole probe: the probes pass the time left to every
connect and read (an HTTP body is read against a deadline), and the runner abandons a
probe still running ``DEADLINE_GRACE`` seconds after its timeout (its daemon thread never
keeps the process alive) and grades it critical.  Every message and metric a probe
reports goes through :func:`redact`: the check's secrets and the userinfo and token
query values of any URL are masked.
"""

from __future__ import annotations

import datetime
import functools
import json
import math
import os
import re
import socket
import ssl
import threading
import time
from http.client import HTTPException

from urllib.error import HTTPError, URLError
from urllib.parse import unquote, urlsplit, urlunsplit
from urllib.request import HTTPSHandler, ProxyHandler, Request, build_opener

from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs_utils
from ansible_collections.runbook.ops.plugins.module_utils import certs as cert_utils
from ansible_collections.runbook.ops.plugins.module_utils import postgres as pg_utils
from ansible_collections.runbook.ops.plugins.module_utils import probe as probe_base
from ansible_collections.runbook.ops.plugins.module_utils import health_cpu
from ansible_collections.runbook.ops.plugins.module_utils import health_log
from ansible_collections.runbook.ops.plugins.module_utils import health_mysql
from ansible_collections.runbook.ops.plugins.module_utils import health_process
from ansible_collections.runbook.ops.plugins.module_utils import health_queue
from ansible_collections.runbook.ops.plugins.module_utils import health_wal
from ansible_collections.runbook.ops.plugins.module_utils import redis_client as redis_utils
from ansible_collections.runbook.ops.plugins.module_utils import redaction
from ansible_collections.runbook.ops.plugins.module_utils._time import utcnow

# cryptography is imported on first use (certs.py's stand-in)
HAS_CRYPTOGRAPHY, CRYPTOGRAPHY_IMP_ERR = cert_utils.HAS_CRYPTOGRAPHY, cert_utils.CRYPTOGRAPHY_IMP_ERR
x509 = cert_utils.x509

# The probe vocabulary is probe.py's (shared with the probe types that live in their own files).
OK, WARNING, CRITICAL = probe_base.OK, probe_base.WARNING, probe_base.CRITICAL
SEVERITY = probe_base.SEVERITY
FAIL_ON = ('critical', 'warning', 'never')
HIGHER, LOWER = probe_base.HIGHER, probe_base.LOWER
CHECK_TYPES = ('http', 'tcp', 'postgres', 'redis', 'disk', 'memory', 'load', 'tls_cert', 'backup_age')
HTTP_METHODS = ('GET', 'HEAD', 'OPTIONS', 'POST')
DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_WORKERS = 10
# run_until_healthy: one pass by default; seconds between passes when waiting
DEFAULT_WAIT_TIMEOUT = 0
DEFAULT_DELAY = 5
# a probe still running this long after its timeout is abandoned and graded critical
DEADLINE_GRACE = 2.0
# the S3 client of a backup_age probe: at most these timeouts (less when the probe's timeout is shorter), one attempt
S3_CONNECT_TIMEOUT = 10
S3_READ_TIMEOUT = 60
MAX_BODY_BYTES = 1024 * 1024
PROC_MEMINFO = '/proc/meminfo'
MIB = 1024 * 1024


def _t(warning, critical):
    return {'warning': warning, 'critical': critical}


# Every metric a check type may be graded on: its direction and its default thresholds
# (None: measured and reported, graded only when the user sets thresholds).  Defaults
# come from the threshold tables of the runbooks in shared/seeds (002, 003, 004).
METRICS = {
    'http': {
        'latency_ms': (HIGHER, _t(100, 1000)),
        # with samples > 1 (seed 003: p95 500 / 1000 ms; seed 000: error rate 1 / 5 %)
        'p50_ms': (HIGHER, None),
        'p95_ms': (HIGHER, _t(500, 1000)),
        'p99_ms': (HIGHER, None),
        'error_rate_pct': (HIGHER, _t(1, 5)),
    },
    'tcp': {
        'latency_ms': (HIGHER, _t(100, 1000)),
    },
    'postgres': {
        'connect_ms': (HIGHER, None),
        'latency_ms': (HIGHER, _t(100, 500)),
        'connections': (HIGHER, None),
        'connections_pct': (HIGHER, _t(70, 90)),
        'longest_query_s': (HIGHER, _t(60, 300)),
        'ungranted_locks': (HIGHER, _t(5, 20)),
        'replication_lag_bytes': (HIGHER, _t(16 * MIB, 1024 * MIB)),
        'replication_lag_s': (HIGHER, _t(60, 300)),
        'replicas': (LOWER, None),
    },
    'redis': {
        'connect_ms': (HIGHER, None),
        'latency_ms': (HIGHER, _t(100, 1000)),
        'used_memory': (HIGHER, None),
        'memory_pct': (HIGHER, _t(80, 95)),
        'connected_clients': (HIGHER, None),
        'clients_pct': (HIGHER, _t(80, 95)),
        'hit_rate': (LOWER, _t(70, 50)),
        'evicted_keys': (HIGHER, None),
    },
    'disk': {
        'used_pct': (HIGHER, _t(80, 90)),
        'inodes_pct': (HIGHER, _t(80, 90)),
        'free_bytes': (LOWER, None),
    },
    'memory': {
        'used_pct': (HIGHER, _t(80, 95)),
        'swap_used_pct': (HIGHER, None),
        'available_bytes': (LOWER, None),
    },
    'load': {
        'load1_per_core': (HIGHER, None),
        'load5_per_core': (HIGHER, _t(1.0, 2.0)),
        'load15_per_core': (HIGHER, None),
    },
    'tls_cert': {
        'days_remaining': (LOWER, _t(30, 7)),
    },
    # seed 004's daily check: a daily backup should be at most a day old (plus slack);
    # two missed nights are critical.
    'backup_age': {
        'age_h': (HIGHER, _t(26, 50)),
        'age_s': (HIGHER, None),
    },
}

# Metrics that measure the same thing in other units: thresholds may name only one of them,
# and naming one drops the defaults of the others (so age_s thresholds are not overruled by
# the default age_h ones).
ALTERNATIVE_METRICS = {
    'backup_age': ('age_h', 'age_s'),
}

# The backup store options a backup_age probe takes (see backup_store.store_argument_spec()).
BACKUP_STORE_OPTIONS = ('store', 's3_endpoint_url', 'aws_region', 'aws_access_key', 'aws_secret_key')

COMMON_OPTIONS = ('name', 'type', 'thresholds', 'timeout')
TYPE_OPTIONS = {
    'http': ('url', 'method', 'expect_status', 'expect_body', 'expect_json', 'headers', 'validate_certs',
             'ca_cert', 'use_proxy', 'samples', 'concurrency'),
    'tcp': ('host', 'port'),
    'postgres': pg_utils.POSTGRES_OPTION_NAMES + ('login_db',),
    'redis': redis_utils.REDIS_OPTION_NAMES,
    'disk': ('path',),
    'memory': (),
    'load': (),
    'tls_cert': ('host', 'port', 'server_name', 'starttls', 'path', 'ca_cert', 'validate_certs'),
    'backup_age': BACKUP_STORE_OPTIONS + ('source_db',),
}


HealthConfigError = probe_base.HealthConfigError
ProbeError = probe_base.ProbeError
ProbeTimeout = probe_base.ProbeTimeout
ProbeResult = probe_base.ProbeResult


# --------------------------------------------------------------------------- argspec

def _without_defaults(spec):
    """Shared connection specs without their defaults: in the union of all check types a
    default would leak into checks of other types; per-type defaults are applied later."""
    return {k: {kk: vv for kk, vv in v.items() if kk != 'default'} for k, v in spec.items()}


def check_suboptions():
    """Suboptions of one element of ``checks``: the union of every type's options."""
    opts = dict(
        name=dict(type='str', required=True),
        type=dict(type='str', required=True, choices=list(CHECK_TYPES)),
        thresholds=dict(type='dict'),
        timeout=dict(type='float', default=DEFAULT_TIMEOUT),
        url=dict(type='str'),
        method=dict(type='str', choices=list(HTTP_METHODS)),
        expect_status=dict(type='list', elements='int'),
        expect_body=dict(type='str'),
        expect_json=dict(type='raw'),
        headers=dict(type='dict', no_log=True),
        use_proxy=dict(type='bool'),
        samples=dict(type='int'),
        concurrency=dict(type='int'),
        path=dict(type='path'),
        server_name=dict(type='str'),
        starttls=dict(type='str', choices=list(cert_utils.STARTTLS_PROTOCOLS)),
        login_db=dict(type='str'),
        source_db=dict(type='str'),
    )
    opts.update(_without_defaults(pg_utils.postgres_argument_spec()))
    opts.update(_without_defaults(redis_utils.redis_argument_spec()))
    store_spec = bs_utils.store_argument_spec()
    for key in BACKUP_STORE_OPTIONS:
        # required only for backup_age checks (required_if below), not for every check
        opts[key] = {k: v for k, v in store_spec[key].items() if k not in ('default', 'required')}
    for ptype in EXTRA_PROBE_TYPES:
        for key, spec in ptype.suboptions.items():
            spec = {k: v for k, v in spec.items() if k not in ('default', 'required')}
            if key in opts and opts[key] != spec:
                raise HealthConfigError('probe type %s declares option %s as %r, but it is already %r: declare '
                                        'it the same way (without a default)' % (ptype.name, key, spec, opts[key]))
            opts[key] = spec
    return opts


def argument_spec():
    return dict(
        checks=dict(
            type='list', elements='dict', required=True, options=check_suboptions(),
            required_if=[
                ('type', 'http', ('url',)),
                ('type', 'tcp', ('host', 'port')),
                ('type', 'disk', ('path',)),
                ('type', 'tls_cert', ('host', 'path'), True),
                ('type', 'backup_age', ('store',)),
            ] + [('type', ptype.name, ptype.required) for ptype in EXTRA_PROBE_TYPES if ptype.required],
            mutually_exclusive=[('host', 'path')],
            required_by={'starttls': ('host',)},
            required_together=[('aws_access_key', 'aws_secret_key')],
        ),
        fail_on=dict(type='str', default='critical', choices=list(FAIL_ON)),
        max_workers=dict(type='int', default=DEFAULT_MAX_WORKERS),
        wait_timeout=dict(type='int', default=DEFAULT_WAIT_TIMEOUT),
        delay=dict(type='int', default=DEFAULT_DELAY),
    )


# --------------------------------------------------------------------------- validation

def _number(value, where):
    if isinstance(value, bool):
        raise HealthConfigError('%s must be a number, got %r' % (where, value))
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise HealthConfigError('%s must be a number, got %r' % (where, value))
    if math.isnan(number) or math.isinf(number):
        raise HealthConfigError('%s must be a finite number, got %r' % (where, value))
    return number


def normalize_thresholds(check_type, thresholds, check_name='?'):
    """Validate user thresholds and merge them over the defaults of ``check_type``.

    A metric the user names replaces its default entirely (``{}`` or ``null`` turns
    grading of that metric off); levels must be numbers and ordered by the metric's
    direction.  Returns ``{metric: {'warning': x|None, 'critical': y|None}}``.
    """
    known = METRICS.get(check_type, {})
    effective = {m: dict(levels) for m, (dummy, levels) in known.items() if levels}
    if thresholds is None:
        thresholds = {}
    if not isinstance(thresholds, dict):
        raise HealthConfigError("check '%s': thresholds must be a mapping of metric -> {warning, critical}"
                                % check_name)
    for metric, levels in thresholds.items():
        if metric not in known:
            raise HealthConfigError("check '%s' (type %s) has a threshold for unknown metric '%s'; metrics that "
                                    "can be graded for %s: %s" % (check_name, check_type, metric, check_type,
                                                                  ', '.join(sorted(known)) or 'none'))
        if levels is None:
            levels = {}
        if not isinstance(levels, dict):
            raise HealthConfigError("check '%s': thresholds.%s must be a mapping with warning and/or critical"
                                    % (check_name, metric))
        unknown = sorted(set(levels) - {'warning', 'critical'})
        if unknown:
            raise HealthConfigError("check '%s': thresholds.%s takes only warning and critical, not %s"
                                    % (check_name, metric, ', '.join(str(u) for u in unknown)))
        clean = {}
        for level in ('warning', 'critical'):
            value = levels.get(level)
            clean[level] = None if value is None else _number(
                value, "check '%s': thresholds.%s.%s" % (check_name, metric, level))
        direction = known[metric][0]
        if clean['warning'] is not None and clean['critical'] is not None:
            if direction == HIGHER and clean['warning'] > clean['critical']:
                raise HealthConfigError("check '%s': thresholds.%s: warning (%s) must not be above critical (%s), "
                                        "higher values are worse" % (check_name, metric, levels.get('warning'),
                                                                     levels.get('critical')))
            if direction == LOWER and clean['warning'] < clean['critical']:
                raise HealthConfigError("check '%s': thresholds.%s: warning (%s) must not be below critical (%s), "
                                        "lower values are worse" % (check_name, metric, levels.get('warning'),
                                                                    levels.get('critical')))
        if clean['warning'] is None and clean['critical'] is None:
            effective.pop(metric, None)
        else:
            effective[metric] = clean
    alternatives = ALTERNATIVE_METRICS.get(check_type, ())
    named = [m for m in alternatives if m in thresholds]
    if len(named) > 1:
        raise HealthConfigError("check '%s': thresholds name %s, which measure the same thing; give only one of them"
                                % (check_name, ' and '.join(named)))
    if named:
        for metric in alternatives:
            if metric not in named:
                effective.pop(metric, None)
    return effective


def normalize_checks(checks):
    """Validate the ``checks`` option beyond what the argspec can say; returns new dicts
    holding only the options that apply to each check's type, plus ``_thresholds``."""
    seen = {}
    duplicates = []
    for check in checks:
        name = check.get('name')
        if name in seen and name not in duplicates:
            duplicates.append(name)
        seen[name] = True
    if duplicates:
        raise HealthConfigError('check names must be unique, duplicated: %s'
                                % ', '.join("'%s'" % d for d in duplicates))
    normalized = []
    for check in checks:
        ctype = check['type']
        name = check['name']
        if not str(name).strip():
            raise HealthConfigError('every check needs a non-empty name')
        allowed = set(COMMON_OPTIONS) | set(TYPE_OPTIONS.get(ctype, ()))
        foreign = sorted(k for k, v in check.items() if v is not None and k not in allowed
                         and not (k == 'thresholds' and not v))
        if foreign:
            raise HealthConfigError("check '%s' (type %s) does not take option(s) %s; options for %s: %s"
                                    % (name, ctype, ', '.join(foreign), ctype,
                                       ', '.join(sorted(TYPE_OPTIONS.get(ctype, ()))) or 'none'))
        timeout = _number(check.get('timeout') if check.get('timeout') is not None else DEFAULT_TIMEOUT,
                          "check '%s': timeout" % name)
        if timeout <= 0:
            raise HealthConfigError("check '%s': timeout must be above 0, got %s" % (name, check.get('timeout')))
        if check.get('port') is not None and not 0 < check['port'] < 65536:
            raise HealthConfigError("check '%s': port must be between 1 and 65535, got %s" % (name, check['port']))
        if ctype == 'http':
            try:
                scheme = urlsplit(check['url']).scheme.lower()
            except ValueError as exc:
                raise HealthConfigError("check '%s': url is not valid: %s" % (name, exc))
            if scheme not in ('http', 'https'):
                raise HealthConfigError("check '%s': url must start with http:// or https://, got scheme %r"
                                        % (name, scheme))
            for key in ('samples', 'concurrency'):
                if check.get(key) is not None and not 1 <= check[key] <= 10000:
                    raise HealthConfigError("check '%s': %s must be between 1 and 10000, got %s"
                                            % (name, key, check[key]))
            expect = check.get('expect_json')
            if expect is not None and not isinstance(expect, (str, dict)):
                raise HealthConfigError("check '%s': expect_json must be a JSON path (string) or a mapping of "
                                        "JSON path -> expected value" % name)
        new = {k: v for k, v in check.items() if k in allowed and v is not None}
        new['timeout'] = timeout
        if ctype in EXTRA_TYPES_BY_NAME and EXTRA_TYPES_BY_NAME[ctype].validate:
            EXTRA_TYPES_BY_NAME[ctype].validate(new)
        new['_thresholds'] = normalize_thresholds(ctype, check.get('thresholds'), name)
        normalized.append(new)
    return normalized


def check_requirements(checks):
    """``(library, import_error)`` for the first missing library that the checks need, else None."""
    types = set(c['type'] for c in checks)
    if 'postgres' in types and not pg_utils.HAS_PSYCOPG:
        return 'psycopg', pg_utils.PSYCOPG_IMP_ERR
    if 'redis' in types and not redis_utils.HAS_REDIS:
        return 'redis', redis_utils.REDIS_IMP_ERR
    if 'tls_cert' in types and not HAS_CRYPTOGRAPHY:
        return 'cryptography', CRYPTOGRAPHY_IMP_ERR
    if any(c['type'] == 'backup_age' and bs_utils.missing_boto3(c.get('store', '')) for c in checks):
        return 'boto3', bs_utils.BOTO3_IMP_ERR
    for ptype in EXTRA_PROBE_TYPES:
        mine = [c for c in checks if c['type'] == ptype.name]
        missing = ptype.requirement(mine) if mine and ptype.requirement else None
        if missing:
            return missing
    return None


# --------------------------------------------------------------------------- grading

def grade_value(value, levels, direction=HIGHER):
    """Grade one value: ``(status, crossed_level, threshold)``.

    Reaching a threshold counts as crossing it: with ``higher_is_worse`` a value
    ``>= critical`` is critical and ``>= warning`` a warning; with ``lower_is_worse``
    ``<= critical`` / ``<= warning``.  ``None`` values and unset levels are never graded.
    """
    if value is None or not levels or isinstance(value, bool):
        return OK, None, None
    for level in ('critical', 'warning'):
        threshold = levels.get(level)
        if threshold is None:
            continue
        if direction == HIGHER and value >= threshold:
            return level, level, threshold
        if direction == LOWER and value <= threshold:
            return level, level, threshold
    return OK, None, None


def _fmt(number):
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return str(number)


def grade_metrics(check_type, metrics, thresholds):
    """Grade every metric that has thresholds: ``(status, [reason, ...])``.

    The status is the worst of all metrics, whatever their order: a critical metric is never
    hidden by an ok or warning metric graded after it."""
    status = OK
    reasons = []
    known = METRICS.get(check_type, {})
    for metric in sorted(thresholds):
        direction = known.get(metric, (HIGHER, None))[0]
        value = metrics.get(metric)
        level_status, level, threshold = grade_value(value, thresholds[metric], direction)
        if level_status != OK:
            op = '>=' if direction == HIGHER else '<='
            reasons.append('%s %s %s %s %s' % (metric, _fmt(value), op, level, _fmt(threshold)))
            status = worst(status, level_status)
    return status, reasons


def grade(check_type, metrics, thresholds, findings=()):
    """Grade a probe's result: ``(status, [reason, ...])``, the findings' messages first.

    The status is the worst of the thresholds' grade and of every finding's status: a finding
    (an unexpected HTTP status, an expired certificate) can raise the grade, never lower it."""
    status, reasons = grade_metrics(check_type, metrics, thresholds)
    for finding_status, dummy in findings:
        status = worst(status, finding_status)
    return status, [message for dummy, message in findings] + reasons


def worst(*statuses):
    return max(statuses, key=lambda s: SEVERITY[s]) if statuses else OK


def summarize(results):
    summary = {OK: 0, WARNING: 0, CRITICAL: 0}
    for r in results:
        summary[r['status']] += 1
    return summary


def failing_checks(results, fail_on):
    """Names of the checks that make the module fail for ``fail_on``, worst first."""
    if fail_on == 'never':
        return []
    floor = SEVERITY[CRITICAL if fail_on == 'critical' else WARNING]
    failing = [r for r in results if SEVERITY[r['status']] >= floor]
    failing.sort(key=lambda r: -SEVERITY[r['status']])
    return [r['name'] for r in failing]


def failure_message(results, fail_on):
    """One line naming the failing checks, grouped by status."""
    names = failing_checks(results, fail_on)
    if not names:
        return None
    parts = []
    for status in (CRITICAL, WARNING):
        group = [_one_line(r['name']) for r in results if r['status'] == status and r['name'] in names]
        if group:
            parts.append('%s: %s' % (status, ', '.join(group)))
    return 'Health check failed (fail_on=%s): %s. See checks[] in the result for each message.' % (
        fail_on, '; '.join(parts))


def _one_line(text):
    return ' '.join(str(text).split())


# --------------------------------------------------------------------------- secrets

# The one redaction helper (module_utils/redaction.py) owns the masking rules; these names stay for callers.
SENSITIVE_QUERY = redaction.SENSITIVE_QUERY
MASK = redaction.MASK
URL_OPTIONS = ('url', 's3_endpoint_url')
safe_url = redaction.safe_url
redact_urls = redaction.redact_urls
basic_auth_header = redaction.basic_auth_header
_url_secrets = redaction.url_secrets


def secrets_of(check):
    """Every secret value a check holds (passwords, header values, URL passwords and tokens)."""
    found = []
    extra = EXTRA_TYPES_BY_NAME.get(check.get('type'))
    for key in ('login_password', 'password', 'aws_secret_key', 'aws_access_key') + (extra.secrets if extra else ()):
        if check.get(key):
            found.append(str(check[key]))
    for value in (check.get('headers') or {}).values():
        if value not in (None, ''):
            found.append(str(value))
    for key in URL_OPTIONS:
        if check.get(key):
            found += redaction.url_secrets(check[key])
    return sorted(set(s for s in found if s))


def redact(text, check):
    """``text`` without the check's secrets and without URL userinfo or token query values."""
    return redaction.redact(text, secrets_of(check))


def _redact_values(value, check):
    """A copy of a metrics structure with every string redacted."""
    if isinstance(value, dict):
        return dict((k, _redact_values(v, check)) for k, v in value.items())
    if isinstance(value, (list, tuple)):
        return [_redact_values(v, check) for v in value]
    if isinstance(value, str):
        return redact(value, check)
    return value


def url_credentials(url):
    """``(url without userinfo, Authorization header value or None)``: ``user:pass@`` in an http(s) URL
    (percent-encoded as in any URL) is sent as HTTP basic auth, never taken as part of the host name."""
    parts = urlsplit(url)
    if '@' not in parts.netloc:
        return url, None
    userinfo, host = parts.netloc.rsplit('@', 1)
    user, dummy, password = userinfo.partition(':')
    return (urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)),
            basic_auth_header(unquote(user), unquote(password)))


# --------------------------------------------------------------------------- probes

_ms = probe_base.ms
_pct = probe_base.pct


_PATH_TOKEN = re.compile(r'([^.\[\]]+)|\[(-?\d+)\]')


def json_path(document, path):
    """Resolve ``a.b[0].c`` (or ``$.a.b.0.c``) in a JSON document: ``(found, value)``."""
    path = path.strip()
    if path.startswith('$'):
        path = path[1:]
    value = document
    for match in _PATH_TOKEN.finditer(path):
        key, index = match.group(1), match.group(2)
        if index is not None or (isinstance(value, list) and key is not None and re.match(r'^-?\d+$', key)):
            position = int(index if index is not None else key)
            if not isinstance(value, list) or not -len(value) <= position < len(value):
                return False, None
            value = value[position]
        elif isinstance(value, dict) and key in value:
            value = value[key]
        else:
            return False, None
    return True, value


def _http_opener(check):
    """A urllib opener for the check: TLS context, proxies, redirects.  Built before the clock starts."""
    handlers = []
    if not check.get('use_proxy', True):
        handlers.append(ProxyHandler({}))
    if urlsplit(check['url']).scheme == 'https':
        if check.get('validate_certs', True):
            ctx = ssl.create_default_context(cafile=check.get('ca_cert'))
        else:
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.check_hostname = False
            ctx.verify_mode = ssl.CERT_NONE
        handlers.append(HTTPSHandler(context=ctx))
    return build_opener(*handlers)


_time_left = probe_base.time_left


def read_body(response, deadline, limit=MAX_BODY_BYTES):
    """Up to ``limit`` bytes of an HTTP response body, read before ``deadline`` (``time.monotonic()``).

    Each read waits at most the time left (the socket timeout is lowered before every read), so a
    server that trickles the body cannot hold the probe past its timeout.  Raises :class:`ProbeTimeout`.
    """
    sock = getattr(getattr(getattr(response, 'fp', None), 'raw', None), '_sock', None)
    chunks, size = [], 0
    while size < limit:
        left = _time_left(deadline)
        if sock is not None:
            try:
                sock.settimeout(left)
            except OSError:
                pass
        try:
            chunk = response.read1(min(64 * 1024, limit - size))
        except socket.timeout:
            raise ProbeTimeout()
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b''.join(chunks)


def _http_request(check):
    """``(opener, request, method, shown)`` for an http check: built before any clock starts."""
    shown = safe_url(check['url'])
    method = check.get('method', 'GET')
    headers = {'User-Agent': 'runbook.ops-health_check'}
    headers.update({str(k): str(v) for k, v in (check.get('headers') or {}).items()})
    try:
        url, basic = url_credentials(check['url'])
        if basic and not any(k.lower() == 'authorization' for k in headers):
            headers['Authorization'] = basic
        opener = _http_opener(check)
        request = Request(url, method=method, headers=headers)
    except (OSError, ValueError, ssl.SSLError) as exc:
        raise ProbeError('Could not prepare %s %s: %s' % (method, shown, redact(exc, check)))
    return opener, request, method, shown


def _http_once(check, opener, request, deadline):
    """One request: ``(status_code, body, elapsed_s)``; raises :class:`ProbeError` when no answer came."""
    method = request.get_method()
    shown = safe_url(check['url'])
    start = time.monotonic()
    status_code = None
    body = b''
    try:
        try:
            with opener.open(request, timeout=_time_left(deadline)) as response:
                status_code = response.getcode()
                body = read_body(response, deadline) if method != 'HEAD' else b''
        except HTTPError as exc:
            status_code = exc.code
            try:
                body = read_body(getattr(exc, 'fp', None) or exc, deadline)
            except ProbeTimeout:
                raise
            except Exception:  # pylint: disable=broad-except
                body = b''
            finally:
                exc.close()
    except ProbeTimeout:
        raise ProbeError('Could not request %s %s: timed out after %s s' % (method, shown, _fmt(check['timeout'])))
    except (URLError, socket.timeout, OSError, ValueError, ssl.SSLError, HTTPException) as exc:
        reason = getattr(exc, 'reason', exc)
        raise ProbeError('Could not request %s %s: %s' % (method, shown, redact(reason, check)))
    return status_code, body, time.monotonic() - start


def percentile(values, q):
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of ``values`` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, int(math.ceil(q / 100.0 * len(ordered))))
    return ordered[rank - 1]


def probe_http(check):
    if int(check.get('samples') or 1) > 1:
        return _probe_http_samples(check)
    opener, request, dummy, dummy = _http_request(check)
    deadline = time.monotonic() + check['timeout']
    status_code, body, elapsed = _http_once(check, opener, request, deadline)
    result = ProbeResult({'status_code': status_code, 'latency_ms': _ms(elapsed), 'bytes': len(body)})
    _check_answer(check, status_code, body, result)
    return result


def _check_answer(check, status_code, body, result):
    expect_status = check.get('expect_status') or [200]
    if status_code not in expect_status:
        result.add(CRITICAL, 'status %s not in expected %s' % (status_code, expect_status))
    text = body.decode('utf-8', 'replace')
    if check.get('expect_body') is not None:
        matched = check['expect_body'] in text
        result.metrics['body_match'] = matched
        if not matched:
            result.add(CRITICAL, 'body does not contain %r' % check['expect_body'])
    if check.get('expect_json') is not None:
        result.metrics['json_match'] = _match_json(text, check['expect_json'], result)


def _probe_http_samples(check):
    """``samples`` requests, ``concurrency`` at a time, within the check's one timeout: latency percentiles
    over the requests that were answered, and the error rate (no answer, or a status not expected).  The
    body and JSON expectations are checked on the first answer with an expected status."""
    samples = int(check['samples'])
    concurrency = max(1, min(int(check.get('concurrency') or min(samples, 4)), samples))
    expect_status = check.get('expect_status') or [200]
    deadline = time.monotonic() + check['timeout']
    outcomes = [None] * samples
    lock = threading.Lock()
    queue = list(range(samples))

    def worker():
        opener, request, dummy, dummy = _http_request(check)
        while True:
            with lock:
                if not queue:
                    return
                index = queue.pop()
            try:
                outcomes[index] = _http_once(check, opener, request, deadline)
            except ProbeError as exc:
                outcomes[index] = exc

    threads = [threading.Thread(target=worker, name='health-http-sample-%d' % i, daemon=True)
               for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0) + DEADLINE_GRACE / 2)
    answered = [o for o in outcomes if isinstance(o, tuple)]
    failures = [o for o in outcomes if not isinstance(o, tuple)]
    bad_status = [o for o in answered if o[0] not in expect_status]
    latencies = [o[2] for o in answered]
    errors = len(failures) + len(bad_status)
    result = ProbeResult({
        'requests': samples,
        'errors': errors,
        'error_rate_pct': _pct(errors, samples),
        'latency_ms': _ms(percentile(latencies, 50)) if latencies else None,
        'p50_ms': _ms(percentile(latencies, 50)) if latencies else None,
        'p95_ms': _ms(percentile(latencies, 95)) if latencies else None,
        'p99_ms': _ms(percentile(latencies, 99)) if latencies else None,
        'status_codes': dict((str(code), sum(1 for o in answered if o[0] == code))
                             for code in sorted(set(o[0] for o in answered))),
    })
    if not answered:
        first = next((o for o in failures if isinstance(o, ProbeError)), None)
        raise ProbeError('%s (all %d requests failed)' % (first or 'Could not request %s' % safe_url(check['url']),
                                                          samples))
    good = [o for o in answered if o[0] in expect_status]
    if not good:
        result.add(CRITICAL, 'no request got an expected status %s: %s' % (expect_status, result.metrics['status_codes']))
    else:
        checked = ProbeResult(result.metrics)
        _check_answer(check, good[0][0], good[0][1], checked)
        result.findings.extend(checked.findings)
    return result


def _match_json(text, expect, result):
    try:
        document = json.loads(text)
    except ValueError:
        result.add(CRITICAL, 'body is not JSON')
        return False
    expectations = {expect: None} if isinstance(expect, str) else expect
    matched = True
    for path, wanted in expectations.items():
        found, value = json_path(document, str(path))
        if not found:
            result.add(CRITICAL, 'JSON path %s not found' % path)
            matched = False
        elif not isinstance(expect, str) and value != wanted:
            shown, expected = json.dumps(value)[:200], json.dumps(wanted)[:200]
            result.add(CRITICAL, 'JSON path %s is %s, expected %s' % (path, shown, expected))
            matched = False
    return matched


def probe_tcp(check):
    host, port = check['host'], check['port']
    start = time.monotonic()
    try:
        sock = socket.create_connection((host, port), timeout=check['timeout'])
    except (OSError, ValueError) as exc:
        raise ProbeError('Could not connect to %s:%s: %s' % (host, port, exc))
    elapsed = time.monotonic() - start
    sock.close()
    return ProbeResult({'reachable': True, 'latency_ms': _ms(elapsed)})


def _pg_params(check):
    params = {k: check.get(k) for k in pg_utils.POSTGRES_OPTION_NAMES}
    if params.get('connect_timeout') is None:
        params['connect_timeout'] = max(1, int(math.ceil(check['timeout'])))
    params['login_db'] = check.get('login_db')
    return params


def probe_postgres(check):
    params = _pg_params(check)
    target = pg_utils.describe_target(params, dbname=params.get('login_db'))
    try:
        facts = pg_utils.server_health(params, check['timeout'], dbname=params.get('login_db'),
                                       application_name='runbook.ops health_check')
    except pg_utils.ServerCheckError as exc:
        raise ProbeError('Could not %s postgres %s: %s' % (
            'connect to' if exc.stage == 'connect' else 'query', target,
            _one_line(pg_utils.redact(redact(exc.cause, check), params))))
    return ProbeResult({
        'reachable': True,
        'connect_ms': _ms(facts['connect_s']),
        'latency_ms': _ms(facts['latency_s']),
        'server_version': facts['server_version'],
        'role': 'replica' if facts['in_recovery'] else 'primary',
        'max_connections': facts['max_connections'],
        'connections': facts['connections'],
        'connections_pct': _pct(facts['connections'], facts['max_connections']),
        'longest_query_s': facts['longest_query_s'],
        'ungranted_locks': facts['ungranted_locks'],
        'replicas': facts['replicas'],
        'replication_lag_bytes': facts['replication_lag_bytes'],
        'replication_lag_s': facts['replication_lag_s'],
    })


def _redis_params(check):
    params = {k: check.get(k) for k in redis_utils.REDIS_OPTION_NAMES}
    if params.get('socket_timeout') is None:
        params['socket_timeout'] = check['timeout']
    return params


def _no_retry():
    """redis-py >= 6 retries failed connections with back-off (seconds per probe); a health probe must not."""
    try:
        from redis.backoff import NoBackoff
        from redis.retry import Retry
    except ImportError:
        return {}
    return {'retry': Retry(NoBackoff(), 0)}


def probe_redis(check):
    params = _redis_params(check)
    try:
        facts = redis_utils.server_health(params, **_no_retry())
    except redis_utils.redis.RedisError as exc:
        raise ProbeError('Could not query redis %s: %s' % (
            redis_utils.describe_target(params), _one_line(redis_utils.redact(redact(exc, check), params))))
    hits, misses, maxclients = facts['keyspace_hits'], facts['keyspace_misses'], facts['maxclients']
    return ProbeResult({
        'reachable': True,
        'connect_ms': _ms(facts['connect_s']),
        'latency_ms': _ms(facts['latency_s']),
        'redis_version': facts['redis_version'],
        'role': facts['role'],
        'used_memory': facts['used_memory'],
        'maxmemory': facts['maxmemory'],
        'memory_pct': _pct(facts['used_memory'], facts['maxmemory']),
        'keyspace_hits': hits,
        'keyspace_misses': misses,
        'hit_rate': _pct(hits, hits + misses),
        'evicted_keys': facts['evicted_keys'],
        'connected_clients': facts['connected_clients'],
        'maxclients': maxclients,
        'clients_pct': _pct(facts['connected_clients'], maxclients) if maxclients else None,
    })


def probe_disk(check):
    path = check['path']
    try:
        st = os.statvfs(path)
    except (OSError, ValueError) as exc:
        raise ProbeError('Could not stat file system of %r: %s' % (path, exc))
    used_blocks = st.f_blocks - st.f_bfree
    usable = used_blocks + st.f_bavail     # what df shows: root-reserved blocks left out
    used_inodes = st.f_files - st.f_ffree
    return ProbeResult({
        'total_bytes': st.f_blocks * st.f_frsize,
        'free_bytes': st.f_bavail * st.f_frsize,
        'used_pct': _pct(used_blocks, usable),
        'inodes_total': st.f_files,
        'inodes_pct': _pct(used_inodes, st.f_files) if st.f_files else None,
    })


def read_meminfo(path=None):
    values = {}
    with open(path or PROC_MEMINFO) as f:
        for line in f:
            key, dummy, rest = line.partition(':')
            fields = rest.split()
            if fields:
                try:
                    values[key.strip()] = int(fields[0]) * (1024 if len(fields) > 1 else 1)
                except ValueError:
                    continue
    return values


def probe_memory(check):
    try:
        info = read_meminfo()
    except (OSError, ValueError) as exc:
        raise ProbeError('Could not read %s: %s' % (PROC_MEMINFO, exc))
    total = info.get('MemTotal')
    if not total:
        raise ProbeError('Could not read memory: MemTotal missing from %s' % PROC_MEMINFO)
    available = info.get('MemAvailable')
    if available is None:       # kernels before 3.14
        available = info.get('MemFree', 0) + info.get('Buffers', 0) + info.get('Cached', 0)
    swap_total = info.get('SwapTotal', 0)
    return ProbeResult({
        'total_bytes': total,
        'available_bytes': available,
        'used_pct': _pct(total - available, total),
        'swap_total_bytes': swap_total,
        'swap_used_pct': _pct(swap_total - info.get('SwapFree', 0), swap_total),
    })


def probe_load(check):
    try:
        load1, load5, load15 = os.getloadavg()
    except OSError as exc:
        raise ProbeError('Could not read the load average: %s' % exc)
    cpus = os.cpu_count() or 1
    return ProbeResult({
        'cpus': cpus,
        'load1': round(load1, 2), 'load5': round(load5, 2), 'load15': round(load15, 2),
        'load1_per_core': round(load1 / cpus, 3),
        'load5_per_core': round(load5 / cpus, 3),
        'load15_per_core': round(load15 / cpus, 3),
    })


def _utc(cert, attr):
    value = getattr(cert, attr + '_utc', None)
    if value is None:    # cryptography < 42
        value = getattr(cert, attr).replace(tzinfo=datetime.timezone.utc)
    return value


def _fetch_leaf(check, source, deadline, verify):
    """The endpoint's leaf certificate, read by certs.py (its STARTTLS preambles included) within the time left.
    With ``verify`` the chain is checked against ``ca_cert`` (not the host name): a chain that does not verify
    raises ``ssl.SSLCertVerificationError``.  Raises :class:`ProbeError` for anything else."""
    try:
        left = _time_left(deadline)
    except ProbeTimeout:
        raise ProbeError('Could not complete a TLS handshake with %s: timed out after %s s' % (source, _fmt(check['timeout'])))
    try:
        chain = cert_utils.fetch_endpoint_chain(check['host'], check.get('port', 443), server_name=check.get('server_name'),
                                                starttls=check.get('starttls'), timeout=left, verify=verify,
                                                cafile=check.get('ca_cert'))
    except cert_utils.CertError as exc:
        if isinstance(exc.cause, ssl.SSLCertVerificationError):
            raise exc.cause
        # a refused STARTTLS says what to do itself; socket and TLS errors are shown as they came
        raise ProbeError('Could not complete a TLS handshake with %s: %s' % (source, exc.cause) if exc.cause
                         else str(exc))
    except ValueError as exc:
        raise ProbeError('Could not parse the certificate of %s: %s' % (source, exc))
    return chain[0]


# RFC 6125 host name matching (wildcard as the whole left-most label only): certs.py owns the rule
hostname_matches = cert_utils.hostname_matches


def probe_tls_cert(check):
    chain_valid = hostname_valid = None
    verify_error = None
    if check.get('path'):
        try:
            with open(check['path'], 'rb') as f:
                data = f.read()
            cert = x509.load_pem_x509_certificate(data) if b'-----BEGIN' in data else x509.load_der_x509_certificate(data)
        except (OSError, ValueError) as exc:
            raise ProbeError('Could not read certificate %r: %s' % (check['path'], exc))
        source = check['path']
    else:
        host, port = check['host'], check.get('port', 443)
        source = '%s:%s' % (host, port)
        deadline = time.monotonic() + check['timeout']
        try:
            cert = _fetch_leaf(check, source, deadline, True)
            chain_valid = True
        except ssl.SSLCertVerificationError as exc:
            chain_valid = False
            verify_error = _one_line(getattr(exc, 'verify_message', None) or exc)
            cert = _fetch_leaf(check, source, deadline, False)
        hostname_valid = hostname_matches(cert, check.get('server_name') or host)
    now = utcnow()
    not_after = _utc(cert, 'not_valid_after')
    not_before = _utc(cert, 'not_valid_before')
    days = round((not_after - now).total_seconds() / 86400.0, 2)
    result = ProbeResult({
        'days_remaining': days,
        'not_after': not_after.strftime('%Y-%m-%dT%H:%M:%SZ'),
        'not_before': not_before.strftime('%Y-%m-%dT%H:%M:%SZ'),
        'subject': cert.subject.rfc4514_string(),
        'issuer': cert.issuer.rfc4514_string(),
        'serial_number': '%x' % cert.serial_number,
        'expired': now >= not_after,
        'not_yet_valid': now < not_before,
        'chain_valid': chain_valid,
        'hostname_valid': hostname_valid,
        'verify_error': verify_error,
    })
    if now >= not_after:
        result.add(CRITICAL, 'certificate of %s expired on %s' % (source, result.metrics['not_after']))
    if now < not_before:
        result.add(CRITICAL, 'certificate of %s is not valid before %s' % (source, result.metrics['not_before']))
    if check.get('validate_certs'):
        if chain_valid is False:
            result.add(CRITICAL, 'certificate chain does not verify: %s' % verify_error)
        if hostname_valid is False:
            name = check.get('server_name') or check.get('host')
            result.add(CRITICAL, 'certificate does not match host name %s' % name)
    return result


def probe_backup_age(check):
    """Age of the newest valid backup in a store (see backup_store.backup_age())."""
    params = _store_params(check)
    database = check.get('source_db')
    try:
        found = bs_utils.backup_age(params, database=database)
    except bs_utils.StoreError as exc:
        raise ProbeError('Could not read the backup store %s: %s' % (
            _store_label(params), _one_line(redact(exc, check))))
    age_s = found.get('age_s')
    result = ProbeResult({
        'found': bool(found.get('found')),
        'backup_id': found.get('id'),
        'created_at': found.get('created_at'),
        'age_s': None if age_s is None else round(float(age_s), 3),
        'age_h': None if age_s is None else round(float(age_s) / 3600.0, 3),
        'valid_count': found.get('valid_count'),
        'invalid_count': found.get('invalid_count'),
        'store': found.get('store'),
    })
    if not found.get('found'):
        what = 'no valid backup%s in %s' % (' of database %r' % database if database is not None else '',
                                            found.get('store'))
        if found.get('invalid_count'):
            what += ' (%d invalid or unfinished)' % found['invalid_count']
        result.add(CRITICAL, what)
    return result


def _store_params(check):
    """The store options of a backup_age check, with an S3 client bounded by the probe's timeout:
    connect and read timeouts at most the probe's timeout, and no retries."""
    params = {k: check.get(k) for k in BACKUP_STORE_OPTIONS}
    timeout = check.get('timeout', DEFAULT_TIMEOUT)
    params.update(s3_connect_timeout=max(1, int(math.ceil(min(timeout, S3_CONNECT_TIMEOUT)))),
                  s3_read_timeout=max(1, int(math.ceil(min(timeout, S3_READ_TIMEOUT)))),
                  s3_max_attempts=1)
    return params


def _store_label(params):
    """The store URL for messages (the endpoint without a userinfo password)."""
    label = str(params.get('store') or '').strip()
    if params.get('s3_endpoint_url') and label.startswith('s3://'):
        label += ' (endpoint %s)' % safe_url(params['s3_endpoint_url'])
    return label


PROBES = {
    'http': probe_http,
    'tcp': probe_tcp,
    'postgres': probe_postgres,
    'redis': probe_redis,
    'disk': probe_disk,
    'memory': probe_memory,
    'load': probe_load,
    'tls_cert': probe_tls_cert,
    'backup_age': probe_backup_age,
}


# --------------------------------------------------------------------------- registry

# Probe types that live in their own module_utils/health_<type>.py and declare a probe.ProbeType
# (see probe.py): one import at the top of this file and one entry here.
EXTRA_PROBE_TYPES = (
    health_cpu.PROBE_TYPE,
    health_log.PROBE_TYPE,
    health_mysql.PROBE_TYPE,
    health_process.PROBE_TYPE,
    health_queue.PROBE_TYPE,
    health_wal.PROBE_TYPE,
)
EXTRA_TYPES_BY_NAME = {}


def register(ptype):
    """Add a :class:`probe.ProbeType` to the tables above (at import time, from EXTRA_PROBE_TYPES)."""
    global CHECK_TYPES  # pylint: disable=global-statement
    if ptype.name in CHECK_TYPES:
        raise ValueError('health check type %s is registered twice' % ptype.name)
    CHECK_TYPES = CHECK_TYPES + (ptype.name,)
    METRICS[ptype.name] = dict(ptype.metrics)
    TYPE_OPTIONS[ptype.name] = ptype.options
    PROBES[ptype.name] = ptype.run
    if ptype.alternatives:
        ALTERNATIVE_METRICS[ptype.name] = ptype.alternatives
    EXTRA_TYPES_BY_NAME[ptype.name] = ptype


for _ptype in EXTRA_PROBE_TYPES:
    register(_ptype)


# --------------------------------------------------------------------------- runner

def run_one(check, probes=None):
    """Run and grade one check; never raises."""
    probes = PROBES if probes is None else probes
    start = time.monotonic()
    metrics = {}
    try:
        probe = probes[check['type']]
        result = probe(check)
        metrics = result.metrics
        status, reasons = grade(check['type'], metrics, check.get('_thresholds') or {}, result.findings)
        message = '; '.join(reasons) if reasons else 'ok'
    except ProbeError as exc:
        status, message = CRITICAL, str(exc)
    except Exception as exc:  # pylint: disable=broad-except
        status = CRITICAL
        message = 'Could not run %s probe: %s: %s' % (check.get('type'), type(exc).__name__, exc)
    return {
        'name': check['name'],
        'type': check['type'],
        'status': status,
        'metrics': _redact_values(metrics, check),
        'message': redact(_one_line(message), check),
        'thresholds': check.get('_thresholds') or {},
        'duration_ms': _ms(time.monotonic() - start),
    }


def _timed_out(check, elapsed):
    return {
        'name': check['name'], 'type': check['type'], 'status': CRITICAL, 'metrics': {},
        'message': 'Could not finish the %s probe: timed out after %s s' % (check['type'], _fmt(check['timeout'])),
        'thresholds': check.get('_thresholds') or {}, 'duration_ms': _ms(elapsed),
    }


def run_checks(checks, max_workers=DEFAULT_MAX_WORKERS, probes=None):
    """Run every check concurrently (at most ``max_workers`` at once); returns the report.

    Each probe runs in a daemon thread and honours its own ``timeout``.  One still running
    ``DEADLINE_GRACE`` seconds after its timeout is reported critical ("timed out") and abandoned:
    its slot goes to the next check and its thread never keeps the process alive.  So the run
    ends within ``ceil(len(checks) / max_workers) * (longest timeout + DEADLINE_GRACE)`` seconds.
    """
    start = time.monotonic()
    results = [None] * len(checks)
    workers = max(1, min(int(max_workers), len(checks) or 1))
    pending = list(range(len(checks)))[::-1]
    running = {}        # index -> (started, due)
    done = threading.Condition()

    def work(index):
        result = run_one(checks[index], probes)
        with done:
            if index in running:            # else it was abandoned: its late result is dropped
                del running[index]
                results[index] = result
                done.notify()

    with done:
        while pending or running:
            while pending and len(running) < workers:
                index = pending.pop()
                now = time.monotonic()
                running[index] = (now, now + checks[index].get('timeout', DEFAULT_TIMEOUT) + DEADLINE_GRACE)
                threading.Thread(target=work, args=(index,), name='health-probe-%d' % index, daemon=True).start()
            now = time.monotonic()
            overdue = [i for i, (dummy, due) in running.items() if due <= now]
            for index in overdue:
                started = running.pop(index)[0]
                results[index] = _timed_out(checks[index], now - started)
            if running and not overdue:
                done.wait(min(due for dummy, due in running.values()) - now)
    return {
        'status': worst(*[r['status'] for r in results]) if results else OK,
        'summary': summarize(results),
        'checks': results,
        'duration_ms': _ms(time.monotonic() - start),
    }


def is_healthy(report, fail_on):
    """Whether a report passes ``fail_on`` (the module's own rule: it fails exactly when this is false)."""
    return not failing_checks(report['checks'], fail_on)


def run_until_healthy(checks, wait_timeout=DEFAULT_WAIT_TIMEOUT, delay=DEFAULT_DELAY, fail_on='critical',
                      max_workers=DEFAULT_MAX_WORKERS, probes=None, run=None, clock=None, sleep=None):
    """Run every check (one pass of :func:`run_checks`) until the report is healthy by ``fail_on`` or
    ``wait_timeout`` seconds have passed since the first pass started; return the last pass's report plus
    ``attempts`` (passes run) and ``waited_s`` (seconds from the start of the first pass to the end of the last).

    Passes are ``delay`` seconds apart; the wait before the last pass is shortened so that it starts when
    ``wait_timeout`` is reached, and no pass starts after it.  ``wait_timeout`` 0 is one pass.  Each pass keeps
    its own deadline (every probe bounded by its timeout), so the whole call ends within ``wait_timeout`` plus
    one pass.  ``run``, ``clock`` and ``sleep`` are injectable for tests (``run(checks) -> report``).
    """
    clock = clock or time.monotonic
    sleep = sleep or time.sleep
    run = run or functools.partial(run_checks, max_workers=max_workers, probes=probes)
    start = clock()
    deadline = start + max(wait_timeout, 0)
    attempts = 0
    while True:
        report = run(checks)
        attempts += 1
        if is_healthy(report, fail_on):
            break
        remaining = deadline - clock()
        if remaining <= 0:
            break
        sleep(min(max(delay, 0), remaining))
    report = dict(report)
    report['attempts'] = attempts
    report['waited_s'] = round(clock() - start, 3)
    return report


def merge_checks(sources, default_source):
    """One probe list from ``[(source_name, checks), ...]``, concatenated in the given order, where a probe of
    any other source overrides the probe of ``default_source`` with the same name (the default is dropped,
    the overriding probe stays where it is).  A source that is None is skipped and a single dict counts as one
    probe.  Duplicate names among the other sources are kept: :func:`normalize_checks` rejects them."""
    def items(checks):
        if checks is None:
            return []
        if isinstance(checks, dict):
            return [checks]
        return list(checks)

    sources = [(name, items(checks)) for name, checks in sources]
    overriding = set()
    for name, checks in sources:
        if name != default_source:
            overriding.update(c.get('name') for c in checks if isinstance(c, dict))
    merged = []
    for name, checks in sources:
        for check in checks:
            if name == default_source and isinstance(check, dict) and check.get('name') in overriding:
                continue
            merged.append(check)
    return merged
