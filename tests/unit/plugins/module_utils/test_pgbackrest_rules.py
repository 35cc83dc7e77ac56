# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""module_utils/pgbackrest: the PITR rules (targets, WAL continuity, reach, argv, config secrets) without servers."""
from __future__ import annotations

import datetime
import json
import os
import stat

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import pgbackrest as pb

UTC = datetime.timezone.utc


def t(*a):
    return datetime.datetime(*a, tzinfo=UTC)


@pytest.mark.parametrize('text,expected', [
    ('2026-01-31 14:05:00+00', t(2026, 1, 31, 14, 5)),
    ('2026-01-31T14:05:00Z', t(2026, 1, 31, 14, 5)),
    ('2026-01-31 14:05:00.25 UTC', t(2026, 1, 31, 14, 5, 0, 250000)),
    ('2026-01-31 16:05:00+02:00', t(2026, 1, 31, 14, 5)),
    ('2026-01-31 09:35:00-0430', t(2026, 1, 31, 14, 5)),
])
def test_target_time_needs_and_honours_a_zone(text, expected):
    assert pb.parse_target_time(text) == expected


@pytest.mark.parametrize('bad', ['2026-01-31 14:05:00', '31/01/2026 14:05', 'now', '', None, '2026-02-30 10:00:00Z',
                                 "2026-01-31 14:05:00+00'; DROP TABLE x; --", '2026-01-31 14:05:00+00\nx', '2026-01-31 24:05:00Z'])
def test_wrong_target_time_is_refused_with_the_format(bad):
    with pytest.raises(pb.PitrError) as e:
        pb.parse_target_time(bad)
    assert str(e.value).startswith('Could not read the target time')


@pytest.mark.parametrize('bad', ['', "it's", 'a\\b', 'x\ny', 'a' * 64, 'nul\x00'])
def test_restore_point_names_that_could_break_the_config_are_refused(bad):
    with pytest.raises(pb.PitrError):
        pb.normalize_target('name', bad)


def test_format_pg_time_is_utc_with_offset():
    assert pb.format_pg_time(t(2026, 1, 31, 14, 5, 0, 1)) == '2026-01-31 14:05:00.000001+00'


def test_next_segment_wraps_the_log_number():
    assert pb.next_segment('000000010000000000000009') == '00000001000000000000000A'
    assert pb.next_segment('0000000100000000000000FF') == '000000010000000100000000'
    with pytest.raises(ValueError):
        pb.next_segment('00000001000000000000000')


def test_contiguous_end_and_gap():
    segs = ['000000010000000000000003', '000000010000000000000004', '000000010000000000000006',
            '000000020000000000000007']
    end = ('000000010000000000000004', '000000010000000000000005')
    assert pb.contiguous_end(segs, '000000010000000000000003') == end
    assert pb.contiguous_end(segs[:2], '000000010000000000000003') == ('000000010000000000000004', None)
    assert pb.contiguous_end(segs, '000000010000000000000002') == (None, '000000010000000000000002')


WALDUMP = '''rmgr: Heap        len (rec/tot):     54/   154, tx:        735, lsn: 0/03000028, prev 0/02000110, desc: INSERT off 2
rmgr: Transaction len (rec/tot):     34/    34, tx:        735, lsn: 0/03000098, prev 0/03000028, desc: COMMIT 2026-01-31 14:04:59.123456 UTC
rmgr: XLOG        len (rec/tot):     98/    98, tx:          0, lsn: 0/030000C0, prev 0/03000098, desc: RESTORE_POINT before drop
rmgr: Transaction len (rec/tot):     34/    34, tx:        736, lsn: 0/03000128, prev 0/030000C0, desc: ABORT 2026-01-31 14:05:01 UTC
pg_waldump: error: error in WAL record at 0/3000150: invalid record length at 0/3000188: wanted 24, got 0
'''


def test_parse_waldump_reads_commits_aborts_and_restore_points():
    assert pb.parse_waldump(WALDUMP) == [('commit', t(2026, 1, 31, 14, 4, 59, 123456)),
                                         ('restore_point', 'before drop'), ('abort', t(2026, 1, 31, 14, 5, 1))]


def _info_doc(code=0, backups=True):
    b = [{'label': '20260131-140000F', 'type': 'full', 'timestamp': {'start': 1769868000, 'stop': 1769868009},
          'archive': {'start': '000000010000000000000003', 'stop': '000000010000000000000003'},
          'info': {'size': 100, 'repository': {'size': 10}}, 'error': False}] if backups else []
    return [{'name': 'main', 'status': {'code': code, 'message': 'ok' if code == 0 else 'other'},
             'db': [{'id': 1, 'version': '15'}], 'backup': b,
             'archive': [{'id': '15-1', 'min': '000000010000000000000001', 'max': '000000010000000000000009',
                          'database': {'id': 1}}],
             'repo': [{'key': 1, 'status': {'code': code,
                                            'message': 'ok' if code == 0 else 'HostConnectError: refused'}}]}]


def test_parse_info_summarises_backups_archive_and_age():
    now = datetime.datetime.fromtimestamp(1769868009 + 3600, UTC)
    info = pb.parse_info(_info_doc(), 'main', now=now)
    assert info['newest_backup'] == '20260131-140000F' and info['newest_backup_age_s'] == 3600.0
    assert (info['archive_id'], info['archive_min_wal'], info['archive_max_wal']) == (
        '15-1', '000000010000000000000001', '000000010000000000000009')
    assert info['backups'][0]['stop'] == '2026-01-31T14:00:09.000000Z' and info['pg_version'] == '15'
    assert pb.parse_info(_info_doc(backups=False), 'main')['newest_backup_age_s'] is None
    assert pb.parse_info(_info_doc(code=99), 'main')['repo_errors'] == ['HostConnectError: refused']
    with pytest.raises(pb.PitrError):
        pb.parse_info(_info_doc(), 'other')


def _backups():
    def mk(label, stop, wal, err=False):
        return {'label': label, 'stop': stop, 'wal_start': wal, 'wal_stop': wal, 'error': err}
    return [mk('A', '2026-01-30T00:00:00.000000Z', '000000010000000000000002'),
            mk('B', '2026-01-31T00:00:00.000000Z', '000000010000000000000005'),
            mk('C', '2026-01-31T12:00:00.000000Z', '000000010000000000000008', err=True)]


def test_choose_backup_ended_before_the_time_and_valid():
    assert pb.choose_backup(_backups(), 'time', t(2026, 1, 30, 12))['label'] == 'A'
    assert pb.choose_backup(_backups(), 'time', t(2026, 2, 1))['label'] == 'B'   # C has an error
    assert pb.choose_backup(_backups(), 'latest', None)['label'] == 'B'
    with pytest.raises(pb.PitrError) as e:
        pb.choose_backup(_backups(), 'time', t(2026, 1, 1))
    assert 'ended before' in str(e.value)


def test_judge_reach():
    target = t(2026, 1, 31, 14, 5)
    assert pb.judge_reach('time', target, t(2026, 1, 31, 14, 5, 1), False, None, 'S') is None
    same = pb.judge_reach('time', target, target, False, None, 'S')     # a commit AT the target is not past it
    assert 'reaches only to 2026-01-31T14:05:00' in same and 'Nothing was touched' in same
    gap = pb.judge_reach('time', target, t(2026, 1, 31, 14), False, 'G', 'S')
    assert 'segment G is missing' in gap
    assert 'no commit at all' in pb.judge_reach('time', target, None, False, None, 'S')
    assert pb.judge_reach('name', 'rp', None, True, None, 'S') is None
    assert "'rp'" in pb.judge_reach('name', 'rp', None, False, None, 'S')
    assert pb.judge_reach('latest', None, target, False, None, 'S') is None
    assert 'gap' in pb.judge_reach('latest', None, target, False, 'G', 'S')


def test_rpo_seconds():
    assert pb.rpo_seconds(t(2026, 1, 1, 0, 0, 10), t(2026, 1, 1, 0, 0, 9, 500000)) == 0.5
    assert pb.rpo_seconds(t(2026, 1, 1), t(2026, 1, 1, 0, 0, 1)) == 0.0
    assert pb.rpo_seconds(None, t(2026, 1, 1)) is None and pb.rpo_seconds(t(2026, 1, 1), None) is None


PARAMS = dict(stanza='main', config=None, repo_type='s3', repo_path='/pgbr', s3_bucket='bkt', s3_endpoint='s3.local',
              s3_port=443, s3_region='us-east-1', s3_uri_style='path', s3_key='AKID', s3_key_secret='TOPSECRET',
              s3_ca_file='/ca.pem', s3_verify_tls=True, repo_cipher_pass='CIPHERPW', run_as='postgres',
              pgbackrest_bin='pgbackrest')


class FakeRunner(object):
    def __init__(self, answers):
        self.answers = answers
        self.calls = []

    def __call__(self, argv, **kw):
        self.calls.append((argv, kw))
        for key, answer in self.answers.items():
            if key in argv:
                return answer
        return 0, '', ''


def test_secrets_go_to_a_0600_config_never_to_argv():
    doc = json.dumps(_info_doc())
    runner = FakeRunner({'info': (0, doc, '')})
    with pb.PgBackRest(PARAMS, runner) as cli:
        cfg = cli.config
        mode = stat.S_IMODE(os.stat(cfg).st_mode)
        with open(cfg) as f:
            text = f.read()
        cli.info()
    assert mode == 0o600
    assert 'repo1-s3-key-secret=TOPSECRET' in text and 'repo1-cipher-pass=CIPHERPW' in text
    assert 'repo1-storage-ca-file=/ca.pem' in text and 'repo1-s3-uri-style=path' in text
    assert not os.path.exists(cfg)                  # removed afterwards
    argv = runner.calls[0][0]
    assert not any('TOPSECRET' in a or 'CIPHERPW' in a for a in argv)
    tail = argv[argv.index('pgbackrest'):]
    assert tail == ['pgbackrest', '--config=' + cfg, '--stanza=main', '--output=json', 'info']


def test_a_line_break_in_an_option_is_refused():
    with pytest.raises(pb.PitrError):
        pb.config_text(dict(PARAMS, s3_bucket='b\n[evil]'), 'main', '/tmp/x')


def test_an_unreadable_repository_is_an_error_in_the_modules():
    runner = FakeRunner({'info': (0, json.dumps(_info_doc(code=99)), '')})
    with pb.PgBackRest(PARAMS, runner) as cli:
        with pytest.raises(pb.PitrError) as e:
            cli.info()
    assert 'HostConnectError' in str(e.value) and 'TOPSECRET' not in str(e.value)


def test_restore_refuses_a_bad_target_and_a_non_empty_dir_before_running_anything(tmp_path):
    runner = FakeRunner({})
    with pytest.raises(pb.PitrError):
        pb.restore(dict(PARAMS, target_type='time', target='yesterday', data_dir=str(tmp_path / 'new')), runner)
    (tmp_path / 'live').mkdir()
    (tmp_path / 'live' / 'PG_VERSION').write_text('15')
    with pytest.raises(pb.PitrError) as e:
        pb.restore(dict(PARAMS, target_type='latest', target=None, data_dir=str(tmp_path / 'live')), runner)
    assert 'not empty' in str(e.value)
    assert runner.calls == []


class FakeCli(object):
    def __init__(self, segments, events):
        self.segments = segments
        self.events = events
        self.read = []

    def archive_segments(self, archive_id):
        return dict((s, 'archive/main/15-1/%s/%s-abc.zst' % (s[:16], s)) for s in self.segments)

    def segment_events(self, seg, path, bindir, rmgrs=()):
        self.read.append(seg)
        return self.events.get(seg, [])


def test_check_reach_reads_the_newest_segments_first_and_stops_at_a_commit():
    info = {'archive_id': '15-1', 'backups': [{'label': 'B', 'stop': '2026-01-31T00:00:00.000000Z',
                                               'wal_start': '000000010000000000000005',
                                               'wal_stop': '000000010000000000000005', 'error': False}]}
    segs = ['00000001000000000000000%d' % i for i in range(5, 9)]
    cli = FakeCli(segs, {'000000010000000000000007': [('commit', t(2026, 1, 31, 14, 6))]})
    plan = pb.check_reach(cli, info, 'time', t(2026, 1, 31, 14, 5), '/bin')
    assert plan['wal_end'] == '000000010000000000000008' and plan['wal_gap'] is None
    assert plan['archive_reaches'] == '2026-01-31T14:06:00.000000Z'
    assert cli.read == ['000000010000000000000008', '000000010000000000000007']
    gap = FakeCli([s for s in segs if not s.endswith('6')], cli.events)
    with pytest.raises(pb.PitrError) as e:
        pb.check_reach(gap, info, 'time', t(2026, 1, 31, 14, 5), '/bin')
    assert '000000010000000000000006 is missing' in str(e.value)


def test_segment_events_streams_the_segment_and_filters_records():
    seg = '000000010000000000000007'
    path = 'archive/main/15-1/0000000100000000/%s-ab12.zst' % seg
    piped = []

    def pipe(stages, out_path):
        piped.append((stages, out_path))
        with open(out_path, 'wb') as f:
            f.write(b'walbytes')
        return None
    runner = FakeRunner({'--rmgr=Transaction': (0, WALDUMP, '')})
    with pb.PgBackRest(PARAMS, runner, pipe=pipe) as cli:
        events = cli.segment_events(seg, path, '/pg/bin', ('Transaction',))
        workdir = cli.workdir
    assert events[0] == ('commit', t(2026, 1, 31, 14, 4, 59, 123456))
    (get, unz), out_path = piped[0]
    assert get[-2:] == ['repo-get', path] and unz == ['zstd', '-d', '-q', '-c']
    assert out_path == os.path.join(workdir, seg)
    (dump, dump_kw), = runner.calls
    assert dump == ['/pg/bin/pg_waldump', '--rmgr=Transaction', out_path]
    assert dump_kw == {'environ_update': {'TZ': 'UTC'}}
    assert not os.path.exists(workdir)


def test_segment_events_reports_a_failing_stage():
    with pb.PgBackRest(PARAMS, FakeRunner({}), pipe=lambda stages, out: 'pgbackrest repo-get exited 39: refused') as cli:
        with pytest.raises(pb.PitrError) as e:
            cli.segment_events('000000010000000000000007', 'a/000000010000000000000007-x.zst', '/b')
    assert 'exited 39: refused' in str(e.value)


def test_run_pipeline_checks_every_stage(tmp_path):
    out = str(tmp_path / 'out')
    assert pb.run_pipeline([['printf', 'abc'], ['tr', 'a-c', 'A-C']], out) is None
    with open(out) as f:
        assert f.read() == 'ABC'
    failure = pb.run_pipeline([['sh', '-c', 'echo ERROR: gone >&2; exit 3'], ['cat']], out)
    assert failure == 'sh exited 3: ERROR: gone'
    assert 'no-such-tool' in pb.run_pipeline([['no-such-tool']], out)
