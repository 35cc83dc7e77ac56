# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verified MySQL/MariaDB restores (``runbook.ops.db_restore`` with ``engine: mysql``).

Order of work, each step only after the previous one succeeded:

1. sweep the scratch databases of earlier runs that are gone (see *Leftovers*);
2. select a valid backup (``latest`` | ``<id>`` | ``before:<ISO time>``, the rules of ``pg_restore.choose_backup``),
   or adopt a dump that has no manifest: ``backup: s3://bucket/key`` or an absolute path, gzip, zstd or plain SQL
   (detected by its first bytes);
3. download it into a private temp directory (0700, file 0600), hashing it; size and sha256 are compared with the
   manifest BEFORE any database is touched.  An adopted dump that names databases (``USE``, ``CREATE DATABASE``:
   made with ``--databases``/``--all-databases``) is refused, since it would write outside the scratch database;
4. ``CREATE DATABASE rbo_restore_<12 hex>`` with its marker, then ``decompressor | mariadb --database=<scratch>``;
   events are disabled in the scratch database as soon as the load ends (their status is put back when they move);
5. count the rows of every table and compare them with the manifest (an adopted dump has nothing to verify
   against: the counts are reported and the result says so);
6. ``verify``: drop the scratch database.  ``new``/``replace``: move it into ``target_db``.

Replace, with ``<db>_pre_restore_<ts>`` created for the previous objects:

- the triggers of the scratch and of the live tables are dropped (MySQL refuses to move a table with triggers to
  another database), then ONE ``RENAME TABLE live.t TO prev.t, ..., scratch.t TO live.t, ...`` statement moves every
  table atomically: the live database never holds a mix of old and new tables.  When the rename fails the live
  triggers are put back and nothing else changed.  The rename waits at most ``SWAP_LOCK_WAIT_S`` seconds for the
  transactions that hold a live table (``lock_wait_timeout``), then fails that way;
- views (``SHOW CREATE VIEW``, fully qualified: the scratch name is rewritten to the target's), triggers and
  routines (``SHOW CREATE ...``, run with their ``sql_mode``) are recreated in the target, the previous ones in
  ``<db>_pre_restore_<ts>``; events move with ``ALTER EVENT ... RENAME TO`` (the previous ones are disabled).

Users and grants (``globals: true``, a backup made with globals): the stored ``SHOW CREATE USER``/``SHOW GRANTS``
statements are read and checked with the data (before any database is touched) and applied once the data is in
place (``new``/``replace``; ``verify`` and check mode only plan): a missing account is created by its stored
statement (password hash included), an existing one is never re-created (its password stays), every GRANT loses its
``IDENTIFIED ...`` clause (MariaDB prints the hash there), grants an account already holds are skipped, nothing is
revoked.  The statements go through PyMySQL only; errors are reported without the statement text.

Leftovers: the scratch database holds the table ``_runbook_ops_restore_marker`` (run id, host, pid) and the run
holds the named lock ``GET_LOCK('<scratch name>')`` for its whole life.  A database named ``rbo_restore_<12 hex>``
with that marker table whose lock is free belongs to a run that is gone: the next run drops it (check mode only
reports).  Nothing else is ever dropped.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
import time

from ansible_collections.runbook.ops.plugins.module_utils import adopted_dump
from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs
from ansible_collections.runbook.ops.plugins.module_utils import dump_pipeline as dp
from ansible_collections.runbook.ops.plugins.module_utils import mysql as my
from ansible_collections.runbook.ops.plugins.module_utils import mysql_backup
from ansible_collections.runbook.ops.plugins.module_utils import pg_restore

if my.HAS_PYMYSQL:
    import pymysql

MARKER_TABLE = '_runbook_ops_restore_marker'
SCRATCH_RE = re.compile(r'^rbo_restore_[0-9a-f]{12}$')
NAMES_DATABASE_RE = re.compile(rb'^(USE\s|CREATE\s+DATABASE\s|/\*!\d+\s+USE\s)', re.IGNORECASE | re.MULTILINE)
SWAP_LOCK_WAIT_S = 60
GZIP_MAGIC = adopted_dump.GZIP_MAGIC
ZSTD_MAGIC = adopted_dump.ZSTD_MAGIC
detect_compression = adopted_dump.detect_compression
decompressor_argv = adopted_dump.decompressor_argv
Interrupted = dp.Interrupted
install_signal_handlers = dp.install_signal_handlers


class RestoreError(my.MysqlError):
    """A restore failure; ``extra`` goes into the failed result."""

    def __init__(self, msg, **extra):
        super(RestoreError, self).__init__(msg)
        self.extra = extra


# ---------------------------------------------------------------------------------------------
# pure helpers (unit-tested)

def scratch_name():
    return 'rbo_restore_%s' % secrets.token_hex(6)


def client_argv(tool, defaults_path, db):
    return [tool, '--defaults-file=%s' % defaults_path, '--binary-mode', '--batch', '--database=%s' % db]


def requalify(ddl, old_db, new_db):
    """Point the qualified names of ``old_db`` in a DDL text at ``new_db`` (``old_db`` is a name we chose or the
    target: its quoted form followed by a dot only ever appears as a qualifier)."""
    return ddl.replace(my.qi(old_db) + '.', my.qi(new_db) + '.')


def adopted_source(selector):
    """``s3://bucket/key`` or an absolute path -> (store URL, key); None for a catalogue selector."""
    try:
        return adopted_dump.adopted_source(selector)
    except adopted_dump.AdoptedSourceError as e:
        raise RestoreError(str(e))


def plan_sweep(rows, locks_free):
    """``rows``: [(schema, marker json or None)] -> the scratch databases a sweep may drop."""
    out = []
    for name, marker in rows:
        if not SCRATCH_RE.match(name or '') or marker is None:
            continue
        if locks_free.get(name):
            out.append({'database': name, 'kind': 'scratch', 'marker': marker,
                        'reason': 'scratch database of a db_restore run that no longer runs (its lock is free)'})
    return out


# users and grants (globals: true), pure
_Q = r"`(?:[^`]|``)*`|'(?:[^'\\]|\\.|'')*'|\"(?:[^\"\\]|\\.|\"\")*\""
TOKEN_RE = re.compile(_Q + r"|--\s[^\n]*|#[^\n]*|/\*.*?\*/|;|[^\s`'\";]+|\s+|.", re.S)
CREATE_USER_RE = re.compile(r"^\s*CREATE\s+(?:OR\s+REPLACE\s+)?USER\s+(?:IF\s+NOT\s+EXISTS\s+)?(%s|[\w.$%%-]+)"
                            r"(?:@(%s|[\w.$%%:-]+))?" % (_Q, _Q), re.IGNORECASE)


def split_statements(text):
    """The statements of an SQL text (``;`` outside quotes and comments ends one); comments left out."""
    out, cur = [], []
    for m in TOKEN_RE.finditer(text):
        tok = m.group(0)
        if tok == ';':
            stmt = ''.join(cur).strip()
            if stmt:
                out.append(stmt)
            cur = []
        elif tok.startswith(('--', '#')) or (tok.startswith('/*') and tok.endswith('*/') and len(tok) > 3):
            cur.append(' ')
        else:
            cur.append(tok)
    stmt = ''.join(cur).strip()
    if stmt:
        out.append(stmt)
    return out


def unquote(token):
    if token[:1] == '`':
        return token[1:-1].replace('``', '`')
    if token[:1] in ('"', "'"):
        q = token[0]
        body, out, i = token[1:-1], [], 0
        while i < len(body):
            c = body[i]
            if c == '\\' and i + 1 < len(body):
                out.append(body[i + 1])
                i += 2
                continue
            if c == q and body[i + 1:i + 2] == q:
                out.append(q)
                i += 2
                continue
            out.append(c)
            i += 1
        return ''.join(out)
    return token


def created_account(statement):
    """``CREATE USER `u`@`h` ...`` -> ('u', 'h'); None for any other statement."""
    m = CREATE_USER_RE.match(statement)
    if not m:
        return None
    return unquote(m.group(1)), unquote(m.group(2)) if m.group(2) else '%'


def without_identification(statement):
    """A GRANT without its ``IDENTIFIED ...`` clause (MariaDB's SHOW GRANTS prints the password hash there): a
    grant must never set a password.  Other statements are returned as they are."""
    if not re.match(r'^\s*GRANT\b', statement, re.IGNORECASE):
        return statement
    start = None
    for m in TOKEN_RE.finditer(statement):
        word = m.group(0).upper()
        if start is None and word == 'IDENTIFIED':
            start = m.start()
        elif start is not None and word in ('REQUIRE', 'WITH'):
            return (statement[:start] + statement[m.start():]).strip()
    return statement[:start].strip() if start is not None else statement


def account_name(account):
    return '%s@%s' % (my.qi(account[0]), my.qi(account[1]))


def plan_globals(statements, existing, current_grants):
    """The accounts of a globals text -> [{account, exists, create, grants}].

    ``existing``: the accounts (user, host) of the server; ``current_grants``: {account: set of its grants now,
    normalised by :func:`without_identification`}.  A missing account is created with the statement of the backup
    (its password hash included); an existing one is never re-created, so its password stays.  Grants it already
    holds are left out: grants are added, never revoked."""
    plan, item = [], None
    for stmt in statements:
        account = created_account(stmt)
        if account is not None:
            item = {'account': account, 'exists': account in existing, 'create': stmt, 'grants': []}
            plan.append(item)
            continue
        if item is None:
            item = {'account': None, 'exists': True, 'create': None, 'grants': []}
            plan.append(item)
        grant = without_identification(stmt)
        if grant not in current_grants.get(item['account'], ()):
            item['grants'].append(grant)
    return plan


def safe_error(e):
    """A server error about a globals statement, without the statement (it may quote a password hash)."""
    args = getattr(e, 'args', ())
    text = str(args[1]) if len(args) >= 2 else str(e)
    for cut in (' near ', 'PASSWORD', 'IDENTIFIED'):
        i = text.upper().find(cut.upper())
        if i >= 0:
            text = text[:i].rstrip() + ' ...'
    return '%s (%d)' % (text, args[0]) if args and isinstance(args[0], int) else text


# ---------------------------------------------------------------------------------------------
# server helpers

def _exec(cur, statement, args=None):
    cur.execute(statement, args)
    return cur.fetchall()


def _schema(cur, name):
    rows = _exec(cur, 'SELECT DEFAULT_CHARACTER_SET_NAME, DEFAULT_COLLATION_NAME FROM information_schema.SCHEMATA '
                      'WHERE SCHEMA_NAME = %s', (name,))
    return rows[0] if rows else None


def _objects(cur, db):
    """Every object of ``db``: base tables, views (DDL), triggers (sql_mode, DDL), routines, events."""
    o = {'tables': [], 'views': [], 'triggers': [], 'routines': [], 'events': []}
    for name, ttype in _exec(cur, 'SELECT TABLE_NAME, TABLE_TYPE FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s '
                                  'ORDER BY TABLE_NAME', (db,)):
        if name == MARKER_TABLE:
            continue
        if ttype == 'VIEW':
            ddl = _exec(cur, 'SHOW CREATE VIEW %s.%s' % (my.qi(db), my.qi(name)))[0][1]
            o['views'].append((name, ddl))
        else:
            o['tables'].append(name)
    for (name,) in _exec(cur, 'SELECT TRIGGER_NAME FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA = %s '
                              'ORDER BY ACTION_ORDER', (db,)):
        row = _exec(cur, 'SHOW CREATE TRIGGER %s.%s' % (my.qi(db), my.qi(name)))[0]
        o['triggers'].append((name, row[1], row[2]))
    for name, rtype in _exec(cur, 'SELECT ROUTINE_NAME, ROUTINE_TYPE FROM information_schema.ROUTINES '
                                  'WHERE ROUTINE_SCHEMA = %s ORDER BY 1', (db,)):
        row = _exec(cur, 'SHOW CREATE %s %s.%s' % (rtype, my.qi(db), my.qi(name)))[0]
        o['routines'].append((name, rtype, row[1], row[2]))
    for name, status in _exec(cur, 'SELECT EVENT_NAME, STATUS FROM information_schema.EVENTS WHERE EVENT_SCHEMA = %s '
                                   'ORDER BY 1', (db,)):
        o['events'].append((name, status))
    return o


def _count(cur, db, tables):
    return dict(((db, t), int(_exec(cur, 'SELECT COUNT(*) FROM %s.%s' % (my.qi(db), my.qi(t)))[0][0]))
                for t in tables)


def _in_db(conn, db, sql_mode, ddl):
    conn.select_db(db)
    with conn.cursor() as cur:
        if sql_mode is not None:
            cur.execute('SET SESSION sql_mode = %s', (sql_mode,))
        cur.execute(ddl)


def _create_views(conn, db, views, src_db, errors):
    """Views may use each other: retry the failed ones while some succeed."""
    pending = [(n, requalify(ddl, src_db, db)) for n, ddl in views]
    while pending:
        failed = []
        for name, ddl in pending:
            try:
                _in_db(conn, db, None, re.sub(r'^CREATE ', 'CREATE OR REPLACE ', ddl, count=1))
            except pymysql.Error as e:
                failed.append((name, ddl, e))
        if len(failed) == len(pending):
            errors.extend('view %s.%s: %s' % (db, n, my.error_text(e)) for n, _d, e in failed)
            return
        pending = [(n, d) for n, d, _e in failed]


def sweep_leftovers(conn, check_mode):
    with conn.cursor() as cur:
        rows = []
        for (name,) in _exec(cur, "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE "
                                  "'rbo\\_restore\\_%%'"):
            if not SCRATCH_RE.match(name):
                continue
            has = _exec(cur, 'SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = %s AND '
                             'TABLE_NAME = %s', (name, MARKER_TABLE))[0][0]
            marker = None
            if has:
                got = _exec(cur, 'SELECT marker FROM %s.%s LIMIT 1' % (my.qi(name), my.qi(MARKER_TABLE)))
                marker = json.loads(got[0][0]) if got else {}
            rows.append((name, marker))
        free = dict((name, _exec(cur, 'SELECT IS_FREE_LOCK(%s)', (name,))[0][0] == 1) for name, _m in rows)
        plan = plan_sweep(rows, free)
        if not check_mode:
            for item in plan:
                cur.execute('DROP DATABASE %s' % my.qi(item['database']))
    return plan


def server_accounts(cur, accounts):
    """(every account of the server, {account of ``accounts`` that exists: its grants now, normalised})."""
    existing = set((u, h) for u, h in _exec(cur, 'SELECT User, Host FROM mysql.user'))
    grants = {}
    for account in accounts:
        if account in existing:
            grants[account] = set(without_identification(r[0]) for r in _exec(cur, 'SHOW GRANTS FOR %s@%s', account))
    return existing, grants


def globals_plan(conn, text):
    statements = split_statements(text)
    accounts = [a for a in (created_account(x) for x in statements) if a is not None]
    with conn.cursor() as cur:
        existing, grants = server_accounts(cur, accounts)
    return plan_globals(statements, existing, grants)


def apply_globals(conn, plan, check_mode):
    """Create the missing accounts and add the missing grants (nothing in check mode) -> (report, errors).

    The statements are run through the connection, never put on an argv, in a result or in a message."""
    report = {'accounts': sum(1 for i in plan if i['account'] is not None), 'created': [], 'kept': [],
              'grants': 0, 'applied': not check_mode}
    errors = []
    with conn.cursor() as cur:
        for item in plan:
            name = account_name(item['account']) if item['account'] else '(no account)'
            if item['account'] is not None:
                report['kept' if item['exists'] else 'created'].append(name)
            if check_mode:
                report['grants'] += len(item['grants'])
                continue
            try:
                if not item['exists'] and item['create']:
                    cur.execute(item['create'])
            except pymysql.Error as e:
                errors.append('create user %s: %s' % (name, safe_error(e)))
                continue
            for grant in item['grants']:
                try:
                    cur.execute(grant)
                    report['grants'] += 1
                except pymysql.Error as e:
                    errors.append('grant to %s: %s' % (name, safe_error(e)))
    return report, errors


def read_globals(store, key, path, size, sha):
    """Download the globals object (checked against the manifest) -> its SQL text."""
    _n, _sha, compression = fetch(store, key, path, size, sha)
    argv = decompressor_argv(compression, path)
    try:
        if argv:
            r = subprocess.run(argv, capture_output=True, check=False)
            if r.returncode != 0:
                raise RestoreError('%s could not decompress the globals (exit code %d)' % (argv[0], r.returncode))
            data = r.stdout
        else:
            with open(path, 'rb') as f:
                data = f.read()
    finally:
        os.unlink(path)
    return data.decode('utf-8', 'replace')


# ---------------------------------------------------------------------------------------------
# download and load

def fetch(store, key, dest, expected_size=None, expected_sha=None):
    """Copy ``key`` into ``dest`` (0600); return (size, sha256, compression detected)."""
    h = hashlib.sha256()
    n = 0
    head = b''
    fd = os.open(dest, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, 'wb') as f:
        for block in store.iter_read(key):
            if len(head) < 4:
                head += block[:4]
            h.update(block)
            n += len(block)
            f.write(block)
    digest = h.hexdigest()
    if expected_size is not None and n != expected_size:
        raise RestoreError('the data object is %d bytes, the manifest says %d' % (n, expected_size))
    if expected_sha is not None and digest != expected_sha:
        raise RestoreError('sha256 mismatch: the manifest says %s, the data is %s (corrupted)' % (expected_sha, digest))
    return n, digest, detect_compression(head)


def names_databases(path, compression):
    """True when the decompressed dump holds USE or CREATE DATABASE statements."""
    argv = decompressor_argv(compression, path)
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) if argv else None
    src = proc.stdout if proc else open(path, 'rb')
    try:
        tail = b''
        while True:
            block = src.read(1024 * 1024)
            if not block:
                return False
            if NAMES_DATABASE_RE.search(tail + block):
                return True
            tail = block[-200:].rsplit(b'\n', 1)[-1] if b'\n' in block[-200:] else block[-200:]
    finally:
        src.close()
        if proc:
            proc.kill()
            proc.wait()


def load(params, tool, path, compression, db, tmp_dir):
    """``decompressor | mariadb --database=db``; raise RestoreError when a stage fails."""
    errs = [tempfile.TemporaryFile(), tempfile.TemporaryFile()]
    procs = []
    try:
        with my.defaults_file(params, tmp_dir=tmp_dir) as cnf:
            dec = decompressor_argv(compression, path)
            if dec:
                p0 = subprocess.Popen(dec, stdout=subprocess.PIPE, stderr=errs[0])
                procs.append(p0)
                stdin = p0.stdout
            else:
                stdin = open(path, 'rb')
            try:
                p1 = subprocess.Popen(client_argv(tool, cnf, db), stdin=stdin, stdout=subprocess.DEVNULL,
                                      stderr=errs[1])
            finally:
                stdin.close()
            procs.append(p1)
            rcs = [p.wait() for p in procs]
        if dec and rcs[0] != 0:
            raise RestoreError('%s exited with code %d: %s' % (dec[0], rcs[0], dp.read_stderr(errs[0], lambda text: my.redact(text, params))))
        if rcs[-1] != 0:
            how = 'was killed by signal %d' % -rcs[-1] if rcs[-1] < 0 else 'exited with code %d' % rcs[-1]
            raise RestoreError('%s %s: %s' % (os.path.basename(tool), how, dp.read_stderr(errs[1], lambda text: my.redact(text, params))))
    except BaseException:
        dp.kill(procs)
        raise
    finally:
        for f in errs:
            f.close()


class Laps(object):
    """Phase timings that add up to the total: each phase ends where the next one begins (one clock reading per
    boundary), so ``preflight_s + download_s + restore_s + verify_s + switch_s`` is ``total_s`` up to rounding."""

    def __init__(self, timings, t0, clock=time.monotonic):
        self.timings, self.t0, self.mark, self.clock = timings, t0, t0, clock

    def lap(self, name):
        now = self.clock()
        self.timings[name] = round(now - self.mark, 3)
        self.mark = now

    def total(self, name):
        self.timings[name] = round(self.mark - self.t0, 3)


# ---------------------------------------------------------------------------------------------
# the restore

def run_restore(params, check_mode=False, now=None):
    t0 = time.monotonic()
    now = now or bs.utcnow()
    tmp_base = params.get('tmp_dir') or tempfile.gettempdir()
    guard = my.connect(params)
    try:
        return _restore(params, check_mode, now, t0, guard, tmp_base)
    except Interrupted as e:
        raise RestoreError('Could not restore: %s. The scratch database was dropped (or is swept by the next run); the '
                           'live database was not swapped unless the result says so.' % e)
    except pymysql.Error as e:
        raise RestoreError('Could not restore: %s. The live database was not touched unless the result says so.'
                           % my.redact(my.error_text(e), params))
    finally:
        try:
            guard.close()
        except Exception:  # pylint: disable=broad-except
            pass


def _restore(params, check_mode, now, t0, guard, tmp_base):
    mode = params['mode']
    timings, warnings = {}, []
    laps = Laps(timings, t0)
    swept = sweep_leftovers(guard, check_mode)
    extra = {'swept': swept, 'repaired': []}
    selector = params.get('backup') or 'latest'
    adopted = adopted_source(selector)
    target_db = params.get('target_db')
    with guard.cursor() as cur:
        target_exists = bool(target_db) and _schema(cur, target_db) is not None
    manifest, entry, store = None, None, None
    try:
        if adopted:
            store = bs.open_store(dict(params, store=adopted[0]))
            key = adopted[1]
            if mode != 'verify' and not target_db:
                raise RestoreError('Could not restore %s in mode %s: a dump without a manifest names no database. Set '
                                   'target_db. Nothing was changed.' % (selector, mode), **extra)
        else:
            store = bs.open_store(params)
            entries = [e for e in mysql_backup.list_backups(store, now=now)
                       if e['manifest'] is None or e['manifest'].get('engine') == 'mysql']
            _considered, entry = pg_restore.choose_backup(dict(params, target_db=target_db), entries,
                                                          target_exists or not target_db)
            manifest = entry['manifest']
            key = bs.backup_key(entry['id'], manifest['data_key'])
    except bs.StoreError as e:
        raise RestoreError('Could not select backup %s: %s. Nothing was changed.' % (selector, e), **extra)
    except pg_restore.RestoreError as e:
        raise RestoreError(str(e), **extra)
    if params.get('globals') and (adopted or not manifest.get('globals')):
        raise RestoreError('Could not restore the globals of %s: %s. Set globals=false%s. Nothing was changed.' % (
            selector if adopted else 'backup %s' % entry['id'],
            'a dump without a manifest has none' if adopted else 'it was taken without globals',
            '' if adopted else ' or pick a backup made with globals=true'), **extra)
    target = target_db or (manifest['database'] if manifest else None)
    with guard.cursor() as cur:
        target_state = _schema(cur, target) if target else None
    if mode == 'new' and target_state is not None:
        raise RestoreError('Could not restore %s as new database %s: it already exists. Choose another target_db or '
                           'mode=replace.' % (entry['id'] if entry else selector, json.dumps(target)), **extra)
    tool = my.client_tool(params.get('bin_dir'))
    if tool is None:
        raise RestoreError('Could not restore: neither the mariadb nor the mysql client is installed. Install '
                           'mariadb-client or set bin_dir.', **extra)
    result = {'changed': mode != 'verify' or bool(swept), 'backup_id': entry['id'] if entry else None,
              'backup_created_at': entry['created_at'] if entry else None,
              'backup_age_s': entry['age_s'] if entry else None, 'mode': mode,
              'source_db': manifest['database'] if manifest else None,
              'target_db': target if mode != 'verify' else None, 'previous_db': None, 'scratch_db': None,
              'verification': {}, 'timings': timings, 'warnings': warnings, 'store': store.describe(),
              'swept': swept, 'repaired': []}
    if adopted:
        result['adopted'] = selector if selector.startswith('/') else bs.safe_url(selector)
    source = result.get('adopted')
    laps.lap('preflight_s')
    if check_mode:
        if params.get('globals'):
            result['globals'] = _plan_globals_only(params, guard, store, entry, manifest, tmp_base, extra)
        result['msg'] = 'would restore %s in mode %s%s%s' % (
            entry['id'] if entry else source, mode, '' if mode == 'verify' else ' into %s' % json.dumps(target),
            _globals_note(result.get('globals'), True))
        return result

    work = tempfile.mkdtemp(prefix='rbo-restore-', dir=tmp_base)
    scratch = None
    try:
        os.chmod(work, 0o700)
        # 1. download and check BEFORE any database is touched
        path = os.path.join(work, 'data')
        try:
            _size, sha, compression = fetch(store, key, path, manifest['size'] if manifest else None,
                                            manifest['sha256'] if manifest else None)
        except bs.StoreError as e:
            raise RestoreError('Could not download %s: %s. Nothing was changed.' % (key, e), **extra)
        except RestoreError as e:
            raise RestoreError('Could not restore backup %s: %s. No database was touched; pick another backup.'
                               % (entry['id'] if entry else selector, e), **extra)
        globals_text = None
        if params.get('globals'):
            g = manifest['globals']
            try:
                globals_text = read_globals(store, bs.backup_key(entry['id'], g['key']), os.path.join(work, 'globals'),
                                            g['size'], g['sha256'])
            except (bs.StoreError, RestoreError) as e:
                raise RestoreError('Could not restore the globals of backup %s: %s. No database was touched; pick '
                                   'another backup.' % (entry['id'], e), **extra)
        if manifest and compression != manifest['compression']:
            raise RestoreError('Could not restore backup %s: its data is %s-compressed, the manifest says %s. No '
                               'database was touched.' % (entry['id'], compression, manifest['compression']), **extra)
        if adopted and names_databases(path, compression):
            raise RestoreError('Could not restore %s: the dump names databases (USE or CREATE DATABASE: made with '
                               '--databases or --all-databases), so it would write outside the scratch database. Dump '
                               'one database without --databases. No database was touched.' % source,
                               **extra)
        laps.lap('download_s')
        if adopted:
            result['adopted'] = dict(source=result['adopted'], compression=compression, sha256=sha)

        # 2. scratch database, marked as ours, locked for our lifetime
        scratch = scratch_name()
        result['scratch_db'] = scratch
        charset = (manifest or {}).get('encoding') or (target_state or ('utf8mb4', None))[0]
        with guard.cursor() as cur:
            if _exec(cur, 'SELECT GET_LOCK(%s, 0)', (scratch,))[0][0] != 1:
                raise RestoreError('Could not lock the scratch name %s. Retry.' % scratch, **extra)
            cur.execute('CREATE DATABASE %s CHARACTER SET %s' % (my.qi(scratch), my.qi(charset)))
            cur.execute('CREATE TABLE %s.%s (marker TEXT) ENGINE=InnoDB' % (my.qi(scratch), my.qi(MARKER_TABLE)))
            cur.execute('INSERT INTO %s.%s VALUES (%%s)' % (my.qi(scratch), my.qi(MARKER_TABLE)),
                        (json.dumps({'kind': 'runbook.ops db_restore scratch', 'host': socket.gethostname(),
                                     'pid': os.getpid(), 'started_at': bs.format_time(now)}),))
        load(params, tool, path, compression, scratch, work)
        with guard.cursor() as cur:
            objects = _objects(cur, scratch)
            for name, status in objects['events']:
                cur.execute('ALTER EVENT %s.%s DISABLE' % (my.qi(scratch), my.qi(name)))
            laps.lap('restore_s')
            # 3. verify
            actual = _count(cur, scratch, objects['tables'])
        verification = _verify(manifest, actual, scratch, params)
        result['verification'] = verification
        laps.lap('verify_s')
        if verification['ok'] is False:
            raise RestoreError('Could not verify backup %s: %s. The scratch database was dropped; the live database '
                               'was not touched.' % (entry['id'], verification['summary']), **dict(extra, verification=verification))
        # 4. act (``switch_s``, as for PostgreSQL: the drop of the scratch database included)
        if mode == 'verify':
            if globals_text is not None:   # a test restore changes nothing live: the accounts are only planned
                result['globals'], _errors = apply_globals(guard, globals_plan(guard, globals_text), True)
            result['msg'] = 'verified %s: %s%s' % (entry['id'] if entry else source, verification['summary'],
                                                   _globals_note(result.get('globals'), True))
        else:
            previous = pg_restore.previous_name(target, now) if target_state is not None else None
            errors = _move(guard, scratch, target, previous, objects, target_state, manifest, extra)
            if previous and not params.get('keep_previous', True):
                with guard.cursor() as cur:
                    cur.execute('DROP DATABASE %s' % my.qi(previous))
                previous = None
            result['previous_db'] = previous
            if errors:
                raise RestoreError('Restored the tables of %s into %s (the previous ones are in %s), but could not '
                                   'recreate %d object(s): %s. Recreate them by hand from %s.'
                                   % (entry['id'] if entry else source, json.dumps(target),
                                      json.dumps(previous), len(errors), '; '.join(errors[:5]), json.dumps(previous)),
                                   **dict(extra, verification=verification, previous_db=previous))
            if globals_text is not None:
                result['globals'], gerrors = apply_globals(guard, globals_plan(guard, globals_text), False)
                if gerrors:
                    raise RestoreError('Restored backup %s into %s%s, but could not apply %d statement(s) of its '
                                       'users and grants: %s. Fix them by hand (SHOW GRANTS), or run again.'
                                       % (entry['id'], json.dumps(target), ' (the previous objects are in %s)'
                                          % json.dumps(previous) if previous else '', len(gerrors),
                                          '; '.join(gerrors[:5])),
                                       **dict(extra, verification=verification, previous_db=previous,
                                              globals=result['globals']))
            result['msg'] = 'restored %s into %s (%s)%s%s' % (
                entry['id'] if entry else source, json.dumps(target), verification['summary'],
                ', previous objects kept in %s' % json.dumps(previous) if previous else '',
                _globals_note(result.get('globals'), False))
        if not _drop_scratch(guard, scratch):
            warnings.append('Could not drop the scratch database %s. The next db_restore run against this server '
                            'drops it (it carries a runbook.ops marker), or drop it by hand.' % json.dumps(scratch))
        scratch = None
        laps.lap('switch_s')
        laps.total('total_s')
        return result
    finally:
        if scratch is not None:
            _drop_scratch(guard, scratch)   # on a failure; when it cannot, the next run sweeps it (marker, free lock)
        shutil.rmtree(work, ignore_errors=True)


def _drop_scratch(guard, scratch):
    """Drop our scratch database and release its lock; False when the server refused (the next run sweeps it)."""
    try:
        with guard.cursor() as cur:
            cur.execute('DROP DATABASE IF EXISTS %s' % my.qi(scratch))
            cur.execute('SELECT RELEASE_LOCK(%s)', (scratch,))
        return True
    except Exception:  # pylint: disable=broad-except
        return False


def _plan_globals_only(params, guard, store, entry, manifest, tmp_base, extra):
    """Check mode: read the (small) globals object and plan the accounts; nothing is changed."""
    g = manifest['globals']
    work = tempfile.mkdtemp(prefix='rbo-restore-', dir=tmp_base)
    try:
        os.chmod(work, 0o700)
        text = read_globals(store, bs.backup_key(entry['id'], g['key']), os.path.join(work, 'globals'), g['size'],
                            g['sha256'])
    except (bs.StoreError, RestoreError) as e:
        raise RestoreError('Could not read the globals of backup %s: %s. Nothing was changed.' % (entry['id'], e),
                           **extra)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return apply_globals(guard, globals_plan(guard, text), True)[0]


def _globals_note(report, planned):
    if not report:
        return ''
    verb = ('would create' if planned else 'created')
    return '; users and grants: %s %d account(s), %d existing kept as they are (passwords unchanged), %s %d grant(s)' % (
        verb, len(report['created']), len(report['kept']), 'would add' if planned else 'added', report['grants'])


def _verify(manifest, actual, scratch, params):
    if manifest is None:
        tables = [{'schema': None, 'table': t, 'expected': None, 'actual': n, 'ok': None}
                  for (_s, t), n in sorted(actual.items())]
        return {'ok': None, 'tables': tables,
                'summary': 'nothing to verify against: the dump has no manifest; %d table(s), %d row(s) restored '
                           'into the scratch database' % (len(tables), sum(t['actual'] for t in tables))}
    if not params.get('verify_row_counts', True):
        tables = [{'schema': manifest['database'], 'table': t, 'expected': None, 'actual': n, 'ok': None}
                  for (_s, t), n in sorted(actual.items())]
        return {'ok': True, 'tables': tables, 'summary': 'row counts not checked (verify_row_counts=false)'}
    by_name = dict(((manifest['database'], t), n) for (_s, t), n in actual.items())
    ok, results = pg_restore.compare_counts(manifest['tables'], by_name, manifest.get('row_counts', 'exact'))
    bad = [r for r in results if not r['ok']]
    summary = ('%d table(s) match the manifest' % len(results)) if ok else (
        '%d of %d table(s) differ from the manifest: %s' % (len(bad), len(results), ', '.join(
            '%s expected %s got %s' % (json.dumps(r['table']), r['expected'], r['actual']) for r in bad[:5])))
    return {'ok': ok, 'tables': results, 'summary': summary}


def _move(conn, scratch, target, previous, new, target_state, manifest, extra):
    """Move the verified scratch objects into ``target`` (the live ones into ``previous``); return object errors."""
    errors = []
    with conn.cursor() as cur:
        if target_state is None:
            cur.execute('CREATE DATABASE %s CHARACTER SET %s' % (my.qi(target), my.qi(
                (manifest or {}).get('encoding') or 'utf8mb4')))
            live = {'tables': [], 'views': [], 'triggers': [], 'routines': [], 'events': []}
        else:
            live = _objects(cur, target)
            cur.execute('CREATE DATABASE %s CHARACTER SET %s COLLATE %s' % (
                my.qi(previous), my.qi(target_state[0]), my.qi(target_state[1])))
        for name, _mode, _ddl in new['triggers']:
            cur.execute('DROP TRIGGER %s.%s' % (my.qi(scratch), my.qi(name)))
        new_tables = set(new['tables'])
        blocking_views = [v for v in live['views'] if v[0] in new_tables]
        # a transaction holding a live table makes RENAME wait for its metadata lock: bounded, then refused
        cur.execute('SET SESSION lock_wait_timeout = %d' % SWAP_LOCK_WAIT_S)
        try:
            for name, _mode, _ddl in live['triggers']:
                cur.execute('DROP TRIGGER %s.%s' % (my.qi(target), my.qi(name)))
            for name, _ddl in blocking_views:
                cur.execute('DROP VIEW %s.%s' % (my.qi(target), my.qi(name)))
            pairs = ['%s.%s TO %s.%s' % (my.qi(target), my.qi(t), my.qi(previous), my.qi(t)) for t in live['tables']]
            pairs += ['%s.%s TO %s.%s' % (my.qi(scratch), my.qi(t), my.qi(target), my.qi(t)) for t in new['tables']]
            if pairs:
                cur.execute('RENAME TABLE ' + ', '.join(pairs))  # ONE statement: atomic
        except pymysql.Error as e:
            repair = []
            for name, ddl in blocking_views:
                _try(conn, target, None, requalify(ddl, target, target), repair, 'view %s' % name)
            for name, mode, ddl in live['triggers']:
                _try(conn, target, mode, ddl, repair, 'trigger %s' % name)
            if previous:
                with conn.cursor() as c2:
                    c2.execute('DROP DATABASE IF EXISTS %s' % my.qi(previous))
            raise RestoreError('Could not swap the tables of %s: %s. The live tables were not moved%s.' % (
                json.dumps(target), my.error_text(e), ' and its triggers were put back' if not repair else
                ', but putting back its objects failed: %s' % '; '.join(repair)), **extra)
    # the tables are swapped; the other objects follow
    if previous:
        _create_views(conn, previous, live['views'], target, errors)
        for name, mode, ddl in live['triggers']:
            _try(conn, previous, mode, ddl, errors, 'trigger %s.%s' % (previous, name))
        for name, rtype, mode, ddl in live['routines']:
            _try(conn, previous, mode, ddl, errors, '%s %s.%s' % (rtype.lower(), previous, name))
    with conn.cursor() as cur:
        new_views = set(n for n, _d in new['views'])
        for name, _ddl in live['views']:
            if name not in new_views and name not in new_tables:
                _try_sql(cur, 'DROP VIEW IF EXISTS %s.%s' % (my.qi(target), my.qi(name)), errors)
        for name, rtype, _mode, _ddl in live['routines']:
            _try_sql(cur, 'DROP %s IF EXISTS %s.%s' % (rtype, my.qi(target), my.qi(name)), errors)
        for name, _status in live['events']:
            _try_sql(cur, 'ALTER EVENT %s.%s RENAME TO %s.%s' % (
                my.qi(target), my.qi(name), my.qi(previous), my.qi(name)), errors)
            _try_sql(cur, 'ALTER EVENT %s.%s DISABLE' % (my.qi(previous), my.qi(name)), errors)
    _create_views(conn, target, new['views'], scratch, errors)
    for name, mode, ddl in new['triggers']:
        _try(conn, target, mode, ddl, errors, 'trigger %s.%s' % (target, name))
    for name, rtype, mode, ddl in new['routines']:
        _try(conn, target, mode, ddl, errors, '%s %s.%s' % (rtype.lower(), target, name))
    with conn.cursor() as cur:
        for name, status in new['events']:
            _try_sql(cur, 'ALTER EVENT %s.%s RENAME TO %s.%s' % (
                my.qi(scratch), my.qi(name), my.qi(target), my.qi(name)), errors)
            if status == 'ENABLED':
                _try_sql(cur, 'ALTER EVENT %s.%s ENABLE' % (my.qi(target), my.qi(name)), errors)
    return errors


def _try(conn, db, sql_mode, ddl, errors, what):
    try:
        _in_db(conn, db, sql_mode, ddl)
    except pymysql.Error as e:
        errors.append('%s: %s' % (what, my.error_text(e)))


def _try_sql(cur, statement, errors):
    try:
        cur.execute(statement)
    except pymysql.Error as e:
        errors.append('%s: %s' % (statement[:80], my.error_text(e)))
