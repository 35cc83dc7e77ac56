# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``log`` check type of health_check: error lines within a time window, in a log file or a unit's journal.

Seed 002's daily check "Recent Errors: <10 in last hour" (``grep -i error /var/log/app.log | wc -l`` counts the
whole file): this counts only the lines whose timestamp falls in the last ``window_minutes``.

A log file is read backwards from its end, one block at a time, and reading stops at the first line older than
the window, so a multi-GB log costs what its last hour costs and memory stays bounded (one block, and one line
of at most ``MAX_LINE`` bytes).  Rotated parts (``app.log.1``, ``app.log.2.gz``, ``app.log-20261205``...) are read
newest first, only while the window reaches back into them: a part last written before the window starts is
never opened.  A line without a timestamp (a stack trace's continuation) belongs to the timestamped line above it.
A unit's journal is read with ``journalctl --since`` (the journal does the seeking).
"""

from __future__ import annotations

import datetime
import glob
import gzip
import os
import re
import shutil
import subprocess
import threading
import time

from ansible_collections.runbook.ops.plugins.module_utils import probe

DEFAULT_WINDOW_MINUTES = 60
# grep -i error, the seeds' way, plus the other words loggers use for failures
DEFAULT_PATTERNS = (r'(?i)\berror', r'(?i)\bfatal\b', r'(?i)\bpanic\b', r'^Traceback \(most recent call last\)')
BLOCK = 64 * 1024
MAX_LINE = 64 * 1024          # a longer line is cut (its head, where the timestamp is, is kept)
HEAD = 120                    # a timestamp is looked for in the first HEAD characters of a line
MONTHS = dict((m, i + 1) for i, m in enumerate(('Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep',
                                                'Oct', 'Nov', 'Dec')))

# The timestamps of common logs: ISO 8601 / RFC 3339 (apps, PM2 --time, journald short-iso, PostgreSQL),
# nginx's error log (2026/12/06 03:52:43), the common log format ([06/Dec/2026:03:52:43 +0000]) and syslog
# (Dec  6 03:52:43, no year).
_ISO = re.compile(r'(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:[.,](\d{1,9}))?\s?(Z|[+-]\d{2}:?\d{2}|UTC)?')
_SLASHED = re.compile(r'(\d{4})/(\d{2})/(\d{2}) (\d{2}):(\d{2}):(\d{2})')
_CLF = re.compile(r'\[(\d{2})/([A-Z][a-z]{2})/(\d{4}):(\d{2}):(\d{2}):(\d{2}) ([+-]\d{4})\]')
_SYSLOG = re.compile(r'^(?:<\d+>)?([A-Z][a-z]{2}) +(\d{1,2}) (\d{2}):(\d{2}):(\d{2})\b')


def _zone(text):
    if not text or text in ('Z', 'UTC'):
        return datetime.timezone.utc
    sign = -1 if text[0] == '-' else 1
    digits = text[1:].replace(':', '')
    return datetime.timezone(sign * datetime.timedelta(hours=int(digits[:2]), minutes=int(digits[2:4])))


def _local(naive):
    """A naive timestamp is the host's local time (what a logger without a zone writes)."""
    return naive.astimezone(datetime.timezone.utc)


def parse_timestamp(line, now=None, custom=None):
    """The UTC datetime at the head of ``line``, or None.  ``custom`` is ``(compiled regex, strptime format)``:
    the regex's first group is parsed with the format (a naive result is local time)."""
    head = line[:HEAD]
    try:
        if custom is not None:
            match = custom[0].search(head)
            if not match:
                return None
            value = datetime.datetime.strptime(match.group(1), custom[1])
            return value.astimezone(datetime.timezone.utc) if value.tzinfo else _local(value)
        match = _ISO.search(head)
        if match:
            y, mo, d, h, mi, s, frac, zone = match.groups()
            micro = int((frac or '0').ljust(6, '0')[:6])
            value = datetime.datetime(int(y), int(mo), int(d), int(h), int(mi), int(s), micro)
            if zone is None:
                return _local(value)
            return value.replace(tzinfo=_zone(zone)).astimezone(datetime.timezone.utc)
        match = _CLF.search(head)
        if match:
            d, mon, y, h, mi, s, zone = match.groups()
            value = datetime.datetime(int(y), MONTHS[mon], int(d), int(h), int(mi), int(s), tzinfo=_zone(zone))
            return value.astimezone(datetime.timezone.utc)
        match = _SLASHED.search(head)
        if match:
            return _local(datetime.datetime(*[int(g) for g in match.groups()]))
        match = _SYSLOG.search(head)
        if match and match.group(1) in MONTHS:
            now = now or datetime.datetime.now(datetime.timezone.utc)
            mon, d, h, mi, s = match.groups()
            value = _local(datetime.datetime(now.year, MONTHS[mon], int(d), int(h), int(mi), int(s)))
            if value - now > datetime.timedelta(days=1):   # December's lines read in January
                value = _local(datetime.datetime(now.year - 1, MONTHS[mon], int(d), int(h), int(mi), int(s)))
            return value
    except (ValueError, KeyError, OverflowError):
        return None
    return None


def reverse_lines(handle, block=BLOCK, max_line=MAX_LINE, counter=None):
    """The lines of a binary file object, last first, read ``block`` bytes at a time from the end."""
    handle.seek(0, os.SEEK_END)
    position = handle.tell()
    tail = b''
    while position > 0:
        step = min(block, position)
        position -= step
        handle.seek(position)
        chunk = handle.read(step)
        if counter is not None:
            counter['bytes_read'] += len(chunk)
        data = chunk + tail
        lines = data.split(b'\n')
        tail = lines.pop(0)
        if len(tail) > max_line:
            tail = tail[:max_line]
        yield from reversed(lines)
    yield tail


class Counter(object):
    """Counts the lines of the window and those matching the patterns, attributing lines without a
    timestamp to the timestamped line above them."""

    def __init__(self, start, patterns, now, custom=None):
        self.start = start
        self.patterns = patterns
        self.now = now
        self.custom = custom
        self.lines = 0
        self.errors = 0
        self.stamped = 0
        self.io = {'bytes_read': 0, 'files_read': 0}

    def matches(self, text):
        return any(p.search(text) for p in self.patterns)

    def backward(self, handle):
        """Count a plain file read from its end; True when a line older than the window was reached."""
        pending_lines = pending_errors = 0
        stamped = self.stamped
        for raw in reverse_lines(handle, counter=self.io):
            if not raw:
                continue
            text = raw.decode('utf-8', 'replace')
            stamp = parse_timestamp(text, self.now, self.custom)
            if stamp is None:
                pending_lines += 1
                pending_errors += 1 if self.matches(text) else 0
                continue
            self.stamped += 1
            if stamp < self.start:
                return True
            self.lines += 1 + pending_lines
            self.errors += (1 if self.matches(text) else 0) + pending_errors
            pending_lines = pending_errors = 0
        # lines above the file's first timestamp: the tail of an entry that began in an older part (in a file
        # without any timestamp nothing can be placed in the window, so nothing is counted: run() warns)
        if self.stamped > stamped:
            self.lines += pending_lines
            self.errors += pending_errors
        return False

    def forward(self, lines):
        """Count lines read first to last (a compressed part, the journal)."""
        inside = False
        for raw in lines:
            if isinstance(raw, bytes):
                self.io['bytes_read'] += len(raw)
                raw = raw.decode('utf-8', 'replace')
            text = raw.rstrip('\n')
            if not text:
                continue
            stamp = parse_timestamp(text, self.now, self.custom)
            if stamp is not None:
                self.stamped += 1
                inside = stamp >= self.start
            if inside:
                self.lines += 1
                self.errors += 1 if self.matches(text) else 0


def rotated_parts(path):
    """The rotated parts of ``path`` (``path.1``, ``path.2.gz``, ``path-20261205[.gz]``), newest first."""
    parts = set(glob.glob(glob.escape(path) + '.*') + glob.glob(glob.escape(path) + '-*'))
    parts.discard(path)
    found = []
    for part in parts:
        try:
            if os.path.isfile(part):
                found.append((os.stat(part).st_mtime, part))
        except OSError:
            continue
    return [p for dummy, p in sorted(found, reverse=True)]


def count_file(counter, path, deadline):
    if not os.path.exists(path):
        raise probe.ProbeError('Could not read the log %s: it does not exist. Check the path (or use unit for '
                               'a journal).' % path)
    start_epoch = counter.start.timestamp()
    for part in [path] + rotated_parts(path):
        probe.time_left(deadline)
        try:
            if part != path and os.stat(part).st_mtime < start_epoch:
                break                       # last written before the window: it and older parts are out
            counter.io['files_read'] += 1
            if part.endswith('.gz'):
                with gzip.open(part, 'rb') as handle:
                    counter.forward(handle)
                continue
            with open(part, 'rb') as handle:
                if counter.backward(handle):
                    break
        except (IOError, OSError, EOFError) as exc:
            raise probe.ProbeError('Could not read the log %s: %s. Check that the user running the check can '
                                   'read it.' % (part, exc))


def count_journal(counter, unit, deadline):
    journalctl = shutil.which('journalctl')
    if not journalctl:
        raise probe.ProbeError('Could not read the journal of %s: journalctl is not installed on this host.' % unit)
    argv = [journalctl, '--unit', unit, '--since', '@%d' % int(counter.start.timestamp()), '--output', 'short-iso',
            '--no-pager', '--quiet']
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    killer = threading.Timer(max(probe.time_left(deadline), 0.01), proc.kill)
    killer.daemon = True
    killer.start()
    try:
        counter.forward(proc.stdout)
        stderr = proc.stderr.read().decode('utf-8', 'replace').strip()
        rc = proc.wait()
    finally:
        killer.cancel()
    if time.monotonic() >= deadline:
        raise probe.ProbeTimeout()
    if rc != 0:
        raise probe.ProbeError('Could not read the journal of %s: journalctl exited %d: %s' % (unit, rc, stderr[-300:]))
    counter.io['files_read'] += 1


def compile_patterns(patterns, name):
    compiled = []
    for pattern in patterns:
        try:
            compiled.append(re.compile(pattern))
        except re.error as exc:
            raise probe.HealthConfigError("check '%s': pattern %r is not a valid regular expression: %s"
                                          % (name, pattern, exc))
    return compiled


def validate(check):
    name = check['name']
    if bool(check.get('path')) == bool(check.get('unit')):
        raise probe.HealthConfigError("check '%s': a log check reads either path (a log file) or unit (a systemd "
                                      "unit's journal): give exactly one" % name)
    window = check.get('window_minutes', DEFAULT_WINDOW_MINUTES)
    if window <= 0:
        raise probe.HealthConfigError("check '%s': window_minutes must be above 0, got %s" % (name, window))
    compile_patterns(check.get('patterns') or DEFAULT_PATTERNS, name)
    if bool(check.get('timestamp_pattern')) != bool(check.get('timestamp_format')):
        raise probe.HealthConfigError("check '%s': timestamp_pattern and timestamp_format go together" % name)
    if check.get('timestamp_pattern'):
        pattern = compile_patterns([check['timestamp_pattern']], name)[0]
        if pattern.groups < 1:
            raise probe.HealthConfigError("check '%s': timestamp_pattern needs a group around the timestamp" % name)


def run(check, now=None):
    deadline = time.monotonic() + check['timeout']
    now = now or datetime.datetime.now(datetime.timezone.utc)
    window = float(check.get('window_minutes', DEFAULT_WINDOW_MINUTES))
    custom = None
    if check.get('timestamp_pattern'):
        custom = (re.compile(check['timestamp_pattern']), check['timestamp_format'])
    counter = Counter(now - datetime.timedelta(minutes=window),
                      compile_patterns(check.get('patterns') or DEFAULT_PATTERNS, check['name']), now, custom)
    if check.get('unit'):
        count_journal(counter, check['unit'], deadline)
    else:
        count_file(counter, check['path'], deadline)
    result = probe.ProbeResult({
        'errors': counter.errors,
        'errors_per_hour': round(counter.errors * 60.0 / window, 2),
        'lines': counter.lines,
        'error_pct': probe.pct(counter.errors, counter.lines) if counter.lines else 0.0,
        'files_read': counter.io['files_read'],
        'bytes_read': counter.io['bytes_read'],
        'window_minutes': window,
    })
    if check.get('path') and counter.io['bytes_read'] and not counter.stamped:
        result.add(probe.WARNING, 'no line of %s has a timestamp this check can read: set timestamp_pattern and '
                                  'timestamp_format, or nothing is counted in the window' % check['path'])
    return result


PROBE_TYPE = probe.ProbeType(
    name='log', run=run,
    metrics={
        'errors': (probe.HIGHER, probe.levels(10, 50)),
        'errors_per_hour': (probe.HIGHER, None),
        'error_pct': (probe.HIGHER, None),
        'lines': (probe.HIGHER, None),
    },
    options=('path', 'unit', 'patterns', 'window_minutes', 'timestamp_pattern', 'timestamp_format'),
    suboptions={
        'path': dict(type='path'),
        'unit': dict(type='str'),
        'patterns': dict(type='list', elements='str'),
        'window_minutes': dict(type='float'),
        'timestamp_pattern': dict(type='str'),
        'timestamp_format': dict(type='str'),
    },
    validate=validate,
)
