# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The runner, the grading and the probe-type registry behind ``health_check``.

Every check type lives in its own ``module_utils/health_<type>.py`` and declares a :class:`probe.ProbeType`
(its probe, metrics, options, requirements); :data:`PROBE_TYPE_FILES` lists them all, the built-in ones first,
and :func:`register` joins each to the argspec, the validation and the grading here.  A type file is imported
when first needed: a ``health_check`` run imports only the files of its checks' types (:func:`load_types_for`).  A probe is a function
``run(check) -> ProbeResult`` that measures a target and returns its metrics, plus any "hard" findings (an
HTTP status that was not expected, an expired certificate).  It raises :class:`ProbeError` when it cannot run
at all.  :func:`run_checks` runs the probes in a thread pool, never lets an exception escape, grades every
numeric metric against its thresholds and builds the report; :func:`run_until_healthy` repeats such passes
until the report passes ``fail_on`` or ``wait_timeout`` has passed.  Everything here is read-only.

A probe's ``timeout`` bounds the whole probe: the probes pass the time left to every
connect and read (an HTTP body is read against a deadline), and the runner abandons a
probe still running ``DEADLINE_GRACE`` seconds after its timeout (its daemon thread never
keeps the process alive) and grades it critical.  Every message and metric a probe
reports goes through :func:`redact`: the check's secrets and the userinfo and token
query values of any URL are masked.
"""

from __future__ import annotations

import functools
import math
import sys
import threading
import time
import types

from ansible_collections.runbook.ops.plugins.module_utils import probe as probe_base
from ansible_collections.runbook.ops.plugins.module_utils import redaction

# The probe vocabulary is probe.py's (shared with every probe type).
OK, WARNING, CRITICAL = probe_base.OK, probe_base.WARNING, probe_base.CRITICAL
SEVERITY = probe_base.SEVERITY
FAIL_ON = ('critical', 'warning', 'never')
HIGHER, LOWER = probe_base.HIGHER, probe_base.LOWER
DEFAULT_TIMEOUT = probe_base.DEFAULT_TIMEOUT
DEFAULT_MAX_WORKERS = 10
# run_until_healthy: one pass by default; seconds between passes when waiting
DEFAULT_WAIT_TIMEOUT = 0
DEFAULT_DELAY = 5
# a probe still running this long after its timeout is abandoned and graded critical
DEADLINE_GRACE = probe_base.DEADLINE_GRACE

# The registry tables, filled by register() from the probe types of PROBE_TYPE_FILES (see "registry" below): the
# check types, every metric a type may be graded on (its direction and its default thresholds; None: measured and
# reported, graded only when the user sets thresholds; defaults come from the threshold tables of the runbooks in
# shared/seeds), the options each type takes, its probe, and the metrics that measure the same thing in other
# units (thresholds may name only one of them, and naming one drops the defaults of the others).  They are built
# when first used: CHECK_TYPES, METRICS, TYPE_OPTIONS, PROBES, ALTERNATIVE_METRICS, EXTRA_PROBE_TYPES and
# EXTRA_TYPES_BY_NAME, read as attributes of this module, hold every type (reading one imports every type file);
# a module run that called load_types_for() uses the tables of its own types until then.
REGISTRY_TABLES = ('CHECK_TYPES', 'METRICS', 'TYPE_OPTIONS', 'PROBES', 'ALTERNATIVE_METRICS', 'EXTRA_PROBE_TYPES',
                   'EXTRA_TYPES_BY_NAME')
COMMON_OPTIONS = ('name', 'type', 'thresholds', 'timeout')

HealthConfigError = probe_base.HealthConfigError
ProbeError = probe_base.ProbeError
ProbeTimeout = probe_base.ProbeTimeout
ProbeResult = probe_base.ProbeResult


# --------------------------------------------------------------------------- argspec

def check_suboptions():
    """Suboptions of one element of ``checks``: the union of every type's options (without defaults: in the
    union a default would leak into checks of other types; each type applies its own)."""
    reg = _registry()
    opts = dict(
        name=dict(type='str', required=True),
        type=dict(type='str', required=True, choices=list(reg.CHECK_TYPES)),
        thresholds=dict(type='dict'),
        timeout=dict(type='float', default=DEFAULT_TIMEOUT),
    )
    for ptype in reg.EXTRA_PROBE_TYPES:
        for key, spec in ptype.suboptions.items():
            spec = {k: v for k, v in spec.items() if k not in ('default', 'required')}
            if key in opts and opts[key] != spec:
                raise HealthConfigError('probe type %s declares option %s as %r, but it is already %r: declare '
                                        'it the same way (without a default)' % (ptype.name, key, spec, opts[key]))
            opts[key] = spec
    return opts


def argument_spec():
    required_if, mutually_exclusive, required_by, required_together = [], [], {}, []
    for ptype in _registry().EXTRA_PROBE_TYPES:
        if ptype.required:
            required_if.append(('type', ptype.name, ptype.required, True) if ptype.required_any
                               else ('type', ptype.name, ptype.required))
        mutually_exclusive += [group for group in ptype.mutually_exclusive if group not in mutually_exclusive]
        required_by.update(ptype.required_by)
        required_together += [group for group in ptype.required_together if group not in required_together]
    return dict(
        checks=dict(
            type='list', elements='dict', required=True, options=check_suboptions(),
            required_if=required_if,
            mutually_exclusive=mutually_exclusive,
            required_by=required_by,
            required_together=required_together,
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
    reg = _registry()
    known = reg.METRICS.get(check_type, {})
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
    alternatives = reg.ALTERNATIVE_METRICS.get(check_type, ())
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
    reg = _registry()
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
        allowed = set(COMMON_OPTIONS) | set(reg.TYPE_OPTIONS.get(ctype, ()))
        foreign = sorted(k for k, v in check.items() if v is not None and k not in allowed
                         and not (k == 'thresholds' and not v))
        if foreign:
            raise HealthConfigError("check '%s' (type %s) does not take option(s) %s; options for %s: %s"
                                    % (name, ctype, ', '.join(foreign), ctype,
                                       ', '.join(sorted(reg.TYPE_OPTIONS.get(ctype, ()))) or 'none'))
        timeout = _number(check.get('timeout') if check.get('timeout') is not None else DEFAULT_TIMEOUT,
                          "check '%s': timeout" % name)
        if timeout <= 0:
            raise HealthConfigError("check '%s': timeout must be above 0, got %s" % (name, check.get('timeout')))
        if check.get('port') is not None and not 0 < check['port'] < 65536:
            raise HealthConfigError("check '%s': port must be between 1 and 65535, got %s" % (name, check['port']))
        new = {k: v for k, v in check.items() if k in allowed and v is not None}
        new['timeout'] = timeout
        if ctype in reg.EXTRA_TYPES_BY_NAME and reg.EXTRA_TYPES_BY_NAME[ctype].validate:
            reg.EXTRA_TYPES_BY_NAME[ctype].validate(new)
        new['_thresholds'] = normalize_thresholds(ctype, check.get('thresholds'), name)
        normalized.append(new)
    return normalized


def check_requirements(checks):
    """``(library, import_error)`` for the first missing library that the checks need, else None."""
    for ptype in _registry().EXTRA_PROBE_TYPES:
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


_fmt = probe_base.fmt


def grade_metrics(check_type, metrics, thresholds):
    """Grade every metric that has thresholds: ``(status, [reason, ...])``.

    The status is the worst of all metrics, whatever their order: a critical metric is never
    hidden by an ok or warning metric graded after it."""
    status = OK
    reasons = []
    known = _registry().METRICS.get(check_type, {})
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


_one_line = probe_base.one_line


# --------------------------------------------------------------------------- secrets

# The one redaction helper (module_utils/redaction.py) owns the masking rules; these names stay for callers.
MASK = redaction.MASK
URL_OPTIONS = probe_base.URL_OPTIONS
safe_url = redaction.safe_url
redact_urls = redaction.redact_urls


def secrets_of(check):
    """Every secret value a check holds (passwords, header values, URL passwords and tokens, and the values of
    the options its type declares secret)."""
    extra = _registry().EXTRA_TYPES_BY_NAME.get(check.get('type'))
    return probe_base.secrets_of(check, extra.secrets if extra else ())


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


# --------------------------------------------------------------------------- registry

# Every probe type lives in its own module_utils/health_<type>.py declaring a probe.ProbeType (see probe.py): one
# loader below (a function holding the import: the type file is imported only when a run uses the type, while
# AnsiballZ, whose dependency finder reads every import statement of this file, function bodies included, ships
# every type file) and one entry in PROBE_TYPE_FILES.  The built-in types come first (the order of the choices).
# pylint: disable=import-outside-toplevel

def _health_http():
    from ansible_collections.runbook.ops.plugins.module_utils import health_http
    return health_http.PROBE_TYPE


def _health_tcp():
    from ansible_collections.runbook.ops.plugins.module_utils import health_tcp
    return health_tcp.PROBE_TYPE


def _health_postgres():
    from ansible_collections.runbook.ops.plugins.module_utils import health_postgres
    return health_postgres.PROBE_TYPE


def _health_redis():
    from ansible_collections.runbook.ops.plugins.module_utils import health_redis
    return health_redis.PROBE_TYPE


def _health_disk():
    from ansible_collections.runbook.ops.plugins.module_utils import health_disk
    return health_disk.PROBE_TYPE


def _health_memory():
    from ansible_collections.runbook.ops.plugins.module_utils import health_memory
    return health_memory.PROBE_TYPE


def _health_load():
    from ansible_collections.runbook.ops.plugins.module_utils import health_load
    return health_load.PROBE_TYPE


def _health_tls():
    from ansible_collections.runbook.ops.plugins.module_utils import health_tls
    return health_tls.PROBE_TYPE


def _health_backup_age():
    from ansible_collections.runbook.ops.plugins.module_utils import health_backup_age
    return health_backup_age.PROBE_TYPE


def _health_cpu():
    from ansible_collections.runbook.ops.plugins.module_utils import health_cpu
    return health_cpu.PROBE_TYPE


def _health_log():
    from ansible_collections.runbook.ops.plugins.module_utils import health_log
    return health_log.PROBE_TYPE


def _health_mysql():
    from ansible_collections.runbook.ops.plugins.module_utils import health_mysql
    return health_mysql.PROBE_TYPE


def _health_process():
    from ansible_collections.runbook.ops.plugins.module_utils import health_process
    return health_process.PROBE_TYPE


def _health_queue():
    from ansible_collections.runbook.ops.plugins.module_utils import health_queue
    return health_queue.PROBE_TYPE


def _health_wal():
    from ansible_collections.runbook.ops.plugins.module_utils import health_wal
    return health_wal.PROBE_TYPE


PROBE_TYPE_FILES = (
    ('http', _health_http),
    ('tcp', _health_tcp),
    ('postgres', _health_postgres),
    ('redis', _health_redis),
    ('disk', _health_disk),
    ('memory', _health_memory),
    ('load', _health_load),
    ('tls_cert', _health_tls),
    ('backup_age', _health_backup_age),
    ('cpu', _health_cpu),
    ('log', _health_log),
    ('mysql', _health_mysql),
    ('process', _health_process),
    ('queue', _health_queue),
    ('wal_archive', _health_wal),
)
TYPE_NAMES = tuple(name for name, dummy in PROBE_TYPE_FILES)
_run_tables = None       # the tables of the types load_types() loaded for one run, until every type is loaded


def _registry():
    """The registry tables to use: this module (every type; the first read imports them all, see __getattr__)
    once every type is loaded or when no run chose its types, else the tables of the run's types."""
    if _run_tables is not None and 'EXTRA_PROBE_TYPES' not in globals():
        return _run_tables
    return sys.modules[__name__]


def __getattr__(name):
    """The registry tables, built with every type on first read."""
    if name in REGISTRY_TABLES:
        load_types()
        return globals()[name]
    raise AttributeError('module %s has no attribute %s' % (__name__, name))


def _add(tables, ptype):
    if ptype.name in tables.CHECK_TYPES:
        raise ValueError('health check type %s is registered twice' % ptype.name)
    tables.CHECK_TYPES = tables.CHECK_TYPES + (ptype.name,)
    tables.METRICS[ptype.name] = dict(ptype.metrics)
    tables.TYPE_OPTIONS[ptype.name] = ptype.options
    tables.PROBES[ptype.name] = ptype.run
    if ptype.alternatives:
        tables.ALTERNATIVE_METRICS[ptype.name] = ptype.alternatives
    tables.EXTRA_TYPES_BY_NAME[ptype.name] = ptype


def register(ptype):
    """Add a :class:`probe.ProbeType` to the tables of every type (load_types() adds the registered ones)."""
    _add(sys.modules[__name__], ptype)


def load_types(names=None):
    """Import the type files of ``names`` (the types of one run's checks), or of every registered type when None,
    and build the registry tables from them, in the order of PROBE_TYPE_FILES.  With ``names`` every type stays a
    choice of the argspec (an unknown type gets the same error) and the tables are used until every type is
    loaded; loading every type is done once."""
    global _run_tables  # pylint: disable=global-statement
    if 'EXTRA_PROBE_TYPES' in globals():
        return
    ptypes = []
    for name, loader in PROBE_TYPE_FILES:
        if names is None or name in names:
            ptype = loader()
            if ptype.name != name:
                raise ValueError('health check type %s is registered under the name %s' % (ptype.name, name))
            ptypes.append(ptype)
    tables = types.SimpleNamespace(CHECK_TYPES=(), METRICS={}, TYPE_OPTIONS={}, PROBES={}, ALTERNATIVE_METRICS={},
                                   EXTRA_PROBE_TYPES=tuple(ptypes), EXTRA_TYPES_BY_NAME={})
    for ptype in ptypes:
        _add(tables, ptype)
    if names is None:
        globals().update(vars(tables))
        _run_tables = None
    else:
        tables.CHECK_TYPES = TYPE_NAMES
        _run_tables = tables


def load_types_for(params):
    """Load the probe types the ``checks`` of a module's raw arguments (``basic._load_params()``) use, when the
    argspec of those types judges them exactly as the argspec of every type would: every check is a mapping of a
    registered type, and every option it names is one its type takes (or a common one) and one these types
    declare (a type may take an option whose spec another type declares, like mysql's login_host), so that no
    option, rule or choice of another type could apply.  Otherwise (or without arguments) load every type."""
    checks = params.get('checks') if isinstance(params, dict) else None
    if not (isinstance(checks, list) and checks and
            all(isinstance(c, dict) and isinstance(c.get('type'), str) and c['type'] in TYPE_NAMES for c in checks)):
        load_types()
        return
    load_types(set(c['type'] for c in checks))
    reg = _registry()
    declared = set(check_suboptions())
    for check in checks:
        if set(check) - (set(COMMON_OPTIONS) | set(reg.TYPE_OPTIONS.get(check['type'], ()))) or set(check) - declared:
            load_types()
            return


# --------------------------------------------------------------------------- runner

def run_one(check, probes=None):
    """Run and grade one check; never raises."""
    probes = _registry().PROBES if probes is None else probes
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
        'duration_ms': probe_base.ms(time.monotonic() - start),
    }


def _timed_out(check, elapsed):
    return {
        'name': check['name'], 'type': check['type'], 'status': CRITICAL, 'metrics': {},
        'message': 'Could not finish the %s probe: timed out after %s s' % (check['type'], _fmt(check['timeout'])),
        'thresholds': check.get('_thresholds') or {}, 'duration_ms': probe_base.ms(elapsed),
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
        'duration_ms': probe_base.ms(time.monotonic() - start),
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


# The rule lives in probe.py (the health filters import only that light module); the name stays for callers.
merge_checks = probe_base.merge_checks
