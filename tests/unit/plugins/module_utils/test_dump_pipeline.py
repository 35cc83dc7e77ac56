"""dump_pipeline: the one streaming backup pipeline of both engines, on small real subprocesses (no shell)."""
import gzip
import hashlib
import signal
import subprocess
import sys

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import backup_store as bs
from ansible_collections.runbook.ops.plugins.module_utils import dump_pipeline as dp

PY = sys.executable
RANDOM_FOREVER = [PY, '-c', 'import os, sys\nwhile True: sys.stdout.buffer.write(os.urandom(65536))']
BID = '20260315T120000Z-app-abcdef'


class _Writer(object):
    def __init__(self, fail_after=None):
        self.data = b''
        self.fail_after = fail_after

    def write(self, block):
        if self.fail_after is not None and len(self.data) >= self.fail_after:
            raise bs.StoreError('the store went away')
        self.data += block


class _Lines(object):
    """A tap that counts newlines (a stand-in for a row counter)."""

    def __init__(self, fail_at=None):
        self.n = 0
        self.failed = []
        self.fail_at = fail_at

    def feed(self, block):
        if self.fail_at is not None and self.n >= self.fail_at:
            raise ValueError('cannot read this stream')
        self.n += block.count(b'\n')


def _seq(n):
    return b''.join(b'%d\n' % i for i in range(1, n + 1))


def test_sha256_and_size_are_those_of_the_stored_bytes(tmp_path):
    store = bs.open_store({'store': str(tmp_path)})
    w = store.open_writer(BID + '/data.dump')
    n, digest = dp.stream_to_store(['printf', 'hello world'], None, w)
    w.commit()
    assert (n, digest) == (11, hashlib.sha256(b'hello world').hexdigest())
    w = store.open_writer(BID + '/data.dump.gz')
    n, digest = dp.stream_to_store(['seq', '1', '200000'], dp.compressor_argv('gzip'), w)
    w.commit()
    stored = store.read_bytes(BID + '/data.dump.gz')
    assert digest == hashlib.sha256(stored).hexdigest() and n == len(stored)
    assert gzip.decompress(stored) == _seq(200000)


@pytest.mark.parametrize('with_tap', [False, True])
def test_a_failing_compressor_is_named_not_the_dump_it_broke(with_tap):
    # `yes` writes forever; `false` exits 1 without reading: `yes` then dies of the broken pipe (SIGPIPE), a
    # consequence; the error names the compressor.  With a tap the copy thread must not leave `yes` waiting.
    tap = _Lines() if with_tap else None
    with pytest.raises(dp.PipelineError) as e:
        dp.stream_to_store(['yes'], ['false'], _Writer(), label='the dump', tap=tap)
    assert str(e.value) == 'false exited with code 1: no error output'


def test_a_killed_dump_is_named_with_its_signal():
    started = []

    def kill_it(p):
        started.append(p)
        p.send_signal(signal.SIGKILL)
    with pytest.raises(dp.PipelineError) as e:
        dp.stream_to_store(['sleep', '600'], dp.compressor_argv('gzip'), _Writer(), label='mariadb-dump',
                           on_start=kill_it)
    assert str(e.value) == 'mariadb-dump was killed by signal 9: no error output'
    assert started[0].returncode == -9


def test_the_dump_stderr_goes_through_the_engine_cleaner():
    argv = [PY, '-c', 'import sys; sys.stderr.write("login failed for pw S3cret!"); sys.exit(3)']
    with pytest.raises(dp.PipelineError) as e:
        dp.stream_to_store(argv, ['gzip', '-c'], _Writer(), label='pg_dump',
                           clean=lambda text: text.replace('S3cret!', '********'))
    assert str(e.value) == 'pg_dump exited with code 3: login failed for pw ********'


def test_a_stage_that_cannot_start_says_what_to_do_and_leaves_nothing_running():
    with pytest.raises(dp.PipelineError) as e:
        dp.stream_to_store(['/nonexistent/pg_dump'], None, _Writer(), start_hint='Set bin_dir.')
    assert str(e.value) == 'Could not start /nonexistent/pg_dump: No such file or directory. Set bin_dir.'
    started = []
    with pytest.raises(dp.PipelineError) as e:
        dp.stream_to_store(['sleep', '600'], ['/nonexistent/zstd', '-c'], _Writer(), on_start=started.append)
    assert str(e.value) == ('Could not start /nonexistent/zstd: No such file or directory. Install it (package '
                            '/nonexistent/zstd) or choose another compression.')
    assert started[0].returncode == -9     # the dump that did start was killed and reaped


@pytest.mark.parametrize('with_tap', [False, True])
def test_a_store_failure_mid_stream_kills_every_stage(with_tap):
    started = []
    with pytest.raises(bs.StoreError):
        dp.stream_to_store(RANDOM_FOREVER, dp.compressor_argv('gzip', 1), _Writer(fail_after=1),
                           on_start=started.append, tap=_Lines() if with_tap else None)
    assert started[0].returncode is not None


@pytest.mark.parametrize('compression', ['gzip', 'none'])
def test_the_tap_sees_the_uncompressed_stream_and_the_store_gets_the_same_bytes(compression):
    tap = _Lines()
    w = _Writer()
    n, digest = dp.stream_to_store(['seq', '1', '300000'], dp.compressor_argv(compression), w, tap=tap)
    assert tap.n == 300000 and tap.failed == []
    assert (gzip.decompress(w.data) if compression == 'gzip' else w.data) == _seq(300000)
    assert (n, digest) == (len(w.data), hashlib.sha256(w.data).hexdigest())


def test_a_tap_that_cannot_read_the_stream_is_turned_off_and_the_backup_goes_on():
    tap = _Lines(fail_at=1)
    w = _Writer()
    dp.stream_to_store(['seq', '1', '300000'], dp.compressor_argv('gzip'), w, tap=tap)
    assert gzip.decompress(w.data) == _seq(300000)
    assert len(tap.failed) == 1 and str(tap.failed[0]) == 'cannot read this stream'


@pytest.mark.parametrize('rcs, stage', [
    ([0, 0], None), ([0], None), ([-9, 0], 0), ([3, 0], 0), ([0, 1], 1),
    ([-13, 1], 1), ([2, -9], 1),    # the dump broke on the compressor's exit: the compressor is the cause
])
def test_failed_stage_is_the_cause(rcs, stage):
    assert dp.failed_stage(rcs) == stage


def test_stage_message():
    assert dp.stage_message('zstd', 1, 'bad') == 'zstd exited with code 1: bad'
    assert dp.stage_message('pg_dump', -15, '') == 'pg_dump was killed by signal 15: no error output'


def test_the_deadline_stops_a_running_pipeline_and_kills_it():
    started = []
    with pytest.raises(dp.DeadlineExceeded, match='the overall deadline of 1 s'):
        with dp.deadline(1):
            dp.stream_to_store(['sleep', '600'], None, _Writer(), on_start=started.append)
    assert started[0].returncode == -9


class _BackupError(Exception):
    pass


def _raise(exc):
    def run():
        raise exc
    return run


def test_bounded_turns_an_interruption_into_the_engine_error_saying_where():
    state = {'phase': 'check of the store', 'committed': None}
    with pytest.raises(_BackupError) as e:
        dp.bounded(_raise(dp.DeadlineExceeded('the overall deadline of 5 s (option timeout) expired')), 5, 'app',
                   state, _BackupError)
    assert str(e.value).startswith('Could not back up database "app": the overall deadline of 5 s (option timeout) '
                                   'expired during the check of the store. No backup was committed; retention did '
                                   'not run. Check the server and the store')
    state['committed'] = BID
    with pytest.raises(_BackupError) as e:
        dp.bounded(_raise(dp.Interrupted('interrupted by signal 15')), 0, 'app', state, _BackupError)
    assert str(e.value) == ('Backed up database "app" as %s, but interrupted by signal 15 during retention. The new '
                            'backup is valid; rerun to apply retention.' % BID)
    assert dp.bounded(lambda: 42, 0, 'app', state, _BackupError) == 42


class _RecordingStore(object):
    def __init__(self, store):
        self.store = store
        self.deleted = []

    def describe(self):
        return self.store.describe()

    def delete(self, keys):
        self.deleted.extend(keys)
        self.store.delete(keys)


@pytest.mark.parametrize('exc, says', [
    (dp.PipelineError('zstd exited with code 1: bad.'),
     'Could not back up database "app": zstd exited with code 1: bad. No backup was committed; retention did not run.'),
    (bs.StoreError('disk full'), 'Nothing was kept under a valid name'),
    (dp.Interrupted('interrupted by signal 15'), 'interrupted by signal 15. No backup was committed'),
    (dp.DeadlineExceeded('the overall deadline of 9 s (option timeout) expired'),
     'expired while the dump was written; it was stopped'),
])
def test_writing_removes_what_was_written_manifest_first(tmp_path, exc, says):
    store = bs.open_store({'store': str(tmp_path)})
    keys = [bs.backup_key(BID, 'data.dump.zst'), bs.backup_key(BID, bs.MANIFEST_NAME)]
    rec = _RecordingStore(store)
    written = []
    with pytest.raises(_BackupError) as e:
        with dp.writing(rec, written, 'app', _BackupError):
            for k in keys:
                store.put_bytes(k, b'x')
                written.append(k)
            raise exc
    assert says in str(e.value)
    assert rec.deleted == keys[::-1] and store.list_objects() == {}


def test_writing_lets_other_failures_through_after_cleaning_up(tmp_path):
    store = bs.open_store({'store': str(tmp_path)})
    written = [bs.backup_key(BID, 'data.dump.zst')]
    store.put_bytes(written[0], b'x')
    with pytest.raises(KeyError):
        with dp.writing(store, written, 'app', _BackupError):
            raise KeyError('a bug')
    assert store.list_objects() == {}


def test_compressor_argv_and_compress_bytes():
    assert dp.compressor_argv('zstd') == ['zstd', '-q', '-c', '-T2', '-1']
    assert dp.compressor_argv('gzip', 9) == ['gzip', '-c', '-9']
    assert dp.compressor_argv('none') is None
    assert gzip.decompress(dp.compress_bytes(b'grants', dp.compressor_argv('gzip'))) == b'grants'
    assert dp.compress_bytes(b'grants', None) == b'grants'
    with pytest.raises(dp.PipelineError, match='^false exited with code 1'):
        dp.compress_bytes(b'grants', ['false'])


def test_tool_version():
    v, text = dp.tool_version(PY, lambda out: out.split()[1] if out.startswith('Python') else None, 'Install it.')
    assert v == '%d.%d.%d' % sys.version_info[:3] and text.startswith('Python')
    with pytest.raises(dp.PipelineError, match=r'^Could not run /nonexistent/mariadb-dump: .*\. Install it\.$'):
        dp.tool_version('/nonexistent/mariadb-dump', str, 'Install it.')
    with pytest.raises(dp.PipelineError, match=r'^Could not read the version of .*\. Install it\.$'):
        dp.tool_version(PY, lambda out: None, 'Install it.')


def test_kill_reaps_running_and_finished_stages():
    procs = [subprocess.Popen(['sleep', '600']), subprocess.Popen(['true'])]
    procs[1].wait()
    dp.kill(procs)
    assert procs[0].returncode == -9 and procs[1].returncode == 0
