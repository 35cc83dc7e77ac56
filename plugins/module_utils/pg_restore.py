# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Verified PostgreSQL restores from a backup store (logic of ``runbook.ops.db_restore``).

Order of work, each step only after the previous one succeeded:

1. select a valid backup (``latest`` | ``<id>`` | ``before:<ISO time>``);
2. download it to a private temp directory, hashing the compressed bytes and decompressing on the fly;
   size and sha256 are compared with the manifest BEFORE any database is touched;
3. optionally restore the globals (roles) with psql;
4. ``CREATE DATABASE <scratch>`` and ``pg_restore --exit-on-error --jobs N`` into it;
5. count the rows of every table of the manifest in the scratch database and compare;
6. ``verify``: drop the scratch database.  ``new``: rename it to ``target_db``.  ``replace``: block new
   connections to the live database, terminate its sessions, then in ONE transaction rename live ->
   ``<db>_pre_restore_<ts>`` and scratch -> ``<db>``; drop the previous copy only when
   ``keep_previous`` is false, after the swap.

Any failure (or SIGTERM) drops the scratch database and the temp files; the live database is never
dropped or renamed before step 6, and a failed swap puts its connection setting back.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time

from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs
from ansible_collections.runbook.ops.plugins.module_utils.pg_backup import (
    BackupError, Interrupted, child_env, decompressor_argv, tool_path, tool_version)
from ansible_collections.runbook.ops.plugins.module_utils.postgres import (
    HAS_PSYCOPG, connect, describe_target, redact)

if HAS_PSYCOPG:
    import psycopg
    from psycopg import sql

MAX_IDENT = 63


class RestoreError(BackupError):
    """A restore failure with a message ready for fail_json."""


def pg_restore_argv(pg_restore, dbname, path, jobs=1, no_owner=False):
    argv = [pg_restore, '--exit-on-error', '--no-password', '--jobs=%d' % jobs, '--dbname=%s' % dbname]
    if no_owner:
        argv += ['--no-owner', '--no-acl']
    argv.append(path)
    return argv


def psql_file_argv(psql, path):
    return [psql, '-X', '-q', '--no-password', '-v', 'ON_ERROR_STOP=0', '-f', path]


def scratch_name():
    return 'rbo_restore_%s' % secrets.token_hex(6)


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
        with open(dest, 'wb') as out:
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


def run_restore(params, check_mode=False, now=None):
    t0 = time.monotonic()
    now = now or bs.utcnow()
    mode = params['mode']
    timings = {}
    try:
        store = bs.open_store(params)
        entries = bs.list_backups(store, database=params.get('source_db'), now=now)
        entry = bs.select_backup(entries, params['backup'])
    except bs.StoreError as e:
        raise RestoreError('Could not select backup %s from %s: %s. Nothing was changed.'
                           % (params['backup'], params['store'], e))
    manifest = entry['manifest']
    bid = entry['id']
    warnings = []
    newer_invalid = [e['id'] for e in entries if not e['valid'] and bs.entry_order(e) > bs.entry_order(entry)]
    if newer_invalid:
        warnings.append('skipped %d newer invalid backup(s): %s' % (len(newer_invalid), ', '.join(newer_invalid[:5])))
    target = params.get('target_db') or manifest['database']
    result = {'changed': mode != 'verify', 'backup_id': bid, 'backup_created_at': entry['created_at'],
              'backup_age_s': entry['age_s'], 'mode': mode, 'source_db': manifest['database'],
              'target_db': target if mode != 'verify' else None, 'previous_db': None, 'scratch_db': None,
              'verification': {}, 'timings': timings, 'warnings': warnings, 'store': store.describe()}

    # preflight against the server
    try:
        conn = connect(params, dbname='postgres')
    except psycopg.Error as e:
        raise RestoreError('Could not connect to %s: %s. Check login_* options and the server.'
                           % (describe_target(params, dbname='postgres'), redact(e, params).strip()))
    with conn:
        with conn.cursor() as cur:
            cur.execute("SELECT current_setting('server_version_num')::int")
            server_num = cur.fetchone()[0]
            target_state = _db_exists(cur, target)
            owner_ok = bool(manifest.get('owner')) and _role_exists(cur, manifest['owner'])
    if mode == 'new' and target_state is not None:
        raise RestoreError('Could not restore backup %s as new database %s: it already exists. Choose another '
                           'target_db or mode=replace.' % (bid, json.dumps(target)))
    pg_restore = tool_path(params.get('bin_dir'), 'pg_restore')
    restore_v, _text = tool_version(pg_restore)
    dump_major = int(str(manifest['pg_dump_version']).split('.', maxsplit=1)[0])
    if restore_v[0] < dump_major:
        raise RestoreError('Could not restore backup %s: pg_restore %d.%d is older than the pg_dump %s that wrote '
                           'it. Install newer client tools or set bin_dir.'
                           % (bid, restore_v[0], restore_v[1], manifest['pg_dump_version']))
    psql = tool_path(params.get('bin_dir'), 'psql')
    if params.get('globals') and not manifest.get('globals'):
        raise RestoreError('Could not restore the globals of backup %s: it was taken without globals. Set '
                           'globals=false or pick a backup made with globals=true.' % bid)
    timings['preflight_s'] = round(time.monotonic() - t0, 3)
    if check_mode:
        result['msg'] = 'would restore backup %s (%s, %d bytes) in mode %s%s' % (
            bid, entry['created_at'], entry['size'], mode,
            '' if mode == 'verify' else ' into %s' % json.dumps(target))
        return result

    workdir = None
    scratch = None
    try:
        try:
            workdir = tempfile.mkdtemp(prefix='rbo-restore-', dir=params.get('tmp_dir') or None)
        except OSError as e:
            raise RestoreError('cannot create a temp directory: %s' % e.strerror)
        # 1. download + verify, before touching any database
        t = time.monotonic()
        dump_path = os.path.join(workdir, 'data.dump')
        size, digest, problem = download(store, bid, manifest['data_key'], manifest['compression'], dump_path,
                                         manifest['size'], manifest['sha256'])
        result['verification']['checksum'] = {'expected': manifest['sha256'], 'actual': digest,
                                              'ok': digest == manifest['sha256']}
        result['verification']['size'] = {'expected': manifest['size'], 'actual': size, 'ok': size == manifest['size']}
        if size != manifest['size'] or digest != manifest['sha256']:
            raise RestoreError('Could not restore backup %s: its data does not match the manifest (sha256 expected '
                               '%s, got %s; size expected %d, got %d). The object is corrupted or truncated; no '
                               'database was touched. Choose another backup.'
                               % (bid, manifest['sha256'], digest, manifest['size'], size))
        if problem:
            raise RestoreError('Could not restore backup %s: %s; no database was touched.' % (bid, problem))
        globals_path = None
        if params.get('globals'):
            g = manifest['globals']
            globals_path = os.path.join(workdir, 'globals.sql')
            gsize, gdigest, gproblem = download(store, bid, g['key'], manifest['compression'], globals_path,
                                                g['size'], g['sha256'])
            if gsize != g['size'] or gdigest != g['sha256'] or gproblem:
                raise RestoreError('Could not restore backup %s: its globals do not match the manifest (sha256 '
                                   'expected %s, got %s). No database was touched.' % (bid, g['sha256'], gdigest))
        timings['download_s'] = round(time.monotonic() - t, 3)

        # 2. globals, then the scratch database
        t = time.monotonic()
        if globals_path:
            result['verification']['globals_existing'] = restore_globals(params, psql, globals_path)
            with connect(params, dbname='postgres') as conn, conn.cursor() as cur:
                owner_ok = bool(manifest.get('owner')) and _role_exists(cur, manifest['owner'])
        scratch = scratch_name()
        result['scratch_db'] = scratch
        create = sql.SQL('CREATE DATABASE {} TEMPLATE template0 ENCODING {} LC_COLLATE {} LC_CTYPE {}').format(
            _ident(scratch), sql.Literal(manifest.get('encoding') or 'UTF8'),
            sql.Literal(manifest.get('collate') or 'C'), sql.Literal(manifest.get('ctype') or 'C'))
        if owner_ok:
            create = sql.SQL('{} OWNER {}').format(create, _ident(manifest['owner']))
        with connect(params, dbname='postgres') as conn, conn.cursor() as cur:
            cur.execute(create)
        rc, text = _run(pg_restore_argv(pg_restore, scratch, dump_path, params.get('jobs') or 1,
                                        params.get('no_owner')), child_env(params, scratch), params, 'pg_restore')
        if rc != 0:
            how = 'was killed by signal %d' % -rc if rc < 0 else 'exited with code %d' % rc
            raise RestoreError('Could not restore backup %s: pg_restore %s: %s. The live database was not '
                               'touched.' % (bid, how, text.strip()[-1500:] or 'no error output'))
        timings['restore_s'] = round(time.monotonic() - t, 3)

        # 3. verify row counts
        t = time.monotonic()
        row_counts = manifest.get('row_counts', 'exact')
        result['verification']['row_counts'] = row_counts
        if params.get('verify_row_counts', True):
            counts = _count_tables(params, scratch, manifest['tables'])
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
                raise RestoreError('Could not verify backup %s: %s: %s. The live database was not touched.' % (
                    bid, what, '; '.join('%s.%s expected %s, got %s' % (
                        json.dumps(r['schema']), json.dumps(r['table']),
                        r['expected'] if r['expected'] is not None else 'the table',
                        r['actual'] if r['actual'] is not None else 'no table') for r in bad)))
        result['verification']['ok'] = True
        timings['verify_s'] = round(time.monotonic() - t, 3)

        # 4. the outcome
        t = time.monotonic()
        if mode == 'verify':
            _drop(params, scratch, server_num)
            scratch = None
        elif mode == 'new' or target_state is None:
            with connect(params, dbname='postgres') as conn, conn.cursor() as cur:
                cur.execute(sql.SQL('ALTER DATABASE {} RENAME TO {}').format(_ident(scratch), _ident(target)))
            scratch = None
        else:
            result['previous_db'] = _swap(params, scratch, target, now, target_state)
            scratch = None
            if not params.get('keep_previous', True):
                _drop(params, result['previous_db'], server_num)
                result['previous_db'] = None
        timings['switch_s'] = round(time.monotonic() - t, 3)
    except bs.StoreError as e:
        raise RestoreError('Could not restore backup %s: %s. No database was changed.' % (bid, e))
    except psycopg.Error as e:
        raise RestoreError('Could not restore backup %s: %s. The live database was not touched.'
                           % (bid, redact(e, params).strip()))
    except Interrupted as e:
        raise RestoreError('Could not restore backup %s: %s. The scratch copy was dropped; the live database '
                           'was not touched.' % (bid, e))
    finally:
        if scratch is not None:
            try:
                _drop(params, scratch, server_num)
            except (psycopg.Error, RestoreError):
                warnings.append('could not drop the scratch database %s; drop it by hand' % scratch)
        if workdir:
            shutil.rmtree(workdir, ignore_errors=True)
    timings['total_s'] = round(time.monotonic() - t0, 3)
    if mode == 'verify':
        result['msg'] = 'verified backup %s: %d tables restored and counted' % (bid, len(manifest['tables']))
    elif mode == 'new':
        result['msg'] = 'restored backup %s as %s' % (bid, json.dumps(target))
    else:
        kept = ' (previous copy kept as %s)' % json.dumps(result['previous_db']) if result['previous_db'] else ''
        result['msg'] = 'replaced %s with backup %s%s' % (json.dumps(target), bid, kept)
    return result


def _swap(params, scratch, target, now, allowconn):
    """Swap the verified scratch copy in; return the name the live database now has."""
    previous = previous_name(target, now)
    with connect(params, dbname='postgres') as conn, conn.cursor() as cur:
        if _db_exists(cur, previous) is not None:
            raise RestoreError('a database named %s already exists' % json.dumps(previous))
        cur.execute(sql.SQL('ALTER DATABASE {} ALLOW_CONNECTIONS false').format(_ident(target)))
        try:
            _terminate(cur, target)
            with conn.transaction():
                cur.execute(sql.SQL('ALTER DATABASE {} RENAME TO {}').format(_ident(target), _ident(previous)))
                cur.execute(sql.SQL('ALTER DATABASE {} RENAME TO {}').format(_ident(scratch), _ident(target)))
        except BaseException:
            try:
                cur.execute(sql.SQL('ALTER DATABASE {} ALLOW_CONNECTIONS {}').format(
                    _ident(target), sql.SQL('true' if allowconn else 'false')))
            except psycopg.Error:
                pass
            raise
        cur.execute(sql.SQL('ALTER DATABASE {} ALLOW_CONNECTIONS {}').format(
            _ident(previous), sql.SQL('true' if allowconn else 'false')))
    return previous
