# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The job result every runbook hands to ansible-runner and AWX with ``set_stats`` (``artifact_data``).

One shape for every runbook, under ``runbook_stats.<runbook>``::

    status: successful | failed       # failed when a host of the play failed or was unreachable
    check_mode: bool
    summary: one line for a person
    hosts: {total: N, failed: [names]}
    reports: [the report files this run wrote]        # never a file that does not exist
    would_write: [report files a --check run did not write]
    figures: {...}                                    # the runbook's key figures, read from its JSON report

The figures come from the JSON report the role wrote in this run (its documented output), never from a
role's private variables. A report file counts only when it exists and was written at or after ``since``
(the run's start, as a POSIX timestamp), so a report left by an earlier run is never claimed.
"""
from __future__ import annotations

import glob
import json
import os

from ansible_collections.runbook.ops.plugins.plugin_utils import db_incident

# a report written in the same second the run started (mtime resolution, clock rounding)
_SLACK_S = 2.0


def report_files(patterns, since, check_mode=False):
    """Split report paths (globs allowed) into (written by this run, not written) lists."""
    written, missing = [], []
    for pattern in patterns or []:
        if not pattern:
            continue
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        fresh = [p for p in matches if _written_since(p, since)]
        written.extend(fresh)
        if not fresh:
            missing.append(pattern)
    return written, missing


def _written_since(path, since):
    try:
        if not os.path.isfile(path):
            return False
        return since is None or os.path.getmtime(path) >= float(since) - _SLACK_S
    except OSError:
        return False


def load_reports(paths):
    """{path: parsed JSON} for the .json files among ``paths`` (a file that does not parse is left out)."""
    out = {}
    for path in paths:
        if not path.endswith('.json'):
            continue
        try:
            with open(path, 'r', encoding='utf-8') as f:
                out[path] = json.load(f)
        except (OSError, ValueError):
            continue
    return out


def _first(reports):
    return next(iter(reports.values()), None) if reports else None


def _per_host(report):
    """A {host: result} report (backup, restore): only the hosts with a dict result."""
    if not isinstance(report, dict):
        return {}
    return dict((h, r) for h, r in report.items() if isinstance(r, dict))


def _health(reports):
    rep = _first(reports) or {}
    counts = rep.get('host_summary') or {}
    figures = {'fleet_status': rep.get('status'),
               'hosts_ok': counts.get('ok'), 'hosts_warning': counts.get('warning'),
               'hosts_critical': counts.get('critical')}
    summary = 'fleet %s: %s ok, %s warning, %s critical' % (
        str(rep.get('status')).upper(), counts.get('ok', '?'), counts.get('warning', '?'), counts.get('critical', '?'))
    return figures, summary


def _backup(reports):
    backups = {}
    for host, r in _per_host(_first(reports)).items():
        if not r.get('backup_id'):
            continue
        manifest = r.get('manifest') or {}
        backups[host] = {'backup_id': r.get('backup_id'), 'database': r.get('database'),
                         'size': manifest.get('size'), 'store': r.get('store'),
                         'pruned': len(r.get('pruned') or []),
                         'duration_s': (r.get('timings') or {}).get('total_s')}
    summary = '; '.join('%s: %s (%s bytes)' % (h, b['backup_id'], b['size']) for h, b in sorted(backups.items()))
    return {'backups': backups}, summary or 'no backup taken'


def _restore(reports):
    restores = {}
    for host, r in _per_host(_first(reports)).items():
        if not r.get('backup_id'):
            continue
        ver = r.get('verification') or {}
        tables = dict(('%s.%s' % (t.get('schema'), t.get('table')), t.get('actual'))
                      for t in ver.get('tables') or [] if isinstance(t, dict))
        restores[host] = {'backup_id': r.get('backup_id'), 'mode': r.get('mode'),
                          'source_db': r.get('source_db'), 'target_db': r.get('target_db'),
                          'verified': ver.get('ok'), 'rows': ver.get('rows'), 'tables': tables,
                          'backup_age_s': r.get('backup_age_s'),
                          'duration_s': (r.get('timings') or {}).get('total_s')}
    summary = '; '.join('%s: %s %s, %s rows, verified %s' % (h, x['mode'], x['backup_id'], x['rows'], x['verified'])
                        for h, x in sorted(restores.items()))
    return {'restores': restores}, summary or 'nothing restored'


def _dr(reports):
    rep = next((r for r in reports.values() if isinstance(r, dict) and 'components' in r), None) or {}
    meta = rep.get('meta') or {}
    keys = ('rto_s', 'rto_objective_s', 'rto_met', 'rpo_s', 'rpo_objective_s', 'rpo_met')
    components = dict((c.get('name'), dict((k, c.get(k)) for k in keys))
                      for c in rep.get('components') or [] if isinstance(c, dict))
    figures = {'ok': rep.get('ok'), 'total_s': rep.get('total_s'), 'components': components,
               'failed_phases': rep.get('failed_phases') or [], 'missed_objectives': rep.get('missed_objectives') or [],
               'backup_id': meta.get('backup_id'), 'rows_verified': meta.get('rows_verified')}
    if not rep:
        return figures, 'no DR report written'
    parts = ['%s RTO %s s RPO %s s' % (n, c['rto_s'], c['rpo_s'])
             for n, c in sorted(components.items(), key=lambda i: str(i[0]))]
    summary = '%s in %.1f s; %s' % ('objectives met' if rep.get('ok') else 'FAILED', float(rep.get('total_s') or 0),
                                    ', '.join(parts))
    return figures, summary


def _maintenance(reports):
    rep = _first(reports) or {}
    hosts = rep.get('hosts') or {}
    figures = {'report_status': rep.get('status'), 'failed': rep.get('failed') or [],
               'hosts': dict((h, (v or {}).get('status')) for h, v in hosts.items() if isinstance(v, dict))}
    return figures, 'maintenance %s on %d host(s)' % (rep.get('status', 'not reported'), len(hosts))


def _cache(reports):
    rep = _first(reports) or {}
    hosts = {}
    for h, v in (rep.get('hosts') or {}).items():
        v = v if isinstance(v, dict) else {}
        redis = v.get('redis') or {}
        hosts[h] = {'status': v.get('status'), 'matched': redis.get('matched'), 'deleted': redis.get('deleted'),
                    'freed': redis.get('freed')}
    deleted = sum(x['deleted'] or 0 for x in hosts.values())
    matched = sum(x['matched'] or 0 for x in hosts.values())
    return {'hosts': hosts, 'keys_matched': matched, 'keys_deleted': deleted}, \
        '%d key(s) matched, %d deleted on %d host(s)' % (matched, deleted, len(hosts))


def _certs(reports):
    rep = _first(reports) or {}
    rows = [r for r in rep.get('certificates') or [] if isinstance(r, dict)]
    counts = dict((s, sum(1 for r in rows if r.get('status') == s)) for s in ('ok', 'warning', 'critical', 'error'))
    soonest = min((r['days_remaining'] for r in rows if isinstance(r.get('days_remaining'), (int, float))), default=None)
    figures = {'certificates': len(rows), 'status_counts': counts, 'min_days_remaining': soonest}
    if not rep:
        return figures, 'no certificate report (renew mode writes none)'
    return figures, '%d certificate(s): %s' % (len(rows), ', '.join('%d %s' % (n, s) for s, n in counts.items()))


def _deploy(reports):
    rep = _first(reports) or {}
    hosts = dict((x.get('host'), {'phase': x.get('phase'), 'switched': x.get('switched'), 'health': x.get('health'),
                                  'failed_step': x.get('failed_step') or None,
                                  'rolled_back_to': x.get('rolled_back_to') or None})
                 for x in rep.get('hosts') or [] if isinstance(x, dict))
    figures = {'app': rep.get('app'), 'release_id': rep.get('release_id'), 'backup_id': rep.get('backup_id') or None,
               'hosts': hosts}
    return figures, 'release %s of %s on %d host(s)' % (rep.get('release_id'), rep.get('app'), len(hosts))


def _rollback(reports):
    hosts = {}
    for rep in reports.values():
        if isinstance(rep, dict) and rep.get('host'):
            hosts[rep['host']] = {'from': rep.get('from'), 'to': rep.get('to'), 'health': rep.get('health'),
                                  'database_restored': rep.get('database_restored'),
                                  'backup_id': rep.get('backup_id') or None}
    summary = '; '.join('%s: %s -> %s (%s)' % (h, x['from'], x['to'], x['health']) for h, x in sorted(hosts.items()))
    return {'hosts': hosts}, summary or 'nothing rolled back'


def _pitr(reports):
    recoveries = {}
    for host, r in _per_host(_first(reports)).items():
        recoveries[host] = dict((k, r.get(k)) for k in ('recovery_target', 'last_replayed', 'rpo_s', 'recovery_s'))
    summary = '; '.join('%s: recovered to %s (RPO %s s)' % (h, r['last_replayed'] or r['recovery_target'], r['rpo_s'])
                        for h, r in sorted(recoveries.items()))
    return {'recoveries': recoveries}, summary or 'no recovery'


def _queues(reports):
    rep = _first(reports) or {}
    queues = {}
    for host, entry in sorted((rep.get('hosts') or {}).items()) if isinstance(rep.get('hosts'), dict) else []:
        for queue in (entry or {}).get('queues') or []:
            if isinstance(queue, dict) and queue.get('name'):
                figures = dict((k, queue.get(k)) for k in ('waiting', 'paused', 'oldest_wait_s', 'failed_rate_pct')
                               if k in queue)
                figures['failed'] = (queue.get('counts') or {}).get('failed')
                queues['%s/%s' % (host, queue['name'])] = figures
    summary = '%d queue(s): %s' % (len(queues), ', '.join(
        '%s %s waiting' % (name, q.get('waiting')) for name, q in sorted(queues.items())[:10])) if queues else ''
    return {'queues': queues}, summary or 'no queue reported'


def _none(reports):
    """A runbook without figures yet: the record still says which reports it wrote."""
    return {}, '%d report(s)' % len(reports)


FIGURES = {
    'awx_configure': _none,
    'health_check': _health,
    'backup': _backup,
    'restore': _restore,
    'verify_backup': _restore,
    'dr_failover': _dr,
    'dr_rehearsal': _dr,
    'weekly_maintenance': _maintenance,
    'cache_flush': _cache,
    'cert_renewal': _certs,
    'deploy': _deploy,
    'rollback': _rollback,
    'rollback_frontend': _rollback,
    # playbooks of this wave's other parts: the record without figures until their roles' reports are read here
    'queues': _queues,
    'pitr_setup': _none,
    'pitr_restore': _pitr,
    'service_restart': _none,
    'service_status': _none,
    'db_incident': lambda reports: db_incident.figures(_first(reports)),
}


def runbook_stats(runbook, hosts_all, hosts_active, reports, since=None, check_mode=False):
    """The ``set_stats`` record of one run of ``runbook`` (see the module docstring for the shape).

    ``hosts_all``/``hosts_active`` are ``ansible_play_hosts_all`` and ``ansible_play_hosts`` (failed and
    unreachable hosts leave the latter); ``reports`` the report paths (globs allowed) the run may write.
    """
    if runbook not in FIGURES:
        raise ValueError('Could not record the job result: unknown runbook %r. Use one of %s.'
                         % (runbook, ', '.join(sorted(FIGURES))))
    hosts_all = list(hosts_all or [])
    active = set(hosts_active or [])
    failed = [h for h in hosts_all if h not in active]
    written, missing = report_files(reports, since)
    loaded = load_reports(written)
    figures, detail = FIGURES[runbook](loaded)
    if not loaded:
        detail = 'no report written by this run' + (' (--check)' if check_mode and missing else '')
    status = 'failed' if failed else 'successful'
    summary = '%s %s%s: %d/%d host(s) ok; %s' % (runbook, status, ' (check mode)' if check_mode else '',
                                                 len(hosts_all) - len(failed), len(hosts_all), detail)
    return {
        'status': status,
        'check_mode': bool(check_mode),
        'summary': summary,
        'hosts': {'total': len(hosts_all), 'failed': failed},
        'reports': written,
        'would_write': missing if check_mode else [],
        'figures': figures,
    }
