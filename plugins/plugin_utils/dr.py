# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules of a DR failover or rehearsal, controller side: the one owner of RTO/RPO.

``measure`` turns the raw records of a run (the phase records every host kept with the runbook.ops.phase
role, in the shape of plugin_utils/phase.py, the time the run
started, the facts of the restored backup) into the measured RTO and RPO per component;
``report`` grades the phases and the measurements against the objectives and builds the report
dict (the JSON report). Durations and timestamps are parsed here too. The filters in
plugins/filter/dr.py are thin wrappers; the renderers live in plugin_utils/dr_render.py.

Every error is a :class:`DRError` whose message starts with the name of the filter that failed.
"""

from __future__ import annotations

import datetime
import math
import re
from collections.abc import Mapping

from ansible_collections.runbook.ops.plugins.plugin_utils import phase as _phase

# The phases between the start and a healthy, verified application: the application's RTO ends
# with the last of them that ran, and only counts when none of them failed and verify_app passed.
APP_RTO_PHASES = ('database', 'files', 'app', 'switch', 'verify_db', 'verify_app')
# The phase whose end is the database's RTO (when it is ok).
DB_RTO_PHASE = 'database'
# The phase that proves the application serves what it should.
APP_VERIFY_PHASE = 'verify_app'

# The phase records are those of the private runbook.ops.phase role, in the one shape plugin_utils/phase.py owns.
STATUSES = _phase.STATUSES
_UNITS = {'w': 604800.0, 'd': 86400.0, 'h': 3600.0, 'm': 60.0, 's': 1.0}
_PART_RE = re.compile(r'\s*([0-9]+(?:\.[0-9]+)?)\s*([wdhms])', re.IGNORECASE)
_NUMBER_RE = re.compile(r'^\s*[0-9]+(?:\.[0-9]+)?\s*$')
_OBJECTIVE_KEYS = ('rto', 'rpo', 'priority', 'description')
_MEASUREMENT_KEYS = ('rto_s', 'rpo_s')
# Optional beside the figures: where the RPO comes from (measure's rpo_source), kept in the report's component.
_RPO_SOURCES = ('dump', 'wal_archive')
_HINT = "use a number of seconds or a duration such as '4h', '30m', '90s', '1h30m', '7d'"
_UTC_EXAMPLE = "'2026-01-31T02:00:00Z'"
# ISO 8601 extended form only: datetime.fromisoformat alone also takes week dates, the basic form and any
# character as the date/time separator (a NUL included).
_ISO_RE = re.compile(r'\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?(?:[Zz]|[+-]\d{2}:?\d{2})?')


class DRError(ValueError):
    """Bad input to a DR rule; the message says what and what to do."""


def _fail(msg):
    raise DRError(msg)


# ---------------------------------------------------------------------------------------------
# durations

def duration_seconds(value):
    """Seconds (float) from ``4h``, ``30m``, ``90s``, ``1h30m``, ``7d``, ``2w`` or a number.

    ``None`` and ``''`` give ``None`` (no objective / not measured).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        _fail('duration_seconds: %r is not a duration: %s.' % (value, _HINT))
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if _NUMBER_RE.match(text):
            seconds = float(text)
        else:
            seconds = 0.0
            seen = set()
            pos = 0
            for m in _PART_RE.finditer(text):
                unit = m.group(2).lower()
                if m.start() != pos or unit in seen:
                    break
                seen.add(unit)
                seconds += float(m.group(1)) * _UNITS[unit]
                pos = m.end()
            if not seen or pos != len(text):
                _fail('duration_seconds: cannot parse %r as a duration: %s (each unit once).'
                      % (value, _HINT))
    else:
        _fail('duration_seconds: %r (%s) is not a duration: %s.' % (value, type(value).__name__, _HINT))
    if math.isnan(seconds) or math.isinf(seconds):
        _fail('duration_seconds: %r is not a finite duration: %s.' % (value, _HINT))
    if seconds < 0:
        _fail('duration_seconds: %r is negative: a duration must be zero or more seconds.' % (value,))
    return seconds


def human_duration(seconds):
    """``1h 02m 03s``, ``2m 05s``, ``4.2s``, ``4h`` (trailing zero parts dropped); ``n/a`` for None."""
    if seconds is None:
        return 'n/a'
    seconds = float(seconds)
    if round(seconds, 1) < 60:
        text = '%.1f' % seconds
        if text.endswith('.0'):
            text = text[:-2]
        return text + 's'
    rest = int(round(seconds))
    parts = []
    for unit, size in (('d', 86400), ('h', 3600), ('m', 60), ('s', 1)):
        n, rest = divmod(rest, size)
        if parts or n:
            parts.append((n, unit))
    while parts and parts[-1][0] == 0:
        parts.pop()
    return ' '.join(('%d%s' % (n, u)) if i == 0 else ('%02d%s' % (n, u))
                    for i, (n, u) in enumerate(parts))


def _duration_field(value, what, who='dr_report'):
    try:
        return duration_seconds(value)
    except DRError as e:
        _fail('%s: %s: %s' % (who, what, str(e).split(': ', 1)[-1]))


# ---------------------------------------------------------------------------------------------
# timestamps

def parse_time(value, what, who='dr_report'):
    """An aware UTC datetime from an ISO 8601 string (``Z`` or an offset) or an aware datetime."""
    if isinstance(value, datetime.datetime):
        dt = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if text[-1:] in ('Z', 'z'):
            text = text[:-1] + '+00:00'
        try:
            if not _ISO_RE.fullmatch(text):
                raise ValueError(text)
            dt = datetime.datetime.fromisoformat(text)
        except ValueError:
            _fail("%s: %s %r is not an ISO 8601 timestamp: use UTC such as %s."
                  % (who, what, value, _UTC_EXAMPLE))
    else:
        _fail("%s: %s is missing or not a timestamp (%r): use ISO 8601 UTC such as %s."
              % (who, what, value, _UTC_EXAMPLE))
    if dt.tzinfo is None or dt.utcoffset() is None:
        _fail("%s: %s %r has no time zone: record UTC with 'Z' or '+00:00' "
              "(for example now(utc=true).isoformat() ~ 'Z')." % (who, what, str(value)))
    return dt.astimezone(datetime.timezone.utc)


def format_time(dt):
    """ISO 8601 UTC with ``Z``, microseconds without trailing zeros; ``None`` for None."""
    if dt is None:
        return None
    text = dt.strftime('%Y-%m-%dT%H:%M:%S')
    if dt.microsecond:
        text += ('.%06d' % dt.microsecond).rstrip('0')
    return text + 'Z'


# ---------------------------------------------------------------------------------------------
# phase records

def parse_phases(phases, who='dr_report'):
    """The phase records, checked, with ``_start``/``_end`` datetimes, sorted by start (ties keep input order)."""
    if phases is None:
        return []
    if isinstance(phases, (str, bytes, Mapping)) or not hasattr(phases, '__iter__'):
        _fail('%s: phases must be a list of phase dicts, got %s.' % (who, type(phases).__name__))
    out = []
    for index, phase in enumerate(phases):
        if not isinstance(phase, Mapping):
            _fail('%s: phase #%d must be a dict with name, started_at, ended_at and status, got %r.'
                  % (who, index + 1, phase))
        name = phase.get('name')
        if not isinstance(name, str) or not name.strip():
            _fail('%s: phase #%d has no name.' % (who, index + 1))
        label = 'phase %r' % name
        status = phase.get('status')
        if status not in STATUSES:
            _fail('%s: %s has status %r: use one of %s.' % (who, label, status, ', '.join(STATUSES)))
        started = parse_time(phase.get('started_at'), '%s started_at' % label, who)
        if status == 'skipped' and phase.get('ended_at') in (None, ''):
            ended = started
        else:
            ended = parse_time(phase.get('ended_at'), '%s ended_at' % label, who)
        if ended < started:
            _fail('%s: %s ends (%s) before it starts (%s).'
                  % (who, label, format_time(ended), format_time(started)))
        detail = phase.get('detail')
        host = phase.get('host')
        out.append({'index': index, 'name': name, 'status': status, '_start': started, '_end': ended,
                    'detail': '' if detail is None else str(detail),
                    'host': None if host in (None, '') else str(host)})
    out.sort(key=lambda p: (p['_start'], p['index']))
    return out


# ---------------------------------------------------------------------------------------------
# measurement

def _since_start(t0, when, what):
    seconds = (when - t0).total_seconds()
    if seconds < 0:
        _fail('dr_measure: %s (%s) is before the start of the run (%s): record the start first, '
              'with the same clock.' % (what, format_time(when), format_time(t0)))
    return seconds


def recovery_point(restored, who='dr_measure'):
    """(the time the restored data reaches, its source) from the facts of what the database phase restored.

    - ``method: pitr`` (the pitr role's restore): a time target's ``recovery_target`` (everything committed up to
      it is back); for a restore point or the latest, the last transaction recovery replayed (``last_replayed``,
      else the archive's ``archive_reaches``): the last archived WAL. Source ``wal_archive``.
    - a dump (``method: dump`` or none): the restored backup's ``backup_created_at``. Source ``dump`` (``None``
      when the facts name no method, as before).
    ``(None, None)`` when nothing was restored.
    """
    method = restored.get('method')
    if method not in (None, '', 'dump', 'pitr'):
        _fail("%s: the restored facts have method %r: use dump or pitr." % (who, method))
    if method == 'pitr':
        if restored.get('recovery_target_type') == 'time':
            keys = ('recovery_target',)
        else:
            keys = ('last_replayed', 'archive_reaches')
        for key in keys:
            if restored.get(key) not in (None, ''):
                return parse_time(restored[key], 'the recovered %s' % key, who), 'wal_archive'
        _fail('%s: the PITR facts have no %s: pass what runbook.ops.pitr_restore returned '
              '(recovery_target, last_replayed, plan.archive_reaches).' % (who, ' or '.join(keys)))
    if restored.get('backup_created_at') in (None, ''):
        return None, None
    created = parse_time(restored['backup_created_at'], 'the restored backup_created_at', who)
    return created, ('dump' if method == 'dump' else None)


def recovery_point_objective(restored, t0, who='dr_measure'):
    """(RPO seconds, source): the start of the run (the failure) minus the time the restored data reaches.

    A dump created after the start is a clock error. A WAL archive may reach past the start (the primary of a
    rehearsal keeps archiving): nothing committed before the failure is lost, the RPO is 0.
    """
    point, source = recovery_point(restored, who)
    if point is None:
        return None, None
    rpo = (t0 - point).total_seconds()
    if rpo < 0:
        if source == 'wal_archive':
            return 0.0, source
        _fail('%s: the restored backup was created at %s, after the start of the run (%s): check the clocks '
              'of the control node and of the backup host.' % (who, format_time(point), format_time(t0)))
    return rpo, source


def measure(phases, started_at, restored=None):
    """RTO and RPO per component from the raw records of a run.

    - database RTO: end of the first ``database`` phase (by start) minus ``started_at``, only when that
      phase is ok;
    - application RTO: end of the last phase of :data:`APP_RTO_PHASES` that was not skipped minus
      ``started_at``, only when none of them failed and ``verify_app`` is ok;
    - RPO (both components): ``started_at`` minus the time the restored data reaches
      (:func:`recovery_point`: a dump's ``backup_created_at``, or for a PITR its recovery target or last
      archived transaction); none without a restored backup.

    Returns ``{'database': {'rto_s', 'rpo_s'}, 'application': {'rto_s', 'rpo_s'}}`` (seconds or None), with
    ``rpo_source`` (``dump`` or ``wal_archive``) in both when the restored facts name their ``method``.
    """
    who = 'dr_measure'
    plist = parse_phases(phases, who)
    t0 = parse_time(started_at, 'started_at (the start of the run)', who)
    if restored is None:
        restored = {}
    if not isinstance(restored, Mapping):
        _fail('%s: the restored backup must be a dict with backup_created_at (or {} when none was restored), '
              'got %s.' % (who, type(restored).__name__))

    rpo, source = recovery_point_objective(restored, t0)

    db_rto = None
    db_phase = next((p for p in plist if p['name'] == DB_RTO_PHASE), None)
    if db_phase is not None and db_phase['status'] == 'ok':
        db_rto = _since_start(t0, db_phase['_end'], 'the end of phase %r' % DB_RTO_PHASE)

    app_rto = None
    service = [p for p in plist if p['name'] in APP_RTO_PHASES]
    app_ok = (not any(p['status'] == 'failed' for p in service)
              and any(p['name'] == APP_VERIFY_PHASE and p['status'] == 'ok' for p in service))
    if app_ok:
        done = max((p['_end'] for p in service if p['status'] != 'skipped'), default=t0)
        app_rto = _since_start(t0, done, 'the end of the last service phase')

    out = {'database': {'rto_s': db_rto, 'rpo_s': rpo},
           'application': {'rto_s': app_rto, 'rpo_s': rpo}}
    if source is not None:
        for comp in out.values():
            comp['rpo_source'] = source
    return out


# ---------------------------------------------------------------------------------------------
# grading

def _objectives(objectives):
    if objectives is None:
        return {}
    if not isinstance(objectives, Mapping):
        _fail('dr_report: objectives must be a dict {component: {rto: ..., rpo: ...}}, got %s.'
              % type(objectives).__name__)
    out = {}
    for comp, obj in objectives.items():
        if not isinstance(obj, Mapping):
            _fail('dr_report: objectives for %r must be a dict with rto and rpo, got %r.' % (comp, obj))
        unknown = sorted(str(k) for k in obj if k not in _OBJECTIVE_KEYS)
        if unknown:
            _fail('dr_report: objectives for %r have unknown keys %s: use %s.'
                  % (comp, ', '.join(unknown), ', '.join(_OBJECTIVE_KEYS)))
        if 'rto' not in obj:
            _fail('dr_report: objectives for %r have no rto: give a duration, or null for no objective.'
                  % (comp,))
        out[str(comp)] = {
            'rto': _duration_field(obj.get('rto'), 'objectives %s rto' % comp),
            'rpo': _duration_field(obj.get('rpo'), 'objectives %s rpo' % comp),
            'priority': obj.get('priority'),
        }
    return out


def _measurements(measurements):
    if measurements is None:
        return {}
    if not isinstance(measurements, Mapping):
        _fail('dr_report: measurements must be a dict {component: {rto_s: ..., rpo_s: ...}}, got %s.'
              % type(measurements).__name__)
    out = {}
    for comp, meas in measurements.items():
        if meas is None:
            meas = {}
        if not isinstance(meas, Mapping):
            _fail('dr_report: measurements for %r must be a dict with rto_s and rpo_s, got %r.' % (comp, meas))
        unknown = sorted(str(k) for k in meas if k not in _MEASUREMENT_KEYS + ('rpo_source',))
        if unknown:
            _fail('dr_report: measurements for %r have unknown keys %s: use %s.'
                  % (comp, ', '.join(unknown), ', '.join(_MEASUREMENT_KEYS)))
        source = meas.get('rpo_source')
        if source not in (None,) + _RPO_SOURCES:
            _fail('dr_report: measurements for %r have rpo_source %r: use %s.'
                  % (comp, source, ', '.join(_RPO_SOURCES)))
        out[str(comp)] = {
            'rto': _duration_field(meas.get('rto_s'), 'measurements %s rto_s' % comp),
            'rpo': _duration_field(meas.get('rpo_s'), 'measurements %s rpo_s' % comp),
            'rpo_source': source,
        }
    return out


def _verdict(comp, kind, objective, measured):
    """(met, miss message or None)."""
    if objective is None:
        return None, None
    if measured is None:
        return False, '%s %s not measured (objective %s)' % (comp, kind, human_duration(objective))
    if measured <= objective:
        return True, None
    shown = human_duration(measured)
    if shown == human_duration(objective):
        shown = '%s (%gs)' % (shown, measured)
    return False, '%s %s %s > %s' % (comp, kind, shown, human_duration(objective))


def report(phases, objectives, measurements, meta=None):
    """One DR report dict from phases, objectives and measurements (see plugins/filter/dr_report.yml)."""
    if meta is not None and not isinstance(meta, Mapping):
        _fail('dr_report: meta must be a dict, got %s.' % type(meta).__name__)
    plist = parse_phases(phases)
    objs = _objectives(objectives)
    meas = _measurements(measurements)

    start = min((p['_start'] for p in plist), default=None)
    end = max((p['_end'] for p in plist), default=None)
    out_phases = []
    for p in plist:
        out_phases.append({
            'name': p['name'], 'status': p['status'],
            'started_at': format_time(p['_start']), 'ended_at': format_time(p['_end']),
            'duration_s': (p['_end'] - p['_start']).total_seconds(),
            'offset_s': (p['_start'] - start).total_seconds(),
            'detail': p['detail'], 'host': p['host'],
        })

    components = []
    missed = []
    for comp in list(objs) + [c for c in meas if c not in objs]:
        obj = objs.get(comp, {'rto': None, 'rpo': None, 'priority': None})
        m = meas.get(comp, {'rto': None, 'rpo': None})
        rto_met, rto_miss = _verdict(comp, 'RTO', obj['rto'], m['rto'])
        rpo_met, rpo_miss = _verdict(comp, 'RPO', obj['rpo'], m['rpo'])
        missed += [msg for msg in (rto_miss, rpo_miss) if msg]
        component = {
            'name': comp, 'priority': obj['priority'],
            'rto_objective_s': obj['rto'], 'rto_s': m['rto'], 'rto_met': rto_met,
            'rpo_objective_s': obj['rpo'], 'rpo_s': m['rpo'], 'rpo_met': rpo_met,
            'ok': rto_met is not False and rpo_met is not False,
        }
        if m.get('rpo_source') is not None:
            component['rpo_source'] = m['rpo_source']
        components.append(component)

    failed = [p['name'] for p in out_phases if p['status'] == 'failed']
    return {
        'started_at': format_time(start), 'ended_at': format_time(end),
        'total_s': (end - start).total_seconds() if start is not None else 0.0,
        'ok': not failed and not missed,
        'phases': out_phases, 'components': components,
        'failed_phases': failed, 'missed_objectives': missed,
        'meta': dict(meta or {}),
    }
