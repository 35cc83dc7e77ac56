# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verified PostgreSQL restores from a backup store (logic of ``runbook.ops.db_restore``).

Order of work, each step only after the previous one succeeded:

1. select a valid backup (``latest`` | ``<id>`` | ``before:<ISO time>``);
2. download it to a private temp directory, hashing the compressed bytes and decompressing on the fly;
   size and sha256 are compared with the manifest BEFORE any database is touched;
3. optionally restore the globals (roles) with psql;
4. ``CREATE DATABASE <scratch>`` (``OWNER`` as recorded, when that role exists) and ``pg_restore --exit-on-error
   --jobs N`` into it; then the database's settings and ACL recorded in the manifest (``database_properties``:
   ``ALTER DATABASE|ROLE ... SET``, ``GRANT ... ON DATABASE``; roles missing here are skipped and named);
5. count the rows of every table of the manifest in the scratch database and compare;
6. ``verify``: drop the scratch database.  ``new``: rename it to ``target_db``.  ``replace``: block new
   connections to the live database, terminate its sessions, then in ONE transaction rename live ->
   ``<db>_pre_restore_<ts>`` and scratch -> ``<db>``; drop the previous copy only when
   ``keep_previous`` is false, after the swap.

Any failure (or SIGTERM) drops the scratch database and the temp files; the live database is never
dropped or renamed before step 6, and a failed swap puts its connection setting back on a FRESH connection.

Which backup (issue 17): a replace over an existing database restores only a backup of that database, unless
``source_db`` names another database AND ``allow_cross_database`` confirms it (a replace into a database that
does not exist follows the rules of ``new``); ``latest``/``before:`` on a store holding several databases needs a
database name (``target_db`` for replace, ``source_db`` for new; verify takes the newest of any and names its
source).

Dumps made without this collection (issue 13, :class:`PgAdoptedRestore`): ``backup: s3://bucket/key`` or an
absolute path names a ``pg_dump`` output with no manifest (seed 002's ``pg_dump db > backup.sql``, maybe gzip or
zstd, detected by ``adopted_dump``; or a custom-format archive).  It is downloaded, decompressed and read BEFORE any
database is touched (a corrupted stream or a dump that would write outside one database, see
:class:`PlainDumpScanner`, is refused), then restored into a marked scratch database (plain SQL through ``psql -v
ON_ERROR_STOP=1 --single-transaction``), counted (nothing to verify the counts against: reported as such) and
verified/renamed/swapped exactly as above, with the same sweep.

Leftovers (issue 17): what a killed run leaves is found by a marker, never by a name alone:

- the scratch database carries ``COMMENT ON DATABASE ... IS 'runbook.ops db_restore scratch {json}'`` (run id,
  host, pid, advisory-lock key), written right after ``CREATE DATABASE``;
- during the swap the live database carries ``'runbook.ops db_restore swap {json}'`` with its original
  ``datallowconn`` and comment, set in the same transaction as ``ALLOW_CONNECTIONS false``;
- the temp directory (0700, files 0600) holds ``.runbook-ops-restore.json`` (run id, host, pid, process start).

Every run holds a session advisory lock (``LOCK_CLASS``, its key) for its whole life, on the server. A marked
database whose lock is not held belongs to a run that is gone: the next run drops that scratch database (its
name must also be ``rbo_restore_<12 hex>``) and reopens that blocked database with its recorded settings; a marked
temp directory of this host whose process is gone is removed. All of it is reported (``swept``, ``repaired``);
check mode only reports.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
import time

from ansible_collections.runbook.ops.plugins.module_utils import adopted_dump
from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs
from ansible_collections.runbook.ops.plugins.module_utils import pg_backup
from ansible_collections.runbook.ops.plugins.module_utils.dump_pipeline import Interrupted, decompressor_argv
from ansible_collections.runbook.ops.plugins.module_utils.pg_backup import BackupError, child_env, tool_path, tool_version
from ansible_collections.runbook.ops.plugins.module_utils.postgres import (
    HAS_PSYCOPG, connect, describe_target, redact)

if HAS_PSYCOPG:
    import psycopg
    from psycopg import sql

MAX_IDENT = 63
MARKER_PREFIX = 'runbook.ops db_restore '
MARKER_KINDS = ('scratch', 'swap')
TEMP_PREFIX = 'rbo-restore-'
TEMP_MARKER = '.runbook-ops-restore.json'
TEMP_KIND = 'runbook.ops db_restore'
LOCK_CLASS = 1380077394  # 'RBOR': first key of the two-key advisory lock every run holds
SCRATCH_RE = re.compile(r'^rbo_restore_[0-9a-f]{12}$')
VERSION_NUMBER_RE = re.compile(r'^([0-9]+)(\.[0-9]+)*$')


class RestoreError(BackupError):
    """A restore failure with a message ready for fail_json; ``extra`` goes into the failed result."""

    def __init__(self, msg, **extra):
        super(RestoreError, self).__init__(msg)
        self.extra = extra


def pg_restore_argv(pg_restore, dbname, path, jobs=1, no_owner=False):
    argv = [pg_restore, '--exit-on-error', '--no-password', '--jobs=%d' % jobs, '--dbname=%s' % dbname]
    if no_owner:
        argv += ['--no-owner', '--no-acl']
    argv.append(path)
    return argv


def psql_file_argv(psql, path):
    return [psql, '-X', '-q', '--no-password', '-v', 'ON_ERROR_STOP=0', '-f', path]


def psql_load_argv(psql, path):
    """A plain-SQL dump in one transaction: the first error stops psql and rolls everything back."""
    return [psql, '-X', '-q', '--no-password', '-v', 'ON_ERROR_STOP=1', '--single-transaction', '-f', path]


def scratch_name():
    return 'rbo_restore_%s' % secrets.token_hex(6)


def _qi(name):
    """A double-quoted identifier for messages (what an operator would type in psql)."""
    return '"%s"' % name.replace('"', '""')


def dump_major(manifest, backup_id):
    """The major version of the pg_dump that wrote a backup, from its manifest, or a clear RestoreError."""
    value = manifest.get('pg_dump_version')
    m = VERSION_NUMBER_RE.match(value) if isinstance(value, str) else None
    if not m:
        raise RestoreError('Could not restore backup %s: its manifest field pg_dump_version (%s) is not a PostgreSQL '
                           'version number like 15.4. The manifest is damaged; choose another backup (db_backup_info '
                           'lists them). Nothing was changed.' % (backup_id, json.dumps(value)[:80]))
    return int(m.group(1))


# ---------------------------------------------------------------------------------------------
# which backup (pure, unit-tested)

def _explicit_id(selector):
    selector = (selector or 'latest').strip()
    return selector != 'latest' and not selector.startswith('before:')


def _databases(entries):
    return sorted(set(e['database'] for e in entries if e['database'] is not None))


def cross_refusal(target, source, backup_id=None):
    what = 'backup %s of %s' % (backup_id, _qi(source)) if backup_id else 'a backup of %s' % _qi(source)
    return ('Could not restore %s into %s: a replace would overwrite %s with the data of another database. Set '
            'source_db: %s and allow_cross_database: true to confirm this cross-database restore, or leave source_db '
            'out to restore a backup of %s itself. Nothing was changed.'
            % (what, _qi(target), _qi(target), source, _qi(target)))


def check_source_policy(params, target_exists=True):
    """A replace over an existing database from the backups of another database must be confirmed."""
    source, target = params.get('source_db'), params.get('target_db')
    if params['mode'] == 'replace' and target_exists and source and target and source != target and \
            not params.get('allow_cross_database'):
        raise RestoreError(cross_refusal(target, source))


def choose_backup(params, entries, target_exists=True):
    """(entries considered, entry selected) from every entry of the store, under the source rules.

    ``target_exists``: whether ``target_db`` exists now. A replace that would overwrite it restores only its own
    backups unless ``source_db`` names another database and ``allow_cross_database`` confirms; a replace into a
    database that does not exist overwrites nothing and behaves like ``new`` for the source rules.
    Raises ``RestoreError`` for a refusal, ``backup_store.StoreError`` when no backup matches.
    """
    mode = params['mode']
    source, target = params.get('source_db'), params.get('target_db')
    selector = params.get('backup') or 'latest'
    check_source_policy(params, target_exists)
    if _explicit_id(selector):
        entry = bs.select_backup(entries, selector)
        if source and entry['database'] != source:
            raise RestoreError('Could not restore backup %s: it is a backup of %s, not of source_db %s. Choose a '
                               'backup of %s or change source_db. Nothing was changed.'
                               % (entry['id'], _qi(entry['database']), _qi(source), _qi(source)))
        considered = [e for e in entries if e['database'] == entry['database']]
    else:
        db = source or (target if mode == 'replace' and target_exists else None)
        if db is None:
            dbs = _databases(entries)
            if mode != 'verify' and len(dbs) > 1:
                need = 'source_db' if mode == 'new' or target else 'target_db (the database to replace)'
                raise RestoreError('Could not choose the %s backup for mode %s: the store holds backups of several '
                                   'databases (%s). Set %s. Nothing was changed.'
                                   % (selector, mode, ', '.join(_qi(d) for d in dbs[:10]), need))
        considered = [e for e in entries if bs._belongs_to(e, db)] if db else entries
        try:
            entry = bs.select_backup(considered, selector)
        except bs.StoreError as e:
            others = [d for d in _databases(entries) if d != db]
            if db and not source and others:
                raise bs.StoreError('%s of %s (the store holds backups of %s; to restore one of those into %s, set '
                                    'source_db and allow_cross_database: true)'
                                    % (e, _qi(db), ', '.join(_qi(d) for d in others[:10]), _qi(db)))
            raise
    if mode == 'replace' and target_exists:
        tgt = target or entry['database']
        if entry['database'] != tgt and not (source and params.get('allow_cross_database')):
            raise RestoreError(cross_refusal(tgt, entry['database'], entry['id']))
    return considered, entry


# ---------------------------------------------------------------------------------------------
# markers and leftovers

def new_run(now=None):
    """Who this run is: recorded in every marker it writes."""
    return {'run': secrets.token_hex(8), 'host': socket.gethostname(), 'pid': os.getpid(),
            'lock': secrets.randbelow(2 ** 31 - 2) + 1, 'started_at': bs.format_time(now or bs.utcnow())}


def make_marker(kind, data):
    return MARKER_PREFIX + kind + ' ' + json.dumps(data, sort_keys=True, separators=(',', ':'))


def parse_marker(comment):
    """``(kind, data)`` for a comment written by :func:`make_marker`, else None."""
    if not isinstance(comment, str) or not comment.startswith(MARKER_PREFIX):
        return None
    kind, sep, rest = comment[len(MARKER_PREFIX):].partition(' ')
    if kind not in MARKER_KINDS or not sep:
        return None
    try:
        data = json.loads(rest)
    except ValueError:
        return None
    lock = data.get('lock') if isinstance(data, dict) else None
    if not isinstance(lock, int) or isinstance(lock, bool) or not isinstance(data.get('run'), str):
        return None
    if kind == 'swap' and not (isinstance(data.get('allow_connections'), bool)
                               and isinstance(data.get('comment'), (str, type(None)))):
        return None
    if kind == 'scratch' and not isinstance(data.get('name'), str):
        return None
    return kind, data


def plan_leftovers(rows, held_locks):
    """``rows``: (datname, datallowconn, comment) -> (scratch databases to drop, databases to reopen, in use).

    Only a database carrying our marker counts; a marked one whose run still holds its advisory lock is in use.
    A scratch database must also be named like one (``rbo_restore_<12 hex>``) and be the one its marker names.
    """
    drop, reopen, busy = [], [], []
    for name, _allowconn, comment in rows:
        parsed = parse_marker(comment)
        if parsed is None:
            continue
        kind, data = parsed
        who = {'run': data['run'], 'host': data.get('host'), 'pid': data.get('pid'),
               'started_at': data.get('started_at')}
        if data['lock'] in held_locks:
            busy.append(dict(who, database=name))
        elif kind == 'scratch':
            if SCRATCH_RE.match(name) and data['name'] == name:
                drop.append(dict(who, type='scratch_database', name=name))
        else:
            reopen.append(dict(who, database=name, allow_connections=data['allow_connections'],
                               comment=data['comment']))
    return drop, reopen, busy


def _proc_start(pid):
    try:
        with open('/proc/%d/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()[19]
    except (OSError, IndexError, ValueError):
        return None


def process_alive(pid, start=None):
    """Is ``pid`` still the process that wrote a marker (``start``: its /proc start time)?"""
    if os.path.isdir('/proc/self'):
        now = _proc_start(pid)
        return now is not None and (start is None or now == start)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_temp_marker(workdir, run):
    data = dict(run, kind=TEMP_KIND, proc_start=_proc_start(os.getpid()))
    fd = os.open(os.path.join(workdir, TEMP_MARKER), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'w') as f:
        json.dump(data, f)


def find_temp_leftovers(base, host=None, alive=process_alive):
    """Temp directories under ``base`` left by a db_restore of this host whose process is gone."""
    host = host or socket.gethostname()
    found = []
    try:
        names = sorted(os.listdir(base))
    except OSError:
        return found
    for name in names:
        if not name.startswith(TEMP_PREFIX):
            continue
        path = os.path.join(base, name)
        marker = os.path.join(path, TEMP_MARKER)
        try:
            st = os.lstat(path)
            mst = os.lstat(marker)
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or not stat.S_ISREG(mst.st_mode):
                continue
            with open(marker) as f:
                data = json.loads(f.read(4096))
        except (OSError, ValueError):
            continue
        if not isinstance(data, dict) or data.get('kind') != TEMP_KIND or data.get('host') != host:
            continue
        pid = data.get('pid')
        if not isinstance(pid, int) or isinstance(pid, bool) or alive(pid, data.get('proc_start')):
            continue
        found.append({'type': 'temp_dir', 'name': path, 'run': data.get('run'), 'host': host, 'pid': pid,
                      'started_at': data.get('started_at')})
    return found


def _held_locks(cur):
    cur.execute("SELECT objid::bigint FROM pg_catalog.pg_locks WHERE locktype = 'advisory' AND granted "
                "AND objsubid = 2 AND classid::bigint = %s", (LOCK_CLASS,))
    return set(r[0] for r in cur.fetchall())


def _marked_rows(cur):
    cur.execute("SELECT d.datname, d.datallowconn, pg_catalog.shobj_description(d.oid, 'pg_database') "
                "FROM pg_catalog.pg_database d "
                "WHERE pg_catalog.shobj_description(d.oid, 'pg_database') LIKE %s", (MARKER_PREFIX + '%',))
    return cur.fetchall()


def _reopen_one(cur, conn, item):
    with conn.transaction():
        cur.execute(sql.SQL('ALTER DATABASE {} ALLOW_CONNECTIONS {}').format(
            _ident(item['database']), sql.SQL('true' if item['allow_connections'] else 'false')))
        cur.execute(sql.SQL('COMMENT ON DATABASE {} IS {}').format(_ident(item['database']),
                                                                   sql.Literal(item['comment'])))


def sweep_leftovers(params, conn, server_num, check_mode, tmp_base):
    """Repair and remove what earlier runs left (see the module docstring); -> (swept, repaired, warnings)."""
    warnings = []
    with conn.cursor() as cur:
        drop, reopen, _busy = plan_leftovers(_marked_rows(cur), _held_locks(cur))
        repaired = []
        for item in reopen:
            if not check_mode:
                try:
                    _reopen_one(cur, conn, item)
                except psycopg.Error as e:
                    warnings.append('could not reopen %s, left refusing connections by db_restore run %s: %s'
                                    % (_qi(item['database']), item['run'], redact(e, params).strip()))
                    continue
            repaired.append(dict((k, v) for k, v in item.items() if k != 'comment'))
    swept = []
    for item in drop:
        if not check_mode:
            try:
                _drop(params, item['name'], server_num)
            except (psycopg.Error, RestoreError) as e:
                warnings.append('could not drop %s, left by db_restore run %s: %s'
                                % (_qi(item['name']), item['run'], redact(e, params).strip()))
                continue
        swept.append(item)
    for item in find_temp_leftovers(tmp_base):
        if not check_mode:
            try:
                shutil.rmtree(item['name'])
            except OSError as e:
                warnings.append('could not remove %s, left by db_restore run %s: %s'
                                % (item['name'], item['run'], e.strerror))
                continue
        swept.append(item)
    return swept, repaired, warnings


def _reopen_after_failed_swap(params, run):
    """On a FRESH connection, reopen the database(s) this run blocked; -> number reopened."""
    with connect(params, dbname='postgres') as conn, conn.cursor() as cur:
        n = 0
        for name, _allowconn, comment in _marked_rows(cur):
            parsed = parse_marker(comment)
            if parsed and parsed[0] == 'swap' and parsed[1]['run'] == run['run']:
                _reopen_one(cur, conn, {'database': name, 'allow_connections': parsed[1]['allow_connections'],
                                        'comment': parsed[1]['comment']})
                n += 1
        return n


def live_note(live):
    """What happened to the live database, for a failure message (never "not touched" when it was)."""
    state = live['state']
    name = _qi(live['database']) if live.get('database') else None
    if state == 'untouched':
        return 'The live database was not touched.'
    if state == 'reopened':
        return ('The live database %s was closed to new connections for the swap and accepts connections again (its '
                'connection setting and comment were put back on a new connection); its data was not changed.' % name)
    if state == 'replaced':
        return ('The swap was committed before the connection was lost: %s holds the restored copy and the previous '
                'database is %s.' % (name, _qi(live['previous'])))
    return ('The live database %s was left refusing new connections (ALLOW_CONNECTIONS false) and could not be '
            'reopened: %s. The next db_restore run against this server reopens it (it carries a runbook.ops marker), '
            'or run ALTER DATABASE %s ALLOW_CONNECTIONS true and COMMENT ON DATABASE %s IS NULL.'
            % (name, live.get('error') or 'the server could not be reached', name, name))


def leftovers_note(swept, repaired, check_mode=False):
    parts = []
    if repaired:
        parts.append('%s %s left refusing connections by an earlier run' % (
            'would reopen' if check_mode else 'reopened', ', '.join(_qi(r['database']) for r in repaired)))
    if swept:
        parts.append('%s leftovers of earlier runs: %s' % (
            'would remove' if check_mode else 'removed',
            ', '.join(_qi(s['name']) if s['type'] == 'scratch_database' else s['name'] for s in swept)))
    return ('; ' + '; '.join(parts)) if parts else ''


def previous_name(target, when):
    """``<target>_pre_restore_<YYYYmmddHHMMSS>`` cut to PostgreSQL's 63-byte identifier limit."""
    suffix = '_pre_restore_%s' % when.strftime('%Y%m%d%H%M%S')
    budget = MAX_IDENT - len(suffix.encode('utf-8'))
    head = target.encode('utf-8')[:budget].decode('utf-8', 'ignore')
    return head + suffix


def compare_counts(expected_tables, actual, row_counts='exact'):
    """``actual``: {(schema, table): rows or None (missing)} -> (ok, list of per-table results).

    ``row_counts`` is the manifest's field: with ``exact`` counts every table must have exactly the
    manifest's rows; with ``estimate`` (``pg_class.reltuples`` at backup time) or ``none`` every table
    must exist, and ``expected`` is only reported next to the count.  A missing table always fails.
    """
    results = []
    for t in expected_tables:
        got = actual.get((t['schema'], t['table']))
        if row_counts == 'exact':
            ok = got is not None and got == t['rows']
        else:
            ok = got is not None
        results.append({'schema': t['schema'], 'table': t['table'], 'expected': t['rows'], 'actual': got,
                        'ok': ok})
    return all(r['ok'] for r in results), results


def _ident(name):
    return sql.Identifier(name)


def download(store, backup_id, name, compression, dest, expected_size, expected_sha):
    """Stream ``<id>/<name>`` into ``dest`` (decompressed); return (size, sha256 of the stored bytes).

    The checksum covers the stored (compressed) bytes, exactly what db_backup hashed.
    """
    key = bs.backup_key(backup_id, name)
    h = hashlib.sha256()
    n = 0
    argv = decompressor_argv(compression)
    err = tempfile.TemporaryFile()
    proc = None
    broken = False
    try:
        fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, 'wb') as out:
            if argv:
                proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=out, stderr=err)
            for block in store.iter_read(key):
                h.update(block)
                n += len(block)
                if proc is None:
                    out.write(block)
                elif not broken:
                    try:
                        proc.stdin.write(block)
                    except BrokenPipeError:
                        broken = True  # corrupt input: keep hashing to report the checksum
            if proc is not None:
                try:
                    proc.stdin.close()
                except BrokenPipeError:
                    broken = True
                rc = proc.wait()
            else:
                rc = 0
        digest = h.hexdigest()
        if n != expected_size or digest != expected_sha:
            return n, digest, None
        if rc != 0 or broken:
            err.seek(0)
            return n, digest, 'decompression failed (rc=%s): %s' % (rc, err.read().decode('utf-8', 'replace')[-500:])
        return n, digest, None
    except OSError as e:
        raise RestoreError(bs._os_message('write %s' % dest, e))
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        err.close()


def _run(argv, env, params, what):
    err = tempfile.TemporaryFile()
    proc = None
    try:
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err, env=env)
        except OSError as e:
            raise RestoreError('cannot start %s: %s' % (argv[0], e.strerror))
        rc = proc.wait()
        err.seek(0)
        text = redact(err.read().decode('utf-8', 'replace'), params)
        return rc, text
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        err.close()


ALTER_ROLE_WITH_RE = re.compile(r'^ALTER ROLE ("(?:[^"]|"")+"|[A-Za-z_][A-Za-z0-9_$]*) WITH ')


def keep_existing_roles(lines, existing):
    """pg_dumpall writes ``CREATE ROLE r;`` then ``ALTER ROLE r WITH ... PASSWORD '...';``: for a role in
    ``existing`` the CREATE fails (already exists) and the ALTER would reset its password and attributes. Leave
    those ALTER lines out -> (lines kept, names of the roles left as they are)."""
    kept, left = [], []
    for line in lines:
        m = ALTER_ROLE_WITH_RE.match(line)
        if m:
            name = m.group(1)
            name = name[1:-1].replace('""', '"') if name.startswith('"') else name
            if name in existing:
                left.append(name)
                continue
        kept.append(line)
    return kept, left


def restore_globals(params, psql, path):
    rc, text = _run(psql_file_argv(psql, path), child_env(params, 'postgres'), params, 'psql')
    errors = [line for line in text.splitlines() if 'ERROR:' in line and 'already exists' not in line]
    if rc != 0 or errors:
        raise RestoreError('restoring the globals failed: %s' % ('\n'.join(errors) or text)[-1000:])
    return len([line for line in text.splitlines() if 'already exists' in line])


def _count_tables(params, dbname, tables):
    counts = {}
    with connect(params, dbname=dbname) as conn, conn.cursor() as cur:
        cur.execute("SELECT n.nspname, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE c.relkind = 'r'")
        present = set(cur.fetchall())
        for t in tables:
            key = (t['schema'], t['table'])
            if key not in present:
                counts[key] = None
                continue
            cur.execute(sql.SQL('SELECT count(*) FROM ONLY {}.{}').format(_ident(t['schema']), _ident(t['table'])))
            counts[key] = cur.fetchone()[0]
    return counts


def _db_exists(cur, name):
    cur.execute('SELECT datallowconn FROM pg_catalog.pg_database WHERE datname = %s', (name,))
    row = cur.fetchone()
    return None if row is None else row[0]


def _role_exists(cur, name):
    cur.execute('SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = %s', (name,))
    return cur.fetchone() is not None


# ---------------------------------------------------------------------------------------------
# database-level properties (issue 16): settings and ACL recorded by db_backup in database_properties

# settings whose value is a list of quoted items (GUC_LIST_QUOTE): each item is set as its own literal, as pg_dump does
LIST_QUOTE_SETTINGS = ('search_path', 'temp_tablespaces', 'session_preload_libraries', 'shared_preload_libraries',
                       'local_preload_libraries')
SETTING_PART_RE = re.compile(r'^[A-Za-z_][A-Za-z0-9_$]*$')
DB_PRIVILEGES = ('CONNECT', 'CREATE', 'TEMPORARY')


def split_guc_list(value):
    """``'"$user", public'`` -> ``['$user', 'public']``: the items of a list setting (double quotes, ``""`` inside)."""
    items, i, n = [], 0, len(value)
    while True:
        while i < n and value[i].isspace():
            i += 1
        if i < n and value[i] == '"':
            i += 1
            item = []
            while i < n:
                if value[i] == '"':
                    if i + 1 < n and value[i + 1] == '"':
                        item.append('"')
                        i += 2
                        continue
                    i += 1
                    break
                item.append(value[i])
                i += 1
            items.append(''.join(item))
            while i < n and value[i] != ',':
                i += 1
        else:
            j = value.find(',', i)
            j = n if j < 0 else j
            items.append(value[i:j].strip())
            i = j
        if i >= n:
            return items
        i += 1  # the comma


def _bad_properties(what):
    return RestoreError('Could not apply the database properties of the backup: field database_properties %s. '
                        'Restore with a backup whose manifest is intact.' % what)


def plan_database_properties(props, roles, owner, acl=True):
    """The steps that give a restored database the settings and ACL recorded in ``props`` -> (steps, skipped).

    Steps: ``('set', role or None, name parts, values)``, ``('revoke_all', grantee or None)``, ``('grant', grantee
    or None, privilege, grantable)``; None is PUBLIC (grants) or the database itself (settings). A setting or grant
    for a role missing from ``roles`` is skipped and named. ``acl`` False (no_owner) skips the ACL. A recorded ACL of
    None is the default one: nothing to do. Raises :class:`RestoreError` for a malformed field."""
    if props is None:
        return [], []
    if not isinstance(props, dict):
        raise _bad_properties('is not a mapping')
    settings, grants = props.get('settings') or [], props.get('acl')
    if not isinstance(settings, list) or (grants is not None and not isinstance(grants, list)):
        raise _bad_properties('holds settings or acl that are not lists')
    steps, skipped = [], []
    for item in settings:
        if not (isinstance(item, dict) and isinstance(item.get('name'), str) and isinstance(item.get('value'), str)
                and (item.get('role') is None or isinstance(item.get('role'), str))):
            raise _bad_properties('holds a setting that is not {role, name, value}')
        parts = item['name'].split('.')
        if not all(SETTING_PART_RE.match(x) for x in parts):
            raise _bad_properties('holds a setting name %s that is not a setting name' % json.dumps(item['name']))
        role = item.get('role')
        if role is not None and role not in roles:
            skipped.append('setting %s for role %s (the role does not exist here)' % (item['name'], json.dumps(role)))
            continue
        values = split_guc_list(item['value']) if item['name'].lower() in LIST_QUOTE_SETTINGS else [item['value']]
        steps.append(('set', role, parts, values))
    if grants is None:
        return steps, skipped
    for g in grants:
        if not (isinstance(g, dict) and g.get('privilege') in DB_PRIVILEGES
                and (g.get('grantee') is None or isinstance(g.get('grantee'), str))):
            raise _bad_properties('holds a grant that is not {grantee, privilege, grantable} on a database')
    if not acl:
        skipped.append('the database ACL (no_owner=true)')
        return steps, skipped
    steps.append(('revoke_all', None))
    if owner:
        steps.append(('revoke_all', owner))
    for g in grants:
        grantee = g.get('grantee')
        if grantee is not None and grantee not in roles:
            skipped.append('grant of %s to %s (the role does not exist here)' % (g['privilege'], json.dumps(grantee)))
            continue
        steps.append(('grant', grantee, g['privilege'], bool(g.get('grantable'))))
    return steps, skipped


def _property_sql(dbname, step):
    kind = step[0]
    role = sql.SQL('PUBLIC') if step[1] is None else _ident(step[1])
    if kind == 'set':
        values = sql.SQL(', ').join(sql.Literal(v) for v in step[3])
        if step[1] is None:
            return sql.SQL('ALTER DATABASE {} SET {} TO {}').format(_ident(dbname), sql.Identifier(*step[2]), values)
        return sql.SQL('ALTER ROLE {} IN DATABASE {} SET {} TO {}').format(
            role, _ident(dbname), sql.Identifier(*step[2]), values)
    if kind == 'revoke_all':
        return sql.SQL('REVOKE ALL ON DATABASE {} FROM {}').format(_ident(dbname), role)
    return sql.SQL('GRANT {} ON DATABASE {} TO {}{}').format(
        sql.SQL(step[2]), _ident(dbname), role, sql.SQL(' WITH GRANT OPTION' if step[3] else ''))


def _terminate(cur, name, timeout=15.0):
    deadline = time.monotonic() + timeout
    terminated = 0
    while True:
        cur.execute('SELECT pg_catalog.pg_terminate_backend(pid) FROM pg_catalog.pg_stat_activity '
                    'WHERE datname = %s AND pid <> pg_catalog.pg_backend_pid()', (name,))
        terminated += len(cur.fetchall())
        cur.execute('SELECT count(*) FROM pg_catalog.pg_stat_activity WHERE datname = %s '
                    'AND pid <> pg_catalog.pg_backend_pid()', (name,))
        if cur.fetchone()[0] == 0:
            return terminated
        if time.monotonic() > deadline:
            raise RestoreError('sessions on %s did not end within %ds' % (json.dumps(name), timeout))
        time.sleep(0.1)


def _drop(params, name, server_num):
    """Drop a database we created (scratch or an unkept previous copy)."""
    with connect(params, dbname='postgres') as conn, conn.cursor() as cur:
        if server_num >= 130000:
            cur.execute(sql.SQL('DROP DATABASE IF EXISTS {} WITH (FORCE)').format(_ident(name)))
        else:
            _terminate(cur, name)
            cur.execute(sql.SQL('DROP DATABASE IF EXISTS {}').format(_ident(name)))


def _connect_guard(params, run):
    """The run's own connection, holding its advisory lock until the run ends (a killed run releases it)."""
    try:
        conn = connect(params, dbname='postgres')
    except psycopg.Error as e:
        raise RestoreError('Could not connect to %s: %s. Check login_* options and the server. Nothing was changed.'
                           % (describe_target(params, dbname='postgres'), redact(e, params).strip()))
    return conn


def _lock(conn, run):
    with conn.cursor() as cur:
        for _attempt in range(5):
            cur.execute('SELECT pg_catalog.pg_try_advisory_lock(%s::int4, %s::int4)', (LOCK_CLASS, run['lock']))
            if cur.fetchone()[0]:
                return
            run['lock'] = secrets.randbelow(2 ** 31 - 2) + 1
    raise RestoreError('Could not take a restore lock on the server: every key tried was held. Try again.')


def run_restore(params, check_mode=False, now=None):
    """Restore (or verify) a backup; return the module result dict. The steps are the methods of :class:`PgRestore`
    (:class:`PgAdoptedRestore` for a dump named by ``s3://`` URL or absolute path)."""
    cls = PgAdoptedRestore if is_adopted(params.get('backup')) else PgRestore
    return cls(params, check_mode=check_mode, now=now).run()


class PgRestore(object):
    """One restore run. :meth:`run` calls the named steps in order, each a method; what they find and do
    accumulates on the instance (``timings``, ``warnings``, ``swept``, ``repaired``, ``result``), as in
    ``Maintenance`` and ``CacheFlusher``. ``own`` records what the run must clean up, ``live`` what it did to
    the live database (for the failure message)."""

    def __init__(self, params, check_mode=False, now=None):
        self.t0 = time.monotonic()
        self.now = now or bs.utcnow()
        self.params = params
        self.check_mode = check_mode
        self.mode = params['mode']
        self.timings = {}
        self.warnings = []
        self.marker_run = new_run(self.now)   # host, pid, lock key and time: the marker of this run
        self.tmp_base = params.get('tmp_dir') or tempfile.gettempdir()
        self.swept, self.repaired = [], []
        self.guard = None
        self.server_num = None
        self.target_exists = True
        self.store = self.entries = self.entry = self.manifest = self.bid = self.target = None
        self.result = None
        self.target_state = None
        self.owner_ok = False
        self.pg_restore = self.psql = None
        self.own = {'workdir': None, 'scratch': None}
        self.live = {'state': 'untouched', 'database': None}
        self.dump_path = self.globals_path = None

    def run(self):
        self.guard = _connect_guard(self.params, self.marker_run)
        try:
            self.sweep()
            self.check_target()
            self.choose()
            self.new_result()
            self.preflight()
            if self.check_mode:
                return self.plan()
            self.restore()
            return self.finish()
        finally:
            try:
                self.guard.close()
            except psycopg.Error:
                pass

    # -- failures ----------------------------------------------------------------------------------

    def _extra(self):
        return {'swept': self.swept, 'repaired': self.repaired}

    def fail(self, msg):
        """The error to raise once the sweep ran: the message, and what the sweep did."""
        note = leftovers_note(self.swept, self.repaired, self.check_mode)
        note = '(Also: %s.)' % note[2:] if note else ''
        return RestoreError(msg + (' ' + note if note else ''), **self._extra())

    def _server_error(self, e):
        return self.fail('Could not check %s: %s. Nothing was changed.'
                         % (describe_target(self.params, dbname='postgres'), redact(e, self.params).strip()))

    # -- steps -------------------------------------------------------------------------------------

    def sweep(self):
        """The server first: take the run's lock, reopen and sweep what earlier runs left, whatever this run does."""
        params = self.params
        try:
            with self.guard.cursor() as cur:
                cur.execute("SELECT current_setting('server_version_num')::int")
                self.server_num = cur.fetchone()[0]
            if not self.check_mode:
                _lock(self.guard, self.marker_run)
            s, r, w = sweep_leftovers(params, self.guard, self.server_num, self.check_mode, self.tmp_base)
            self.swept.extend(s)
            self.repaired.extend(r)
            self.warnings.extend(w)
        except psycopg.Error as e:
            raise RestoreError('Could not check %s for leftovers of earlier restores: %s. Nothing was changed.'
                               % (describe_target(params, dbname='postgres'), redact(e, params).strip()),
                               **self._extra())

    def check_target(self):
        try:
            if self.params.get('target_db'):
                with self.guard.cursor() as cur:
                    self.target_exists = _db_exists(cur, self.params['target_db']) is not None
        except psycopg.Error as e:
            raise self._server_error(e)

    def choose(self):
        """The backup to restore (choose_backup's rules), and a warning for newer invalid ones skipped."""
        params = self.params
        try:
            self.store = bs.open_store(params)
            self.entries, self.entry = choose_backup(params, bs.list_backups(self.store, now=self.now),
                                                     self.target_exists)
        except bs.StoreError as e:
            raise self.fail('Could not select backup %s from %s: %s. Nothing was changed.'
                            % (params['backup'], params['store'], e))
        except RestoreError as e:
            raise self.fail(str(e))
        self.manifest = self.entry['manifest']
        self.bid = self.entry['id']
        newer_invalid = [e['id'] for e in self.entries
                         if not e['valid'] and bs.entry_order(e) > bs.entry_order(self.entry)]
        if newer_invalid:
            self.warnings.append('skipped %d newer invalid backup(s): %s'
                                 % (len(newer_invalid), ', '.join(newer_invalid[:5])))
        self.target = params.get('target_db') or self.manifest['database']

    def new_result(self):
        mode, entry = self.mode, self.entry
        self.result = {
            'changed': mode != 'verify' or bool(self.swept or self.repaired), 'backup_id': self.bid,
            'backup_created_at': entry['created_at'], 'backup_age_s': entry['age_s'], 'mode': mode,
            'source_db': self.manifest['database'],
            'target_db': self.target if mode != 'verify' else None, 'previous_db': None, 'scratch_db': None,
            'verification': {}, 'timings': self.timings, 'warnings': self.warnings, 'store': self.store.describe(),
            'swept': self.swept, 'repaired': self.repaired}

    def preflight(self):
        """Against the server and the tools: the target's state, the owner role, pg_restore new enough, globals."""
        params, manifest, bid = self.params, self.manifest, self.bid
        try:
            with self.guard.cursor() as cur:
                self.target_state = _db_exists(cur, self.target)
                self.owner_ok = bool(manifest.get('owner')) and _role_exists(cur, manifest['owner'])
        except psycopg.Error as e:
            raise self._server_error(e)
        if self.mode == 'new' and self.target_state is not None:
            raise self.fail('Could not restore backup %s as new database %s: it already exists. Choose another '
                            'target_db or mode=replace.' % (bid, json.dumps(self.target)))
        try:
            major = dump_major(manifest, bid)
        except RestoreError as e:
            raise self.fail(str(e))
        self.pg_restore = tool_path(params.get('bin_dir'), 'pg_restore')
        restore_v, _text = tool_version(self.pg_restore)
        if restore_v[0] < major:
            raise self.fail('Could not restore backup %s: pg_restore %d.%d is older than the pg_dump %s that wrote '
                            'it. Install newer client tools or set bin_dir.'
                            % (bid, restore_v[0], restore_v[1], manifest['pg_dump_version']))
        self.psql = tool_path(params.get('bin_dir'), 'psql')
        if params.get('globals') and not manifest.get('globals'):
            raise self.fail('Could not restore the globals of backup %s: it was taken without globals. Set '
                            'globals=false or pick a backup made with globals=true.' % bid)
        self.timings['preflight_s'] = round(time.monotonic() - self.t0, 3)

    def plan(self):
        """Check mode: what a run would restore, and where."""
        mode, manifest, entry = self.mode, self.manifest, self.entry
        self.result['msg'] = 'would restore backup %s of %s (%s, %d bytes) in mode %s%s%s' % (
            self.bid, json.dumps(manifest['database']), entry['created_at'], entry['size'], mode,
            '' if mode == 'verify' else ' into %s' % json.dumps(self.target),
            leftovers_note(self.swept, self.repaired, True))
        return self.result

    def restore(self):
        """The work (:meth:`work`); whatever happens, the scratch database and the temp directory are removed,
        and a failure says what became of the live database."""
        params, bid = self.params, self.bid
        failure = None
        notes = []
        try:
            try:
                self.work()
            except bs.StoreError as e:
                failure = 'Could not restore backup %s: %s.' % (bid, e)
            except psycopg.Error as e:
                failure = 'Could not restore backup %s: %s.' % (bid, redact(e, params).strip())
            except Interrupted as e:
                failure = 'Could not restore backup %s: %s.' % (bid, e)
            except RestoreError as e:
                failure = str(e)
        finally:
            scratch = self.own['scratch']
            if scratch is not None:
                try:
                    _drop(params, scratch, self.server_num)
                    if failure:
                        notes.append('The scratch database %s was dropped.' % _qi(scratch))
                except (psycopg.Error, RestoreError) as e:
                    text = redact(e, params).strip()
                    notes.append('The scratch database %s could not be dropped (%s); the next db_restore run '
                                 'against this server drops it (it carries a runbook.ops marker), or drop it by hand.'
                                 % (_qi(scratch), text.splitlines()[0] if text else 'no error text'))
                    if not failure:
                        self.warnings.append(notes[-1])
            if self.own['workdir']:
                shutil.rmtree(self.own['workdir'], ignore_errors=True)
        if failure:
            if 'touched' not in failure or self.live['state'] != 'untouched':
                notes.insert(0, live_note(self.live))
            raise self.fail(' '.join([failure] + notes))

    def work(self):
        """Download, restore into the scratch database, verify, switch. ``own`` records what to clean up."""
        self.make_workdir()
        self.fetch()
        self.restore_scratch()
        self.verify()
        self.switch()

    def make_workdir(self):
        try:
            self.own['workdir'] = tempfile.mkdtemp(prefix=TEMP_PREFIX, dir=self.tmp_base)   # 0700
            write_temp_marker(self.own['workdir'], self.marker_run)
        except OSError as e:
            raise RestoreError('Could not create a temp directory in %s: %s. Set tmp_dir to a writable directory. '
                               'No database was touched.' % (self.tmp_base, e.strerror))

    def fetch(self):
        """1. download and verify size and sha256, before touching any database."""
        manifest, bid, store, result = self.manifest, self.bid, self.store, self.result
        workdir = self.own['workdir']
        t = time.monotonic()
        self.dump_path = os.path.join(workdir, 'data.dump')
        size, digest, problem = download(store, bid, manifest['data_key'], manifest['compression'], self.dump_path,
                                         manifest['size'], manifest['sha256'])
        result['verification']['checksum'] = {'expected': manifest['sha256'], 'actual': digest,
                                              'ok': digest == manifest['sha256']}
        result['verification']['size'] = {'expected': manifest['size'], 'actual': size,
                                          'ok': size == manifest['size']}
        if size != manifest['size'] or digest != manifest['sha256']:
            raise RestoreError('Could not restore backup %s: its data does not match the manifest (sha256 expected '
                               '%s, got %s; size expected %d, got %d). The object is corrupted or truncated; no '
                               'database was touched. Choose another backup.'
                               % (bid, manifest['sha256'], digest, manifest['size'], size))
        if problem:
            raise RestoreError('Could not restore backup %s: %s; no database was touched.' % (bid, problem))
        if self.params.get('globals'):
            g = manifest['globals']
            self.globals_path = os.path.join(workdir, 'globals.sql')
            gsize, gdigest, gproblem = download(store, bid, g['key'], manifest['compression'], self.globals_path,
                                                g['size'], g['sha256'])
            if gsize != g['size'] or gdigest != g['sha256'] or gproblem:
                raise RestoreError('Could not restore backup %s: its globals do not match the manifest (sha256 '
                                   'expected %s, got %s). No database was touched.' % (bid, g['sha256'], gdigest))
        self.timings['download_s'] = round(time.monotonic() - t, 3)

    def create_scratch(self):
        """The scratch database (encoding, locale and owner from the manifest), marked as ours right after it
        exists; -> its name."""
        manifest = self.manifest
        scratch = scratch_name()
        create = sql.SQL('CREATE DATABASE {} TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}').format(
            _ident(scratch), sql.Literal(manifest.get('encoding') or 'UTF8'),
            sql.Literal(manifest.get('collate') or 'C'), sql.Literal(manifest.get('ctype') or 'C'))
        if self.owner_ok:
            create = sql.SQL('{} OWNER {}').format(create, _ident(manifest['owner']))
        with connect(self.params, dbname='postgres') as conn, conn.cursor() as cur:
            cur.execute(create)
            self.own['scratch'] = scratch
            self.result['scratch_db'] = scratch
            cur.execute(sql.SQL('COMMENT ON DATABASE {} IS {}').format(
                _ident(scratch), sql.Literal(make_marker('scratch', dict(self.marker_run, name=scratch)))))
        return scratch

    def restore_scratch(self):
        """2. globals, then the scratch database, marked as ours right after it exists, and pg_restore into it."""
        params, manifest, result = self.params, self.manifest, self.result
        t = time.monotonic()
        if self.globals_path:
            with connect(params, dbname='postgres') as conn, conn.cursor() as cur:
                cur.execute('SELECT rolname FROM pg_catalog.pg_roles')
                roles = set(r[0] for r in cur.fetchall())
            with open(self.globals_path, encoding='utf-8', errors='surrogateescape') as f:
                lines, _left = keep_existing_roles(f.readlines(), roles)
            with open(self.globals_path, 'w', encoding='utf-8', errors='surrogateescape') as f:
                f.writelines(lines)
            result['verification']['globals_existing'] = restore_globals(params, self.psql, self.globals_path)
            with connect(params, dbname='postgres') as conn, conn.cursor() as cur:
                self.owner_ok = bool(manifest.get('owner')) and _role_exists(cur, manifest['owner'])
        scratch = self.create_scratch()
        rc, text = _run(pg_restore_argv(self.pg_restore, scratch, self.dump_path, params.get('jobs') or 1,
                                        params.get('no_owner')), child_env(params, scratch), params, 'pg_restore')
        if rc != 0:
            how = 'was killed by signal %d' % -rc if rc < 0 else 'exited with code %d' % rc
            raise RestoreError('Could not restore backup %s: pg_restore %s: %s.'
                               % (self.bid, how, text.strip()[-1500:] or 'no error output'))
        self.apply_properties()
        self.timings['restore_s'] = round(time.monotonic() - t, 3)

    def apply_properties(self):
        """The end of step 2: the database's settings and ACL from the manifest (after pg_restore: a setting such as
        default_transaction_read_only must not stop it); they stay with the database through the rename."""
        params, result = self.params, self.result
        try:
            with connect(params, dbname='postgres') as conn, conn.cursor() as cur:
                cur.execute('SELECT rolname FROM pg_catalog.pg_roles')
                roles = set(r[0] for r in cur.fetchall())
                steps, skipped = plan_database_properties(
                    self.manifest.get('database_properties'), roles,
                    self.manifest.get('owner') if self.owner_ok else None, acl=not params.get('no_owner'))
                with conn.transaction():
                    for step in steps:
                        cur.execute(_property_sql(self.own['scratch'], step))
        except psycopg.Error as e:
            raise RestoreError('Could not apply the database settings and grants of backup %s: %s.'
                               % (self.bid, redact(e, params).strip()))
        result['database_properties'] = {
            'owner': self.manifest.get('owner') if self.owner_ok else None,
            'settings': sum(1 for s in steps if s[0] == 'set'),
            'grants': sum(1 for s in steps if s[0] == 'grant'), 'skipped': skipped}
        if skipped:
            self.warnings.append('not applied to the restored database: %s' % '; '.join(skipped))

    def verify(self):
        """3. the row counts of the scratch copy against the manifest."""
        params, manifest, result, bid = self.params, self.manifest, self.result, self.bid
        t = time.monotonic()
        row_counts = manifest.get('row_counts', 'exact')
        result['verification']['row_counts'] = row_counts
        if params.get('verify_row_counts', True):
            counts = _count_tables(params, self.own['scratch'], manifest['tables'])
            ok, tables = compare_counts(manifest['tables'], counts, row_counts)
            result['verification']['tables'] = tables
            result['verification']['rows'] = sum(r['actual'] or 0 for r in tables)
            if not ok:
                bad = [r for r in tables if not r['ok']][:5]
                if row_counts == 'exact':
                    what = 'row counts differ from the manifest'
                else:
                    what = 'tables of the manifest are missing after the restore (its row counts are %s)' % (
                        'estimates' if row_counts == 'estimate' else 'not recorded')
                raise RestoreError('Could not verify backup %s: %s: %s.' % (
                    bid, what, '; '.join('%s.%s expected %s, got %s' % (
                        json.dumps(r['schema']), json.dumps(r['table']),
                        r['expected'] if r['expected'] is not None else 'the table',
                        r['actual'] if r['actual'] is not None else 'no table') for r in bad)))
        result['verification']['ok'] = True
        self.timings['verify_s'] = round(time.monotonic() - t, 3)

    def switch(self):
        """4. the outcome: drop (verify), rename (new, or no live copy) or swap in (replace)."""
        params, result, target = self.params, self.result, self.target
        scratch = self.own['scratch']
        t = time.monotonic()
        if self.mode == 'verify':
            _drop(params, scratch, self.server_num)
            self.own['scratch'] = None
        elif self.mode == 'new' or self.target_state is None:
            with connect(params, dbname='postgres') as conn, conn.cursor() as cur:
                with conn.transaction():
                    cur.execute(sql.SQL('COMMENT ON DATABASE {} IS NULL').format(_ident(scratch)))
                    cur.execute(sql.SQL('ALTER DATABASE {} RENAME TO {}').format(_ident(scratch), _ident(target)))
            self.own['scratch'] = None
        else:
            result['previous_db'] = _swap(params, scratch, target, self.now, self.marker_run, self.live)
            self.own['scratch'] = None
            if not params.get('keep_previous', True):
                try:
                    _drop(params, result['previous_db'], self.server_num)
                    result['previous_db'] = None
                except (psycopg.Error, RestoreError) as e:
                    result['warnings'].append('the restore succeeded but the previous copy %s could not be dropped: '
                                              '%s; drop it by hand' % (_qi(result['previous_db']),
                                                                       redact(e, params).strip()))
        self.timings['switch_s'] = round(time.monotonic() - t, 3)

    def finish(self):
        result, manifest, bid = self.result, self.manifest, self.bid
        self.timings['total_s'] = round(time.monotonic() - self.t0, 3)
        done = leftovers_note(self.swept, self.repaired)
        if self.mode == 'verify':
            result['msg'] = 'verified backup %s of %s: %d tables restored and counted%s' % (
                bid, json.dumps(manifest['database']), len(manifest['tables']), done)
        elif self.mode == 'new':
            result['msg'] = 'restored backup %s of %s as %s%s' % (
                bid, json.dumps(manifest['database']), json.dumps(self.target), done)
        else:
            kept = (' (previous copy kept as %s)' % json.dumps(result['previous_db'])) if result['previous_db'] else ''
            result['msg'] = 'replaced %s with backup %s of %s%s%s' % (json.dumps(self.target), bid,
                                                                      json.dumps(manifest['database']), kept, done)
        return result


def _swap(params, scratch, target, now, run, live):
    """Swap the verified scratch copy in; return the name the live database now has.

    One transaction marks the live database (its original datallowconn and comment inside the marker) and blocks
    new connections; a second one renames both databases and gives the previous one its settings back. If
    anything fails in between, the block is undone on a FRESH connection (the first one may be dead); if even
    that fails, the marker lets the next run reopen it.
    """
    previous = previous_name(target, now)
    conn = connect(params, dbname='postgres')
    try:
        with conn.cursor() as cur:
            if _db_exists(cur, previous) is not None:
                raise RestoreError('Could not swap the restored copy in: a database named %s already exists. '
                                   'Rename or drop it, then run again.' % _qi(previous))
            cur.execute("SELECT datallowconn, pg_catalog.shobj_description(oid, 'pg_database') "
                        "FROM pg_catalog.pg_database WHERE datname = %s", (target,))
            row = cur.fetchone()
            if row is None:
                raise RestoreError('Could not swap the restored copy in: the database %s no longer exists. '
                                   'Run again with mode=new.' % _qi(target))
            allowconn, comment = row
            if parse_marker(comment) is not None:
                raise RestoreError('Could not swap the restored copy in: %s is being swapped by another db_restore '
                                   'run (its comment carries that run\'s marker). Wait for it, then run again.'
                                   % _qi(target))
            marker = make_marker('swap', dict(run, database=target, allow_connections=allowconn, comment=comment))
            with conn.transaction():
                cur.execute(sql.SQL('COMMENT ON DATABASE {} IS {}').format(_ident(target), sql.Literal(marker)))
                cur.execute(sql.SQL('ALTER DATABASE {} ALLOW_CONNECTIONS false').format(_ident(target)))
            live.update(state='blocked', database=target, previous=previous)
            _terminate(cur, target)
            with conn.transaction():
                cur.execute(sql.SQL('ALTER DATABASE {} RENAME TO {}').format(_ident(target), _ident(previous)))
                cur.execute(sql.SQL('ALTER DATABASE {} RENAME TO {}').format(_ident(scratch), _ident(target)))
                cur.execute(sql.SQL('ALTER DATABASE {} ALLOW_CONNECTIONS {}').format(
                    _ident(previous), sql.SQL('true' if allowconn else 'false')))
                cur.execute(sql.SQL('COMMENT ON DATABASE {} IS {}').format(_ident(previous), sql.Literal(comment)))
                cur.execute(sql.SQL('COMMENT ON DATABASE {} IS {}').format(_ident(target), sql.Literal(comment)))
            live['state'] = 'replaced'
    except BaseException:
        if live['state'] == 'blocked':
            try:
                if _reopen_after_failed_swap(params, run):
                    live['state'] = 'reopened'
                else:
                    with connect(params, dbname='postgres') as c2, c2.cursor() as cur2:
                        live['state'] = 'replaced' if _db_exists(cur2, previous) is not None else 'reopened'
            except psycopg.Error as e:
                live.update(state='left_blocked', error=redact(e, params).strip().splitlines()[0] if str(e).strip()
                            else None)
        raise
    finally:
        try:
            conn.close()
        except psycopg.Error:
            pass
    return previous


# ---------------------------------------------------------------------------------------------
# dumps made without this collection (issue 13): pg_dump's plain SQL (gzip, zstd or none) or custom format

CUSTOM_MAGIC = b'PGDMP'
FIRST_READ = 64 * 1024
PSQL_META_ALLOWED = ('restrict', 'unrestrict')   # pg_dump 17.6/16.10/15.14 and later open and close a dump with them
COPY_START_RE = re.compile(rb'^COPY\s.*\sFROM\s+stdin;\s*$', re.IGNORECASE)
COPY_END_RE = re.compile(rb'^\\\.\r?\n?$')
META_RE = re.compile(rb'^\s*\\([A-Za-z]+|\S)')
OUTSIDE_RE = re.compile(rb'^\s*((?:CREATE|ALTER|DROP)\s+(?:DATABASE|ROLE|GROUP|TABLESPACE|USER(?!\s+MAPPING))\b'
                        rb'|COMMENT\s+ON\s+DATABASE\b|SECURITY\s+LABEL\b.*\bON\s+DATABASE\b'
                        rb'|(?:GRANT|REVOKE)\b.*\bON\s+DATABASE\b)', re.IGNORECASE)
OWNER_ACL_LINE_RE = re.compile(rb'^(?:ALTER\s.*\sOWNER\s+TO\s.*|GRANT\s.*|REVOKE\s.*);\s*$', re.IGNORECASE)


def is_adopted(selector):
    """Does ``backup`` name a dump made without this collection (``s3://...`` or an absolute path)?"""
    selector = (selector or '').strip()
    return selector.startswith('s3://') or selector.startswith('/')


class PlainDumpScanner(object):
    """Reads a plain-SQL dump line by line before anything runs it, outside its ``COPY ... FROM stdin`` data.

    Refused (``problem``): a psql meta-command other than ``\\restrict``/``\\unrestrict`` (``\\connect``: made with
    ``pg_dump --create`` or ``pg_dumpall``; ``\\!``, ``\\o``, ``\\i``...: not pg_dump's output), and a statement on
    what lives outside one database (``CREATE``/``ALTER``/``DROP DATABASE|ROLE|USER|GROUP|TABLESPACE``, ``COMMENT
    ON DATABASE``, ``GRANT``/``REVOKE ... ON DATABASE``): connected to the scratch database they would still change
    the live one or the whole server.  Such a dump is refused, never rewritten.  With ``no_owner`` the lines that
    are a whole ``ALTER ... OWNER TO``, ``GRANT`` or ``REVOKE`` statement are left out (``keep`` false), as
    ``pg_restore --no-owner --no-acl`` would.

    The check is by line, as pg_dump writes: it guards against restoring the wrong kind of dump, not against a
    hostile one (a dump is SQL run with the login's rights: restore only dumps you trust)."""

    def __init__(self, no_owner=False):
        self.no_owner = no_owner
        self.in_copy = False
        self.line_no = 0
        self.problem = None
        self.left_out = 0

    def feed(self, line):
        """-> True to keep the line; sets ``problem`` (and returns False) for a refused one."""
        self.line_no += 1
        if self.in_copy:
            if COPY_END_RE.match(line):
                self.in_copy = False
            return True
        if COPY_START_RE.match(line):
            self.in_copy = True
            return True
        m = META_RE.match(line)
        if m:
            cmd = m.group(1).decode('ascii', 'replace')
            if cmd in PSQL_META_ALLOWED:
                return True
            if cmd in ('c', 'connect'):
                self.problem = ('connects to another database at line %d (\\connect: a dump made with pg_dump '
                                '--create or pg_dumpall)' % self.line_no)
            else:
                self.problem = 'runs the psql meta-command \\%s at line %d, which pg_dump never writes' % (
                    cmd[:20], self.line_no)
            return False
        m = OUTSIDE_RE.match(line)
        if m:
            what = b' '.join(m.group(1).split()[:3]).decode('ascii', 'replace').upper()
            self.problem = ('changes what lives outside one database at line %d (%s...: a dump made with pg_dump '
                            '--create or pg_dumpall)' % (self.line_no, what))
            return False
        if self.no_owner and OWNER_ACL_LINE_RE.match(line):
            self.left_out += 1
            return False
        return True


def iter_lines(first, src):
    """The lines of ``first`` followed by the rest of the binary stream ``src``."""
    parts = first.split(b'\n')
    tail = parts.pop()
    for part in parts:
        yield part + b'\n'
    for line in src:
        if tail:
            line, tail = tail + line, b''
        yield line
    if tail:
        yield tail


def fetch_adopted(store, key, workdir, no_owner=False):
    """Download ``key`` (hashing the stored bytes), detect its compression and format, decompress it and, for
    plain SQL, check it with :class:`PlainDumpScanner`; nothing touches a database here.

    -> dict(size, sha256, compression, format (``plain``|``custom``), path, problem, left_out)."""
    raw = os.path.join(workdir, 'adopted.raw')
    h = hashlib.sha256()
    n = 0
    head = b''
    try:
        fd = os.open(raw, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, 'wb') as out:
            for block in store.iter_read(key):
                if len(head) < adopted_dump.HEAD_BYTES:
                    head += block[:adopted_dump.HEAD_BYTES]
                h.update(block)
                n += len(block)
                out.write(block)
    except OSError as e:
        raise RestoreError(bs._os_message('write %s' % raw, e))
    info = {'size': n, 'sha256': h.hexdigest(), 'compression': adopted_dump.detect_compression(head),
            'format': None, 'path': os.path.join(workdir, 'data.sql'), 'problem': None, 'left_out': 0}
    argv = adopted_dump.decompressor_argv(info['compression'], raw)
    err = tempfile.TemporaryFile()
    proc = None
    try:
        if argv:
            try:
                proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=err)
            except OSError as e:
                raise RestoreError('cannot start %s: %s. Install it.' % (argv[0], e.strerror))
            src = proc.stdout
        else:
            src = open(raw, 'rb')
        fd = os.open(info['path'], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with src, os.fdopen(fd, 'wb') as out:
            first = src.read(FIRST_READ)
            if first.startswith(CUSTOM_MAGIC):
                info['format'] = 'custom'
                out.write(first)
                shutil.copyfileobj(src, out, READ_BLOCK)
            elif b'\x00' in first:
                info['problem'] = ('it is neither a plain-SQL dump nor a custom-format archive (pg_dump -Ft and -Fd '
                                   'are not read here: convert it with pg_restore -f - into plain SQL)')
            else:
                info['format'] = 'plain'
                scan = PlainDumpScanner(no_owner)
                for line in iter_lines(first, src):
                    if scan.feed(line):
                        out.write(line)
                    elif scan.problem:
                        info['problem'] = ('the dump %s, so it would write outside the scratch database; dump '
                                           'one database without --create (pg_dump DB > FILE)' % scan.problem)
                        break
                info['left_out'] = scan.left_out
            if proc is not None and info['problem']:
                while src.read(READ_BLOCK):   # a corrupted stream: let the decompressor say so, it is the cause
                    pass
        if proc is not None:
            rc = proc.wait()
            if rc != 0:
                err.seek(0)
                text = err.read().decode('utf-8', 'replace').strip()[-500:]
                info['problem'] = '%s could not decompress it (exit code %d: %s): it is corrupted or truncated' % (
                    argv[0], rc, text or 'no error output')
        if not first and not info['problem']:
            info['problem'] = 'it is empty'
        return info
    except OSError as e:
        raise RestoreError(bs._os_message('write %s' % info['path'], e))
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        err.close()
        try:
            os.unlink(raw)
        except OSError:
            pass


READ_BLOCK = 1024 * 1024
ADOPTED_SUMMARY = 'no manifest: nothing to verify the counts against'


def _count_all_tables(params, dbname):
    """[(schema, table, rows)] of every ordinary table of ``dbname`` outside the system schemas."""
    out = []
    with connect(params, dbname=dbname) as conn, conn.cursor() as cur:
        cur.execute("SELECT n.nspname, c.relname FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n "
                    "ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname <> 'information_schema' "
                    "AND n.nspname NOT LIKE 'pg\\_%' ORDER BY 1, 2")
        for schema, table in cur.fetchall():
            cur.execute(sql.SQL('SELECT count(*) FROM ONLY {}.{}').format(_ident(schema), _ident(table)))
            out.append((schema, table, cur.fetchone()[0]))
    return out


class PgAdoptedRestore(PgRestore):
    """A dump made without this collection (``backup: s3://bucket/key`` or an absolute path), restored the way our
    own backups are: sweep, scratch database (marked, locked), verify/new/replace with the same switch and swap.

    What differs: no manifest, so no checksum to compare and nothing to verify the counts against (they are
    reported); the compression comes from the first bytes and the format from the decompressed ones (``PGDMP``:
    custom, restored by pg_restore; else plain SQL, checked by :class:`PlainDumpScanner` and run by ``psql -v
    ON_ERROR_STOP=1 --single-transaction`` in the scratch database).  A replace gives the new database the owner,
    settings and ACL the live one has (read from it, as db_backup records them)."""

    def __init__(self, params, check_mode=False, now=None):
        super(PgAdoptedRestore, self).__init__(params, check_mode=check_mode, now=now)
        self.key = None
        self.fmt = None

    def choose(self):
        params = self.params
        selector = (params.get('backup') or '').strip()
        self.bid = selector if selector.startswith('/') else bs.safe_url(selector)
        try:
            url, self.key = adopted_dump.adopted_source(selector)
        except adopted_dump.AdoptedSourceError as e:
            raise self.fail('%s Nothing was changed.' % e)
        if self.mode != 'verify' and not params.get('target_db'):
            raise self.fail('Could not restore %s in mode %s: a dump without a manifest names no database. Set '
                            'target_db. Nothing was changed.' % (self.bid, self.mode))
        if params.get('globals'):
            raise self.fail('Could not restore the globals of %s: a dump without a manifest has none. Set '
                            'globals=false (load roles from a pg_dumpall --globals-only file with psql). Nothing '
                            'was changed.' % self.bid)
        try:
            self.store = bs.open_store(dict(params, store=url))
        except bs.StoreError as e:
            raise self.fail('Could not open %s: %s. Nothing was changed.' % (self.bid, e))
        self.target = params.get('target_db')
        self.manifest = {}

    def new_result(self):
        mode = self.mode
        self.result = {
            'changed': mode != 'verify' or bool(self.swept or self.repaired), 'backup_id': None,
            'backup_created_at': None, 'backup_age_s': None, 'mode': mode, 'source_db': None,
            'target_db': self.target if mode != 'verify' else None, 'previous_db': None, 'scratch_db': None,
            'verification': {}, 'timings': self.timings, 'warnings': self.warnings, 'store': self.store.describe(),
            'swept': self.swept, 'repaired': self.repaired, 'adopted': {'source': self.bid}}

    def preflight(self):
        """The target's state; the scratch copy takes the live database's encoding, locale, owner, settings and
        ACL for a replace, the cluster's defaults (template1) otherwise."""
        try:
            with self.guard.cursor() as cur:
                self.target_state = _db_exists(cur, self.target) if self.target else None
                like = self.target if self.mode == 'replace' and self.target_state is not None else 'template1'
                cur.execute("SELECT pg_catalog.pg_encoding_to_char(d.encoding), d.datcollate, d.datctype, "
                            "pg_catalog.pg_get_userbyid(d.datdba) FROM pg_catalog.pg_database d "
                            "WHERE d.datname = %s", (like,))
                row = cur.fetchone()
            if like != 'template1':
                self.manifest = {'encoding': row[0], 'collate': row[1], 'ctype': row[2], 'owner': row[3],
                                 'database_properties': pg_backup.database_properties(self.guard, like)}
                self.owner_ok = True
            elif row is not None:
                self.manifest = {'encoding': row[0], 'collate': row[1], 'ctype': row[2]}
        except psycopg.Error as e:
            raise self._server_error(e)
        if self.mode == 'new' and self.target_state is not None:
            raise self.fail('Could not restore %s as new database %s: it already exists. Choose another target_db or '
                            'mode=replace.' % (self.bid, json.dumps(self.target)))
        self.pg_restore = tool_path(self.params.get('bin_dir'), 'pg_restore')
        self.psql = tool_path(self.params.get('bin_dir'), 'psql')
        self.timings['preflight_s'] = round(time.monotonic() - self.t0, 3)

    def plan(self):
        mode = self.mode
        self.result['msg'] = 'would restore %s (a dump without a manifest) in mode %s%s%s' % (
            self.bid, mode, '' if mode == 'verify' else ' into %s' % json.dumps(self.target),
            leftovers_note(self.swept, self.repaired, True))
        return self.result

    def fetch(self):
        """1. download, decompress and check the dump, before touching any database."""
        t = time.monotonic()
        info = fetch_adopted(self.store, self.key, self.own['workdir'], self.params.get('no_owner'))
        self.result['adopted'].update(compression=info['compression'], format=info['format'], size=info['size'],
                                      sha256=info['sha256'])
        if info['problem']:
            raise RestoreError('Could not restore %s: %s. No database was touched.' % (self.bid, info['problem']))
        if info['left_out']:
            self.result['adopted']['left_out'] = info['left_out']
        self.dump_path, self.fmt = info['path'], info['format']
        self.timings['download_s'] = round(time.monotonic() - t, 3)

    def restore_scratch(self):
        """2. the scratch database, then pg_restore (custom) or psql in one transaction (plain SQL) into it."""
        params = self.params
        t = time.monotonic()
        scratch = self.create_scratch()
        if self.fmt == 'custom':
            tool, argv = 'pg_restore', pg_restore_argv(self.pg_restore, scratch, self.dump_path,
                                                       params.get('jobs') or 1, params.get('no_owner'))
        else:
            tool, argv = 'psql', psql_load_argv(self.psql, self.dump_path)
        rc, text = _run(argv, child_env(params, scratch), params, tool)
        if rc != 0:
            how = 'was killed by signal %d' % -rc if rc < 0 else 'exited with code %d' % rc
            text = text.replace(self.dump_path, 'the dump').strip()
            raise RestoreError('Could not restore %s: %s %s: %s.%s' % (
                self.bid, tool, how, text[-1500:] or 'no error output',
                ' The load ran in one transaction and was rolled back.' if tool == 'psql' else ''))
        if self.manifest.get('database_properties') is not None:
            self.apply_properties()
        self.timings['restore_s'] = round(time.monotonic() - t, 3)

    def verify(self):
        """3. no manifest: count every table and report the counts, with nothing to compare them with."""
        t = time.monotonic()
        counts = _count_all_tables(self.params, self.own['scratch'])
        v = self.result['verification']
        v['tables'] = [{'schema': s, 'table': tb, 'expected': None, 'actual': n, 'ok': None} for s, tb, n in counts]
        v['rows'] = sum(n for _s, _t, n in counts)
        v['row_counts'] = 'none'
        v['ok'] = None
        v['summary'] = '%s; %d table(s), %d row(s) restored into the scratch database' % (
            ADOPTED_SUMMARY, len(counts), v['rows'])
        self.timings['verify_s'] = round(time.monotonic() - t, 3)

    def finish(self):
        result = self.result
        self.timings['total_s'] = round(time.monotonic() - self.t0, 3)
        done = leftovers_note(self.swept, self.repaired)
        summary = result['verification']['summary']
        if self.mode == 'verify':
            result['msg'] = 'restored %s into a scratch database and dropped it (%s)%s' % (self.bid, summary, done)
        elif self.mode == 'new':
            result['msg'] = 'restored %s as %s (%s)%s' % (self.bid, json.dumps(self.target), summary, done)
        else:
            kept = (' (previous copy kept as %s)' % json.dumps(result['previous_db'])) if result['previous_db'] else ''
            result['msg'] = 'replaced %s with %s%s (%s)%s' % (json.dumps(self.target), self.bid, kept, summary, done)
        return result
