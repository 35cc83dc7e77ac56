# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Controller-side rules of two phases of the weekly maintenance: ``optimize`` (MySQL) and ``queues``.

* ``queue_plan``: the ``maintenance_queues`` targets checked and expanded into one queue_control call per
  target and job state (no connection secret in the plan: the role reads them from the target itself); a Celery
  target is planned as skipped, with the reason (Celery keeps no completed or failed jobs in its broker).
* ``queue_summary``: what those calls removed (or would remove, in check mode), per target, queue and state,
  with the totals and the one-line summary the phase record carries.
* ``optimize_details``: the ANALYZE/OPTIMIZE/KILL QUERY counts of the MySQL phase from the per-database
  summaries (``maintenance_db_summary``), with its one-line summary.
* ``extra_markdown``: the Markdown sections of these two phases, appended to the weekly report.

Every error is a :class:`MaintenanceQueuesError` naming the option and what to do.
"""

from __future__ import annotations

from collections.abc import Mapping

from ansible_collections.runbook.ops.plugins.plugin_utils.markdown import md_cell, md_code

ENGINES = ('bullmq', 'bull', 'celery')
STATES = ('completed', 'failed')
# the Redis connection keys of a target (queue_control's options); their defaults come from runbook_redis
CONNECTION_KEYS = ('host', 'port', 'db', 'username', 'password', 'tls', 'validate_certs', 'ca_cert', 'client_cert',
                   'client_key', 'socket_timeout')
TARGET_KEYS = ('name', 'engine', 'queues', 'prefix', 'states', 'grace_s', 'limit', 'batch_size') + CONNECTION_KEYS
CELERY_SKIP = ('Celery keeps no completed or failed jobs in its broker (results live in the result backend): '
               'nothing to clean')


class MaintenanceQueuesError(ValueError):
    """Bad input to a rule of the optimize or queues phase; the message says what and what to do."""


def _int(value, what, minimum=0):
    if isinstance(value, bool):
        raise MaintenanceQueuesError('%s must be an integer >= %d, got %r.' % (what, minimum, value))
    try:
        number = int(str(value).strip())
    except (TypeError, ValueError):
        raise MaintenanceQueuesError('%s must be an integer >= %d, got %r.' % (what, minimum, value))
    if number < minimum:
        raise MaintenanceQueuesError('%s must be an integer >= %d, got %r.' % (what, minimum, value))
    return number


def _str_list(value, what):
    if isinstance(value, str) or not isinstance(value, (list, tuple)):
        raise MaintenanceQueuesError('%s must be a list of strings, got %r.' % (what, value))
    out = []
    for item in value:
        if not isinstance(item, str) or not item.strip() or '\x00' in item:
            raise MaintenanceQueuesError('%s must hold non-empty strings without NUL, got %r.' % (what, item))
        out.append(item)
    return out


def _states(value, what):
    states = _str_list(value, what)
    bad = [s for s in states if s not in STATES]
    if bad or not states:
        raise MaintenanceQueuesError('%s must be a non-empty list among %s, got %r.' % (what, ', '.join(STATES), value))
    return [s for s in STATES if s in states]


def queue_plan(targets, states=STATES, grace_s=86400, limit=10000, batch_size=1000):
    """One call per (target, state), in the order of ``targets`` then completed before failed.

    Each call: ``{index, target, engine, queues, prefix, state, grace_s, limit, batch_size, skip}`` where
    ``index`` points back into ``targets`` (for the connection, kept out of the plan) and ``skip`` is the reason
    not to call queue_control ('' to call it). A target may override ``states``, ``grace_s``, ``limit`` and
    ``batch_size``; unknown keys are refused (a typo would otherwise clean with the defaults).
    """
    who = 'Could not plan the queue cleanup'
    if targets in (None, ''):
        return []
    if isinstance(targets, (str, bytes, Mapping)) or not isinstance(targets, (list, tuple)):
        raise MaintenanceQueuesError('%s: maintenance_queues must be a list of targets (dicts), got %s. Give a '
                                     'list such as [{engine: bullmq, queues: ["*"]}].' % (who, type(targets).__name__))
    default_states = _states(states, '%s: maintenance_queue_clean_states' % who)
    default_grace = _int(grace_s, '%s: maintenance_queue_clean_grace_s' % who)
    default_limit = _int(limit, '%s: maintenance_queue_clean_limit' % who)
    default_batch = _int(batch_size, '%s: maintenance_queue_clean_batch_size' % who, 1)
    calls = []
    for index, target in enumerate(targets):
        where = '%s: maintenance_queues[%d]' % (who, index)
        if not isinstance(target, Mapping):
            raise MaintenanceQueuesError('%s must be a dict with engine and queues, got %r.' % (where, target))
        unknown = sorted(str(k) for k in target if k not in TARGET_KEYS)
        if unknown:
            raise MaintenanceQueuesError('%s has unknown key(s) %s. Use %s.' % (where, ', '.join(unknown),
                                                                                ', '.join(TARGET_KEYS)))
        engine = target.get('engine', 'bullmq')
        if engine not in ENGINES:
            raise MaintenanceQueuesError('%s.engine must be one of %s, got %r.' % (where, ', '.join(ENGINES), engine))
        queues = _str_list(target.get('queues', ['*']), '%s.queues' % where)
        if not queues:
            raise MaintenanceQueuesError('%s.queues is empty. Name the queues, or ["*"] for every queue.' % where)
        prefix = target.get('prefix', 'bull')
        if not isinstance(prefix, str) or not prefix or '\x00' in prefix:
            raise MaintenanceQueuesError('%s.prefix must be a non-empty string, got %r.' % (where, prefix))
        label = target.get('name') or '%s %s' % (engine, ','.join(queues))
        common = {
            'index': index, 'target': str(label), 'engine': engine, 'queues': queues, 'prefix': prefix,
            'grace_s': _int(target.get('grace_s', default_grace), '%s.grace_s' % where),
            'limit': _int(target.get('limit', default_limit), '%s.limit' % where),
            'batch_size': _int(target.get('batch_size', default_batch), '%s.batch_size' % where, 1),
        }
        target_states = _states(target['states'], '%s.states' % where) if 'states' in target else default_states
        if engine == 'celery':
            calls.append(dict(common, state=None, skip=CELERY_SKIP))
            continue
        for state in target_states:
            calls.append(dict(common, state=state, skip=''))
    return calls


def _plural(n, word, words=None):
    return '%d %s' % (n, word if n == 1 else (words or word + 's'))


def queue_summary(results, check_mode=False, call_key='_maintenance_queue_call'):
    """What the cleanup did, from the registered loop ``results`` of queue_control over :func:`queue_plan`.

    Returns ``{targets: [...], removed: {completed, failed}, total, check_mode, summary}``; each target row is
    ``{target, engine, state, skipped, affected, queues: [{name, before, removed, after}]}`` (``before``/``after``
    are the library's counts of that state; in check mode ``removed`` is what would go and ``after`` equals
    ``before``).
    """
    rows = []
    removed = dict((s, 0) for s in STATES)
    for result in results or []:
        if not isinstance(result, Mapping):
            continue
        call = result.get(call_key) or {}
        row = {'target': call.get('target'), 'engine': call.get('engine'), 'state': call.get('state'),
               'grace_s': call.get('grace_s'), 'limit': call.get('limit'), 'skipped': '', 'affected': 0, 'queues': []}
        if call.get('skip') or result.get('skipped'):
            row['skipped'] = call.get('skip') or result.get('skip_reason') or 'skipped'
            rows.append(row)
            continue
        state = call.get('state')
        for q in result.get('queues') or []:
            before = (q.get('counts_before') or {}).get(state)
            after = (q.get('counts_after') or {}).get(state)
            n = int(q.get('affected') or 0)
            row['queues'].append({'name': q.get('name'), 'before': before, 'removed': n, 'after': after})
            row['affected'] += n
        if state in removed:
            removed[state] += row['affected']
        rows.append(row)
    total = sum(removed.values())
    verb = 'would remove' if check_mode else 'removed'
    queues = set((r['target'], q['name']) for r in rows for q in r['queues'])
    skipped = [r['target'] for r in rows if r['skipped']]
    summary = '%s %d completed and %d failed job(s) from %s' % (
        verb, removed['completed'], removed['failed'], _plural(len(queues), 'queue'))
    if skipped:
        summary += '; skipped %s' % ', '.join(sorted(set(str(s) for s in skipped)))
    return {'targets': rows, 'removed': removed, 'total': total, 'check_mode': bool(check_mode), 'summary': summary}


def optimize_details(databases, check_mode=False):
    """The MySQL phase's counts from ``maintenance_db_summary`` records (one per database).

    ``analyzed``/``optimized``/``killed`` count the steps run ok (in check mode: planned); ``failed`` lists the
    failed steps as ``<db>: <action> <target>``.
    """
    counts = {'analyze': 0, 'optimize': 0, 'kill_query': 0}
    failed = []
    skipped = []
    for db in databases or []:
        if not isinstance(db, Mapping):
            raise MaintenanceQueuesError('Could not summarize the optimize phase: each database must be a dict from '
                                         'maintenance_db_summary, got %r.' % (db,))
        if db.get('skipped'):
            skipped.append('%s: %s' % (db.get('db'), db.get('msg') or 'skipped'))
            continue
        steps = db.get('plan') if check_mode else db.get('actions')
        for step in steps or []:
            action = step.get('action')
            if not check_mode and step.get('status') == 'failed':
                failed.append('%s: %s %s' % (db.get('db'), action, step.get('target')))
            elif action in counts and (check_mode or step.get('status') == 'ok'):
                counts[action] += 1
    verb = 'would run' if check_mode else 'ran'
    summary = '%s ANALYZE TABLE on %s, OPTIMIZE TABLE on %s, KILL QUERY on %s' % (
        verb, _plural(counts['analyze'], 'table'), _plural(counts['optimize'], 'table'),
        _plural(counts['kill_query'], 'query', 'queries'))
    if failed:
        summary += '; failed: %s' % ', '.join(failed)
    if skipped:
        summary += '; skipped %s' % ', '.join(skipped)
    return {'databases': list(databases or []), 'analyzed': counts['analyze'], 'optimized': counts['optimize'],
            'killed': counts['kill_query'], 'failed_steps': failed, 'skipped': skipped, 'check_mode': bool(check_mode),
            'summary': summary}


def _cell(value):
    return md_cell(value, empty='-')


def _mib(n):
    if n is None:
        return '-'
    return '%.1f MiB' % (float(n) / (1024 * 1024))


def _optimize_section(host, phase):
    d = phase.get('details') or {}
    out = ['', '### %s: MySQL analyze/optimize (%s)' % (_cell(host), _cell(phase.get('status'))), '']
    if d.get('summary'):
        out += [_cell(d['summary']), '']
    out += ['| db | step | target | status | reason |', '|---|---|---|---|---|']
    for db in d.get('databases') or []:
        steps = db.get('actions') or [dict(p, status='planned') for p in db.get('plan') or []]
        for a in steps:
            out.append('| %s | %s | %s | %s | %s |' % (
                _cell(db.get('db')), _cell(a.get('action')), _cell(a.get('target')), _cell(a.get('status')),
                _cell(a.get('error') or a.get('reason'))))
    tables = [(db.get('db'), t) for db in d.get('databases') or [] for t in db.get('tables') or []]
    if tables:
        out += ['', '| db | table | engine | size before | size after | data free before | data free after |',
                '|---|---|---|---:|---:|---:|---:|']
        for db, t in tables:
            out.append('| %s | %s | %s | %s | %s | %s | %s |' % (
                _cell(db), _cell(t.get('table')), _cell(t.get('engine')), _mib(t.get('size_bytes_before')),
                _mib(t.get('size_bytes_after')), _mib(t.get('data_free_before')), _mib(t.get('data_free_after'))))
    return out


def _queues_section(host, phase):
    d = phase.get('details') or {}
    out = ['', '### %s: queue cleanup (%s)' % (_cell(host), _cell(phase.get('status'))), '']
    if d.get('summary'):
        out += [_cell(d['summary']), '']
    removed = 'would remove' if d.get('check_mode') else 'removed'
    out += ['| target | engine | queue | state | older than | before | %s | after |' % removed,
            '|---|---|---|---|---:|---:|---:|---:|']
    for r in d.get('targets') or []:
        if r.get('skipped'):
            out.append('| %s | %s | - | - | - | - | skipped: %s | - |' % (
                _cell(r.get('target')), _cell(r.get('engine')), _cell(r.get('skipped'))))
            continue
        for q in r.get('queues') or []:
            out.append('| %s | %s | %s | %s | %s s | %s | %s | %s |' % (
                _cell(r.get('target')), _cell(r.get('engine')), md_code(q.get('name'), empty='-'), _cell(r.get('state')),
                _cell(r.get('grace_s')), _cell(q.get('before')), _cell(q.get('removed')), _cell(q.get('after'))))
    return out


def extra_markdown(report):
    """The Markdown sections of the optimize and queues phases of every host ('' when none ran)."""
    if not isinstance(report, Mapping):
        raise MaintenanceQueuesError('Could not render the maintenance report: expected the dict of '
                                     'maintenance_report, got %s.' % type(report).__name__)
    lines = []
    for host in sorted(report.get('hosts') or {}):
        for phase in (report['hosts'][host] or {}).get('phases') or []:
            if phase.get('status') == 'skipped' or not phase.get('details'):
                continue
            if phase.get('name') == 'optimize':
                lines += _optimize_section(host, phase)
            elif phase.get('name') == 'queues':
                lines += _queues_section(host, phase)
    if not lines:
        return ''
    # appended to maintenance_markdown's text, which ends with a newline: one blank line before the heading
    return '\n'.join(['', '## MySQL maintenance and queue cleanup'] + lines) + '\n'
