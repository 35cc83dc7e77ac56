# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""MySQL/MariaDB backups streamed into a backup store (``runbook.ops.db_backup`` with ``engine: mysql``).

Pipeline (argv lists, no shell; the connection and password in a private option file)::

    mariadb-dump --defaults-file=F --single-transaction --quick --routines --triggers --events -- DB
        |  zstd -T<n> -<level>  (or gzip)  |  sha256 + store (backup_store writer)

The store, its layout, the writers, the catalogue and the retention plan are those of the PostgreSQL engine
(``backup_store``; the retention rules of ``backup_retention``, one owner for both engines); the manifest says
``engine: mysql``, ``format: sql`` and carries ``dump_version`` (the dump tool's version).

Row counts from the dump's own snapshot.  MariaDB cannot share a snapshot between two connections, so this
module makes both snapshots start while nothing can write to the database's tables:

1. connection A: ``LOCK TABLES <every base table> READ`` (writers wait, readers do not);
2. connection B: ``START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY`` (its connection id is X);
3. the dump starts; A polls ``information_schema.INNODB_TRX`` until a transaction of a connection of the same
   user with an id above X exists (the dump's ``--single-transaction``), then ``UNLOCK TABLES``;
4. B counts every table while the dump streams, from the moment the dump starts (step 3 runs beside it in another
   thread: B's snapshot is already fixed, so the counts need not wait for the unlock).

So both snapshots see the same committed state; writers wait for the seconds it takes the dump to connect.
Non-transactional tables (MyISAM, Aria, ...) cannot be read consistently by ``--single-transaction``: the
backup refuses them unless ``allow_locking`` is true, and then A holds its read lock until the dump has ended.

``globals: true`` stores the server's users and grants: ``SHOW CREATE USER`` and ``SHOW GRANTS`` of every
account but the server's own, as SQL statements (password hashes included, as the server prints them).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import threading
import time

from ansible_collections.runbook.ops.plugins.module_utils import backup_retention as br
from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs
from ansible_collections.runbook.ops.plugins.module_utils import dump_pipeline as dp
from ansible_collections.runbook.ops.plugins.module_utils import mysql as my

if my.HAS_PYMYSQL:
    import pymysql

FORMAT = 'sql'
TRANSACTIONAL = ('InnoDB', 'XtraDB', 'RocksDB', 'TokuDB', 'ndbcluster', 'SEQUENCE')
SYSTEM_ACCOUNTS = ('mariadb.sys', 'mysql.sys', 'mysql.session', 'mysql.infoschema')
HANDSHAKE_TIMEOUT = 120.0
VERSION_RE = re.compile(r'(?:Distrib |from |Ver )([0-9]+\.[0-9]+\.[0-9]+)')


class BackupError(my.MysqlError):
    """A backup failure with a message ready for fail_json (no secrets)."""


# The pipeline, the compressor choice, the interruption rule (SIGTERM/SIGINT/SIGHUP and the overall deadline, option
# ``timeout``) and the cleanup order are dump_pipeline's, one owner for both engines.
Interrupted = dp.Interrupted
install_signal_handlers = dp.install_signal_handlers
compressor_argv = dp.compressor_argv


# ---------------------------------------------------------------------------------------------
# pure helpers (unit-tested)

def dump_argv(tool, defaults_path, db):
    """The dump command; ``--defaults-file`` must come first.  ``db`` after ``--`` (a name may start with -)."""
    return [tool, '--defaults-file=%s' % defaults_path, '--single-transaction', '--quick', '--routines',
            '--triggers', '--events', '--hex-blob', '--default-character-set=utf8mb4', '--skip-dump-date',
            '--', db]


def non_transactional(tables):
    """``[(name, engine, type)]`` -> the base tables whose engine cannot be dumped in one snapshot."""
    return [(n, e) for n, e, t in tables if t == 'BASE TABLE' and (e or '') not in TRANSACTIONAL]


def events_refusal(db, n_events):
    """mariadb-dump --events fails ("Unknown database") on a database whose name holds a quote or backslash
    when it has events: say so before the dump starts."""
    if n_events and any(c in db for c in '"\'\\'):
        return ('Could not back up database %s: it has %d event(s), and mariadb-dump --events cannot dump the events '
                'of a database whose name holds a quote or a backslash (it fails with "Unknown database"). Rename the '
                'database, or drop its events and recreate them after a restore.' % (json.dumps(db), n_events))
    return None


def parse_tool_version(text):
    """``mariadb-dump  Ver 10.19 Distrib 10.11.14-MariaDB`` -> ``10.11.14``."""
    m = VERSION_RE.search(text or '')
    return m.group(1) if m else None


def validate_manifest(manifest, backup_id=None):
    """Problems of a MySQL manifest (empty when well-formed): backup_store's checks for engine mysql."""
    if isinstance(manifest, dict) and manifest.get('engine') != 'mysql':
        return ['field engine is not mysql']
    return bs.validate_manifest(manifest, backup_id, engine='mysql')


def list_backups(store, database=None, verify_checksum=False, now=None):
    """backup_store's catalogue with the MySQL backups valid (the backups of other engines are listed, not valid,
    so a MySQL restore never picks them and retention leaves them alone)."""
    return bs.list_backups(store, database=database, verify_checksum=verify_checksum, now=now, engine='mysql')


def retain(store, db, backup_id, policy, now=None):
    """``backup_retention.retain`` over the MySQL backups of ``db`` (the other engines' backups are left alone);
    raises :class:`BackupError` with its message when the fresh backup is not listed as valid."""
    try:
        return br.retain(store, db, backup_id, policy, now=now, engine='mysql')
    except br.RetentionError as e:
        raise BackupError(str(e))


# ---------------------------------------------------------------------------------------------
# the pipeline


def stream(argv, comp_argv, writer, params, label, on_start=None):
    """Run ``argv | comp_argv`` into ``writer`` (``dump_pipeline``, with MySQL's stderr redaction and hint); return
    (size, sha256); raise BackupError when a stage fails.  ``on_start(process)`` is called once the dump runs."""
    try:
        return dp.stream_to_store(argv, comp_argv, writer, label=label, clean=lambda text: my.redact(text, params),
                                  start_hint='Install mariadb-client (or the MySQL client tools) or set bin_dir.',
                                  on_start=on_start)
    except dp.PipelineError as e:
        raise BackupError(str(e))


def dump_globals(conn):
    """Users and grants as SQL, from the server's own SHOW CREATE USER and SHOW GRANTS."""
    out = ['-- users and grants, by runbook.ops db_backup (SHOW CREATE USER / SHOW GRANTS)']
    with conn.cursor() as cur:
        cur.execute("SELECT User, Host FROM mysql.user WHERE User <> '' ORDER BY User, Host")
        accounts = [(u, h) for u, h in cur.fetchall() if u not in SYSTEM_ACCOUNTS]
        for user, host in accounts:
            cur.execute('SHOW CREATE USER %s@%s', (user, host))
            out.append(cur.fetchone()[0] + ';')
            cur.execute('SHOW GRANTS FOR %s@%s', (user, host))
            out.extend(row[0] + ';' for row in cur.fetchall())
    return ('\n'.join(out) + '\n').encode('utf-8'), len(accounts)


def _base_tables(cur, db):
    cur.execute("SELECT TABLE_NAME, ENGINE, TABLE_TYPE, TABLE_ROWS FROM information_schema.TABLES "
                "WHERE TABLE_SCHEMA = %s ORDER BY TABLE_NAME", (db,))
    return cur.fetchall()


class _Snapshot(object):
    """Connections A (read lock) and B (snapshot, counts) of the handshake described in the module docstring."""

    def __init__(self, params, db, tables, hold_lock):
        self.params, self.db, self.tables, self.hold_lock = params, db, tables, hold_lock
        self.lock_conn = my.connect(params)
        self.snap_conn = None
        self.counts = []
        self.errors = []
        self.threads = []
        self.locked = False
        self.timings = {}

    def begin(self):
        with self.lock_conn.cursor() as cur:
            if self.tables:
                cur.execute('LOCK TABLES ' + ', '.join('%s.%s READ' % (my.qi(self.db), my.qi(t))
                                                       for t in self.tables))
                self.locked = True
        self.snap_conn = my.connect(self.params, autocommit=False)
        with self.snap_conn.cursor() as cur:
            cur.execute('SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ')
            cur.execute('START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY')
            cur.execute('SELECT CONNECTION_ID()')
            self.snap_id = cur.fetchone()[0]

    def start(self, dump_proc, count_rows):
        """Two threads once the dump runs: A waits for the dump's transaction, then unlocks; B counts at once (its
        snapshot was taken under the lock, so when it counts does not matter, and the counts do not wait for the
        handshake: bench/mysql measured the handshake at 1-4 s on a loaded 2-core machine)."""
        self.threads = [threading.Thread(target=self._guarded, args=(self._handshake, dump_proc), daemon=True)]
        if count_rows:
            self.threads.append(threading.Thread(target=self._guarded, args=(self._count,), daemon=True))
        for th in self.threads:
            th.start()

    def _guarded(self, step, *args):
        try:
            step(*args)
        except Exception as e:  # pylint: disable=broad-except
            self.errors.append(e)

    def _handshake(self, dump_proc):
        if not self.hold_lock and self.locked:
            t0 = time.monotonic()
            self._wait_for_dump(dump_proc)
            self.unlock()
            self.timings['lock_held_s'] = round(time.monotonic() - t0, 3)

    def _count(self):
        t0 = time.monotonic()
        with self.snap_conn.cursor() as cur:
            for t in self.tables:
                cur.execute('SELECT COUNT(*) FROM %s.%s' % (my.qi(self.db), my.qi(t)))
                self.counts.append({'schema': self.db, 'table': t, 'rows': int(cur.fetchone()[0])})
        self.timings['count_s'] = round(time.monotonic() - t0, 3)

    def _wait_for_dump(self, dump_proc):
        stop = time.monotonic() + HANDSHAKE_TIMEOUT
        with self.lock_conn.cursor() as cur:
            while time.monotonic() < stop:
                cur.execute("SELECT COUNT(*) FROM information_schema.INNODB_TRX t "
                            "JOIN information_schema.PROCESSLIST p ON p.ID = t.trx_mysql_thread_id "
                            "WHERE t.trx_mysql_thread_id > %s AND p.USER = SUBSTRING_INDEX(USER(), '@', 1)",
                            (self.snap_id,))
                if cur.fetchone()[0]:
                    return
                if dump_proc.poll() is not None:
                    return  # it ran entirely under the lock (its exit code is checked by the pipeline)
                time.sleep(0.005)
        raise BackupError('the dump\'s transaction did not appear in information_schema.INNODB_TRX within %d s '
                          '(the login user needs the PROCESS privilege for exact row counts)' % HANDSHAKE_TIMEOUT)

    def unlock(self):
        if self.locked:
            with self.lock_conn.cursor() as cur:
                cur.execute('UNLOCK TABLES')
            self.locked = False

    def join(self):
        for th in self.threads:
            th.join()
        if self.errors:
            e = self.errors[0]
            raise BackupError(my.redact(my.error_text(e) if isinstance(e, pymysql.Error) else str(e), self.params))

    def close(self):
        for c in (self.snap_conn, self.lock_conn):
            if c is not None:
                try:
                    c.close()
                except Exception:  # pylint: disable=broad-except
                    pass


def tool_version(tool):
    try:
        return dp.tool_version(tool, parse_tool_version, 'Install mariadb-client or set bin_dir.')
    except dp.PipelineError as e:
        raise BackupError(str(e))


# ---------------------------------------------------------------------------------------------
# the backup

def run_backup(params, check_mode=False, now=None):
    db = params['db']
    state = {'phase': 'preflight', 'committed': None}
    return dp.bounded(lambda: _run_backup(params, check_mode, now, state), params.get('timeout'), db, state,
                      BackupError)


def _run_backup(params, check_mode, now, state):
    t0 = time.monotonic()
    started = now or bs.utcnow()
    db = params['db']
    compression = params.get('compression') or 'zstd'
    row_counts = params.get('row_counts') or 'exact'
    policy = params.get('retention') or {}
    try:
        br.check_retention(policy)
    except br.RetentionError as e:
        raise BackupError(str(e))
    timings = {}
    try:
        store = bs.open_store(params)
    except bs.StoreError as e:
        raise BackupError('Could not open the backup store: %s. Check the store URL and options.' % e)
    where = my.describe_target(params, db)
    conn = my.connect(params)
    try:
        version = my.server_version(conn)
        with conn.cursor() as cur:
            cur.execute('SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA '
                        'WHERE SCHEMA_NAME = %s', (db,))
            dbrow = cur.fetchone()
            if dbrow is None:
                raise BackupError('Could not back up database %s: it does not exist on %s. Check the db option.'
                                  % (json.dumps(db), where))
            objects = _base_tables(cur, db)
            cur.execute('SELECT COALESCE(SUM(DATA_LENGTH + INDEX_LENGTH), 0) FROM information_schema.TABLES '
                        'WHERE TABLE_SCHEMA = %s', (db,))
            db_size = int(cur.fetchone()[0])
            cur.execute('SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s', (db,))
            n_events = int(cur.fetchone()[0])
        globals_sql = dump_globals(conn) if params.get('globals') and not check_mode else None
    except pymysql.Error as e:
        raise BackupError('Could not read database %s on %s: %s. Check the privileges of the login user.'
                          % (json.dumps(db), where, my.redact(my.error_text(e), params)))
    finally:
        conn.close()
    tables = [n for n, _e, t, _r in objects if t == 'BASE TABLE']
    if events_refusal(db, n_events):
        raise BackupError(events_refusal(db, n_events))
    blocking = non_transactional([(n, e, t) for n, e, t, _r in objects])
    allow_locking = bool(params.get('allow_locking'))
    if blocking and not allow_locking:
        raise BackupError('Could not back up database %s: %d table(s) are not transactional (%s), so '
                          '--single-transaction cannot dump them consistently. Convert them to InnoDB, or set '
                          'allow_locking: true to hold a read lock on the database\'s tables (writers wait) for the '
                          'whole dump.' % (json.dumps(db), len(blocking),
                                           ', '.join('%s (%s)' % (json.dumps(n), e) for n, e in blocking[:10])))
    tool = my.dump_tool(params.get('bin_dir'))
    if tool is None:
        raise BackupError('Could not back up database %s: neither mariadb-dump nor mysqldump is installed%s. Install '
                          'mariadb-client or set bin_dir.' % (json.dumps(db), ' in %s' % params['bin_dir']
                                                              if params.get('bin_dir') else ''))
    dump_v, dump_vtext = tool_version(tool)
    comp_argv = compressor_argv(compression, params.get('compression_level'), params.get('compression_threads') or 2)
    if comp_argv and shutil.which(comp_argv[0]) is None:
        raise BackupError('Could not back up database %s: the %s program is not installed. Install it or set '
                          'compression to another value.' % (json.dumps(db), comp_argv[0]))
    state['phase'] = 'check of the store'
    swept, existing = [], []
    try:
        if not (check_mode and store.kind == 'local' and not os.path.isdir(store.root)):
            store.check(create=not check_mode)
            if check_mode:
                existing = list_backups(store, database=db, now=started)
            swept = bs.sweep_leftovers(store, now=started, check_mode=check_mode)
    except bs.StoreError as e:
        raise BackupError('Could not use the backup store %s: %s.' % (store.describe(), e))
    timings['preflight_s'] = round(time.monotonic() - t0, 3)
    backup_id = bs.new_backup_id(db, started)
    data_name = bs.data_name(compression)
    result = {'changed': True, 'backup_id': backup_id, 'store': store.describe(),
              'key': bs.backup_key(backup_id, data_name), 'database': db, 'pruned': [], 'retention': [],
              'manifest': {}, 'timings': timings, 'swept': swept, 'orphans': []}
    if check_mode:
        try:
            result['orphans'] = bs.sweep_orphans(store, now=started, check_mode=True)
        except bs.StoreError:
            pass
        hypothetical = {'id': backup_id, 'created_at': bs.format_time(started), 'valid': True, 'reason': 'ok'}
        try:
            plan = br.plan_retention([hypothetical] + existing, policy, now=started, protect=(backup_id,))
        except br.RetentionError as e:
            raise BackupError(str(e))
        result['retention'] = plan
        result['pruned'] = [p['id'] for p in plan if p['action'] == 'delete']
        result['msg'] = 'would back up %s (%d bytes on disk, %d tables) to %s' % (
            json.dumps(db), db_size, len(tables), store.describe())
        return result

    written = []
    snap = None
    state['phase'] = 'backup'
    try:
        with dp.writing(store, written, db, BackupError, known=(my.MysqlError,)):
            globals_meta = None
            if globals_sql is not None:
                gname = bs.globals_name(compression)
                data = dp.compress_bytes(globals_sql[0], comp_argv)
                store.put_bytes(bs.backup_key(backup_id, gname), data)
                written.append(bs.backup_key(backup_id, gname))
                globals_meta = {'key': gname, 'size': len(data), 'sha256': hashlib.sha256(data).hexdigest(),
                                'accounts': globals_sql[1]}
            if row_counts == 'exact' or blocking:  # estimates and table lists need no shared snapshot
                try:
                    t_snap = time.monotonic()
                    snap = _Snapshot(params, db, tables, hold_lock=bool(blocking))
                    snap.begin()
                    timings['snapshot_s'] = round(time.monotonic() - t_snap, 3)
                except pymysql.Error as e:
                    raise BackupError('Could not start the snapshot of database %s on %s: %s' % (
                        json.dumps(db), where, my.redact(my.error_text(e), params)))
            t_dump = time.monotonic()
            dkey = bs.backup_key(backup_id, data_name)
            w = store.open_writer(dkey)
            try:
                with my.defaults_file(params, tmp_dir=params.get('tmp_dir')) as cnf:
                    if snap is None:
                        size, sha = stream(dump_argv(tool, cnf, db), comp_argv, w, params, os.path.basename(tool))
                    else:
                        size, sha = _dump_with_snapshot(dump_argv(tool, cnf, db), comp_argv, w, params, snap,
                                                        row_counts == 'exact')
                w.commit()
            except BaseException:
                w.abort()
                raise
            written.append(dkey)
            timings['dump_s'] = round(time.monotonic() - t_dump, 3)
            if snap is not None:
                timings.update(snap.timings)
            if row_counts == 'exact':
                counts = snap.counts
            else:
                counts = [{'schema': db, 'table': n, 'rows': (int(r) if r is not None and row_counts == 'estimate'
                                                              else None)}
                          for n, _e, t, r in objects if t == 'BASE TABLE']
            stored = store.size(dkey)
            if stored != size:
                raise BackupError('the store holds %s bytes for %s, %d were written' % (stored, dkey, size))
            manifest = {
                'manifest_version': bs.MANIFEST_VERSION, 'id': backup_id, 'engine': 'mysql',
                'server_version': (re.match(r'[0-9.]*', version).group(0) or '0') + (' (%s)' % version),
                'database': db, 'encoding': dbrow[0], 'collate': dbrow[1],
                'database_size': db_size, 'created_at': bs.format_time(started),
                'finished_at': bs.format_time(bs.utcnow()), 'duration_s': round(time.monotonic() - t0, 3),
                'format': FORMAT, 'compression': compression, 'data_key': data_name, 'size': size, 'sha256': sha,
                'tables': counts, 'row_counts': row_counts, 'dump_version': dump_v, 'dump_version_text': dump_vtext,
                'locking': 'read lock for the whole dump' if blocking else 'single transaction',
                'globals': globals_meta, 'tags': params.get('tags') or {}, 'source': where,
            }
            problems = validate_manifest(manifest, backup_id)
            if problems:
                raise BackupError('the manifest is invalid: %s' % '; '.join(problems))
            mkey = bs.backup_key(backup_id, bs.MANIFEST_NAME)
            store.put_bytes(mkey, json.dumps(manifest, indent=2, sort_keys=True).encode('utf-8'))
            written.append(mkey)
    finally:
        if snap is not None:
            snap.close()

    state['committed'] = backup_id
    t_ret = time.monotonic()
    result['manifest'] = manifest
    try:
        result['retention'], result['pruned'] = retain(store, db, backup_id, policy)
    except bs.StoreError as e:
        raise BackupError('Backed up database %s as %s, but retention failed: %s. The new backup is valid; rerun to '
                          'apply retention.' % (json.dumps(db), backup_id, e))
    try:
        # objects of a backup that never got its manifest, older than the grace period (backup_store's one rule)
        result['orphans'] = bs.sweep_orphans(store, now=started)
    except bs.StoreError as e:
        result.setdefault('warnings', []).append('Could not prune the orphan objects of %s: %s' % (store.describe(), e))
    timings['retention_s'] = round(time.monotonic() - t_ret, 3)
    timings['total_s'] = round(time.monotonic() - t0, 3)
    result['peak_rss_mib'] = dp.peak_rss_mib()
    result['msg'] = 'backed up %s as %s (%d bytes, %s)' % (json.dumps(db), backup_id, size, compression)
    return result


def _dump_with_snapshot(argv, comp_argv, writer, params, snap, count_rows):
    """Stream the dump; the snapshot thread releases the lock once the dump's transaction runs, then counts."""
    size, sha = stream(argv, comp_argv, writer, params, os.path.basename(argv[0]),
                       on_start=lambda p: snap.start(p, count_rows))
    t = time.monotonic()
    snap.join()
    snap.timings['count_wait_s'] = round(time.monotonic() - t, 3)
    snap.unlock()  # (held for the whole dump only with allow_locking; on a failure closing the connection frees it)
    return size, sha
