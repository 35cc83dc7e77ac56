# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``http`` check type of health_check: one request graded on its latency, status, body and JSON, or
``samples`` requests (``concurrency`` at a time) graded on latency percentiles and the error rate.

The check's one ``timeout`` bounds everything: every connect and read gets the time left, and a body is read
against the deadline (:func:`read_body`), so a server that trickles its answer cannot hold the probe.
``user:password@`` in the URL is sent as HTTP basic auth; the runner masks it in every message.
"""

from __future__ import annotations

import json
import math
import re
import socket
import threading
import time
from urllib.parse import unquote, urlsplit, urlunsplit

from ansible_collections.runbook.ops.plugins.module_utils import probe
from ansible_collections.runbook.ops.plugins.module_utils import redaction

# ssl, http.client and urllib.request (with email) are imported by the functions that send a request: every
# health_check run imports this file to build its argspec, and a run without an http probe never needs them
# (bench/fleet measures that start-up per host).  AnsiballZ ships them all the same (they are stdlib).

HTTP_METHODS = ('GET', 'HEAD', 'OPTIONS', 'POST')


MAX_BODY_BYTES = 1024 * 1024


def url_credentials(url):
    """``(url without userinfo, Authorization header value or None)``: ``user:pass@`` in an http(s) URL
    (percent-encoded as in any URL) is sent as HTTP basic auth, never taken as part of the host name."""
    parts = urlsplit(url)
    if '@' not in parts.netloc:
        return url, None
    userinfo, host = parts.netloc.rsplit('@', 1)
    user, dummy, password = userinfo.partition(':')
    return (urlunsplit((parts.scheme, host, parts.path, parts.query, parts.fragment)),
            redaction.basic_auth_header(unquote(user), unquote(password)))


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
    import ssl
    from urllib.request import HTTPSHandler, ProxyHandler, build_opener

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


def read_body(response, deadline, limit=MAX_BODY_BYTES):
    """Up to ``limit`` bytes of an HTTP response body, read before ``deadline`` (``time.monotonic()``).

    Each read waits at most the time left (the socket timeout is lowered before every read), so a
    server that trickles the body cannot hold the probe past its timeout.  Raises :class:`probe.ProbeTimeout`.
    """
    sock = getattr(getattr(getattr(response, 'fp', None), 'raw', None), '_sock', None)
    chunks, size = [], 0
    while size < limit:
        left = probe.time_left(deadline)
        if sock is not None:
            try:
                sock.settimeout(left)
            except OSError:
                pass
        try:
            chunk = response.read1(min(64 * 1024, limit - size))
        except socket.timeout:
            raise probe.ProbeTimeout()
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b''.join(chunks)


def _http_request(check):
    """``(opener, request, method, shown)`` for an http check: built before any clock starts."""
    import ssl
    from urllib.request import Request

    shown = redaction.safe_url(check['url'])
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
        raise probe.ProbeError('Could not prepare %s %s: %s' % (method, shown, probe.redact(exc, check)))
    return opener, request, method, shown


def _http_once(check, opener, request, deadline):
    """One request: ``(status_code, body, elapsed_s)``; raises :class:`probe.ProbeError` when no answer came."""
    import ssl
    from http.client import HTTPException
    from urllib.error import HTTPError, URLError

    method = request.get_method()
    shown = redaction.safe_url(check['url'])
    start = time.monotonic()
    status_code = None
    body = b''
    try:
        try:
            with opener.open(request, timeout=probe.time_left(deadline)) as response:
                status_code = response.getcode()
                body = read_body(response, deadline) if method != 'HEAD' else b''
        except HTTPError as exc:
            status_code = exc.code
            try:
                body = read_body(getattr(exc, 'fp', None) or exc, deadline)
            except probe.ProbeTimeout:
                raise
            except Exception:  # pylint: disable=broad-except
                body = b''
            finally:
                exc.close()
    except probe.ProbeTimeout:
        raise probe.ProbeError('Could not request %s %s: timed out after %s s' % (method, shown, probe.fmt(check['timeout'])))
    except (URLError, socket.timeout, OSError, ValueError, ssl.SSLError, HTTPException) as exc:
        reason = getattr(exc, 'reason', exc)
        raise probe.ProbeError('Could not request %s %s: %s' % (method, shown, probe.redact(reason, check)))
    return status_code, body, time.monotonic() - start


def percentile(values, q):
    """The nearest-rank ``q``-th percentile (0 < q <= 100) of ``values`` (None when empty)."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, int(math.ceil(q / 100.0 * len(ordered))))
    return ordered[rank - 1]


def run(check):
    if int(check.get('samples') or 1) > 1:
        return _probe_http_samples(check)
    opener, request, dummy, dummy = _http_request(check)
    deadline = time.monotonic() + check['timeout']
    status_code, body, elapsed = _http_once(check, opener, request, deadline)
    result = probe.ProbeResult({'status_code': status_code, 'latency_ms': probe.ms(elapsed), 'bytes': len(body)})
    _check_answer(check, status_code, body, result)
    return result


def _check_answer(check, status_code, body, result):
    expect_status = check.get('expect_status') or [200]
    if status_code not in expect_status:
        result.add(probe.CRITICAL, 'status %s not in expected %s' % (status_code, expect_status))
    text = body.decode('utf-8', 'replace')
    if check.get('expect_body') is not None:
        matched = check['expect_body'] in text
        result.metrics['body_match'] = matched
        if not matched:
            result.add(probe.CRITICAL, 'body does not contain %r' % check['expect_body'])
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
            except probe.ProbeError as exc:
                outcomes[index] = exc

    threads = [threading.Thread(target=worker, name='health-http-sample-%d' % i, daemon=True)
               for i in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0) + probe.DEADLINE_GRACE / 2)
    answered = [o for o in outcomes if isinstance(o, tuple)]
    failures = [o for o in outcomes if not isinstance(o, tuple)]
    bad_status = [o for o in answered if o[0] not in expect_status]
    latencies = [o[2] for o in answered]
    errors = len(failures) + len(bad_status)
    result = probe.ProbeResult({
        'requests': samples,
        'errors': errors,
        'error_rate_pct': probe.pct(errors, samples),
        'latency_ms': probe.ms(percentile(latencies, 50)) if latencies else None,
        'p50_ms': probe.ms(percentile(latencies, 50)) if latencies else None,
        'p95_ms': probe.ms(percentile(latencies, 95)) if latencies else None,
        'p99_ms': probe.ms(percentile(latencies, 99)) if latencies else None,
        'status_codes': dict((str(code), sum(1 for o in answered if o[0] == code))
                             for code in sorted(set(o[0] for o in answered))),
    })
    if not answered:
        first = next((o for o in failures if isinstance(o, probe.ProbeError)), None)
        shown = first or 'Could not request %s' % redaction.safe_url(check['url'])
        raise probe.ProbeError('%s (all %d requests failed)' % (shown, samples))
    good = [o for o in answered if o[0] in expect_status]
    if not good:
        result.add(probe.CRITICAL, 'no request got an expected status %s: %s' % (expect_status, result.metrics['status_codes']))
    else:
        checked = probe.ProbeResult(result.metrics)
        _check_answer(check, good[0][0], good[0][1], checked)
        result.findings.extend(checked.findings)
    return result


def _match_json(text, expect, result):
    try:
        document = json.loads(text)
    except ValueError:
        result.add(probe.CRITICAL, 'body is not JSON')
        return False
    expectations = {expect: None} if isinstance(expect, str) else expect
    matched = True
    for path, wanted in expectations.items():
        found, value = json_path(document, str(path))
        if not found:
            result.add(probe.CRITICAL, 'JSON path %s not found' % path)
            matched = False
        elif not isinstance(expect, str) and value != wanted:
            shown, expected = json.dumps(value)[:200], json.dumps(wanted)[:200]
            result.add(probe.CRITICAL, 'JSON path %s is %s, expected %s' % (path, shown, expected))
            matched = False
    return matched


def validate(check):
    name = check['name']
    try:
        scheme = urlsplit(check['url']).scheme.lower()
    except ValueError as exc:
        raise probe.HealthConfigError("check '%s': url is not valid: %s" % (name, exc))
    if scheme not in ('http', 'https'):
        raise probe.HealthConfigError("check '%s': url must start with http:// or https://, got scheme %r"
                                      % (name, scheme))
    for key in ('samples', 'concurrency'):
        if check.get(key) is not None and not 1 <= check[key] <= 10000:
            raise probe.HealthConfigError("check '%s': %s must be between 1 and 10000, got %s"
                                          % (name, key, check[key]))
    expect = check.get('expect_json')
    if expect is not None and not isinstance(expect, (str, dict)):
        raise probe.HealthConfigError("check '%s': expect_json must be a JSON path (string) or a mapping of "
                                      "JSON path -> expected value" % name)


PROBE_TYPE = probe.ProbeType(
    name='http', run=run,
    metrics={
        'latency_ms': (probe.HIGHER, probe.levels(100, 1000)),
        # with samples > 1 (seed 003: p95 500 / 1000 ms; seed 000: error rate 1 / 5 %)
        'p50_ms': (probe.HIGHER, None),
        'p95_ms': (probe.HIGHER, probe.levels(500, 1000)),
        'p99_ms': (probe.HIGHER, None),
        'error_rate_pct': (probe.HIGHER, probe.levels(1, 5)),
    },
    options=('url', 'method', 'expect_status', 'expect_body', 'expect_json', 'headers', 'validate_certs',
             'ca_cert', 'use_proxy', 'samples', 'concurrency'),
    suboptions={
        'url': dict(type='str'),
        'method': dict(type='str', choices=list(HTTP_METHODS)),
        'expect_status': dict(type='list', elements='int'),
        'expect_body': dict(type='str'),
        'expect_json': dict(type='raw'),
        'headers': dict(type='dict', no_log=True),
        'validate_certs': dict(type='bool'),
        'ca_cert': dict(type='path'),
        'use_proxy': dict(type='bool'),
        'samples': dict(type='int'),
        'concurrency': dict(type='int'),
    },
    required=('url',),
    validate=validate,
)
