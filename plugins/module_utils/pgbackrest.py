# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Point-in-time recovery through pgBackRest: repository options, ``pgbackrest info``, the archive reach check,
and a restore into a new data directory started on a scratch port.

Owner of the PITR rules:

- a target is a time with an explicit zone, a restore point name, or ``latest``; anything else is refused;
- the archive must reach past the target before anything is touched: from the chosen backup's first WAL segment,
  the archived segments must be contiguous up to a segment holding a commit after the target time (or the named
  restore point); a gap or an archive that ends too early is refused with what it does reach;
- a restore goes only into a new (absent or empty) data directory; the live cluster is never touched;
- a restore names its directory before writing into it: the marker ``<data_dir>.runbook_pitr.json`` records the run
  (its pid and the pid's start time, its state, the recovered cluster's port, socket and temporary directories),
  and the process groups of ``pgbackrest restore`` and of the recovered cluster, each recorded before it runs
  (:func:`spawn_gated`: a process group of its own, held until the marker names it, with its leader's start time against
  pid reuse). SIGTERM/SIGINT/SIGHUP stop the restore or the recovering cluster and fail naming the directory, left
  aside; a run killed outright leaves the marker in state ``restoring`` or ``recovering``, and its
  ``pgbackrest restore`` may outlive it, still writing. The next run into the same ``data_dir`` sweeps such a
  leftover (its owner is gone and it was never verified): it stops the recorded groups first (SIGTERM, a bounded
  wait, SIGKILL) and touches nothing unless they are gone, stops its cluster, removes it and its temporary
  directories, and lists it in ``swept`` with what it stopped; ``state=absent`` does the same; a verified restore, or
  one whose verification failed, is never swept (it may be serving, or be evidence);
- the recovered cluster runs with ``archive_mode=off`` on a scratch port and socket, so it never writes into the
  source's archive;
- secrets (S3 key, cipher pass) go into a pgBackRest config file written mode 0600 and removed afterwards, never
  on an argv.

``runner(argv, env)`` is ``module.run_command``-shaped: it returns ``(rc, stdout, stderr)``.
"""

from __future__ import annotations

import contextlib
import datetime
import glob
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

from ansible_collections.runbook.ops.plugins.module_utils._time import utcnow

MARKER_SUFFIX = '.runbook_pitr.json'
# the process groups a restore records in its marker before they run: stopped before anything is removed
GROUPS = (('restore_group', 'pgbackrest restore'), ('cluster_group', 'restored cluster'))
STOP_WAIT_S = 30.0   # after SIGTERM (or SIGQUIT), then again after SIGKILL, before giving up
UNFINISHED = ('restoring', 'recovering', 'interrupted')   # states a later run may sweep once the owner is gone
# what the server logs (lc_messages=C) when recovery is over: a cue to ask it, never taken as the answer
LOG_DONE = {'promote': ('database system is ready to accept connections',),
            'pause': ('pausing at the end of recovery', 'recovery has paused')}
SEGMENTS_PER_LOG = 0x100  # 16 MiB WAL segments (the PostgreSQL default)
TARGET_TYPES = ('time', 'name', 'latest')
_TIME_RE = re.compile(r'^(\d{4})-(\d\d)-(\d\d)[T ](\d\d):(\d\d):(\d\d)(\.\d{1,6})?\s*(Z|UTC|[+-]\d\d(?::?\d\d)?)$')
_SEG_RE = re.compile(r'^[0-9A-F]{24}$')
_WALDUMP_TX = re.compile(r'desc: (COMMIT|ABORT) (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?) UTC')
_WALDUMP_RP = re.compile(r'desc: RESTORE_POINT (.*)$')


class PitrError(Exception):
    """A message safe to show: what could not be done, why, and what to do."""


class Interrupted(BaseException):
    """SIGTERM/SIGINT/SIGHUP during a restore: stop what runs, leave the directory aside (marked), fail."""


@contextlib.contextmanager
def interruptible():
    """Turn SIGTERM/SIGINT/SIGHUP into :class:`Interrupted` in the main thread while the block runs."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, _frame):
        raise Interrupted('signal %d' % signum)
    previous = dict((sig, signal.signal(sig, handler)) for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP))
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def repo_argument_spec():
    """Repository options shared by pitr_info and pitr_restore (see doc fragment ``runbook.ops.pgbackrest``)."""
    return dict(
        stanza=dict(type='str', required=True),
        config=dict(type='path'),
        repo_type=dict(type='str', default='posix', choices=['posix', 's3']),
        repo_path=dict(type='str', default='/var/lib/pgbackrest'),
        s3_bucket=dict(type='str'),
        s3_endpoint=dict(type='str'),
        s3_port=dict(type='int', default=443),
        s3_region=dict(type='str', default='us-east-1'),
        s3_uri_style=dict(type='str', default='host', choices=['host', 'path']),
        s3_key=dict(type='str', no_log=True),
        s3_key_secret=dict(type='str', no_log=True),
        s3_ca_file=dict(type='path'),
        s3_verify_tls=dict(type='bool', default=True),
        repo_cipher_pass=dict(type='str', no_log=True),
        run_as=dict(type='str', default='postgres'),
        pgbackrest_bin=dict(type='path', default='pgbackrest'),
    )


def repo_required_if():
    return [('repo_type', 's3', ('s3_bucket', 's3_endpoint', 's3_key', 's3_key_secret'))]


def module_required_if():
    """The argspec constraints of pitr_info and pitr_restore: the repository's, and a target for time and name."""
    return repo_required_if() + [('target_type', 'time', ('target',)), ('target_type', 'name', ('target',))]


def module_runner(module):
    """``runner(argv, **kw)`` over ``module.run_command`` (cwd ``/``: the postgres user may not read the caller's)."""
    def runner(argv, **kwargs):
        kwargs.setdefault('cwd', '/')
        return module.run_command(argv, **kwargs)
    return runner


# --------------------------------------------------------------------------- pure rules

def parse_target_time(text):
    """An aware UTC datetime from ``YYYY-MM-DD HH:MM:SS[.ffffff]<zone>`` (zone: Z, UTC, +HH, +HH:MM)."""
    m = _TIME_RE.match((text or '').strip())
    if not m:
        raise PitrError('Could not read the target time %r: it is not "YYYY-MM-DD HH:MM:SS[.ffffff]" followed by a '
                        'zone (Z, UTC or +HH:MM). Give the time with its zone, for example "2026-01-31 14:05:00+00".'
                        % (text,))
    y, mo, d, h, mi, s, frac, zone = m.groups()
    if zone in ('Z', 'UTC'):
        tz = datetime.timezone.utc
    else:
        digits = zone[1:].replace(':', '')
        offset = datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4] or 0))
        tz = datetime.timezone(offset if zone[0] == '+' else -offset)
    try:
        dt = datetime.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s),
                               int((frac or '.0')[1:].ljust(6, '0')), tzinfo=tz)
    except ValueError as e:
        raise PitrError('Could not read the target time %r: %s. Give a real calendar time.' % (text, e))
    return dt.astimezone(datetime.timezone.utc)


def format_pg_time(dt):
    """The form recovery_target_time takes (UTC, explicit offset)."""
    return dt.astimezone(datetime.timezone.utc).strftime('%Y-%m-%d %H:%M:%S.%f+00')


def iso(dt):
    return None if dt is None else dt.astimezone(datetime.timezone.utc).strftime('%Y-%m-%dT%H:%M:%S.%fZ')


def normalize_target(target_type, target):
    """Validate the target before anything else; returns (type, value) with value a datetime, a name or None."""
    if target_type == 'latest':
        return 'latest', None
    if target_type == 'time':
        return 'time', parse_target_time(target)
    name = target or ''
    if not name or len(name) > 63 or any(c in name for c in "'\\\n\r\x00"):
        raise PitrError('Could not use the restore point name %r: it must be 1-63 characters without quotes, '
                        'backslashes or line breaks. Give the name passed to pg_create_restore_point().' % (name,))
    return 'name', name


def segment_parts(name):
    if not _SEG_RE.match(name or ''):
        raise ValueError('not a WAL segment name: %r' % (name,))
    return int(name[:8], 16), int(name[8:16], 16), int(name[16:], 16)


def next_segment(name):
    tli, log, seg = segment_parts(name)
    seg += 1
    if seg >= SEGMENTS_PER_LOG:
        log, seg = log + 1, 0
    return '%08X%08X%08X' % (tli, log, seg)


def contiguous_end(segments, start):
    """The last segment of the unbroken run that starts at ``start`` (None when ``start`` itself is missing),
    and the first missing segment after it when later segments of the same timeline exist (a gap)."""
    have = set(segments)
    if start not in have:
        return None, start
    cur = start
    while next_segment(cur) in have:
        cur = next_segment(cur)
    tli = start[:8]
    later = [s for s in have if s[:8] == tli and s > cur]
    return cur, (next_segment(cur) if later else None)


def parse_waldump(text):
    """[(kind, datetime or name)] of the commit/abort and restore point records pg_waldump printed (TZ=UTC)."""
    events = []
    for line in text.splitlines():
        m = _WALDUMP_TX.search(line)
        if m:
            ts = datetime.datetime.strptime(m.group(2) + ('' if '.' in m.group(2) else '.0'), '%Y-%m-%d %H:%M:%S.%f')
            events.append((m.group(1).lower(), ts.replace(tzinfo=datetime.timezone.utc)))
            continue
        m = _WALDUMP_RP.search(line)
        if m:
            events.append(('restore_point', m.group(1).strip()))
    return events


def _epoch(value):
    return None if value is None else datetime.datetime.fromtimestamp(int(value), datetime.timezone.utc)


def parse_info(doc, stanza, now=None):
    """The summary of ``pgbackrest info --output=json`` for one stanza."""
    now = now or utcnow()
    entry = next((s for s in doc if s.get('name') == stanza), None)
    if entry is None:
        raise PitrError('Could not find the stanza %r in the repository. Run the pitr role\'s setup entry point '
                        '(stanza-create) or check the stanza name.' % stanza)
    backups = []
    for b in entry.get('backup', []):
        ts = b.get('timestamp', {})
        arch = b.get('archive', {})
        info = b.get('info', {})
        backups.append({'label': b.get('label'), 'type': b.get('type'), 'start': iso(_epoch(ts.get('start'))),
                        'stop': iso(_epoch(ts.get('stop'))), 'wal_start': arch.get('start'),
                        'wal_stop': arch.get('stop'), 'size': info.get('size'),
                        'repo_size': info.get('repository', {}).get('size'),
                        'error': bool(b.get('error', False))})
    archives = entry.get('archive', [])
    db = (entry.get('db') or [{}])[-1]
    current = next((a for a in archives if a.get('database', {}).get('id') == db.get('id')),
                   archives[-1] if archives else {})
    newest = backups[-1] if backups else None
    age = None
    if newest and newest['stop']:
        age = round((now - _epoch(entry['backup'][-1]['timestamp']['stop'])).total_seconds(), 1)
    status = entry.get('status', {})
    repo_errors = [r.get('status', {}).get('message') for r in entry.get('repo', [])
                   if r.get('status', {}).get('code') not in (None, 0, 2)]
    return {'stanza': stanza, 'status_code': status.get('code'), 'status': status.get('message'),
            'repo_errors': repo_errors,
            'pg_version': db.get('version'), 'backups': backups, 'archive_id': current.get('id'),
            'archive_min_wal': current.get('min'), 'archive_max_wal': current.get('max'),
            'newest_backup': newest['label'] if newest else None, 'newest_backup_age_s': age}


def choose_backup(backups, target_type, target):
    """The newest valid backup a recovery to the target can start from (it must have ended before a time target)."""
    usable = [b for b in backups if not b['error'] and b['wal_start'] and b['stop']]
    if target_type == 'time':
        usable = [b for b in usable if b['stop'] < iso(target)]
    if not usable:
        if target_type == 'time':
            raise PitrError('Could not find a backup that ended before %s: the oldest backup is newer, or there is '
                            'none. Choose a later target or restore an older backup another way.' % iso(target))
        raise PitrError('Could not find a backup in the repository. Run a full backup first (pitr role, setup).')
    return usable[-1]


def judge_reach(target_type, target, last_commit, found_name, gap, end_segment):
    """None when the archive reaches the target, else the refusal (a message saying what it reaches)."""
    gap_text = ' (segment %s is missing from the archive)' % gap if gap else ''
    if target_type == 'time':
        if last_commit is not None and last_commit > target:
            return None
        return ('Could not restore to %s: the archive reaches only to %s, segment %s%s. Nothing was touched. '
                'Archive more WAL first (SELECT pg_switch_wal() on the source), or choose an earlier target.'
                % (iso(target), iso(last_commit) or 'no commit at all', end_segment, gap_text))
    if target_type == 'name':
        if found_name:
            return None
        return ('Could not restore to the restore point %r: it is not in the archive after the backup up to segment '
                '%s%s. Nothing was touched. Check the name (pg_create_restore_point) and that its WAL is archived.'
                % (target, end_segment, gap_text))
    if gap:
        return ('Could not restore to the latest point: the archive has a gap after segment %s%s, so recovery would '
                'stop there without saying so. Nothing was touched. Restore to a time before %s or repair the archive.'
                % (end_segment, gap_text, iso(last_commit) or 'that segment'))
    return None


def rpo_seconds(reference, last_replayed):
    if reference is None or last_replayed is None:
        return None
    return round(max(0.0, (reference - last_replayed).total_seconds()), 3)


# --------------------------------------------------------------------------- the CLI

def config_text(params, stanza, workdir, pg_path=None):
    """A pgbackrest.conf for the repository options (with the secrets: write it 0600)."""
    lines = ['[global]', 'repo1-type=%s' % params['repo_type'], 'repo1-path=%s' % params['repo_path'],
             'log-level-console=warn', 'log-level-file=off', 'lock-path=%s' % os.path.join(workdir, 'lock'),
             'log-path=%s' % os.path.join(workdir, 'log'), 'spool-path=%s' % os.path.join(workdir, 'spool')]
    if params['repo_type'] == 's3':
        lines += ['repo1-s3-bucket=%s' % params['s3_bucket'], 'repo1-s3-endpoint=%s' % params['s3_endpoint'],
                  'repo1-storage-port=%d' % params['s3_port'], 'repo1-s3-region=%s' % params['s3_region'],
                  'repo1-s3-uri-style=%s' % params['s3_uri_style'], 'repo1-s3-key=%s' % params['s3_key'],
                  'repo1-s3-key-secret=%s' % params['s3_key_secret']]
        if params.get('s3_ca_file'):
            lines.append('repo1-storage-ca-file=%s' % params['s3_ca_file'])
        if not params.get('s3_verify_tls', True):
            lines.append('repo1-storage-verify-tls=n')
    if params.get('repo_cipher_pass'):
        lines += ['repo1-cipher-type=aes-256-cbc', 'repo1-cipher-pass=%s' % params['repo_cipher_pass']]
    for value in lines:
        if '\n' in value or '\r' in value:
            raise PitrError('Could not write the pgBackRest configuration: an option holds a line break. Fix it.')
    lines += ['', '[%s]' % stanza]
    if pg_path:
        lines.append('pg1-path=%s' % pg_path)
    return '\n'.join(lines) + '\n'


def as_user(user):
    """The argv prefix that runs a command as ``user`` (runuser when we are root and ``user`` is not)."""
    if os.geteuid() == 0 and user != 'root':
        return ['runuser', '-u', user, '--']
    return []


def _chown(path, user):
    if os.geteuid() == 0 and user:
        shutil.chown(path, user, user)


class PgBackRest(object):
    """pgbackrest commands as argv lists, run as ``run_as`` (through runuser when we are root)."""

    def __init__(self, params, runner, pipe=None):
        self.params = params
        self.runner = runner
        self.pipe = pipe or run_pipeline
        self.stanza = params['stanza']
        self.user = params.get('run_as') or 'postgres'
        self.workdir = None
        self.config = params.get('config')

    def prefix(self):
        return as_user(self.user)

    def __enter__(self):
        self.workdir = tempfile.mkdtemp(prefix='rbo-pitr-')
        _chown(self.workdir, self.user)
        if not self.config:
            for d in ('lock', 'log', 'spool'):
                os.mkdir(os.path.join(self.workdir, d), 0o700)
                _chown(os.path.join(self.workdir, d), self.user)
            path = os.path.join(self.workdir, 'pgbackrest.conf')
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            with os.fdopen(fd, 'w') as f:
                f.write(config_text(self.params, self.stanza, self.workdir))
            _chown(path, self.user)
            self.config = path
        return self

    def __exit__(self, *exc):
        if self.workdir:
            shutil.rmtree(self.workdir, ignore_errors=True)
            if not self.params.get('config'):
                self.config = None

    def argv(self, command, options=(), args=()):
        """``pgbackrest --config=C --stanza=S <options> <command> <args>`` (options before the command)."""
        return self.prefix() + [self.params.get('pgbackrest_bin') or 'pgbackrest', '--config=' + self.config,
                                '--stanza=' + self.stanza] + list(options) + [command] + list(args)

    def run(self, command, options=(), args=(), **kw):
        rc, out, err = self.runner(self.argv(command, options, args), **kw)
        if rc != 0:
            cause = _first_error(err or out) or 'exit code %d' % rc
            raise PitrError('Could not run pgbackrest %s for stanza %s: %s. Check the repository options and that '
                            'the repository is reachable from this host.' % (command, self.stanza, cause))
        return out

    def info(self, now=None):
        out = self.run('info', ['--output=json'])
        try:
            doc = json.loads(out)
        except ValueError:
            raise PitrError('Could not read pgbackrest info: its output is not JSON. Check the pgbackrest version.')
        info = parse_info(doc, self.stanza, now=now)
        if info['status_code'] not in (0, 2):
            raise PitrError('Could not read the pgBackRest repository of stanza %s: %s. Check the repository options '
                            'and that the repository is reachable from this host.'
                            % (self.stanza, '; '.join(info['repo_errors']) or info['status']))
        return info

    def archive_segments(self, archive_id):
        """{segment name: repository path} of the archived WAL segments (``repo-ls``)."""
        base = 'archive/%s/%s' % (self.stanza, archive_id)
        out = self.run('repo-ls', ['--recurse', '--output=json'], [base])
        try:
            listing = json.loads(out)
        except ValueError:
            raise PitrError('Could not list the WAL archive: repo-ls printed no JSON. Check the pgbackrest version.')
        names = {}
        for path, meta in listing.items():
            name = path.rsplit('/', 1)[-1]
            if meta.get('type') == 'file' and len(name) > 25 and name[24] == '-' and _SEG_RE.match(name[:24]):
                names[name[:24]] = '%s/%s' % (base, path)
        return names

    def segment_events(self, segment, path, bindir, rmgrs=('Transaction', 'XLOG')):
        """Commit/abort times and restore point names in one archived segment (repo-get | decompress > file, then
        pg_waldump filtered to the resource managers ``rmgrs``).

        ``archive-get`` would need the cluster's pg_control; ``repo-get`` reads the repository alone (decrypting).
        The segment streams through a pipe into a file (16 MiB through run_command's buffers costs seconds)."""
        dest = os.path.join(self.workdir, segment)
        name = path.rsplit('/', 1)[-1]
        ext = name.rsplit('.', 1)[-1] if '.' in name else ''
        stages = [self.argv('repo-get', (), [path])]
        if ext in DECOMPRESS:
            stages.append(DECOMPRESS[ext])
        try:
            failure = self.pipe(stages, dest)
            if failure:
                raise PitrError('Could not read WAL segment %s from the repository: %s. Check that the repository is '
                                'reachable (and that %s is installed).' % (segment, failure, DECOMPRESS.get(ext, ['-'])[0]))
            argv = [os.path.join(bindir, 'pg_waldump')] + ['--rmgr=%s' % r for r in rmgrs] + [dest]
            rc, out, err = self.runner(argv, environ_update={'TZ': 'UTC'})
        finally:
            if os.path.exists(dest):
                os.unlink(dest)
        if rc != 0 and 'desc:' not in out:
            raise PitrError('Could not read WAL segment %s with pg_waldump: %s. Check that the PostgreSQL server '
                            'binaries of the backup\'s version are installed.' % (segment, _first_error(err)))
        return parse_waldump(out)


# --------------------------------------------------------------------------- process groups of a restore

# Run by the interpreter running this module, in the new process group, before the real command: it waits for one byte
# on fd N, then execs the command (same pid, same process group); end of file (the module died before recording
# the group) ends it without running anything.
_GATE = ('import os,sys\n'
         'fd=int(sys.argv[1])\n'
         'ok=os.read(fd,1)==b"g"\n'
         'os.close(fd)\n'
         'os.execvp(sys.argv[2],sys.argv[2:]) if ok else os._exit(70)\n')


def own_group():
    """Popen keywords that start a child in a process group of its own (to stop it and all it forks with one
    ``killpg``), in the caller's session: a session of its own is a new scheduling autogroup on Linux
    (``kernel.sched_autogroup_enabled``), which bench/pitr measured 1.5-2x slower in wall time on a loaded machine
    for the same CPU time (``pgbackrest restore``: 6.2 s vs 3.5 s)."""
    if sys.version_info >= (3, 11):
        return {'process_group': 0}
    return {'preexec_fn': os.setpgrp}


def spawn_gated(argv, **kwargs):
    """Popen ``argv`` in a process group of its own, held before it runs: returns ``(proc, group, release)``.

    ``group`` is ``{'pgid', 'start'}`` (the process group, and its leader's start time from /proc to tell a reused
    pid): record it, then call ``release()`` to let the command run. Nothing of the command runs before that."""
    r, w = os.pipe()
    try:
        kwargs.update(own_group())
        proc = subprocess.Popen([sys.executable or 'python3', '-I', '-S', '-c', _GATE, str(r)] + list(argv),
                                pass_fds=(r,), close_fds=True, **kwargs)
    except BaseException:
        os.close(w)
        raise
    finally:
        os.close(r)
    pending = [w]

    def release(run=True):
        """Let the command run (``run=False``: end the held process without running it). Once only."""
        if pending:
            fd = pending.pop()
            try:
                if run:
                    os.write(fd, b'g')
            finally:
                os.close(fd)
    return proc, {'pgid': proc.pid, 'start': process_start(proc.pid)}, release


def _proc_stat(pid):
    """The fields of /proc/<pid>/stat after the command name (state, ppid, pgrp, session, ...), or None."""
    try:
        with open('/proc/%s/stat' % pid) as f:
            return f.read().rsplit(')', 1)[1].split()
    except (OSError, IndexError):
        return None


def group_members(group):
    """The pids of the live processes of a recorded process group ``{'pgid', 'start'}`` ([] when it is gone).

    Linux keeps a process group's number allocated while any member lives, so a leader with another start time
    means our group is gone (its number was reused); a group whose leader exited (a ``runuser`` killed) but whose
    members still run is still ours."""
    try:
        pgid = int((group or {}).get('pgid'))
    except (TypeError, ValueError):
        return []
    if pgid <= 1:
        return []
    leader = process_start(pgid)
    if leader is not None and leader != group.get('start'):
        return []
    members = []
    for name in os.listdir('/proc'):
        if name.isdigit():
            stat = _proc_stat(name)
            if stat and stat[0] not in ('Z', 'X') and stat[2] == str(pgid):
                members.append(int(name))
    return sorted(members)


def stop_group(group, what, data_dir, first=signal.SIGTERM, wait_s=None, grace_s=0.0, tick=0.1):
    """Stop every process of a recorded process group (``first``, then SIGKILL after ``wait_s``) and make sure it
    is gone (``wait_s``, default :data:`STOP_WAIT_S`). With ``grace_s``, first give it that long to end on its own. Returns None when nothing of it ran (or
    it ended within the grace), else ``{'process', 'pgid', 'processes', 'signal'}``; raises :class:`PitrError` when
    it outlives SIGKILL (nothing is removed then)."""
    members = group_members(group)
    deadline = time.monotonic() + grace_s
    while members and time.monotonic() < deadline:
        time.sleep(tick)
        members = group_members(group)
    if not members:
        return None
    pgid = int(group['pgid'])
    record = {'process': what, 'pgid': pgid, 'processes': len(members), 'signal': None}
    wait_s = STOP_WAIT_S if wait_s is None else wait_s
    for sig in (first, signal.SIGKILL):
        try:
            os.killpg(pgid, sig)
        except ProcessLookupError:
            return record
        except PermissionError as e:
            raise PitrError('Could not stop the %s (process group %d) still running for %s: %s. Stop it as its '
                            'owner, then run again; nothing was removed.' % (what, pgid, data_dir, e))
        record['signal'] = sig.name
        deadline = time.monotonic() + wait_s
        while group_members(group):
            if time.monotonic() > deadline:
                break
            time.sleep(tick)
        else:
            return record
    raise PitrError('Could not stop the %s (process group %d) still running for %s: processes %s outlived SIGKILL. '
                    'Nothing was removed; stop them, then run again.'
                    % (what, pgid, data_dir, ', '.join(str(m) for m in group_members(group))))


def run_pipeline(stages, out_path, started=None):
    """``stages[0] | stages[1] | ... > out_path`` without a shell; returns None, or the first failing stage's error.

    Each stage runs in a process group of its own; when the wait is cut short (:class:`Interrupted`), every stage's
    process group is stopped before the exception goes on, so nothing keeps writing after this returns. With
    ``started``, the stages are held until ``started([group, ...])`` (:func:`spawn_gated`) has returned: a caller
    records the groups first, so whoever finds them later can stop them."""
    procs = []
    gates = []
    try:
        with open(out_path, 'wb') as out:
            prev = None
            for i, argv in enumerate(stages):
                last = i == len(stages) - 1
                kw = dict(stdin=prev if prev is not None else subprocess.DEVNULL,
                          stdout=out if last else subprocess.PIPE, stderr=subprocess.PIPE, cwd='/')
                try:
                    if started is None:
                        p = subprocess.Popen(argv, **dict(kw, **own_group()))
                    else:
                        p, group, release = spawn_gated(argv, **kw)
                        gates.append((group, release))
                except OSError as e:
                    for _g, release in gates:
                        release(run=False)
                    _stop_all(procs)
                    return '%s: %s' % (argv[0], e)
                if prev is not None:
                    prev.close()
                prev = p.stdout
                procs.append(p)
            if started is not None:
                started([g for g, _r in gates])
                for _g, release in gates:
                    release()
            errors = []
            for p in procs:
                err = p.stderr.read().decode('utf-8', 'replace')
                p.wait()
                errors.append((p.returncode, err))
    except BaseException:
        for _g, release in gates:
            release(run=False)
        _stop_all(procs)
        raise
    for argv, (rc, err) in zip(stages, errors):
        if rc != 0:
            command = next((a for a in argv if a in ('repo-get', 'restore')), None)
            what = 'pgbackrest ' + command if command else os.path.basename(argv[0])
            return '%s exited %d: %s' % (what, rc, _first_error(err) or 'no message')
    return None


def _stop_all(procs, wait_s=30):
    """SIGTERM each stage's process group (runuser passes it on), SIGKILL what is left after ``wait_s``."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        for p in procs:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, sig)
                except OSError:
                    pass
        deadline = time.monotonic() + wait_s
        for p in procs:
            try:
                p.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        if all(p.poll() is not None for p in procs):
            return


DECOMPRESS = {'zst': ['zstd', '-d', '-q', '-c'], 'gz': ['gzip', '-d', '-c'], 'lz4': ['lz4', '-d', '-c'],
              'bz2': ['bzip2', '-d', '-c']}


def _first_error(text):
    for line in (text or '').splitlines():
        line = line.strip()
        if 'ERROR' in line or 'FATAL' in line or 'error' in line:
            return line[:300]
    return (text or '').strip().splitlines()[-1][:300] if (text or '').strip() else ''


def pg_bindir(version=None):
    if version:
        d = '/usr/lib/postgresql/%s/bin' % version
        if os.path.isdir(d):
            return d
    dirs = sorted(glob.glob('/usr/lib/postgresql/*/bin'), key=lambda d: int(d.split('/')[-2]))
    if not dirs:
        raise PitrError('Could not find the PostgreSQL server binaries under /usr/lib/postgresql. Install the '
                        'postgresql package of the backup\'s version, or set pg_bindir.')
    return dirs[-1]


# --------------------------------------------------------------------------- the reach check

def check_reach(cli, info, target_type, target, bindir):
    """Choose the backup and prove the archive reaches the target. Returns the plan; raises PitrError (refusal)."""
    backup = choose_backup(info['backups'], target_type, target)
    paths = cli.archive_segments(info['archive_id'])
    segments = sorted(paths)
    end, gap = contiguous_end(segments, backup['wal_start'])
    if end is None:
        raise PitrError('Could not restore: the first WAL segment of backup %s (%s) is not in the archive. Nothing '
                        'was touched. Take a new full backup.' % (backup['label'], backup['wal_start']))
    run = [s for s in segments if backup['wal_start'] <= s <= end]
    last_commit, found_name, scanned = None, False, 0
    for seg in reversed(run):
        events = cli.segment_events(seg, paths[seg], bindir,
                                    ('Transaction', 'XLOG') if target_type == 'name' else ('Transaction',))
        scanned += 1
        if target_type == 'name':
            found_name = found_name or any(k == 'restore_point' and v == target for k, v in events)
            if found_name and last_commit is not None:
                break
        times = [v for k, v in events if k in ('commit', 'abort')]
        if times and last_commit is None:
            last_commit = max(times)
            if target_type != 'name':
                break
        if target_type == 'name' and seg <= (backup['wal_stop'] or ''):
            break
    refusal = judge_reach(target_type, target, last_commit, found_name, gap, end)
    if refusal:
        raise PitrError(refusal)
    return {'backup': backup['label'], 'backup_stop': backup['stop'], 'wal_start': backup['wal_start'],
            'wal_end': end, 'wal_gap': gap, 'archive_reaches': iso(last_commit), 'segments_scanned': scanned}


def info_report(params, runner, now=None):
    """What pitr_info returns."""
    target_type = params.get('target_type')
    target = None
    if target_type:
        target_type, target = normalize_target(target_type, params.get('target'))
    with PgBackRest(params, runner) as cli:
        info = cli.info(now=now)
        result = dict(info)
        result['reaches_target'] = None
        if target_type:
            bindir = params.get('pg_bindir') or pg_bindir(info['pg_version'])
            try:
                result['reach'] = check_reach(cli, info, target_type, target, bindir)
                result['reaches_target'] = True
            except PitrError as e:
                result['reaches_target'] = False
                result['reach_error'] = str(e)
    return result


# --------------------------------------------------------------------------- restore into a new data directory

def _is_empty_dir(path):
    return os.path.isdir(path) and not os.listdir(path)


def check_new_data_dir(path):
    if os.path.islink(path):
        raise PitrError('Could not restore into %s: it is a symbolic link. Give a new directory.' % path)
    if os.path.exists(path) and not _is_empty_dir(path):
        marker = read_marker(path)
        hint = ''
        if marker is not None:
            hint = (' It is a restore made by pitr_restore (state %s): remove it with state=absent if it is no '
                    'longer needed.' % marker.get('state'))
        raise PitrError('Could not restore into %s: it exists and is not empty. A restore goes only into a new '
                        'data directory; give another path (the live cluster is never overwritten).%s' % (path, hint))


# --------------------------------------------------------------------------- the marker of a restore

def marker_path(data_dir):
    return data_dir.rstrip('/') + MARKER_SUFFIX


def process_start(pid):
    """The start time of process ``pid`` (clock ticks since boot, /proc), or None when it is gone."""
    try:
        with open('/proc/%d/stat' % int(pid)) as f:
            return f.read().rsplit(')', 1)[1].split()[19]
    except (OSError, ValueError, IndexError, TypeError):
        return None


def read_marker(data_dir):
    try:
        with open(marker_path(data_dir)) as f:
            doc = json.load(f)
    except (OSError, ValueError):
        return None
    return doc if isinstance(doc, dict) else None


def write_marker(data_dir, marker):
    """Replace the marker atomically (a reader never sees half of it)."""
    path = marker_path(data_dir)
    tmp = path + '.tmp'
    with open(tmp, 'w') as f:
        json.dump(marker, f, sort_keys=True)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def record_group(data_dir, marker, key, group, **fields):
    """Record a process group (and other ``fields``) in the marker before the group runs (see :func:`spawn_gated`)."""
    marker[key] = group
    marker.update(fields)
    write_marker(data_dir, marker)


def owner_alive(marker):
    start = process_start(marker.get('pid'))
    return start is not None and start == marker.get('pid_start')


def is_leftover(marker):
    """A run that never finished (killed, interrupted, or its recovery failed) and whose process is gone."""
    return bool(marker) and marker.get('state') in UNFINISHED and not owner_alive(marker)


def _own_tempdir(path):
    """Only the temporary directories this module makes (``rbo-pitr-*`` directly under the temp dir)."""
    return (bool(path) and os.path.basename(path).startswith('rbo-pitr-') and
            os.path.dirname(os.path.abspath(path)) == tempfile.gettempdir() and os.path.isdir(path) and
            not os.path.islink(path))


def discard(data_dir, marker, params, runner):
    """Stop what a marked restore still runs, then remove the directory, its marker and temporary dirs; returns
    what was stopped (:func:`stop_group` records). The log beside it stays unless ``state=absent`` removes it.

    A ``pgbackrest restore`` that outlived its module (killed outright) is stopped first and must be gone before
    anything is touched: it would go on writing into the directory being removed."""
    stopped = [r for r in [stop_group(marker.get('restore_group'), 'pgbackrest restore', data_dir)] if r]
    if os.path.exists(os.path.join(data_dir, 'postmaster.pid')):
        # the binaries of the directory's own version: never a path read from the marker (a file anyone who can
        # write beside the directory could have written)
        bindir = params.get('pg_bindir') or pg_bindir(_pg_version(data_dir))
        cluster = Recovered(data_dir, marker.get('port') or 0, params.get('run_as') or 'postgres', bindir, runner)
        members = group_members(marker.get('cluster_group'))
        mode = 'fast' if marker.get('state') in ('verified', 'unverified') else 'immediate'
        rc, _out, err = cluster.stop(mode)
        if rc != 0 and os.path.exists(os.path.join(data_dir, 'postmaster.pid')):
            raise PitrError('Could not stop the recovered cluster in %s: %s. Stop it with pg_ctl, then run again.'
                            % (data_dir, _first_error(err)))
        if rc == 0:
            stopped.append({'process': 'restored cluster', 'pgid': (marker.get('cluster_group') or {}).get('pgid'),
                            'processes': len(members) or None, 'signal': 'pg_ctl stop -m %s' % mode})
    # a cluster started but not yet up (no postmaster.pid), or what pg_ctl left of it (runuser ends just after)
    late = stop_group(marker.get('cluster_group'), 'restored cluster', data_dir, first=signal.SIGQUIT, grace_s=10)
    if late:
        stopped.append(late)
    if os.path.exists(data_dir):
        shutil.rmtree(data_dir)
    for d in (marker.get('socket_dir'), marker.get('workdir')):
        if _own_tempdir(d):
            shutil.rmtree(d, ignore_errors=True)
    os.unlink(marker_path(data_dir))
    return stopped


def would_stop(data_dir, marker):
    """What :func:`discard` would stop (check mode): the recorded groups still running, ``signal`` None."""
    found = []
    for key, what in GROUPS:
        members = group_members(marker.get(key))
        if members:
            found.append({'process': what, 'pgid': int(marker[key]['pgid']), 'processes': len(members),
                          'signal': None})
    if not any(f['process'] == 'restored cluster' for f in found) and \
            os.path.exists(os.path.join(data_dir, 'postmaster.pid')):
        found.append({'process': 'restored cluster', 'pgid': None, 'processes': None, 'signal': None})
    return found


def _pg_version(data_dir):
    try:
        with open(os.path.join(data_dir, 'PG_VERSION')) as f:
            version = f.read().strip()
    except OSError:
        return None
    return version if version.isdigit() else None


def sweep_leftover(data_dir, params, runner, check_mode=False):
    """[record] of the leftover of an interrupted run into ``data_dir`` swept (or to sweep, in check mode)."""
    marker = read_marker(data_dir)
    if marker is None:
        return []
    if marker.get('state') in UNFINISHED and owner_alive(marker):
        raise PitrError('Could not restore into %s: another pitr_restore run (pid %s) is restoring into it since %s. '
                        'Wait for it, or stop it; its directory is swept by the next run once it is gone.'
                        % (data_dir, marker.get('pid'), marker.get('created_at')))
    if not is_leftover(marker):
        return []
    record = {'data_dir': data_dir, 'state': marker.get('state'), 'created_at': marker.get('created_at'),
              'pid': marker.get('pid'), 'port': marker.get('port')}
    record['stopped'] = would_stop(data_dir, marker) if check_mode else discard(data_dir, marker, params, runner)
    return [record]


class Recovered(object):
    """The recovered cluster on a scratch port: start, wait, query, stop (all as ``user``)."""

    def __init__(self, data_dir, port, user, bindir, runner):
        self.data_dir = data_dir
        self.port = port
        self.user = user
        self.bindir = bindir
        self.runner = runner
        self.socket_dir = None
        self.proc = None
        self.log = data_dir.rstrip('/') + '.recovery.log'
        self.log_offset = 0

    def prefix(self):
        return as_user(self.user)

    def start(self, started=None):
        """Start the server in a process group of its own; with ``started``, held until ``started(group)`` has returned
        (:func:`spawn_gated`: the caller records the process group before the server runs)."""
        self.socket_dir = tempfile.mkdtemp(prefix='rbo-pitr-sock-')
        _chown(self.socket_dir, self.user)
        hba = os.path.join(self.socket_dir, 'pg_hba.conf')
        with open(hba, 'w') as f:
            f.write('local all %s peer\n' % self.user)
        _chown(hba, self.user)
        for name in ('postgresql.conf', 'pg_ident.conf'):   # Debian keeps them in /etc: the restore has none
            p = os.path.join(self.data_dir, name)
            if not os.path.exists(p):
                with open(p, 'w') as f:
                    f.write('# written by runbook.ops pitr_restore: the source kept its %s outside PGDATA\n' % name)
                _chown(p, self.user)
        argv = self.prefix() + [os.path.join(self.bindir, 'postgres'), '-D', self.data_dir,
                                '-c', 'port=%d' % self.port, '-c', 'listen_addresses=',
                                '-c', 'unix_socket_directories=%s' % self.socket_dir, '-c', 'hba_file=%s' % hba,
                                '-c', 'archive_mode=off', '-c', 'hot_standby=on', '-c', 'lc_messages=C']
        self.log_offset = os.path.getsize(self.log) if os.path.exists(self.log) else 0
        logf = open(self.log, 'ab')
        _chown(self.log, self.user)
        kw = dict(stdin=subprocess.DEVNULL, stdout=logf, stderr=subprocess.STDOUT, cwd='/')
        try:
            if started is None:
                self.proc = subprocess.Popen(argv, close_fds=True, **dict(kw, **own_group()))
                return
            self.proc, group, release = spawn_gated(argv, **kw)
        finally:
            logf.close()
        try:
            started(group)
        except BaseException:
            release(run=False)
            self.proc.wait()
            raise
        release()

    def psql(self, sql, db='postgres'):
        argv = self.prefix() + [os.path.join(self.bindir, 'psql'), '-h', self.socket_dir, '-p', str(self.port),
                                '-d', db, '-X', '-A', '-t', '-q', '-v', 'ON_ERROR_STOP=1', '-c', sql]
        return self.runner(argv)

    def log_tail(self):
        try:
            with open(self.log, 'rb') as f:
                f.seek(max(0, os.path.getsize(self.log) - 8192))
                lines = f.read().decode('utf-8', 'replace').splitlines()
        except OSError:
            return ''
        fatal = [ln for ln in lines if 'FATAL' in ln or 'PANIC' in ln]
        return (fatal or lines or [''])[-1].strip()[:400]

    def log_says(self, hints):
        """Whether the server log written since :meth:`start` holds one of ``hints`` (reads only what is new)."""
        try:
            with open(self.log, 'rb') as f:
                f.seek(self.log_offset)
                chunk = f.read()
        except OSError:
            return False
        if not chunk:
            return False
        self.log_offset += max(0, len(chunk) - 256)     # a line cut in half is read again next time
        text = chunk.decode('utf-8', 'replace')
        return any(h in text for h in hints)

    def wait(self, action, timeout, tick=0.1, query_every=2.0):
        """Until recovery is over (promoted, or paused at the target). The server log is read every ``tick`` (a
        file read) and the server asked (psql) when the log says so, or every ``query_every`` seconds anyway.
        Returns the commit time of the last transaction replayed (text, '' when none), read by the same query."""
        deadline = time.monotonic() + timeout
        sql = ('SELECT NOT pg_is_in_recovery()' if action == 'promote'
               else "SELECT pg_get_wal_replay_pause_state() = 'paused'")
        sql += ", coalesce(pg_last_xact_replay_timestamp()::text, '')"
        hints = LOG_DONE[action]
        hinted, next_query = False, time.monotonic() + tick
        while True:
            if self.proc.poll() is not None:
                raise PitrError('Could not recover the cluster in %s: PostgreSQL stopped (%s). The restored data '
                                'directory is left aside (marked %s) for inspection; the next run into it sweeps it, '
                                'or remove it with state=absent. The live cluster was not touched.'
                                % (self.data_dir, self.log_tail(), marker_path(self.data_dir)))
            hinted = hinted or self.log_says(hints)
            now = time.monotonic()
            if hinted or now >= next_query:
                rc, out, _err = self.psql(sql)
                done, _sep, last = out.strip().partition('|')
                if rc == 0 and done == 't':
                    return last
                next_query = now + query_every
            if now > deadline:
                raise PitrError('Could not recover the cluster in %s within %d s (last log line: %s). It is left '
                                'running on port %d (marked %s); the next run into it sweeps it, or remove it with '
                                'state=absent. The live cluster was not touched.'
                                % (self.data_dir, timeout, self.log_tail(), self.port, marker_path(self.data_dir)))
            time.sleep(tick)

    def stop(self, mode='fast'):
        """pg_ctl stop; once the server is down its private socket directory goes too."""
        argv = self.prefix() + [os.path.join(self.bindir, 'pg_ctl'), 'stop', '-D', self.data_dir, '-m', mode,
                                '-w', '-t', '120']
        rc, out, err = self.runner(argv)
        if rc == 0 and _own_tempdir(self.socket_dir):
            shutil.rmtree(self.socket_dir, ignore_errors=True)
        return rc, out, err


def _timestamp(text):
    text = (text or '').strip()
    if not text:
        return None
    m = re.match(r'^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)([+-]\d\d)(?::?(\d\d))?$', text)
    if not m:
        return None
    dt = datetime.datetime.strptime(m.group(1) + ('' if '.' in m.group(1) else '.0'), '%Y-%m-%d %H:%M:%S.%f')
    off = datetime.timedelta(hours=abs(int(m.group(2))), minutes=int(m.group(3) or 0))
    return dt.replace(tzinfo=datetime.timezone(off if m.group(2)[0] == '+' else -off)).astimezone(
        datetime.timezone.utc)


def run_verifications(cluster, queries):
    """[{sql, database, value, ok, error}] for each verification query (first column of the first row)."""
    results = []
    for q in queries or []:
        rc, out, err = cluster.psql(q['sql'], db=q.get('database') or 'postgres')
        value = (out.splitlines() or [''])[0].strip() if rc == 0 else None
        ok = rc == 0 and (q.get('expect') is None or value == str(q['expect']))
        results.append({'sql': q['sql'], 'database': q.get('database') or 'postgres', 'value': value,
                        'expect': q.get('expect'), 'ok': ok, 'error': _first_error(err) if rc != 0 else None})
    return results


def default_process_max():
    """pgBackRest restore processes when process_max is not given: one per CPU, at most 4 (a restore is bound by
    fetching, decompressing and checksumming files; bench/pitr measured 2 processes about 1.3x faster than 1 on a
    loaded 2-core machine)."""
    return max(1, min(4, os.cpu_count() or 1))


def restore_options(plan, data_dir, target_type, target, target_action, process_max=None):
    """The ``pgbackrest restore`` options of a plan."""
    options = ['--pg1-path=' + data_dir, '--set=' + plan['backup'], '--target-timeline=current',
               '--process-max=%d' % (process_max or default_process_max())]
    if target_type == 'time':
        options += ['--type=time', '--target=' + format_pg_time(target)]
    elif target_type == 'name':
        options += ['--type=name', '--target=' + target]
    if target_type != 'latest':
        options.append('--target-action=' + target_action)
    return options


def restore(params, runner, check_mode=False, now=None):
    """pitr_restore, state=present."""
    target_type, target = normalize_target(params['target_type'], params.get('target'))
    data_dir = os.path.abspath(params['data_dir'])
    swept = sweep_leftover(data_dir, params, runner, check_mode=check_mode)
    if not (swept and check_mode):
        check_new_data_dir(data_dir)
    started = time.monotonic()
    with PgBackRest(params, runner) as cli:
        info = cli.info(now=now)
        bindir = params.get('pg_bindir') or pg_bindir(info['pg_version'])
        plan = check_reach(cli, info, target_type, target, bindir)
        plan['check_s'] = round(time.monotonic() - started, 2)
        result = {'changed': True, 'data_dir': data_dir, 'port': params['port'], 'target_type': target_type,
                  'recovery_target': iso(target) if target_type == 'time' else target, 'plan': plan, 'swept': swept}
        if check_mode:
            return result
        marker = {'data_dir': data_dir, 'state': 'restoring', 'pid': os.getpid(),
                  'pid_start': process_start(os.getpid()), 'port': params['port'], 'workdir': cli.workdir,
                  'bindir': bindir, 'backup': plan['backup'], 'recovery_target': result['recovery_target'],
                  'created_at': iso(now or utcnow())}
        with interruptible():
            write_marker(data_dir, marker)        # named before anything is written into it
            cluster = None
            try:
                if not os.path.exists(data_dir):
                    os.makedirs(data_dir, 0o700)
                os.chmod(data_dir, 0o700)
                _chown(data_dir, cli.user)
                started = time.monotonic()
                options = restore_options(plan, data_dir, target_type, target, params['target_action'],
                                          params.get('process_max'))
                failure = cli.pipe([cli.argv('restore', options)], os.devnull, started=lambda groups: record_group(
                    data_dir, marker, 'restore_group', groups[0]))
                if failure:
                    raise PitrError('Could not restore backup %s into %s: %s. The directory is left aside (marked %s) '
                                    'and the next run into it sweeps it; the live cluster was not touched.'
                                    % (plan['backup'], data_dir, failure, marker_path(data_dir)))
                restored_s = time.monotonic() - started
                cluster = Recovered(data_dir, params['port'], cli.user, bindir, runner)
                cluster.start(started=lambda group: record_group(data_dir, marker, 'cluster_group', group,
                                                                 state='recovering', socket_dir=cluster.socket_dir))
                action = 'promote' if target_type == 'latest' else params['target_action']
                last = _timestamp(cluster.wait(action, params['recovery_timeout']))
            except Interrupted as e:
                phase = marker['state']
                stopped = cluster is None or cluster.stop('fast')[0] == 0
                marker['state'] = 'interrupted'
                write_marker(data_dir, marker)
                raise PitrError('Could not finish the restore into %s: interrupted (%s) while %s. The directory is '
                                'left aside, marked %s%s; the next run into the same data_dir sweeps it, or remove it '
                                'with state=absent. The live cluster was not touched.'
                                % (data_dir, e, phase, marker_path(data_dir),
                                   '' if stopped else ', its cluster still running on port %d' % params['port']))
    recovered_s = time.monotonic() - started
    checks = run_verifications(cluster, params.get('verify_queries'))
    verified_s = time.monotonic() - started
    reference = target if target_type == 'time' else (now or utcnow())
    if params.get('failure_time'):
        reference = parse_target_time(params['failure_time'])
    failed = [c for c in checks if not c['ok']]
    marker['state'] = 'unverified' if failed else 'verified'
    write_marker(data_dir, marker)
    result.update({'socket_dir': cluster.socket_dir, 'last_replayed': iso(last),
                   'rpo_s': rpo_seconds(reference, last), 'verifications': checks,
                   'restore_s': round(restored_s, 2), 'recovery_s': round(recovered_s, 2),
                   'verify_s': round(verified_s, 2), 'running': True, 'log': cluster.log,
                   'marker': marker_path(data_dir)})
    if failed:
        cluster.stop()
        result['running'] = False
        raise PitrError('Could not verify the recovered cluster in %s: %d verification quer%s failed (first: %s -> '
                        '%s). It is stopped and left there for inspection; the live cluster was not touched.'
                        % (data_dir, len(failed), 'y' if len(failed) == 1 else 'ies', failed[0]['sql'][:80],
                           failed[0]['error'] or failed[0]['value']), result)
    if not params.get('keep_running', True):
        cluster.stop()
        result['running'] = False
    return result


def remove(params, runner, check_mode=False):
    """pitr_restore, state=absent: stop and remove a data directory this module restored (marker checked)."""
    data_dir = os.path.abspath(params['data_dir'])
    marker = read_marker(data_dir)
    if marker is None:
        if not os.path.exists(data_dir):
            return {'changed': False, 'data_dir': data_dir, 'removed': False}
        raise PitrError('Could not remove %s: there is no %s beside it, so pitr_restore did not create it. Remove it '
                        'by hand if it is really a scratch copy.' % (data_dir, os.path.basename(marker_path(data_dir))))
    if marker.get('state') in UNFINISHED and owner_alive(marker):
        raise PitrError('Could not remove %s: the pitr_restore run that makes it (pid %s) is still running. Stop it '
                        'first, then run again.' % (data_dir, marker.get('pid')))
    result = {'changed': True, 'data_dir': data_dir, 'removed': True, 'state_found': marker.get('state')}
    if check_mode:
        result['stopped'] = would_stop(data_dir, marker)
        return result
    result['stopped'] = discard(data_dir, marker, params, runner)
    log = data_dir.rstrip('/') + '.recovery.log'
    if os.path.exists(log):
        os.unlink(log)
    return result
