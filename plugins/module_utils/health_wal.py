# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``wal_archive`` check type of health_check: is continuous archiving working, and how old is the newest
pgBackRest backup?

Reads ``pg_stat_archiver`` on the server (the age of the last archived WAL segment, the failed archive count, and
whether the archiver's latest attempt failed: an archive_command failing because the repository is unreachable is
reported here, not hidden) and, when ``stanza`` is set, ``pgbackrest info`` (the newest backup's age).
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import time

from ansible_collections.runbook.ops.plugins.module_utils import pgbackrest as pgbr
from ansible_collections.runbook.ops.plugins.module_utils import postgres as pg_utils
from ansible_collections.runbook.ops.plugins.module_utils import probe
from ansible_collections.runbook.ops.plugins.module_utils._time import utcnow

ARCHIVER_SQL = '''
SELECT current_setting('archive_mode'), pg_is_in_recovery(), archived_count, last_archived_wal,
       extract(epoch FROM now() - last_archived_time)::float8, failed_count, last_failed_wal,
       extract(epoch FROM now() - last_failed_time)::float8,
       coalesce(last_failed_time > last_archived_time OR (last_archived_time IS NULL AND failed_count > 0), false)
FROM pg_stat_archiver
'''


def read_archiver(check, deadline):
    params = {k: check.get(k) for k in pg_utils.POSTGRES_OPTION_NAMES}
    if params.get('connect_timeout') is None:
        params['connect_timeout'] = max(1, int(math.ceil(probe.time_left(deadline))))
    target = pg_utils.describe_target(params, dbname=check.get('login_db'))
    try:
        conn = pg_utils.connect(params, dbname=check.get('login_db'), application_name='runbook.ops health_check')
    except pg_utils.psycopg.Error as exc:
        raise probe.ProbeError('Could not connect to postgres %s: %s' % (target, _one_line(exc)))
    try:
        with conn:
            ms = max(1, int(probe.time_left(deadline) * 1000))
            conn.execute('SELECT set_config(%s, %s, false)', ('statement_timeout', str(ms)))
            return conn.execute(ARCHIVER_SQL).fetchone()
    except pg_utils.psycopg.Error as exc:
        raise probe.ProbeError('Could not query pg_stat_archiver on %s: %s' % (target, _one_line(exc)))


def _one_line(exc):
    return ' '.join(str(exc).split())[:300]


def read_backup_age(check, deadline):
    """(age in hours, label) of the newest pgBackRest backup; raises probe.ProbeError."""
    argv = ['pgbackrest', '--stanza=' + check['stanza'], '--log-level-console=error']
    if check.get('pgbackrest_config'):
        argv.insert(1, '--config=' + check['pgbackrest_config'])
    argv += ['info', '--output=json']
    if os.geteuid() == 0:
        argv = ['runuser', '-u', 'postgres', '--'] + argv
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=probe.time_left(deadline), check=False,
                           cwd='/')
    except subprocess.TimeoutExpired:
        raise probe.ProbeTimeout()
    except OSError as exc:
        raise probe.ProbeError('Could not run pgbackrest info: %s' % exc)
    if r.returncode != 0:
        raise probe.ProbeError('Could not read pgbackrest info for stanza %s: %s'
                               % (check['stanza'], pgbr._first_error(r.stderr or r.stdout) or 'rc %d' % r.returncode))
    try:
        info = pgbr.parse_info(json.loads(r.stdout), check['stanza'], now=utcnow())
    except (ValueError, pgbr.PitrError) as exc:
        raise probe.ProbeError('Could not read pgbackrest info for stanza %s: %s' % (check['stanza'], exc))
    if info['status_code'] not in (0, 2):
        raise probe.ProbeError('Could not read pgbackrest info for stanza %s: %s'
                               % (check['stanza'], '; '.join(info['repo_errors']) or info['status']))
    age = info['newest_backup_age_s']
    return (None if age is None else round(age / 3600.0, 3)), info['newest_backup'], info['status']


def run(check):
    deadline = time.monotonic() + check['timeout']
    (mode, in_recovery, archived, last_wal, age_s, failed, failed_wal, failed_age_s,
     failing) = read_archiver(check, deadline)
    result = probe.ProbeResult({
        'archive_mode': mode,
        'archived_count': archived,
        'last_archived_wal': last_wal,
        'last_archived_age_s': None if age_s is None else round(age_s, 1),
        'failed_count': failed,
        'last_failed_wal': failed_wal,
        'last_failed_age_s': None if failed_age_s is None else round(failed_age_s, 1),
        'failing': bool(failing),
        'newest_backup_age_h': None,
        'newest_backup': None,
    })
    if mode == 'off':
        result.add(probe.CRITICAL, 'archive_mode is off: no WAL is archived, point-in-time recovery is impossible')
    elif not in_recovery and archived == 0 and not failed:
        result.add(probe.WARNING, 'no WAL segment has been archived yet')
    if failing:
        result.add(probe.CRITICAL, 'archive_command is failing: the last attempt (segment %s, %s s ago) failed; '
                                   '%d failures since the statistics were reset. Check the archive repository '
                                   '(pgbackrest check)' % (failed_wal, result.metrics['last_failed_age_s'], failed))
    if check.get('stanza'):
        try:
            age_h, label, status = read_backup_age(check, deadline)
        except probe.ProbeError as exc:
            result.add(probe.CRITICAL, str(exc))
        else:
            result.metrics['newest_backup_age_h'] = age_h
            result.metrics['newest_backup'] = label
            if label is None:
                result.add(probe.CRITICAL, 'no pgBackRest backup in stanza %s (%s)' % (check['stanza'], status))
    return result


PROBE_TYPE = probe.ProbeType(
    name='wal_archive', run=run,
    metrics={
        'last_archived_age_s': (probe.HIGHER, probe.levels(3600, 7200)),
        'failed_count': (probe.HIGHER, None),
        'newest_backup_age_h': (probe.HIGHER, probe.levels(26, 50)),
        'archived_count': (probe.LOWER, None),
    },
    options=tuple(pg_utils.POSTGRES_OPTION_NAMES) + ('login_db', 'stanza', 'pgbackrest_config'),
    suboptions={
        'stanza': dict(type='str'),
        'pgbackrest_config': dict(type='path'),
    },
    requirement=lambda checks: None if pg_utils.HAS_PSYCOPG else ('psycopg', pg_utils.PSYCOPG_IMP_ERR),
    secrets=('login_password',),
)
