# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL backups streamed into a backup store (logic of ``runbook.ops.db_backup``).

Pipeline (argv lists, no shell; the password only in the child's environment)::

    pg_dump --format=custom --compress=0 --snapshot=<exported>  |  zstd -T<n> -<level>  |  sha256 + store

Compression runs in the external ``zstd``/``gzip`` program, a separate process from pg_dump and from
this Python process, so the three stages use different cores and Python only hashes and uploads the
compressed bytes.  (The python ``zstandard`` binding would add a dependency on managed nodes and
run in the module's own process; the CLI is in every distribution.)

The per-table row counts are taken in the dump's own snapshot: this module opens a REPEATABLE READ
transaction, exports its snapshot and hands it to ``pg_dump --snapshot``.  ``row_counts``:

``exact`` (default)
    ``count(*)`` of every table in that snapshot, in a thread of this module on the connection that
    exported it, while the dump streams (one backend, no parallel workers, no JIT, so it competes
    as little as possible with pg_dump for the cores).  db_restore requires equal counts.
``estimate``
    ``pg_class.reltuples`` read in the same snapshot (free; ``None`` for a table never analyzed).
    db_restore reports the restored counts next to the estimates and requires only that every table
    of the manifest exists after the restore.
``none``
    the table list only; db_restore requires that every table exists.

The manifest says which (``row_counts``); a manifest without the field has exact counts.

Python's share of the work is small and overlapped: 1 MiB reads from 1 MiB pipes, sha256 (which
releases the GIL) and the store's writer, which for S3 uploads parts on a bounded pool of threads.

The manifest is written last (commit marker).  Retention runs only once the new backup is listed as
valid by the store, never after a failure, and never deletes the newest valid backup.  In a retention
policy 0 turns a rule off; a policy whose rules are all off is refused (see :func:`check_retention`).

Before it writes, a run sweeps what killed runs left in the store (``backup_store.sweep_leftovers``),
and the whole run is bounded by ``timeout`` seconds (:func:`deadline`; 0 turns it off).
"""

from __future__ import annotations

import contextlib
import datetime
import fcntl
import hashlib
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import tempfile
import threading
import time

from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs
from ansible_collections.runbook.ops.plugins.module_utils.postgres import (
    HAS_PSYCOPG, connect, describe_target, libpq_environment, redact)

if HAS_PSYCOPG:
    import psycopg
    from psycopg import sql

COMPRESSIONS = ('zstd', 'gzip', 'none')
ROW_COUNTS = ('exact', 'estimate', 'none')
READ_CHUNK = 1024 * 1024
PIPE_SIZE = 1024 * 1024
# zstd 1, its fastest level: pg_dump, the server and zstd share the cores, and on a less-compressible table
# (bench/backup, 3M md5 rows) level 1 dumped about 1.3x faster than level 3 for about 7% more bytes
DEFAULT_LEVEL = {'zstd': 1, 'gzip': 6, 'none': 0}
VERSION_RE = re.compile(r'\(PostgreSQL\)\s+(\d+)(?:\.(\d+))?')

TABLES_SQL = """
SELECT n.nspname, c.relname, c.reltuples
  FROM pg_catalog.pg_class c
  JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
 WHERE c.relkind = 'r' AND c.relpersistence <> 't'
   AND n.nspname <> 'information_schema' AND n.nspname NOT LIKE 'pg\\_%'
   AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_depend d
                    WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
 ORDER BY 1, 2
"""


class BackupError(Exception):
    """A failure with a message ready for fail_json (no secrets)."""


class Interrupted(BaseException):
    """SIGTERM/SIGINT arrived: clean up, then fail."""


class DeadlineExceeded(Interrupted):
    """The overall deadline (option ``timeout``) expired: clean up, then fail."""


@contextlib.contextmanager
def deadline(seconds):
    """Raise :class:`DeadlineExceeded` in the main thread once ``seconds`` have passed (0 or None: no deadline).

    A SIGALRM timer: it interrupts blocking calls (socket reads, waits on upload threads, pipe reads),
    which plain timeouts cannot bound as a whole.  Disarmed on exit.  Outside the main thread it does nothing.
    """
    if not seconds or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expired(_signum, _frame):
        raise DeadlineExceeded('the overall deadline of %d s (option timeout) expired' % seconds)
    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def install_signal_handlers():
    def handler(signum, _frame):
        raise Interrupted('interrupted by signal %d' % signum)
    for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, handler)


# ---------------------------------------------------------------------------------------------
# argv builders (pure, unit-tested)

def tool_path(bin_dir, name):
    if bin_dir:
        return os.path.join(bin_dir, name)
    return shutil.which(name) or name


def pg_dump_argv(pg_dump, snapshot=None):
    argv = [pg_dump, '--format=custom', '--compress=0', '--no-password']
    if snapshot:
        argv.append('--snapshot=%s' % snapshot)
    return argv


def pg_dumpall_globals_argv(pg_dumpall):
    return [pg_dumpall, '--globals-only', '--no-password']


def compressor_argv(compression, level=None, threads=2):
    if compression == 'none':
        return None
    level = DEFAULT_LEVEL[compression] if level is None else level
    if compression == 'zstd':
        return ['zstd', '-q', '-c', '-T%d' % threads, '-%d' % level]
    return ['gzip', '-c', '-%d' % level]


def decompressor_argv(compression):
    if compression == 'none':
        return None
    if compression == 'zstd':
        return ['zstd', '-q', '-d', '-c']
    return ['gzip', '-d', '-c']


def parse_tool_version(text):
    """``pg_dump (PostgreSQL) 15.18 (Debian ...)`` -> (15, 18)."""
    m = VERSION_RE.search(text or '')
    if not m:
        return None
    return int(m.group(1)), int(m.group(2) or 0)


def tool_version(path):
    try:
        r = subprocess.run([path, '--version'], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise BackupError('Could not run %s: %s. Install the PostgreSQL client tools or set bin_dir.' % (path, e))
    v = parse_tool_version(r.stdout)
    if r.returncode != 0 or v is None:
        raise BackupError('Could not read the version of %s (rc=%s): %s. Install the PostgreSQL client tools '
                          'or set bin_dir.' % (path, r.returncode, (r.stderr or r.stdout).strip()[:300]))
    return v, r.stdout.strip()


def check_tool_not_older(tool_name, tool_v, server_major, server_version):
    if tool_v[0] < server_major:
        raise BackupError('Could not start %s: %s %d.%d is older than the server (PostgreSQL %s) and cannot '
                          'dump it. Install the PostgreSQL %d client tools and point bin_dir at them.'
                          % (tool_name, tool_name, tool_v[0], tool_v[1], server_version, server_major))


def child_env(params, dbname):
    env = dict(os.environ)
    env.update(libpq_environment(params, dbname=dbname))
    return env


# ---------------------------------------------------------------------------------------------
# streaming

def _read_err(f, params, limit=2000):
    try:
        f.seek(0)
        text = f.read().decode('utf-8', 'replace')
    except (OSError, ValueError):
        text = ''
    return redact(text.strip(), params)[-limit:]


def _widen_pipe(f):
    """Ask for a 1 MiB pipe (Linux): fewer wake-ups between pg_dump, the compressor and this process."""
    if f is None or not hasattr(fcntl, 'F_SETPIPE_SZ'):
        return
    try:
        fcntl.fcntl(f.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except (OSError, ValueError):
        pass  # above /proc/sys/fs/pipe-max-size or not a pipe: the default size works too


def _kill(procs):
    for p in procs:
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
    for p in procs:
        try:
            p.wait(30)
        except subprocess.TimeoutExpired:
            pass


def stream_to_store(argv, comp_argv, env, writer, params, label):
    """Run ``argv [| comp_argv]`` and stream its output into ``writer``; return (size, sha256).

    Raises BackupError when any stage fails (the caller aborts the writer).
    """
    errs = [tempfile.TemporaryFile(), tempfile.TemporaryFile()]
    procs = []
    try:
        try:
            p1 = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errs[0], env=env)
        except OSError as e:
            raise BackupError('Could not start %s: %s. Install the PostgreSQL client tools or set bin_dir.'
                              % (argv[0], e.strerror))
        procs.append(p1)
        _widen_pipe(p1.stdout)
        src = p1.stdout
        if comp_argv:
            try:
                p2 = subprocess.Popen(comp_argv, stdin=p1.stdout, stdout=subprocess.PIPE, stderr=errs[1])
            except OSError as e:
                raise BackupError('Could not start %s: %s. Install it (package %s) or choose another compression.'
                                  % (comp_argv[0], e.strerror, comp_argv[0]))
            procs.append(p2)
            p1.stdout.close()
            _widen_pipe(p2.stdout)
            src = p2.stdout
        h = hashlib.sha256()
        n = 0
        while True:
            block = src.read(READ_CHUNK)
            if not block:
                break
            h.update(block)
            n += len(block)
            writer.write(block)
        rcs = [p.wait() for p in procs]
        if rcs[0] != 0:
            how = 'was killed by signal %d' % -rcs[0] if rcs[0] < 0 else 'exited with code %d' % rcs[0]
            raise BackupError('%s %s: %s' % (label, how, _read_err(errs[0], params) or 'no error output'))
        if len(rcs) > 1 and rcs[1] != 0:
            raise BackupError('%s exited with code %d: %s' % (comp_argv[0], rcs[1], _read_err(errs[1], params)))
        return n, h.hexdigest()
    except BaseException:
        _kill(procs)
        raise
    finally:
        for p in procs:
            if p.stdout:
                p.stdout.close()
        for f in errs:
            f.close()


# ---------------------------------------------------------------------------------------------
# retention

def _dt(entry):
    return bs.parse_time(entry['created_at'])


RETENTION_RULES = ('daily', 'weekly', 'monthly', 'yearly', 'keep_last', 'max_age_days')
GFS_BUCKETS = (('daily', lambda d: d.strftime('%Y-%m-%d')),
               ('weekly', lambda d: '%04d-W%02d' % d.isocalendar()[:2]),    # ISO year and week
               ('monthly', lambda d: d.strftime('%Y-%m')),                   # year and month
               ('yearly', lambda d: d.strftime('%Y')))


def check_retention(policy):
    """The rules of ``policy`` that are on, as a dict; raises :class:`BackupError` for a policy to refuse.

    One meaning of 0 for every rule: 0 turns the rule off, like an absent (None) rule.  No rule at all (``{}``
    or None) keeps every backup.  A policy that names rules but turns all of them off is refused, so that
    ``keep_last: 0`` never means "keep only the newest".  Negative values are refused.
    """
    policy = dict((k, v) for k, v in (policy or {}).items() if v is not None)
    unknown = sorted(k for k in policy if k not in RETENTION_RULES)
    if unknown:
        raise BackupError('Could not apply retention: unknown rule %s. The rules are %s.'
                          % (', '.join(unknown), ', '.join(RETENTION_RULES)))
    for k in RETENTION_RULES:
        v = policy.get(k)
        if v is not None and (isinstance(v, bool) or not isinstance(v, int)):
            raise BackupError('Could not apply retention: %s must be a whole number, got %r.' % (k, v))
        if v is not None and v < 0:
            raise BackupError('Could not apply retention: %s must not be negative (got %d). Give the positive '
                              'number of backups (or days) to keep, or leave the rule out.' % (k, v))
    on = dict((k, v) for k, v in policy.items() if v > 0)
    if policy and not on:
        raise BackupError('Could not apply retention: every rule given is 0 (%s), and 0 turns a rule off, so no '
                          'rule says which backups to keep. Set at least one rule to a positive number, or leave '
                          'retention out to keep every backup.'
                          % ', '.join('%s: 0' % k for k in RETENTION_RULES if k in policy))
    return on


def plan_retention(entries, policy, now=None, protect=()):
    """Decide keep/delete for the backups of one database.

    ``entries``: catalogue entries (``list_backups``), ``policy``: dict with any of ``daily``, ``weekly``,
    ``monthly``, ``yearly`` (GFS: the newest backup of each of the N most recent days / ISO weeks / year-months /
    years that have backups), ``keep_last`` (N newest), ``max_age_days`` (younger than N days); 0 or None turns a
    rule off, and a policy with every rule off is refused (:func:`check_retention`, raises :class:`BackupError`).
    A backup is kept when any rule keeps it; the newest valid backup is always kept; invalid backups are left
    alone (``ignore``); no rule at all keeps everything.  Returns a list of ``{id, created_at, action, reasons}``
    newest first.
    """
    now = now or bs.utcnow()
    policy = check_retention(policy)
    valid = sorted([e for e in entries if e['valid']], key=lambda e: (_dt(e), e['id']), reverse=True)
    reasons = dict((e['id'], []) for e in valid)
    if valid:
        reasons[valid[0]['id']].append('newest valid backup')
    for e in valid:
        if e['id'] in protect and e['id'] != valid[0]['id']:
            reasons[e['id']].append('the backup just made')
    if not policy:
        for e in valid:
            reasons[e['id']].append('no retention rule')
    if policy.get('keep_last'):
        for i, e in enumerate(valid[:policy['keep_last']]):
            reasons[e['id']].append('keep_last %d (#%d)' % (policy['keep_last'], i + 1))
    if policy.get('max_age_days'):
        limit = now - datetime.timedelta(days=policy['max_age_days'])
        for e in valid:
            if _dt(e) >= limit:
                reasons[e['id']].append('younger than %d days' % policy['max_age_days'])
    for rule, bucket_of in GFS_BUCKETS:
        count = policy.get(rule)
        if not count:
            continue
        seen = []
        for e in valid:
            b = bucket_of(_dt(e))
            if b in seen:
                continue
            if len(seen) >= count:
                break
            seen.append(b)
            reasons[e['id']].append('%s %s' % (rule, b))
    plan = []
    for e in sorted(entries, key=bs.entry_order, reverse=True):
        if not e['valid']:
            plan.append({'id': e['id'], 'created_at': e['created_at'], 'action': 'ignore',
                         'reasons': ['invalid (%s): retention leaves it alone' % e['reason']]})
        elif reasons[e['id']]:
            plan.append({'id': e['id'], 'created_at': e['created_at'], 'action': 'keep', 'reasons': reasons[e['id']]})
        else:
            plan.append({'id': e['id'], 'created_at': e['created_at'], 'action': 'delete',
                         'reasons': ['kept by no rule of %s' % json.dumps(policy, sort_keys=True)]})
    return plan


def apply_retention(store, plan):
    """Delete the backups marked ``delete``: the manifest first (the backup is invalid at once), then the rest."""
    objects = store.list_objects()
    pruned = []
    for item in plan:
        if item['action'] != 'delete':
            continue
        keys = [k for k in objects if k.startswith(item['id'] + '/')]
        manifest = bs.backup_key(item['id'], bs.MANIFEST_NAME)
        store.delete([k for k in keys if k == manifest])
        store.delete([k for k in keys if k != manifest])
        pruned.append(item['id'])
    return pruned


def retain(store, db, backup_id, policy, now=None):
    """Retention after the backup ``backup_id`` of ``db`` was committed: (plan, pruned ids).

    Runs only when the store lists ``backup_id`` as valid; otherwise raises :class:`BackupError` and deletes
    nothing.  Without a rule (``{}``) the plan keeps everything and nothing is deleted.
    Raises :class:`backup_store.StoreError` when the store fails.
    """
    entries = bs.list_backups(store, database=db, now=now)
    mine = [e for e in entries if e['id'] == backup_id]
    if not mine or not mine[0]['valid']:
        raise BackupError('Backed up database %s as %s, but the store does not list it as valid (%s); '
                          'retention did not run. Check the store.' % (
                              json.dumps(db), backup_id, mine[0]['reason'] if mine else 'not listed'))
    plan = plan_retention(entries, policy, now=now, protect=(backup_id,))
    pruned = apply_retention(store, plan) if check_retention(policy) else []
    return plan, pruned


# ---------------------------------------------------------------------------------------------
# the backup

def _server_facts(conn, db):
    with conn.cursor() as cur:
        cur.execute("SELECT current_setting('server_version_num')::int, current_setting('server_version')")
        num, version = cur.fetchone()
        cur.execute("SELECT d.datname, pg_catalog.pg_encoding_to_char(d.encoding), d.datcollate, d.datctype, "
                    "pg_catalog.pg_get_userbyid(d.datdba), pg_catalog.pg_database_size(d.oid) "
                    "FROM pg_catalog.pg_database d WHERE d.datname = %s", (db,))
        row = cur.fetchone()
    return num, version, row


def _count_rows(conn, tables, out):
    try:
        with conn.cursor() as cur:
            # one backend: parallel workers and JIT would take the cores pg_dump and the compressor need
            cur.execute("SELECT pg_catalog.set_config('max_parallel_workers_per_gather', '0', true), "
                        "pg_catalog.set_config('jit', 'off', true)")
            for schema, table, _reltuples in tables:
                cur.execute(sql.SQL('SELECT count(*) FROM ONLY {}.{}').format(
                    sql.Identifier(schema), sql.Identifier(table)))
                out.append({'schema': schema, 'table': table, 'rows': cur.fetchone()[0]})
    except Exception as e:  # pylint: disable=broad-except
        out.append(e)


def run_backup(params, check_mode=False, now=None):
    """Back up ``params['db']`` into ``params['store']``; return the module result dict.

    The whole run is bounded by ``params['timeout']`` seconds (0 or None: no deadline): on expiry the dump is
    stopped, the partial object or multipart upload removed, and :class:`BackupError` says where it stopped.
    The steps are the methods of :class:`PgBackup`.
    """
    db = params['db']
    timeout = params.get('timeout')
    if timeout is not None and (isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 0):
        raise BackupError('Could not back up database %s: timeout must be a number of seconds (0 turns the '
                          'deadline off), got %r.' % (json.dumps(db), timeout))
    state = {'phase': 'preflight', 'committed': None}
    try:
        with deadline(timeout):
            return PgBackup(params, check_mode=check_mode, now=now, state=state).run()
    except DeadlineExceeded as e:
        if state['committed']:
            raise BackupError('Backed up database %s as %s, but %s during retention. The new backup is valid; '
                              'rerun to apply retention, or raise timeout.' % (json.dumps(db), state['committed'], e))
        raise BackupError('Could not back up database %s: %s during the %s. No backup was committed; retention '
                          'did not run. Check the server and the store (S3 endpoints are '
                          'bounded by s3_connect_timeout, s3_read_timeout and s3_max_attempts), or raise timeout.'
                          % (json.dumps(db), e, state['phase']))


class PgBackup(object):
    """One backup run. :meth:`run` calls the named steps in order, each a method; what they find and write
    accumulates on the instance (``timings``, ``written``, ``result``), as in ``Maintenance`` and
    ``CacheFlusher``. ``state`` tells :func:`run_backup` where a deadline stopped the run."""

    def __init__(self, params, check_mode=False, now=None, state=None):
        self.t0 = time.monotonic()
        self.started = now or bs.utcnow()
        self.params = params
        self.check_mode = check_mode
        self.state = state if state is not None else {'phase': 'preflight', 'committed': None}
        self.db = params['db']
        self.compression = params['compression']
        self.row_counts = params.get('row_counts') or 'exact'
        self.policy = params.get('retention') or {}
        self.timings = {}
        self.warnings = []
        self.swept = []
        self.existing = []
        self.written = []
        self.store = self.where = self.result = None
        self.num = self.server_version = self.dbrow = None
        self.pg_dump = self.pg_dumpall = self.comp_argv = None
        self.dump_v = self.dump_vtext = None
        self.backup_id = self.data_name = None
        self.globals_meta = None
        self.snap_conn = self.snapshot = None
        self.tables = []
        self.counts = []
        self.size = self.sha = None
        self.manifest = None

    def run(self):
        self.check_options()
        self.open_store()
        self.preflight()
        self.check_store()
        self.new_result()
        if self.check_mode:
            return self.plan()
        self.write_backup()
        self.apply_retention()
        return self.finish()

    # -- steps -------------------------------------------------------------------------------------

    def check_options(self):
        """Refuse bad options (row_counts, a retention policy) before any work."""
        if self.row_counts not in ROW_COUNTS:
            raise BackupError('Could not back up database %s: row_counts must be one of %s.'
                              % (json.dumps(self.db), ', '.join(ROW_COUNTS)))
        check_retention(self.policy)

    def open_store(self):
        try:
            self.store = bs.open_store(self.params)
        except bs.StoreError as e:
            raise BackupError('Could not open the backup store: %s. Check the store URL and options.' % e)
        self.where = describe_target(self.params, dbname=self.db)

    def preflight(self):
        """Server reachable, database exists, tools new enough, the compressor installed."""
        params, db = self.params, self.db
        try:
            conn = connect(params, dbname='postgres')
        except psycopg.Error as e:
            raise BackupError('Could not connect to %s: %s. Check login_* options and the server.'
                              % (describe_target(params, dbname='postgres'), redact(e, params).strip()))
        try:
            self.num, self.server_version, self.dbrow = _server_facts(conn, db)
        finally:
            conn.close()
        if self.dbrow is None:
            raise BackupError('Could not back up database %s: it does not exist on %s. Check the db option.'
                              % (json.dumps(db), self.where))
        server_major = self.num // 10000
        self.pg_dump = tool_path(params.get('bin_dir'), 'pg_dump')
        self.dump_v, self.dump_vtext = tool_version(self.pg_dump)
        check_tool_not_older('pg_dump', self.dump_v, server_major, self.server_version)
        if params.get('globals'):
            self.pg_dumpall = tool_path(params.get('bin_dir'), 'pg_dumpall')
            check_tool_not_older('pg_dumpall', tool_version(self.pg_dumpall)[0], server_major, self.server_version)
        self.comp_argv = compressor_argv(self.compression, params.get('compression_level'),
                                         params.get('compression_threads') or 2)
        if self.comp_argv and shutil.which(self.comp_argv[0]) is None:
            raise BackupError('Could not back up database %s: the %s program is not installed. Install it or set '
                              'compression to another value.' % (json.dumps(db), self.comp_argv[0]))

    def check_store(self):
        """The store is reachable (created when missing), and what killed runs left there is swept."""
        store = self.store
        self.state['phase'] = 'check of the store'
        try:
            if self.check_mode and store.kind == 'local' and not os.path.isdir(store.root):
                pass  # the first backup will create the directory
            else:
                store.check(create=not self.check_mode)
                if self.check_mode:  # the plan needs the catalogue now; a real run reads it after the backup
                    self.existing = bs.list_backups(store, database=self.db, now=self.started)
                self.state['phase'] = 'sweep of leftovers'
                try:
                    self.swept = bs.sweep_leftovers(store, now=self.started, check_mode=self.check_mode)
                except bs.StoreError as e:  # e.g. no permission to list uploads: the backup itself can still run
                    self.warnings.append('Could not sweep the leftovers of earlier runs in %s: %s. Remove them by '
                                         'hand or grant the permission.' % (store.describe(), e))
        except bs.StoreError as e:
            raise BackupError('Could not use the backup store %s: %s.' % (store.describe(), e))
        self.timings['preflight_s'] = round(time.monotonic() - self.t0, 3)

    def new_result(self):
        self.backup_id = bs.new_backup_id(self.db, self.started)
        self.data_name = bs.data_name(self.compression)
        self.result = {'changed': True, 'backup_id': self.backup_id, 'store': self.store.describe(),
                       'key': bs.backup_key(self.backup_id, self.data_name), 'database': self.db, 'pruned': [],
                       'retention': [], 'manifest': {}, 'timings': self.timings, 'swept': self.swept}
        if self.warnings:
            self.result['warnings'] = self.warnings

    def plan(self):
        """Check mode: what a run would write and which backups retention would delete."""
        result = self.result
        hypothetical = {'id': self.backup_id, 'created_at': bs.format_time(self.started), 'valid': True,
                        'reason': 'ok'}
        plan = plan_retention([hypothetical] + self.existing, self.policy, now=self.started,
                              protect=(self.backup_id,))
        result['retention'] = plan
        result['pruned'] = [p['id'] for p in plan if p['action'] == 'delete']
        result['msg'] = 'would back up %s (%d bytes on disk) to %s' % (
            json.dumps(self.db), self.dbrow[5], self.store.describe())
        return result

    def write_backup(self):
        """Globals, the snapshot, the dump and the manifest LAST; on any failure what was written is removed."""
        db, store = self.db, self.store
        self.state['phase'] = 'backup'
        try:
            self.dump_globals()
            self.open_snapshot()
            self.dump_data()
            self.write_manifest()
        except bs.StoreError as e:
            _cleanup(store, self.written)
            raise BackupError('Could not back up database %s to %s: %s. Nothing was kept under a valid name; '
                              'retention did not run.' % (json.dumps(db), store.describe(), e))
        except BackupError as e:
            _cleanup(store, self.written)
            msg = str(e)
            if not msg.startswith('Could not'):
                msg = 'Could not back up database %s: %s' % (json.dumps(db), msg)
            raise BackupError(msg + '. No backup was committed; retention did not run.')
        except DeadlineExceeded as e:
            _cleanup(store, self.written)
            raise BackupError('Could not back up database %s to %s: %s while the dump was written; it was stopped '
                              'and the partial object or upload removed. No backup was committed; retention did not '
                              'run. Raise timeout if the backup needs longer, or check the server and the store.'
                              % (json.dumps(db), store.describe(), e))
        except Interrupted as e:
            _cleanup(store, self.written)
            raise BackupError('Could not back up database %s: %s. No backup was committed; retention did not run.'
                              % (json.dumps(db), e))
        except BaseException:
            _cleanup(store, self.written)
            raise
        finally:
            if self.snap_conn is not None:
                try:
                    self.snap_conn.close()
                except psycopg.Error:
                    pass

    def dump_globals(self):
        """Roles and tablespaces (small): pg_dumpall --globals-only, when asked."""
        if not self.pg_dumpall:
            return
        gname = bs.globals_name(self.compression)
        gkey = bs.backup_key(self.backup_id, gname)
        w = self.store.open_writer(gkey)
        try:
            gsize, gsha = stream_to_store(pg_dumpall_globals_argv(self.pg_dumpall), self.comp_argv,
                                          child_env(self.params, 'postgres'), w, self.params, 'pg_dumpall')
            w.commit()
        except BaseException:
            w.abort()
            raise
        self.written.append(gkey)
        self.globals_meta = {'key': gname, 'size': gsize, 'sha256': gsha}

    def open_snapshot(self):
        """A snapshot shared by pg_dump and the row counts, and the table list read in it."""
        try:
            self.snap_conn = connect(self.params, dbname=self.db, autocommit=False)
            with self.snap_conn.cursor() as cur:
                cur.execute('SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY')
                cur.execute('SELECT pg_catalog.pg_export_snapshot()')
                self.snapshot = cur.fetchone()[0]
                cur.execute(TABLES_SQL)
                self.tables = cur.fetchall()
        except psycopg.Error as e:
            raise BackupError('Could not back up database %s on %s: %s' % (
                json.dumps(self.db), self.where, redact(e, self.params).strip()))

    def dump_data(self):
        """pg_dump in the snapshot, streamed through the compressor into the store, counting rows meanwhile."""
        params, timings = self.params, self.timings
        counts = self.counts
        counter = None
        if self.row_counts == 'exact':
            counter = threading.Thread(target=_count_rows, args=(self.snap_conn, self.tables, counts), daemon=True)
        else:
            counts.extend({'schema': schema, 'table': table, 'rows': _estimate(reltuples, self.row_counts)}
                          for schema, table, reltuples in self.tables)
        t_dump = time.monotonic()
        dkey = bs.backup_key(self.backup_id, self.data_name)
        w = self.store.open_writer(dkey)
        try:
            if counter is not None:
                counter.start()
            self.size, self.sha = stream_to_store(pg_dump_argv(self.pg_dump, self.snapshot), self.comp_argv,
                                                  child_env(params, self.db), w, params, 'pg_dump')
            if counter is not None:
                t_join = time.monotonic()
                counter.join()
                timings['count_wait_s'] = round(time.monotonic() - t_join, 3)
            t_commit = time.monotonic()
            w.commit()
            timings['commit_s'] = round(time.monotonic() - t_commit, 3)
        except BaseException:
            w.abort()
            raise
        self.written.append(dkey)
        timings['dump_s'] = round(time.monotonic() - t_dump, 3)
        errors = [c for c in counts if isinstance(c, Exception)]
        if errors:
            raise BackupError('Could not count the rows of database %s: %s' % (
                json.dumps(self.db), redact(errors[0], params).strip()))
        try:
            self.snap_conn.rollback()
        except psycopg.Error:
            pass

    def write_manifest(self):
        """Check what the store holds, then write the manifest, the commit marker."""
        dkey = bs.backup_key(self.backup_id, self.data_name)
        stored = self.store.size(dkey)
        if stored != self.size:
            raise BackupError('the store holds %s bytes for %s, %d were written' % (stored, dkey, self.size))
        finished = bs.utcnow()
        dbrow = self.dbrow
        manifest = {
            'manifest_version': bs.MANIFEST_VERSION,
            'id': self.backup_id,
            'engine': 'postgresql',
            'server_version': self.server_version,
            'server_version_num': self.num,
            'database': self.db,
            'encoding': dbrow[1], 'collate': dbrow[2], 'ctype': dbrow[3], 'owner': dbrow[4],
            'database_size': dbrow[5],
            'created_at': bs.format_time(self.started),
            'finished_at': bs.format_time(finished),
            'duration_s': round(time.monotonic() - self.t0, 3),
            'format': 'custom',
            'compression': self.compression,
            'data_key': self.data_name,
            'size': self.size,
            'sha256': self.sha,
            'tables': self.counts,
            'row_counts': self.row_counts,
            'pg_dump_version': '%d.%d' % self.dump_v,
            'pg_dump_version_text': self.dump_vtext,
            'globals': self.globals_meta,
            'tags': self.params.get('tags') or {},
            'source': self.where,
        }
        problems = bs.validate_manifest(manifest, self.backup_id)
        if problems:
            raise BackupError('the manifest is invalid: %s' % '; '.join(problems))
        mkey = bs.backup_key(self.backup_id, bs.MANIFEST_NAME)
        self.store.put_bytes(mkey, json.dumps(manifest, indent=2, sort_keys=True).encode('utf-8'))
        self.written.append(mkey)
        self.manifest = manifest

    def apply_retention(self):
        """Retention, only once the store lists the new backup as valid."""
        self.state['committed'] = self.backup_id
        t_ret = time.monotonic()
        self.result['manifest'] = self.manifest
        try:
            self.result['retention'], self.result['pruned'] = retain(self.store, self.db, self.backup_id,
                                                                     self.policy)
        except bs.StoreError as e:
            raise BackupError('Backed up database %s as %s, but retention failed: %s. The new backup is valid; '
                              'rerun to apply retention.' % (json.dumps(self.db), self.backup_id, e))
        self.timings['retention_s'] = round(time.monotonic() - t_ret, 3)

    def finish(self):
        self.timings['total_s'] = round(time.monotonic() - self.t0, 3)
        self.result['peak_rss_mib'] = peak_rss_mib()
        self.result['msg'] = 'backed up %s as %s (%d bytes, %s)' % (
            json.dumps(self.db), self.backup_id, self.size, self.compression)
        return self.result


def _estimate(reltuples, row_counts):
    """``pg_class.reltuples`` -> an int estimate, ``None`` when unknown (never analyzed) or not wanted."""
    if row_counts != 'estimate' or reltuples is None or reltuples < 0:
        return None
    return int(round(reltuples))


def peak_rss_mib():
    """Peak resident memory of this process in MiB (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


def _cleanup(store, keys):
    if not keys:
        return
    try:
        # the manifest (if any) goes first, so a half-cleaned backup is never valid
        store.delete(sorted(keys, key=lambda k: not k.endswith('/' + bs.MANIFEST_NAME)))
    except bs.StoreError:
        pass
