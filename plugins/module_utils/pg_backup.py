# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""PostgreSQL backups streamed into a backup store (logic of ``runbook.ops.db_backup``).

Pipeline (argv lists, no shell; the password only in the child's environment)::

    pg_dump --format=custom --compress=0 --snapshot=<exported>  |  zstd -T<n> -<level>  |  sha256 + store

The pipeline (stages, exit codes, interruption, cleanup) is ``dump_pipeline``'s, shared with the MySQL engine.
Compression runs in the external ``zstd``/``gzip`` program, a separate process from pg_dump and from
this Python process, so the three stages use different cores and Python only hashes and uploads the
compressed bytes.  (The python ``zstandard`` binding would add a dependency on managed nodes and
run in the module's own process; the CLI is in every distribution.)

The per-table row counts are taken in the dump's own snapshot: this module opens a REPEATABLE READ
transaction, exports its snapshot and hands it to ``pg_dump --snapshot``.  ``row_counts``:

``exact`` (default)
    ``count(*)`` of every table in that snapshot, in a thread of this module on the connection that
    exported it, while the dump streams (one backend, no parallel workers, no JIT, so it competes
    as little as possible with pg_dump for the cores).  db_restore requires equal counts.  Counting
    the rows in pg_dump's own stream instead (:class:`CopyStreamCounter`: with ``--compress=0`` a
    table's data block is COPY text, one raw newline per row, so the uncompressed stream passes through
    this process on its way to the compressor) was measured in bench/backup (issue 16) at about 2.5x
    the time of ``count(*)`` on 2 cores: pg_dump writes one chunk per row, and walking the chunks in
    Python costs more than the server's second read from its cache.  It stays selectable for the
    bench only (``COUNT_METHOD_ENV``).  The manifest's ``row_count_source`` says which counted.
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
policy 0 turns a rule off; a policy whose rules are all off is refused.  The rules are ``backup_retention``'s, one
owner for both engines; its :class:`~backup_retention.RetentionError` is raised here as :class:`BackupError`.

Before it writes, a run sweeps what killed runs left in the store (``backup_store.sweep_leftovers``);
after retention it deletes the orphan objects (a backup folder without a manifest, past the same grace period:
``backup_store.sweep_orphans``), reported as ``orphans``; and the whole run is bounded by ``timeout`` seconds
(``dump_pipeline.deadline``; 0 turns it off).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
import time

from ansible_collections.runbook.ops.plugins.module_utils import backup_retention as br
from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs
from ansible_collections.runbook.ops.plugins.module_utils import dump_pipeline as dp
# one interruption rule and one compressor choice for every engine, here for pg_restore, db_restore and the tests
from ansible_collections.runbook.ops.plugins.module_utils.dump_pipeline import (  # noqa: F401 pylint: disable=unused-import
    DeadlineExceeded, Interrupted, compressor_argv, deadline, decompressor_argv, install_signal_handlers, peak_rss_mib)
from ansible_collections.runbook.ops.plugins.module_utils.postgres import (
    HAS_PSYCOPG, connect, describe_target, libpq_environment, redact)

if HAS_PSYCOPG:
    import psycopg
    from psycopg import sql

COMPRESSIONS = dp.COMPRESSIONS
ROW_COUNTS = ('exact', 'estimate', 'none')
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


def parse_tool_version(text):
    """``pg_dump (PostgreSQL) 15.18 (Debian ...)`` -> (15, 18)."""
    m = VERSION_RE.search(text or '')
    if not m:
        return None
    return int(m.group(1)), int(m.group(2) or 0)


def tool_version(path):
    try:
        return dp.tool_version(path, parse_tool_version, 'Install the PostgreSQL client tools or set bin_dir.')
    except dp.PipelineError as e:
        raise BackupError(str(e))


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
# exact row counts from pg_dump's own stream (issue 16)

COUNT_METHOD_ENV = 'RBO_BENCH_PG_COUNT_METHOD'   # 'stream': exact counts from pg_dump's stream, for bench/backup only
COPY_END = b'\\.\n\n\n'     # pg_dump ends the rows of every COPY block with this
ARCHIVE_VERSIONS = ((1, 12), (1, 16))   # the custom-format versions read here: PostgreSQL 9.0 to 17


class ArchiveFormatError(Exception):
    """The stream is not an archive whose rows :class:`CopyStreamCounter` can count (the caller counts in SQL)."""


class _Short(Exception):
    pass


class CopyStreamCounter(object):
    """Counts the rows of every table in an uncompressed (``pg_dump -Fc -Z0``) custom-format archive as it streams.

    The archive is its header, its table of contents (``TABLE DATA`` entries name a dump id, a schema and a table),
    then one data block per table: a type byte, the dump id, then chunks (a length, the bytes) ending with a length
    of 0.  A table's bytes are COPY text: a raw newline ends a row (newlines inside values are escaped as ``\\n``),
    and pg_dump ends them with ``\\.`` and two empty lines, which are checked, not counted.  Large-object blocks
    are skipped.  Feed it blocks of any size with :meth:`feed`; :meth:`entries` gives the manifest's counts.
    Raises :class:`ArchiveFormatError` for anything else (another version, compression, a truncated stream)."""

    def __init__(self):
        self.head = bytearray()
        self.in_toc = True
        self.int_size = 4
        self.tables = {}      # dump id -> (schema, table) of the TABLE DATA entries
        self.counts = {}      # dump id -> newlines seen
        self.pending = b''    # a length or id split across two reads
        self.state = 'type'
        self.block_id = None
        self.blob = False
        self.remaining = 0
        self.tail = b''       # the last bytes of the current table block
        self.failed = []      # set by stream_to_store: the ArchiveFormatError that stopped the counting

    def _parse_toc(self, buf):
        """(tables, bytes used) from the start of the stream; raises _Short until the TOC is complete."""
        pos = [0]

        def take(n):
            if pos[0] + n > len(buf):
                raise _Short()
            pos[0] += n
            return bytes(buf[pos[0] - n:pos[0]])

        def rint():
            sign = take(1)[0]
            v = int.from_bytes(take(self.int_size), 'little')
            return -v if sign else v

        def rstr():
            n = rint()
            return None if n < 0 else take(n).decode('utf-8', 'replace')

        if take(5) != b'PGDMP':
            raise ArchiveFormatError('not a pg_dump custom archive')
        version = tuple(take(3)[:2])
        if not ARCHIVE_VERSIONS[0] <= version <= ARCHIVE_VERSIONS[1]:
            raise ArchiveFormatError('archive version %d.%d is not one read here (%d.%d to %d.%d)'
                                     % (version + ARCHIVE_VERSIONS[0] + ARCHIVE_VERSIONS[1]))
        self.int_size, off_size, fmt = take(3)
        if fmt != 1:
            raise ArchiveFormatError('not the custom format')
        compressed = take(1)[0] if version >= (1, 15) else rint()
        if compressed != 0:
            raise ArchiveFormatError('the archive is compressed (pg_dump --compress=0 is expected)')
        for _i in range(7):     # the time of the dump
            rint()
        for _i in range(3):     # database name, server version, pg_dump version
            rstr()
        tables = {}
        for _i in range(rint()):
            dump_id, had_dumper = rint(), rint()
            rstr()
            rstr()              # table oid, oid
            tag, desc = rstr(), rstr()
            rint()              # section
            rstr()
            rstr()              # definition, drop statement
            copy_stmt, namespace = rstr(), rstr()
            rstr()
            rstr()              # tablespace, table access method
            if version >= (1, 16):
                rint()          # relkind
            rstr()
            rstr()              # owner, "with oids"
            while rstr() is not None:
                pass            # dependencies
            take(1 + off_size)  # the data offset (not set in a stream)
            if desc == 'TABLE DATA' and had_dumper:
                if not (copy_stmt or '').startswith('COPY '):
                    raise ArchiveFormatError('the data of %s.%s is not COPY text' % (namespace, tag))
                tables[dump_id] = (namespace, tag)
        return tables, pos[0]

    def feed(self, block):
        if self.in_toc:
            self.head += block
            try:
                self.tables, used = self._parse_toc(self.head)
            except _Short:
                return
            block = bytes(self.head[used:])
            self.head = bytearray()
            self.in_toc = False
        self._blocks(block)

    def _blocks(self, block):
        pos, n, isz = 0, len(block), 1 + self.int_size
        while pos < n:
            if self.state == 'data':
                take = min(self.remaining, n - pos)
                if self.block_id is not None:
                    self.counts[self.block_id] += block.count(b'\n', pos, pos + take)
                    self.tail = (self.tail + block[max(pos, pos + take - 5):pos + take])[-5:]
                pos += take
                self.remaining -= take
                if not self.remaining:
                    self.state = 'len'
                continue
            if self.state == 'type':
                kind = block[pos]
                pos += 1
                if kind not in (1, 3):      # BLK_DATA, BLK_BLOBS
                    raise ArchiveFormatError('unexpected block type %d' % kind)
                self.blob = kind == 3
                self.state = 'id'
                continue
            piece = block[pos:pos + isz - len(self.pending)]
            pos += len(piece)
            self.pending += piece
            if len(self.pending) < isz:
                continue
            v = int.from_bytes(self.pending[1:], 'little') * (-1 if self.pending[0] else 1)
            self.pending = b''
            self._number(v)

    def _number(self, v):
        if self.state == 'id':
            self.block_id = v if not self.blob and v in self.tables else None
            if self.block_id is not None:
                if v in self.counts:
                    raise ArchiveFormatError('two data blocks for dump id %d' % v)
                self.counts[v] = 0
                self.tail = b''
            self.state = 'oid' if self.blob else 'len'
        elif self.state == 'oid':
            self.state = 'type' if v == 0 else 'len'
        elif v < 0:
            raise ArchiveFormatError('a negative chunk length')
        elif v > 0:
            self.remaining = v
            self.state = 'data'
        elif self.blob:
            self.state = 'oid'
        else:
            if self.block_id is not None:
                if self.tail != COPY_END:
                    raise ArchiveFormatError('the data of %s.%s does not end with the COPY end marker'
                                             % self.tables[self.block_id])
                self.counts[self.block_id] -= 3
            self.state = 'type'

    def result(self):
        """``{(schema, table): rows}`` once the whole stream was fed."""
        if self.in_toc:
            raise ArchiveFormatError('the archive ended inside its table of contents')
        if self.state != 'type' or self.pending:
            raise ArchiveFormatError('the archive ended inside a data block')
        return dict((self.tables[i], c) for i, c in self.counts.items())

    def entries(self, tables):
        """The manifest's ``tables`` for ``tables`` (rows of TABLES_SQL), in that order."""
        counts = self.result()
        out = []
        for schema, table, _reltuples in tables:
            if (schema, table) not in counts:
                raise ArchiveFormatError('the archive holds no data block for %s.%s' % (schema, table))
            out.append({'schema': schema, 'table': table, 'rows': counts[(schema, table)]})
        return out


# ---------------------------------------------------------------------------------------------
# streaming

def stream_to_store(argv, comp_argv, env, writer, params, label, counter=None):
    """Run ``argv [| comp_argv]`` and stream its output into ``writer``; return (size, sha256).

    The pipeline is ``dump_pipeline``'s; this adds PostgreSQL's stderr redaction and hint.  With ``counter`` (a
    :class:`CopyStreamCounter`) the uncompressed stream passes through this process on its way to the compressor
    and is counted; a stream the counter cannot read sets ``counter.failed``.  Raises BackupError when any stage
    fails (the caller aborts the writer).
    """
    try:
        return dp.stream_to_store(argv, comp_argv, writer, env=env, label=label,
                                  clean=lambda text: redact(text, params),
                                  start_hint='Install the PostgreSQL client tools or set bin_dir.', tap=counter)
    except dp.PipelineError as e:
        raise BackupError(str(e))


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


DB_SETTINGS_SQL = """
SELECT CASE WHEN s.setrole = 0 THEN NULL ELSE pg_catalog.pg_get_userbyid(s.setrole) END, s.setconfig
  FROM pg_catalog.pg_db_role_setting s JOIN pg_catalog.pg_database d ON d.oid = s.setdatabase
 WHERE d.datname = %s
 ORDER BY 1 NULLS FIRST
"""
DB_ACL_SQL = """
SELECT CASE WHEN a.grantee = 0 THEN NULL ELSE pg_catalog.pg_get_userbyid(a.grantee) END, a.privilege_type,
       a.is_grantable
  FROM pg_catalog.pg_database d, pg_catalog.aclexplode(d.datacl) a
 WHERE d.datname = %s
 ORDER BY 1 NULLS FIRST, 2
"""


def settings_entries(rows):
    """``pg_db_role_setting`` rows ``(role or None, ['name=value', ...])`` -> ``[{role, name, value}]``."""
    out = []
    for role, config in rows:
        for item in config or []:
            name, _sep, value = item.partition('=')
            out.append({'role': role, 'name': name, 'value': value})
    return out


def acl_entries(acl_is_null, rows):
    """The database ACL: None when it is the default (``datacl`` NULL), else ``[{grantee, privilege, grantable}]``
    (grantee None is PUBLIC)."""
    if acl_is_null:
        return None
    return [{'grantee': g, 'privilege': p, 'grantable': bool(grantable)} for g, p, grantable in rows]


def database_properties(conn, db):
    """What ``ALTER DATABASE ... SET``, ``ALTER ROLE ... IN DATABASE ... SET`` and ``GRANT ... ON DATABASE`` gave
    ``db`` (the owner is the manifest's ``owner``): the manifest's ``database_properties``."""
    with conn.cursor() as cur:
        cur.execute(DB_SETTINGS_SQL, (db,))
        settings = settings_entries(cur.fetchall())
        cur.execute('SELECT d.datacl IS NULL FROM pg_catalog.pg_database d WHERE d.datname = %s', (db,))
        row = cur.fetchone()
        cur.execute(DB_ACL_SQL, (db,))
        acl = acl_entries(row is None or row[0], cur.fetchall())
    return {'settings': settings, 'acl': acl}


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
    return dp.bounded(lambda: PgBackup(params, check_mode=check_mode, now=now, state=state).run(), timeout, db, state,
                      BackupError)


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
        self.db_properties = None
        # exact counts: 'sql' runs count(*) in the snapshot while the dump streams (the default); 'stream' reads them
        # from pg_dump's own output (CopyStreamCounter), measured slower, selected only by bench/backup (COUNT_METHOD_ENV)
        self.count_method = 'stream' if os.environ.get(COUNT_METHOD_ENV) == 'stream' else 'sql'
        self.count_source = None
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
        try:
            br.check_retention(self.policy)
        except br.RetentionError as e:
            raise BackupError(str(e))

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
            if self.dbrow is not None:
                self.db_properties = database_properties(conn, db)
        except psycopg.Error as e:
            raise BackupError('Could not read database %s on %s: %s. Check login_* options and the server.'
                              % (json.dumps(db), self.where, redact(e, params).strip()))
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
                       'retention': [], 'manifest': {}, 'timings': self.timings, 'swept': self.swept,
                       'orphans': []}
        if self.warnings:
            self.result['warnings'] = self.warnings

    def plan(self):
        """Check mode: what a run would write and which backups retention would delete."""
        result = self.result
        hypothetical = {'id': self.backup_id, 'created_at': bs.format_time(self.started), 'valid': True,
                        'reason': 'ok'}
        try:
            plan = br.plan_retention([hypothetical] + self.existing, self.policy, now=self.started,
                                     protect=(self.backup_id,))
        except br.RetentionError as e:
            raise BackupError(str(e))
        result['retention'] = plan
        result['pruned'] = [p['id'] for p in plan if p['action'] == 'delete']
        self.prune_orphans()
        result['msg'] = 'would back up %s (%d bytes on disk) to %s' % (
            json.dumps(self.db), self.dbrow[5], self.store.describe())
        return result

    def write_backup(self):
        """Globals, the snapshot, the dump and the manifest LAST; on any failure what was written is removed."""
        db, store = self.db, self.store
        self.state['phase'] = 'backup'
        try:
            with dp.writing(store, self.written, db, BackupError, known=(BackupError,)):
                self.dump_globals()
                self.open_snapshot()
                self.dump_data()
                self.write_manifest()
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
        counter = stream_counter = None
        if self.row_counts == 'exact' and self.count_method == 'sql':
            counter = threading.Thread(target=_count_rows, args=(self.snap_conn, self.tables, counts), daemon=True)
        elif self.row_counts == 'exact':
            stream_counter = CopyStreamCounter()
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
                                                  child_env(params, self.db), w, params, 'pg_dump',
                                                  counter=stream_counter)
            if stream_counter is not None:
                self.stream_counts(stream_counter)
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

    def stream_counts(self, stream_counter):
        """The exact counts read from the dump's own stream; when it could not be read (an archive version this
        module does not know), ``count(*)`` of every table in the same snapshot, after the dump (slower, as exact)."""
        t = time.monotonic()
        try:
            if stream_counter.failed:
                raise stream_counter.failed[0]
            self.counts.extend(stream_counter.entries(self.tables))
            self.count_source = 'pg_dump stream'
        except ArchiveFormatError as e:
            self.warnings.append('Could not count the rows in the stream of pg_dump (%s): counted them with count(*) '
                                 'in the same snapshot instead.' % e)
            self.result['warnings'] = self.warnings
            _count_rows(self.snap_conn, self.tables, self.counts)
            self.count_source = 'count(*)'
        self.timings['count_s'] = round(time.monotonic() - t, 3)

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
            'row_count_source': self.count_source or ('count(*)' if self.row_counts == 'exact' else
                                                      ('reltuples' if self.row_counts == 'estimate' else None)),
            'pg_dump_version': '%d.%d' % self.dump_v,
            'pg_dump_version_text': self.dump_vtext,
            'globals': self.globals_meta,
            'database_properties': self.db_properties,
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
            self.result['retention'], self.result['pruned'] = br.retain(self.store, self.db, self.backup_id,
                                                                        self.policy)
        except br.RetentionError as e:
            raise BackupError(str(e))
        except bs.StoreError as e:
            raise BackupError('Backed up database %s as %s, but retention failed: %s. The new backup is valid; '
                              'rerun to apply retention.' % (json.dumps(self.db), self.backup_id, e))
        self.prune_orphans()
        self.timings['retention_s'] = round(time.monotonic() - t_ret, 3)

    def prune_orphans(self):
        """Objects of backups that never got a manifest, past the grace period (``backup_store.sweep_orphans``):
        deleted after a successful backup whatever the policy (they are no backup), listed in check mode."""
        if self.check_mode and self.store.kind == 'local' and not os.path.isdir(self.store.root):
            return
        try:
            self.result['orphans'] = bs.sweep_orphans(self.store, now=self.started, check_mode=self.check_mode)
        except bs.StoreError as e:
            self.warnings.append('Could not prune the orphan objects in %s: %s. Remove them by hand or grant the '
                                 'permission.' % (self.store.describe(), e))
            self.result['warnings'] = self.warnings

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
