# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The streaming backup pipeline, one owner for every engine (``pg_backup``, ``mysql_backup``).

::

    dump process  |  compressor process (zstd -T<n> -<level>, gzip, or none)  |  this process: sha256 + store writer

Argv lists, no shell.  The engine gives its dump argv and environment (the password only there or in a private
option file), a label for its errors and a function that cleans the dump's stderr (redaction); this module owns:

- the compressor choice and argv (:func:`compressor_argv`, :data:`DEFAULT_LEVEL`) and :func:`compress_bytes` for
  small payloads;
- starting the stages with 1 MiB pipes (:func:`widen_pipe`) and streaming the compressed bytes into the store's
  writer while hashing them (:func:`stream_to_store`); an optional *tap* sees the uncompressed stream on its way to
  the compressor (a thread copies it), e.g. a row counter;
- every stage's exit code checked, the error naming the stage that failed first (:func:`failed_stage`: a stage that
  died of a broken pipe because a later stage failed is a consequence, not the cause);
- the interruption rule: SIGTERM/SIGINT/SIGHUP (:func:`install_signal_handlers`) and the overall deadline
  (:func:`deadline`, option ``timeout``) raise :class:`Interrupted` in the main thread; the stages are killed
  (:func:`kill`), what was written is removed with the manifest first (:func:`remove_written`, :func:`writing`) and
  the run fails with a message saying where it stopped (:func:`bounded`).
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import resource
import signal
import subprocess
import tempfile
import threading

from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs

COMPRESSIONS = ('zstd', 'gzip', 'none')
# zstd 1, its fastest level: the dump, the server and zstd share the cores, and on a less-compressible table
# (bench/backup, 3M md5 rows) level 1 dumped about 1.3x faster than level 3 for about 7% more bytes
DEFAULT_LEVEL = {'zstd': 1, 'gzip': 6, 'none': 0}
READ_CHUNK = 1024 * 1024
PIPE_SIZE = 1024 * 1024
KILL_WAIT_S = 30
DEADLINE_HINT = ('Check the server and the store (S3 endpoints are bounded by s3_connect_timeout, s3_read_timeout '
                 'and s3_max_attempts), or raise timeout.')


class PipelineError(Exception):
    """A stage could not start or failed; the message names it (no secrets: stderr went through ``clean``)."""


class Interrupted(BaseException):
    """SIGTERM/SIGINT/SIGHUP arrived: clean up, then fail."""


class DeadlineExceeded(Interrupted):
    """The overall deadline (option ``timeout``) expired: clean up, then fail."""


# ---------------------------------------------------------------------------------------------
# compressor

def compressor_argv(compression, level=None, threads=2):
    """``zstd``/``gzip``/``none`` -> the compressor's argv (None for ``none``)."""
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


def compress_bytes(data, comp_argv):
    """A small payload (e.g. users and grants) through the same compressor."""
    if not comp_argv:
        return data
    try:
        r = subprocess.run(comp_argv, input=data, capture_output=True, check=False)
    except OSError as e:
        raise PipelineError('Could not start %s: %s. Install it (package %s) or choose another compression.'
                            % (comp_argv[0], e.strerror, comp_argv[0]))
    if r.returncode != 0:
        raise PipelineError(stage_message(comp_argv[0], r.returncode, r.stderr.decode('utf-8', 'replace')[-500:]))
    return r.stdout


def tool_version(path, parse, hint):
    """``(parse(output of path --version), the output)``; raises :class:`PipelineError` (ending with ``hint``) when
    the tool cannot run or its version cannot be read."""
    try:
        r = subprocess.run([path, '--version'], capture_output=True, text=True, timeout=30, check=False)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise PipelineError('Could not run %s: %s. %s' % (path, e, hint))
    v = parse(r.stdout)
    if r.returncode != 0 or v is None:
        raise PipelineError('Could not read the version of %s (rc=%s): %s. %s'
                            % (path, r.returncode, (r.stderr or r.stdout).strip()[:300], hint))
    return v, r.stdout.strip()


# ---------------------------------------------------------------------------------------------
# interruption and deadline

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


def interrupted_message(db, state, exc):
    """The one message of a run stopped by :class:`Interrupted` outside the dump (``state``: ``phase``, and
    ``committed``, the backup id once the manifest is written)."""
    hint = ' ' + DEADLINE_HINT if isinstance(exc, DeadlineExceeded) else ''
    if state.get('committed'):
        return ('Backed up database %s as %s, but %s during retention. The new backup is valid; rerun to apply '
                'retention%s.' % (json.dumps(db), state['committed'], exc,
                                  ', or raise timeout' if hint else ''))
    return ('Could not back up database %s: %s during the %s. No backup was committed; retention did not run.%s'
            % (json.dumps(db), exc, state.get('phase') or 'backup', hint))


def bounded(run, timeout, db, state, error):
    """``run()`` under the deadline; an interruption becomes ``error`` (the engine's exception class) with
    :func:`interrupted_message`."""
    try:
        with deadline(timeout):
            return run()
    except Interrupted as e:
        raise error(interrupted_message(db, state, e))


# ---------------------------------------------------------------------------------------------
# the stages

def widen_pipe(f):
    """Ask for a 1 MiB pipe (Linux): fewer wake-ups between the dump, the compressor and this process."""
    if f is None or not hasattr(fcntl, 'F_SETPIPE_SZ'):
        return
    try:
        fcntl.fcntl(f.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)
    except (OSError, ValueError):
        pass  # above /proc/sys/fs/pipe-max-size or not a pipe: the default size works too


def kill(procs):
    """Kill the stages still running and reap them all."""
    for p in procs:
        if p.poll() is None:
            try:
                p.kill()
            except OSError:
                pass
    for p in procs:
        try:
            p.wait(KILL_WAIT_S)
        except subprocess.TimeoutExpired:
            pass


def read_stderr(f, clean=None, limit=2000):
    """The tail of a stage's captured stderr, through ``clean`` (the engine's redaction)."""
    try:
        f.seek(0)
        text = f.read().decode('utf-8', 'replace')
    except (OSError, ValueError):
        text = ''
    text = text.strip()
    if clean is not None:
        text = clean(text)
    return text[-limit:]


def failed_stage(rcs):
    """The index of the stage whose failure to report, or None when every exit code is 0.

    A failed stage makes the stages before it fail on a broken pipe (killed by SIGPIPE, or an error exit), never
    the stages after it (they see the end of their input and exit 0).  So when several failed, the last one is the
    cause; a lone failure is its own cause."""
    failed = [i for i, rc in enumerate(rcs) if rc != 0]
    return failed[-1] if failed else None


def stage_message(label, rc, stderr_text):
    how = 'was killed by signal %d' % -rc if rc < 0 else 'exited with code %d' % rc
    return '%s %s: %s' % (label, how, stderr_text or 'no error output')


def _start(argv, hint, **kw):
    try:
        return subprocess.Popen(argv, **kw)
    except OSError as e:
        raise PipelineError('Could not start %s: %s. %s' % (argv[0], e.strerror, hint))


def _pump(src, dst, tap):
    """Copy ``src`` into ``dst`` (the compressor's stdin), feeding ``tap`` on the way (a thread).

    A tap that raises is recorded in ``tap.failed`` and no longer fed, and the copy goes on; the copy ends at EOF or
    when the compressor is gone (its exit code says why).  Both ends are closed at the end, so the dump sees a broken
    pipe rather than waiting on a full one."""
    try:
        while True:
            block = src.read(READ_CHUNK)
            if not block:
                break
            if not tap.failed:
                try:
                    tap.feed(block)
                except Exception as e:  # pylint: disable=broad-except
                    tap.failed.append(e)
            dst.write(block)
    except (OSError, ValueError):
        pass  # the compressor exited (or was killed): its exit code is checked by the main thread
    finally:
        for f in (dst, src):
            try:
                f.close()
            except (OSError, ValueError):
                pass


def stream_to_store(argv, comp_argv, writer, env=None, label=None, clean=None, start_hint='', tap=None,
                    on_start=None):
    """Run ``argv [| comp_argv]`` and stream its output into ``writer``; return ``(size, sha256)`` of what was
    written (the compressed bytes).

    ``label`` names the dump in errors (default ``argv[0]``), ``clean(text)`` cleans its stderr, ``start_hint`` says
    what to do when it cannot start.  ``tap`` (an object with ``feed(block)`` and a ``failed`` list) sees the
    uncompressed stream.  ``on_start(process)`` is called once the dump runs.  Raises :class:`PipelineError` when a
    stage cannot start or fails; on any exception the stages are killed (the caller aborts the writer).
    """
    label = label or argv[0]
    errs = [tempfile.TemporaryFile(), tempfile.TemporaryFile()]
    procs = []
    pump = None
    try:
        p1 = _start(argv, start_hint, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errs[0], env=env)
        procs.append(p1)
        widen_pipe(p1.stdout)
        if on_start is not None:
            on_start(p1)
        src = p1.stdout
        if comp_argv:
            p2 = _start(comp_argv, 'Install it (package %s) or choose another compression.' % comp_argv[0],
                        stdin=p1.stdout if tap is None else subprocess.PIPE, stdout=subprocess.PIPE, stderr=errs[1])
            procs.append(p2)
            if tap is None:
                p1.stdout.close()
            else:
                widen_pipe(p2.stdin)
                pump = threading.Thread(target=_pump, args=(p1.stdout, p2.stdin, tap), daemon=True)
                pump.start()
            widen_pipe(p2.stdout)
            src = p2.stdout
        tap_here = tap if pump is None else None
        h = hashlib.sha256()
        n = 0
        while True:
            block = src.read(READ_CHUNK)
            if not block:
                break
            if tap_here is not None and not tap_here.failed:
                try:
                    tap_here.feed(block)
                except Exception as e:  # pylint: disable=broad-except
                    tap_here.failed.append(e)
            h.update(block)
            n += len(block)
            writer.write(block)
        if pump is not None:
            pump.join()
        rcs = [p.wait() for p in procs]
        i = failed_stage(rcs)
        if i is not None:
            raise PipelineError(stage_message(label if i == 0 else comp_argv[0], rcs[i],
                                              read_stderr(errs[i], clean)))
        return n, h.hexdigest()
    except BaseException:
        kill(procs)
        if pump is not None:
            pump.join(KILL_WAIT_S)
        raise
    finally:
        for p in procs:
            if p.stdout:
                p.stdout.close()
        for f in errs:
            f.close()


def peak_rss_mib():
    """Peak resident memory of this process in MiB (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0, 1)


# ---------------------------------------------------------------------------------------------
# what a failed run leaves behind

def remove_written(store, keys):
    """Delete what a failed run wrote, the manifest (if any) first, so a half-cleaned backup is never valid."""
    if not keys:
        return
    try:
        store.delete(sorted(keys, key=lambda k: not k.endswith('/' + bs.MANIFEST_NAME)))
    except bs.StoreError:
        pass


@contextlib.contextmanager
def writing(store, written, db, error, known=()):
    """Around everything a backup writes (``written``: the keys so far, in order, the manifest last): on any failure
    they are removed (:func:`remove_written`) and the failure becomes ``error`` (the engine's exception class)
    saying that no backup was committed.  ``known``: the engine's own exception classes whose message is kept."""
    try:
        yield
    except bs.StoreError as e:
        remove_written(store, written)
        raise error('Could not back up database %s to %s: %s. Nothing was kept under a valid name; retention did not '
                    'run.' % (json.dumps(db), store.describe(), e))
    except (PipelineError,) + tuple(known) as e:
        remove_written(store, written)
        msg = str(e)
        if not msg.startswith('Could not'):
            msg = 'Could not back up database %s: %s' % (json.dumps(db), msg)
        raise error(msg.rstrip('.') + '. No backup was committed; retention did not run.')
    except DeadlineExceeded as e:
        remove_written(store, written)
        raise error('Could not back up database %s to %s: %s while the dump was written; it was stopped and the '
                    'partial object or upload removed. No backup was committed; retention did not run. Raise timeout '
                    'if the backup needs longer, or check the server and the store.'
                    % (json.dumps(db), store.describe(), e))
    except Interrupted as e:
        remove_written(store, written)
        raise error('Could not back up database %s: %s. No backup was committed; retention did not run.'
                    % (json.dumps(db), e))
    except BaseException:
        remove_written(store, written)
        raise
