# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The vocabulary of a health probe, and the declaration of a probe type for ``health_check``.

``health.py`` owns the runner, the grading and the registry; every check type (the built-in ones too) lives in
its own ``module_utils/health_<type>.py`` and declares itself with :class:`ProbeType`::

    from ansible_collections.runbook.ops.plugins.module_utils import probe

    def run(check):                      # check: the normalized check (only its type's options)
        deadline = time.monotonic() + check['timeout']
        ...                              # pass probe.time_left(deadline) to every connect/read
        result = probe.ProbeResult({'latency_ms': probe.ms(elapsed), ...})
        if something_is_wrong:
            result.add(probe.CRITICAL, 'what is wrong')   # a finding that is not a threshold
        return result                    # or raise probe.ProbeError('Could not ...: cause. What to do.')

    PROBE_TYPE = probe.ProbeType(
        name='mysql', run=run,
        metrics={'latency_ms': (probe.HIGHER, probe.levels(100, 500)), 'threads': (probe.HIGHER, None)},
        options=('login_host', 'login_port'),                       # the check keys this type takes
        suboptions={'login_host': dict(type='str')},                # argspec of options new to health_check
        required=('login_host',),                                   # options this type cannot do without
        requirement=lambda checks: None,                            # or ('pymysql', import_error)
        secrets=('login_password',),                                # option values masked in every message
    )

Then register it with one loader function (holding the import) and one entry in ``health.PROBE_TYPE_FILES`` (the one list of every type,
the built-in ones included), and document the type's choice and options in ``plugins/modules/health_check.py``
(``ansible-test sanity`` compares the two).  Suboptions are shared by every type (one ``checks`` element spec):
an option another type already declares must be declared with the same spec (without defaults: apply a type's
defaults in ``run`` or ``validate``).  Messages may quote the check's secrets: the runner masks them (and
:func:`redact` does it inside a probe, before a message is cut or joined).
"""

from __future__ import annotations

import time

from ansible_collections.runbook.ops.plugins.module_utils import redaction

OK, WARNING, CRITICAL = 'ok', 'warning', 'critical'
SEVERITY = {OK: 0, WARNING: 1, CRITICAL: 2}
HIGHER, LOWER = 'higher_is_worse', 'lower_is_worse'
DEFAULT_TIMEOUT = 10.0
# a probe still running this long after its timeout is abandoned (health.run_checks) and graded critical
DEADLINE_GRACE = 2.0
# options whose values are secrets whatever the type (a type names its other secret options in ProbeType.secrets),
# and options holding URLs (their userinfo password and token query values are secrets)
SECRET_OPTIONS = ('login_password', 'password', 'aws_secret_key', 'aws_access_key')
URL_OPTIONS = ('url', 's3_endpoint_url')


def levels(warning, critical):
    """Default thresholds of a metric."""
    return {'warning': warning, 'critical': critical}


class HealthConfigError(Exception):
    """The checks option is inconsistent (the module fails before probing anything)."""


class ProbeError(Exception):
    """A probe could not run; the message is safe to show (it is redacted again by the runner)."""


class ProbeTimeout(Exception):
    """A probe's deadline passed while it was still reading."""


class ProbeResult(object):
    """What a probe measured, plus findings that are not threshold-based."""

    def __init__(self, metrics=None):
        self.metrics = metrics if metrics is not None else {}
        self.findings = []   # (status, message)

    def add(self, status, message):
        self.findings.append((status, message))


def ms(seconds):
    return round(seconds * 1000.0, 2)


def pct(part, whole):
    if not whole:
        return None
    return round(100.0 * part / whole, 2)


def fmt(number):
    """A number for a message: ``5.0`` shown as ``5``."""
    if isinstance(number, float) and number.is_integer():
        return str(int(number))
    return str(number)


def one_line(text):
    return ' '.join(str(text).split())


def secrets_of(check, names=()):
    """Every secret value a check holds: the values of :data:`SECRET_OPTIONS` and ``names``, every header value,
    and the passwords and tokens of the URLs in :data:`URL_OPTIONS`."""
    found = []
    for key in SECRET_OPTIONS + tuple(names):
        if check.get(key):
            found.append(str(check[key]))
    for value in (check.get('headers') or {}).values():
        if value not in (None, ''):
            found.append(str(value))
    for key in URL_OPTIONS:
        if check.get(key):
            found += redaction.url_secrets(check[key])
    return sorted(set(s for s in found if s))


def redact(text, check, names=()):
    """``text`` without the check's secrets (see :func:`secrets_of`) and without URL userinfo or token values."""
    return redaction.redact(text, secrets_of(check, names))


def time_left(deadline):
    """Seconds left before ``deadline`` (``time.monotonic()``); raises :class:`ProbeTimeout` when none."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise ProbeTimeout()
    return left


def merge_checks(sources, default_source):
    """One probe list from ``[(source_name, checks), ...]``, concatenated in the given order, where a probe of
    any other source overrides the probe of ``default_source`` with the same name (the default is dropped,
    the overriding probe stays where it is).  A source that is None is skipped and a single dict counts as one
    probe.  Duplicate names among the other sources are kept: ``health.normalize_checks`` rejects them."""
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


class ProbeType(object):
    """One check type of ``health_check``: its probe, its metrics and its options.

    ``metrics``: ``{metric: (HIGHER|LOWER, levels(w, c) or None)}`` (None: reported, graded only when the
    user sets thresholds).  ``options``: the check keys the type takes besides name/type/thresholds/timeout.
    ``suboptions``: argspec entries for options no other type declares yet.  ``required``: options that must be
    set.  ``requirement(checks)``: ``(library, import_error)`` when a library the type needs is missing.
    ``validate(check)``: raises :class:`HealthConfigError` for a value the argspec cannot refuse.
    ``alternatives``: metrics measuring the same thing in other units (thresholds may name only one).
    ``secrets``: option names whose values are masked in messages and metrics (besides :data:`SECRET_OPTIONS`).
    ``required_any``: one of ``required`` is enough.  ``mutually_exclusive``, ``required_by`` and
    ``required_together``: argspec rules of the type's options (they join the ``checks`` element spec).
    """

    def __init__(self, name, run, metrics, options=(), suboptions=None, required=(), requirement=None,
                 validate=None, alternatives=(), secrets=(), required_any=False, mutually_exclusive=(),
                 required_by=None, required_together=()):
        self.name = name
        self.run = run
        self.metrics = dict(metrics)
        self.options = tuple(options)
        self.suboptions = dict(suboptions or {})
        self.required = tuple(required)
        self.requirement = requirement
        self.validate = validate
        self.alternatives = tuple(alternatives)
        self.secrets = tuple(secrets)
        self.required_any = bool(required_any)
        self.mutually_exclusive = tuple(tuple(group) for group in mutually_exclusive)
        self.required_by = dict(required_by or {})
        self.required_together = tuple(tuple(group) for group in required_together)
