# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the maintenance role: window guard, per-database summaries, the weekly report."""

from __future__ import annotations

import datetime
import json

from ansible.errors import AnsibleFilterError
from ansible_collections.runbook.ops.plugins.plugin_utils.markdown import md_cell
from ansible_collections.runbook.ops.plugins.plugin_utils.phase import PhaseError, check_records

try:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError
except ImportError:  # pragma: no cover - Python < 3.9 on the controller
    ZoneInfo = None
    ZoneInfoNotFoundError = Exception

DAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']
FULL_DAYS = dict(zip(['monday', 'tuesday', 'wednesday', 'thursday', 'friday', 'saturday', 'sunday'], DAYS))


def _minutes(text, what):
    try:
        hh, mm = str(text).strip().split(':')
        value = int(hh) * 60 + int(mm)
    except ValueError:
        raise AnsibleFilterError('maintenance_window.%s must be "HH:MM", got %r' % (what, text))
    if not 0 <= int(hh) <= 24 or not 0 <= int(mm) < 60 or value > 24 * 60:
        raise AnsibleFilterError('maintenance_window.%s must be "HH:MM" between 00:00 and 24:00, got %r'
                                 % (what, text))
    return value


def _now(now, tzname):
    if ZoneInfo is None:
        raise AnsibleFilterError('maintenance_window needs Python >= 3.9 (zoneinfo) on the control node')
    try:
        tz = ZoneInfo(tzname)
    except (ZoneInfoNotFoundError, ValueError):
        raise AnsibleFilterError('maintenance_window.timezone %r is not a known IANA time zone (e.g. UTC, '
                                 'Europe/Paris)' % tzname)
    if now in (None, ''):
        current = datetime.datetime.now(datetime.timezone.utc)
    else:
        try:
            current = datetime.datetime.fromisoformat(str(now).replace('Z', '+00:00'))
        except ValueError:
            raise AnsibleFilterError('now must be an ISO 8601 time, got %r' % now)
        if current.tzinfo is None:
            current = current.replace(tzinfo=datetime.timezone.utc)
    return current.astimezone(tz)


def maintenance_window_check(window, now=None, override_reason=''):
    """Is ``now`` inside ``window`` ({days, start, end, timezone})? An empty window is always open.

    ``end <= start`` wraps past midnight (the days name the day the window opens); ``start == end``
    is the whole day. Returns {allowed, inside, overridden, now, window, message}.
    """
    window = dict(window or {})
    reason = str(override_reason or '').strip()
    if not window:
        return {'allowed': True, 'inside': True, 'overridden': False, 'now': None, 'window': 'always',
                'message': 'no maintenance window configured: always allowed'}
    unknown = set(window) - {'days', 'start', 'end', 'timezone'}
    if unknown:
        raise AnsibleFilterError('maintenance_window has unknown keys %s (use days, start, end, timezone)'
                                 % ', '.join(sorted(unknown)))
    names = [str(d).strip().lower() for d in (window.get('days') or [])]
    days = [FULL_DAYS.get(d, d) for d in names]
    bad = [d for d in days if d not in DAYS]
    if bad:
        raise AnsibleFilterError('maintenance_window.days must be among %s, got %s' % (', '.join(DAYS), bad))
    start = _minutes(window.get('start', '00:00'), 'start')
    end = _minutes(window.get('end', '24:00'), 'end')
    tzname = str(window.get('timezone') or 'UTC')
    local = _now(now, tzname)
    minute = local.hour * 60 + local.minute
    today = DAYS[local.weekday()]
    yesterday = DAYS[(local.weekday() - 1) % 7]
    allowed_days = days or DAYS
    if start == end or (start == 0 and end == 24 * 60):
        inside = today in allowed_days
    elif start < end:
        inside = today in allowed_days and start <= minute < end
    else:
        inside = (today in allowed_days and minute >= start) or (yesterday in allowed_days and minute < end)
    text = '%s %s-%s %s' % (','.join(days) if days else 'every day', window.get('start', '00:00'),
                            window.get('end', '24:00'), tzname)
    stamp = local.strftime('%a %Y-%m-%d %H:%M %Z')
    if inside:
        message = 'inside the maintenance window (%s): it is %s' % (text, stamp)
    elif reason:
        message = 'outside the maintenance window (%s): it is %s; overridden: %s' % (text, stamp, reason)
    else:
        message = ('Refusing to run maintenance outside the maintenance window (%s): it is %s. Wait for the '
                   'window, or set maintenance_override_reason to say why it must run now.' % (text, stamp))
    return {'allowed': inside or bool(reason), 'inside': inside, 'overridden': (not inside) and bool(reason),
            'now': local.isoformat(), 'window': text, 'message': message}


def maintenance_pick(data, keys):
    """The ``keys`` of ``data`` that it has (a small select for module results)."""
    data = data or {}
    return dict((k, data[k]) for k in keys if k in data)


def _total(rows, key):
    values = [r.get(key) for r in rows or [] if isinstance(r, dict) and r.get(key) is not None]
    return sum(values) if values else None


def maintenance_db_summary(result):
    """One database's line of the report from a looped runbook.ops.db_maintenance result."""
    result = result or {}
    db = (result.get('_maintenance_db') or {}).get('name', result.get('db'))
    tables = result.get('tables') or []
    indexes = result.get('indexes') or []
    terminated = result.get('terminated') or []
    return {
        'db': db,
        'changed': bool(result.get('changed')),
        'skipped': result.get('skipped'),
        'standby': result.get('standby'),
        'msg': result.get('msg', ''),
        'duration_s': result.get('duration_s'),
        'actions': result.get('actions') or [],
        'plan': result.get('plan') or [],
        'tables': tables,
        'indexes': indexes,
        'terminated': terminated,
        'totals': {
            'size_bytes_before': _total(tables, 'size_bytes_before'),
            'size_bytes_after': _total(tables, 'size_bytes_after'),
            'dead_tuples_before': _total(tables, 'dead_tuples_before'),
            'dead_tuples_after': _total(tables, 'dead_tuples_after'),
            'index_bytes_before': _total(indexes, 'size_bytes_before'),
            'index_bytes_after': _total(indexes, 'size_bytes_after'),
            'reindexed': len([i for i in indexes if isinstance(i, dict) and i.get('reindexed')]),
            'terminated': len(terminated),
        },
    }


def _json(value):
    try:
        return json.dumps(value, sort_keys=True, default=str)
    except (TypeError, ValueError):
        return repr(value)


# The report's title of each phase of the window.
PHASE_TITLES = {
    'window': 'maintenance window guard',
    'backup': 'full backup',
    'vacuum': 'vacuum/analyze',
    'reindex': 'reindex over threshold',
    'cache': 'cache cleanup',
    'logs': 'log cleanup',
    'integrity': 'data integrity checks',
}


def _report_phases(records, details, host):
    """The report's phases from the raw records (the one shape of plugin_utils/phase.py) and the details
    each phase left (``{phase name: dict}``): ``error`` is a failed record's detail, a skipped phase's
    ``details.reason`` its detail."""
    try:
        checked = check_records(records, 'maintenance_report')
    except PhaseError as e:
        raise AnsibleFilterError('%s (host %s)' % (e, host))
    if details is not None and not isinstance(details, dict):
        raise AnsibleFilterError('maintenance_report: the details of host %s must be a dict {phase: details}, got %s'
                                 % (host, type(details).__name__))
    out = []
    for rec in checked:
        name = rec['name']
        extra = dict((details or {}).get(name) or {})
        if rec['status'] == 'skipped':
            extra['reason'] = rec['detail']
        out.append({
            'name': name, 'title': PHASE_TITLES.get(name, name), 'host': rec.get('host'), 'status': rec['status'],
            'started_at': rec['started_at'], 'ended_at': rec['ended_at'], 'duration_s': rec['duration_s'],
            'detail': rec['detail'], 'error': rec['detail'] if rec['status'] == 'failed' else '', 'details': extra,
        })
    return out


def _host_summary(phases):
    by = dict((p.get('name'), p) for p in phases)
    summary = {}
    backups = (by.get('backup', {}).get('details') or {}).get('backups') or []
    summary['backups'] = len([b for b in backups if b.get('backup_id')])
    wanted = {'vacuum': ('dead_tuples_before', 'dead_tuples_after', 'size_bytes_before', 'size_bytes_after',
                         'terminated'),
              'reindex': ('index_bytes_before', 'index_bytes_after', 'reindexed')}
    for name, keys in wanted.items():
        dbs = (by.get(name, {}).get('details') or {}).get('databases') or []
        for key in keys:
            values = [(d.get('totals') or {}).get(key) for d in dbs]
            values = [v for v in values if v is not None]
            if values:
                summary['%s_%s' % (name, key)] = sum(values)
    cache = by.get('cache', {}).get('details') or {}
    if cache.get('patterns') is not None:
        summary['cache_keys_deleted'] = sum(int(p.get('deleted') or 0) for p in cache['patterns'])
        summary['cache_keys_matched'] = sum(int(p.get('matched') or 0) for p in cache['patterns'])
    logs = by.get('logs', {}).get('details') or {}
    if logs.get('dirs') is not None:
        summary['logs_deleted_count'] = sum(int(d.get('deleted_count') or 0) for d in logs['dirs'])
        summary['logs_deleted_bytes'] = sum(int(d.get('deleted_bytes') or 0) for d in logs['dirs'])
    integrity = by.get('integrity', {}).get('details') or {}
    if integrity.get('assertions') is not None:
        summary['assertions_passed'] = len([a for a in integrity['assertions'] if a.get('ok')])
        summary['assertions_failed'] = len([a for a in integrity['assertions'] if not a.get('ok')])
        summary['row_count_tables_off'] = len([t for d in integrity.get('row_counts') or []
                                               for t in d.get('tables') or [] if not t.get('ok')])
    return summary


def maintenance_report(host_results, hosts=None, generated_at='', check_mode=False):
    """The weekly report from ``{host: {phases, details, window}}``; a host without phases is reported failed.

    ``phases`` are the host's raw phase records (``phase_records`` of the runbook.ops.phase role),
    ``details`` what each phase left for the report by phase name.
    """
    host_results = dict(host_results or {})
    names = list(hosts) if hosts is not None else sorted(host_results)
    out = {}
    failed = []
    window = None
    for host in names:
        r = host_results.get(host) or {}
        phases = _report_phases(r.get('phases') or [], r.get('details'), host)
        if window is None and r.get('window'):
            window = r['window']
        if not phases:
            out[host] = {'status': 'failed', 'error': 'no result: the host was unreachable or failed before the '
                         'maintenance phases', 'phases': [], 'summary': {}}
            failed.append({'host': host, 'phase': None, 'error': out[host]['error'],
                           'text': '%s: %s' % (host, out[host]['error'])})
            continue
        bad = [p for p in phases if p.get('status') == 'failed']
        for p in bad:
            failed.append({'host': host, 'phase': p.get('name'), 'error': p.get('error'),
                           'text': '%s failed in phase %s: %s' % (host, p.get('name'), p.get('error'))})
        duration = sum(float(p.get('duration_s') or 0) for p in phases)
        out[host] = {'status': 'failed' if bad else 'ok', 'error': '; '.join(
            '%s: %s' % (p.get('name'), p.get('error')) for p in bad),
            'duration_s': round(duration, 2), 'phases': phases, 'summary': _host_summary(phases)}
    return {'generated_at': generated_at, 'check_mode': bool(check_mode),
            'status': 'failed' if failed else 'ok', 'window': window or {}, 'failed': failed, 'hosts': out}


def _cell(value):
    return md_cell(value, empty='-')


def _size(n):
    if n is None:
        return '-'
    n = float(n)
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if abs(n) < 1024 or unit == 'GiB':
            return ('%d %s' % (n, unit)) if unit == 'B' else ('%.1f %s' % (n, unit))
        n /= 1024.0
    return '%.1f TiB' % n  # pragma: no cover


def maintenance_markdown(report, title='Weekly maintenance report'):
    """Markdown rendering of :func:`maintenance_report`."""
    lines = ['# %s' % title, '']
    lines.append('Generated %s%s. Status: **%s**.' % (
        report.get('generated_at') or '-', ' (check mode: nothing was changed)' if report.get('check_mode') else '',
        str(report.get('status', '?')).upper()))
    window = report.get('window') or {}
    if window.get('message'):
        lines += ['', 'Window: %s' % _cell(window.get('message'))]
    if report.get('failed'):
        lines += ['', '## Failed', '']
        for f in report['failed']:
            lines.append('- **%s** phase `%s`: %s' % (f.get('host'), f.get('phase') or '-', _cell(f.get('error'))))
    for host in sorted(report.get('hosts') or {}):
        h = report['hosts'][host]
        lines += ['', '## %s (%s)' % (host, h.get('status')), '']
        if not h.get('phases'):
            lines.append(_cell(h.get('error')))
            continue
        lines += ['| phase | status | started | duration | details |', '|---|---|---|---:|---|']
        for p in h['phases']:
            lines.append('| %s | %s | %s | %s s | %s |' % (
                _cell(p.get('name')), _cell(p.get('status')), _cell(p.get('started_at')), _cell(p.get('duration_s')),
                _cell(p.get('error') or _phase_text(p))))
        for p in h['phases']:
            lines += _phase_tables(p)
    lines.append('')
    return '\n'.join(lines)


def _phase_text(p):
    d = p.get('details') or {}
    name = p.get('name')
    if p.get('status') == 'skipped':
        return d.get('reason', '')
    if name == 'window':
        return d.get('message', '')
    if name == 'backup':
        return ', '.join('%s: %s (%s)' % (b.get('db'), b.get('backup_id'), _size(b.get('size_bytes')))
                         for b in d.get('backups') or [])
    if name in ('vacuum', 'reindex'):
        return ', '.join('%s: %s' % (x.get('db'), x.get('msg')) for x in d.get('databases') or [])
    if name == 'cache':
        return '%s key(s) deleted' % d.get('deleted', 0)
    if name == 'logs':
        return '%s file(s) deleted, %s' % (d.get('deleted_count', 0), _size(d.get('deleted_bytes', 0)))
    if name == 'integrity':
        return '%s assertion(s) passed, %s failed' % (d.get('passed', 0), d.get('failed', 0))
    return ''


def _phase_tables(p):
    d = p.get('details') or {}
    name = p.get('name')
    out = []
    if name in ('vacuum', 'reindex') and d.get('databases'):
        out += ['', '### %s' % p.get('title', name), '']
        if name == 'vacuum':
            out += ['| db | table | size before | size after | dead tuples before | dead tuples after |',
                    '|---|---|---:|---:|---:|---:|']
            for db in d['databases']:
                for t in db.get('tables') or []:
                    out.append('| %s | %s | %s | %s | %s | %s |' % (
                        _cell(db.get('db')), _cell(_qualified(t)), _size(t.get('size_bytes_before')),
                        _size(t.get('size_bytes_after')), _cell(t.get('dead_tuples_before')),
                        _cell(t.get('dead_tuples_after'))))
                if db.get('terminated'):
                    out.append('')
                    out.append('Terminated sessions in %s: %s' % (_cell(db.get('db')), len(db['terminated'])))
        else:
            out += ['| db | index | bloat % | size before | size after | reindexed |', '|---|---|---:|---:|---:|---|']
            for db in d['databases']:
                for i in db.get('indexes') or []:
                    out.append('| %s | %s | %s | %s | %s | %s |' % (
                        _cell(db.get('db')), _cell(_qualified(i, 'index')), _cell(i.get('bloat_pct')),
                        _size(i.get('size_bytes_before')), _size(i.get('size_bytes_after')),
                        'yes' if i.get('reindexed') else 'no'))
    elif name == 'cache' and d.get('patterns'):
        out += ['', '### cache cleanup', '', '| pattern | matched | deleted | memory freed | duration |',
                '|---|---:|---:|---:|---:|']
        for c in d['patterns']:
            out.append('| `%s` | %s | %s | %s | %s ms |' % (
                _cell(c.get('pattern')), _cell(c.get('matched')), _cell(c.get('deleted')), _size(c.get('freed')),
                _cell(c.get('duration_ms'))))
    elif name == 'logs' and d.get('dirs'):
        out += ['', '### log cleanup', '', '| directory | matched | deleted | bytes deleted | bytes left |',
                '|---|---:|---:|---:|---:|']
        for x in d['dirs']:
            out.append('| %s | %s | %s | %s | %s |' % (
                _cell(x.get('path')), _cell(x.get('matched_count')), _cell(x.get('deleted_count')),
                _size(x.get('deleted_bytes')), _size(x.get('bytes_after'))))
    elif name == 'integrity' and (d.get('assertions') or d.get('row_counts')):
        out += ['', '### data integrity', '']
        if d.get('assertions'):
            out += ['| assertion | db | result | expected | actual |', '|---|---|---|---|---|']
            for a in d['assertions']:
                out.append('| %s | %s | %s | `%s` | `%s` |' % (
                    _cell(a.get('name')), _cell(a.get('db')), 'PASS' if a.get('ok') else 'FAIL',
                    _cell(_json(a.get('expect'))), _cell(a.get('error') or _json(a.get('actual')))))
        for db in d.get('row_counts') or []:
            out += ['', 'Row counts of %s versus backup %s (tolerance %s %%):' % (
                _cell(db.get('db')), _cell(db.get('backup_id')), _cell(db.get('tolerance_pct'))), '',
                '| table | backup | now | diff % | ok |', '|---|---:|---:|---:|---|']
            for t in db.get('tables') or []:
                out.append('| %s | %s | %s | %s | %s |' % (
                    _cell(_qualified(t)), _cell(t.get('backup_rows')), _cell(t.get('rows')), _cell(t.get('diff_pct')),
                    'yes' if t.get('ok') else 'NO'))
    return out


def _qualified(entry, key='table'):
    name = entry.get(key) or entry.get('name')
    schema = entry.get('schema')
    return '%s.%s' % (schema, name) if schema else str(name)


class FilterModule(object):
    def filters(self):
        return {
            'maintenance_window_check': maintenance_window_check,
            'maintenance_report': maintenance_report,
            'maintenance_markdown': maintenance_markdown,
            'maintenance_pick': maintenance_pick,
            'maintenance_db_summary': maintenance_db_summary,
        }
