# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Row counts from pg_dump's own custom-format stream (issue 16): the parser of the archive's table of contents and
data blocks, on synthetic archives built here byte by byte (the layout of pg_backup_archiver.c / _custom.c)."""
from __future__ import annotations

import pytest

from ansible_collections.runbook.ops.plugins.module_utils import pg_backup as pb

END = b'\\.\n\n\n'   # what pg_dump writes after the rows of a COPY block


def wint(v, size=4):
    return bytes([1 if v < 0 else 0]) + abs(v).to_bytes(size, 'little')


def wstr(s):
    if s is None:
        return wint(-1)
    b = s.encode('utf-8')
    return wint(len(b)) + b


def toc_entry(dump_id, desc, tag, ns, had_dumper, copy=None, version=14):
    out = wint(dump_id) + wint(1 if had_dumper else 0) + wstr('0') + wstr('0') + wstr(tag) + wstr(desc)
    out += wint(3) + wstr('') + wstr('') + wstr(copy) + wstr(ns) + wstr('') + wstr('heap')
    if version >= 16:
        out += wint(ord('r'))
    out += wstr('postgres') + wstr('false') + wstr('5') + wstr(None) + b'\x01' + b'\x00' * 8
    return out


def archive(tables, version=14, compression=0, blobs=None, chunk=3):
    """``tables``: [(schema, table, rows as list of bytes lines)]."""
    head = b'PGDMP' + bytes([1, version, 0, 4, 8, 1])
    head += bytes([compression]) if version >= 15 else wint(compression)
    head += b''.join(wint(x) for x in (1, 2, 3, 4, 5, 126, 0)) + wstr('db') + wstr('15.1') + wstr('15.1')
    entries = [toc_entry(1, 'ENCODING', 'ENCODING', None, False, version=version)]
    for i, (schema, table, _rows) in enumerate(tables):
        entries.append(toc_entry(10 + i, 'TABLE', table, schema, False, version=version))
        entries.append(toc_entry(100 + i, 'TABLE DATA', table, schema, True,
                                 copy='COPY %s.%s (v) FROM stdin;\n' % (schema, table), version=version))
    if blobs:
        entries.append(toc_entry(500, 'BLOBS', 'BLOBS', None, True, version=version))
    head += wint(len(entries)) + b''.join(entries)
    data = b''
    for i, (_s, _t, rows) in enumerate(tables):
        payload = b''.join(rows) + END
        data += b'\x01' + wint(100 + i)
        for j in range(0, len(payload), chunk):
            data += wint(len(payload[j:j + chunk])) + payload[j:j + chunk]
        data += wint(0)
    if blobs:
        data += b'\x03' + wint(500)
        for oid, content in blobs:
            data += wint(oid) + (wint(len(content)) + content if content else b'') + wint(0)
        data += wint(0)
    return head + data


TABLES = [('public', 'items', [b'1\tx\n', b'2\ta\\nb\n', b'3\t\\N\n']),
          ('public', 'empty', []),
          ("s'c\"h", 't"; DROP TABLE x; --', [b'\\\\n\n', b'\\r\\n\n'])]
EXPECT = {('public', 'items'): 3, ('public', 'empty'): 0, ("s'c\"h", 't"; DROP TABLE x; --'): 2}


@pytest.mark.parametrize('split', [1, 2, 5, 7, 64, 1 << 20])
def test_counts_rows_whatever_the_read_size(split):
    data = archive(TABLES)
    c = pb.CopyStreamCounter()
    for i in range(0, len(data), split):
        c.feed(data[i:i + split])
    assert c.result() == EXPECT


@pytest.mark.parametrize('version', [12, 13, 14, 15, 16])
def test_archive_versions(version):
    c = pb.CopyStreamCounter()
    c.feed(archive(TABLES, version=version, blobs=[(16385, b'a\nb\n\n'), (16386, b'')]))
    assert c.result() == EXPECT


def test_escaped_newlines_are_not_rows_and_chunk_boundaries_do_not_matter():
    rows = [b'%d\tline\\nbreak\\r\\n\n' % i for i in range(1000)]
    c = pb.CopyStreamCounter()
    c.feed(archive([('public', 't', rows)], chunk=13))
    assert c.result() == {('public', 't'): 1000}


@pytest.mark.parametrize('data, words', [
    (b'PGDMX' + b'\x00' * 40, 'not a pg_dump custom archive'),
    (archive(TABLES, version=17), 'archive version 1.17'),
    (archive(TABLES, version=11), 'archive version 1.11'),
    (archive(TABLES, compression=6), 'compressed'),
    (archive(TABLES, version=15, compression=1), 'compressed'),
])
def test_refuses_what_it_cannot_count(data, words):
    c = pb.CopyStreamCounter()
    with pytest.raises(pb.ArchiveFormatError, match=words):
        c.feed(data)
        c.result()


def test_truncated_stream_and_missing_terminator_are_errors():
    data = archive(TABLES)
    for cut in (10, len(data) - 3):
        c = pb.CopyStreamCounter()
        c.feed(data[:cut])
        with pytest.raises(pb.ArchiveFormatError, match='ended'):
            c.result()
    good = archive([('public', 't', [b'1\n'])], chunk=1 << 20)
    bad = good.replace(END, b'\\.\n\nX')
    assert bad != good
    c = pb.CopyStreamCounter()
    with pytest.raises(pb.ArchiveFormatError, match='end marker'):
        c.feed(bad)
        c.result()


def test_counts_as_manifest_entries_in_table_order():
    c = pb.CopyStreamCounter()
    c.feed(archive(TABLES))
    tables = [('public', 'empty', 0.0), ('public', 'items', 3.0), ('public', 'missing', 0.0)]
    with pytest.raises(pb.ArchiveFormatError, match='missing'):
        c.entries(tables)
    assert c.entries(tables[:2]) == [{'schema': 'public', 'table': 'empty', 'rows': 0},
                                     {'schema': 'public', 'table': 'items', 'rows': 3}]


class _Writer(object):
    def __init__(self):
        self.data = b''

    def write(self, block):
        self.data += block


@pytest.mark.parametrize('compression', ['zstd', 'gzip', 'none'])
def test_stream_to_store_counts_on_the_way_and_stores_the_same_bytes(tmp_path, compression):
    import gzip
    import shutil
    import subprocess
    if compression != 'none' and shutil.which(compression) is None:
        pytest.skip('%s is not installed' % compression)
    data = archive([('public', 't', [b'%d\n' % i for i in range(50000)])] + TABLES, chunk=4096)
    src = tmp_path / 'a.dump'
    src.write_bytes(data)
    c = pb.CopyStreamCounter()
    w = _Writer()
    size, _sha = pb.stream_to_store(['cat', str(src)], pb.compressor_argv(compression), None, w, {}, 'pg_dump',
                                    counter=c)
    assert size == len(w.data) and c.failed == []
    expect = dict(EXPECT)
    expect[('public', 't')] = 50000
    assert c.result() == expect
    if compression == 'gzip':
        assert gzip.decompress(w.data) == data
    elif compression == 'zstd':
        assert subprocess.run(['zstd', '-d', '-c'], input=w.data, capture_output=True, check=True).stdout == data
    else:
        assert w.data == data


def test_a_stream_the_counter_cannot_read_is_still_stored_whole(tmp_path):
    import gzip
    data = b'not an archive\n' * 100000
    src = tmp_path / 'x'
    src.write_bytes(data)
    c = pb.CopyStreamCounter()
    w = _Writer()
    pb.stream_to_store(['cat', str(src)], pb.compressor_argv('gzip'), None, w, {}, 'pg_dump', counter=c)
    assert gzip.decompress(w.data) == data
    assert len(c.failed) == 1 and 'not a pg_dump custom archive' in str(c.failed[0])


def test_unreadable_stream_falls_back_to_count_star_in_the_snapshot(monkeypatch):
    b = pb.PgBackup({'db': 'app', 'compression': 'zstd'})
    b.result = {}
    b.tables = [('public', 't', 0.0)]
    seen = []
    monkeypatch.setattr(pb, '_count_rows', lambda conn, tables, out: (seen.append(tables),
                                                                      out.append({'schema': 'public', 'table': 't',
                                                                                  'rows': 5})))
    c = pb.CopyStreamCounter()
    c.failed.append(pb.ArchiveFormatError('archive version 1.17 is not one read here'))
    b.stream_counts(c)
    assert seen == [b.tables] and b.counts == [{'schema': 'public', 'table': 't', 'rows': 5}]
    assert b.count_source == 'count(*)' and '1.17' in b.result['warnings'][0]

    ok = pb.PgBackup({'db': 'app', 'compression': 'zstd'})
    ok.result = {}
    ok.tables = [('public', 'items', 0.0)]
    good = pb.CopyStreamCounter()
    good.feed(archive(TABLES))
    ok.stream_counts(good)
    assert ok.counts == [{'schema': 'public', 'table': 'items', 'rows': 3}] and ok.count_source == 'pg_dump stream'
