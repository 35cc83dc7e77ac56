# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The database incident procedure's rules on the controller (role ``db_incident``, playbook ``db_incident.yml``).

- ``guard``: whether this run may terminate sessions. Only when asked (``terminate``) with a non-empty reason, with
  at least one threshold, and outside the weekly maintenance window when one is configured; otherwise it refuses
  with a message saying what to do. A run that is not asked to terminate is a report-only run.
- ``host_record``: one host's part of the report from the results of db_report and db_maintenance.
- ``report`` / ``markdown``: the whole report (JSON shape) and its Markdown rendering.

Which sessions qualify (thresholds, exclusions, never our own session) is db_maintenance's rule
(``module_utils/pg_maintenance.py``); the window's clock is the ``maintenance_window_check`` filter's.
"""

from __future__ import annotations

import datetime

from ansible_collections.runbook.ops.plugins.plugin_utils.markdown import md_cell, md_code

SESSION_COLUMNS = (('pid', 'pid'), ('user', 'user'), ('application', 'application_name'), ('client', 'client'),
                   ('database', 'database'), ('state', 'state'), ('seconds', 'duration_s'), ('rule', 'reason'))


def _positive(value):
    try:
        return int(value or 0) > 0
    except (TypeError, ValueError):
        return False


def guard(terminate, reason='', running_longer_than_s=0, idle_s=0, window=None):
    """``{mode, terminate, refused, message}``; ``mode`` is ``terminate``, ``report`` or ``refused``.

    ``window`` is the result of the ``maintenance_window_check`` filter for the configured weekly window
    (``{}``/None when none is configured); ``window.window == 'always'`` means no window is configured.
    """
    reason = str(reason or '').strip()
    window = dict(window or {})
    if not terminate:
        return {'mode': 'report', 'terminate': False, 'refused': False, 'reason': reason,
                'message': 'report only: no session is terminated (db_incident_terminate is false)'}
    if not reason:
        return {'mode': 'refused', 'terminate': False, 'refused': True, 'reason': '',
                'message': 'Could not terminate sessions: db_incident_reason is empty. Say why (for example the '
                           'incident ticket) in db_incident_reason, or run without db_incident_terminate for the '
                           'report only. Nothing was done.'}
    if not (_positive(running_longer_than_s) or _positive(idle_s)):
        return {'mode': 'refused', 'terminate': False, 'refused': True, 'reason': reason,
                'message': 'Could not terminate sessions: no threshold is set. Set db_incident_running_longer_than_s '
                           'and/or db_incident_idle_s (seconds, more than 0). Nothing was done.'}
    if window and window.get('window') not in (None, 'always') and window.get('inside'):
        return {'mode': 'refused', 'terminate': False, 'refused': True, 'reason': reason,
                'message': 'Could not terminate sessions: it is %s, and the weekly maintenance runs then (its '
                           'vacuum and reindex sessions must not be killed). Wait for the end of the window, or '
                           'run without db_incident_terminate for the report only. Nothing was done.'
                           % window.get('message', 'inside the maintenance window')}
    return {'mode': 'terminate', 'terminate': True, 'refused': False, 'reason': reason,
            'message': 'terminating sessions over the thresholds: %s' % reason}


def _sessions(result, key):
    return [dict(s) for s in (result or {}).get(key) or [] if isinstance(s, dict)]


def host_record(host, report, maintenance, guard_result, failure=None):
    """One host's part of the report.

    ``report``: db_report's result; ``maintenance``: db_maintenance's result (run for real when the guard allows,
    in check mode otherwise; None when it was not run); ``failure``: the error message of a failed step.
    """
    report = dict(report or {})
    maintenance = dict(maintenance or {})
    g = dict(guard_result or {})
    terminated = _sessions(maintenance, 'terminated')
    planned = [p for p in _sessions(maintenance, 'plan') if p.get('action') == 'terminate']
    done = set(t.get('pid') for t in terminated)
    not_terminated = [p for p in planned if p.get('pid') not in done]
    for p in not_terminated:
        p.pop('action', None)
        p.pop('target', None)
    failed = [a for a in maintenance.get('actions') or [] if isinstance(a, dict) and a.get('status') == 'failed']
    return {
        'host': host,
        'target': report.get('target') or maintenance.get('db'),
        'mode': g.get('mode', 'report'),
        'reason': g.get('reason', ''),
        'terminated': terminated,
        'candidates': not_terminated,
        'failed_terminations': [{'target': a.get('target'), 'error': a.get('error')} for a in failed],
        'failure': failure or None,
        'server_version': report.get('server_version'),
        'connections': report.get('connections'),
        'idle_connections': report.get('idle_connections') or [],
        'slow_queries': report.get('slow_queries'),
        'missing_indexes': report.get('missing_indexes') or [],
        'unused_indexes': (report.get('indexes') or {}).get('unused') or [],
        'tables': report.get('tables') or [],
        'dead_tuples': report.get('dead_tuples') or [],
        'wal': report.get('wal'),
        'errors': report.get('errors') or [],
        'notes': report.get('notes') or [],
    }


def report(records, generated_at=None):
    """The whole report from ``{host: host_record or None}`` (None: the host gave no record, it failed early)."""
    hosts = []
    for host in sorted(records or {}):
        rec = records[host]
        if not isinstance(rec, dict):
            rec = {'host': host, 'mode': 'failed', 'terminated': [], 'candidates': [], 'failed_terminations': [],
                   'failure': 'no result from this host (it failed before the report, or was unreachable)'}
        hosts.append(rec)
    terminated = sum(len(h.get('terminated') or []) for h in hosts)
    candidates = sum(len(h.get('candidates') or []) for h in hosts)
    failed = [h['host'] for h in hosts if h.get('failure') or h.get('failed_terminations')]
    modes = set(h.get('mode') for h in hosts)
    if 'terminate' in modes:
        summary = '%d session(s) terminated on %d host(s)' % (terminated, len(hosts))
    else:
        summary = 'report only: %d session(s) over the thresholds, none terminated' % candidates
    if failed:
        summary += '; failed on %s' % ', '.join(failed)
    stamp = generated_at or datetime.datetime.now(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%SZ')
    return {'generated_at': stamp, 'status': 'failed' if failed else 'ok', 'summary': summary,
            'terminated_count': terminated, 'candidate_count': candidates, 'failed_hosts': failed, 'hosts': hosts}


def _table(headers, rows):
    out = ['| %s |' % ' | '.join(headers), '|%s' % ('---|' * len(headers))]
    for row in rows:
        out.append('| %s |' % ' | '.join(row))
    return out


def _session_rows(sessions):
    rows = []
    for s in sessions:
        rows.append([md_cell(s.get(key), '-') for dummy, key in SESSION_COLUMNS] + [md_code(s.get('query'), '-')])
    return rows


def _host_markdown(h):
    lines = ['', '## %s' % md_cell(h.get('host')), '']
    if h.get('target'):
        version = (' (%s)' % md_cell(h['server_version'])) if h.get('server_version') else ''
        lines.append('- Server: %s%s' % (md_code(h['target']), version))
    reason = (' - reason: %s' % md_cell(h['reason'])) if h.get('reason') else ''
    lines.append('- Mode: %s%s' % (md_cell(h.get('mode')), reason))
    if h.get('failure'):
        lines += ['', '**Failed:** %s' % md_cell(h['failure'])]
    headers = [c[0] for c in SESSION_COLUMNS] + ['query']
    lines += ['', '### Terminated sessions', '']
    if h.get('terminated'):
        lines += _table(headers, _session_rows(h['terminated']))
    else:
        lines.append('None.')
    if h.get('candidates'):
        lines += ['', '### Sessions over the thresholds, not terminated', '']
        lines += _table(headers, _session_rows(h['candidates']))
    if h.get('failed_terminations'):
        lines += ['', '### Terminations that failed', '']
        lines += _table(['target', 'error'], [[md_cell(f.get('target')), md_cell(f.get('error'))]
                                              for f in h['failed_terminations']])
    conn = h.get('connections') or {}
    if conn:
        lines += ['', '### Connections', '',
                  '%s of %s (%s%%)' % (md_cell(conn.get('total')), md_cell(conn.get('max_connections')),
                                       md_cell(conn.get('used_pct'))), '']
        lines += _table(['state', 'connections'], [[md_cell(k), md_cell(v)]
                                                   for k, v in sorted((conn.get('by_state') or {}).items())])
        lines += ['']
        lines += _table(['application', 'connections'], [[md_cell(k), md_cell(v)] for k, v in
                                                         sorted((conn.get('by_application') or {}).items())])
    if h.get('idle_connections'):
        lines += ['', '### Idle connections over the threshold', '']
        lines += _table(['pid', 'database', 'user', 'application', 'client', 'idle s'], [
            [md_cell(c.get(k), '-') for k in ('pid', 'database', 'user', 'application', 'client_addr', 'idle_s')]
            for c in h['idle_connections']])
    slow = h.get('slow_queries') or {}
    if slow.get('by_mean'):
        lines += ['', '### Slow queries (by mean time)', '']
        lines += _table(['mean ms', 'calls', 'total ms', 'rows', 'query'], [
            [md_cell(q.get(k), '-') for k in ('mean_ms', 'calls', 'total_ms', 'rows')] + [md_code(q.get('query'))]
            for q in slow['by_mean']])
    if h.get('missing_indexes'):
        lines += ['', '### Probable missing indexes', '']
        lines += _table(['table', 'seq scans', 'rows read', 'index scans', 'live rows'], [
            [md_cell('%s.%s' % (t.get('schema'), t.get('table')))] +
            [md_cell(t.get(k), '-') for k in ('seq_scan', 'seq_tup_read', 'idx_scan', 'live_rows')]
            for t in h['missing_indexes']])
    if h.get('unused_indexes'):
        lines += ['', '### Unused indexes', '']
        lines += _table(['index', 'table', 'size bytes'], [
            [md_cell('%s.%s' % (i.get('schema'), i.get('index'))), md_cell(i.get('table')), md_cell(i.get('size_bytes'))]
            for i in h['unused_indexes']])
    if h.get('dead_tuples'):
        lines += ['', '### Dead tuples', '']
        lines += _table(['table', 'live', 'dead', 'dead %', 'last autovacuum'], [
            [md_cell('%s.%s' % (t.get('schema'), t.get('table')))] +
            [md_cell(t.get(k), '-') for k in ('live', 'dead', 'dead_pct', 'last_autovacuum')]
            for t in h['dead_tuples']])
    wal = h.get('wal') or {}
    if wal:
        arch = wal.get('archiver') or {}
        lines += ['', '### WAL', '', 'Position: %s%s' % (
            md_code(wal.get('lsn') or wal.get('replay_lsn'), '-'),
            ('; last archived %s, %s s ago, %s failed' % (md_cell(arch.get('last_archived_wal'), '-'),
                                                          md_cell(arch.get('last_archived_age_s'), '-'),
                                                          md_cell(arch.get('failed_count'), '0'))) if arch else '')]
    notes = list(h.get('notes') or []) + ['%s: %s' % (e.get('section'), e.get('error')) for e in h.get('errors') or []]
    if notes:
        lines += ['', '### Notes', ''] + ['- %s' % md_cell(n) for n in notes]
    return lines


def markdown(rep):
    """The report as a Markdown document."""
    rep = dict(rep or {})
    lines = ['# Database incident report', '', 'Generated: %s' % md_cell(rep.get('generated_at')),
             '', 'Status: **%s** - %s' % (md_cell(str(rep.get('status', '')).upper()), md_cell(rep.get('summary')))]
    for h in rep.get('hosts') or []:
        lines += _host_markdown(h)
    return '\n'.join(lines) + '\n'


def figures(rep):
    """(figures, summary) for the ``runbook_stats`` record of the db_incident runbook."""
    rep = rep or {}
    terminated = dict((h.get('host'), [t.get('pid') for t in h.get('terminated') or []]) for h in rep.get('hosts') or [])
    return ({'terminated_count': rep.get('terminated_count'), 'candidate_count': rep.get('candidate_count'),
             'terminated_pids': terminated, 'failed_hosts': rep.get('failed_hosts') or []},
            rep.get('summary') or 'no report')
