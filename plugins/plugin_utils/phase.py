# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The rules of a phase record, controller side: the one owner of the record shape.

A procedure (the ``dr`` and ``maintenance`` roles) times its phases with the private role
``runbook.ops.phase``; every record it keeps has one shape::

    {'name': str, 'host': str, 'status': 'ok' | 'failed' | 'skipped',
     'started_at': '2026-01-31T02:00:00.000000Z', 'ended_at': '...', 'duration_s': float, 'detail': str}

Timestamps are ISO 8601 UTC with microseconds and ``Z``. ``detail`` is the step's summary (ok), the
reason (skipped) or ``<failed task>: <message>`` (failed). The filters in plugins/filter/phase.py are
thin wrappers; the DR rules (plugin_utils/dr.py) and the maintenance report read these records.

Every error is a :class:`PhaseError` whose message starts with the name of the filter that failed.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping

STATUSES = ('ok', 'failed', 'skipped')
TIME_FORMAT = '%Y-%m-%dT%H:%M:%S.%fZ'
FIELDS = ('name', 'host', 'status', 'started_at', 'ended_at', 'duration_s', 'detail')
# a failure message longer than this is cut (a loop's results or a stack trace must not swamp a report)
MESSAGE_LIMIT = 1000
_TIME_RE = re.compile(r'\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,6})?(?:Z|\+00:00)')


class PhaseError(ValueError):
    """Bad input to a phase rule; the message says what and what to do."""


def timestamp(dt=None):
    """``dt`` (default: now) as the record's time format, ISO 8601 UTC with microseconds and ``Z``."""
    if dt is None:
        dt = datetime.datetime.now(datetime.timezone.utc)
    if dt.tzinfo is None or dt.utcoffset() is None:
        raise PhaseError('phase_record: %r has no time zone: give an aware UTC datetime.' % (dt,))
    return dt.astimezone(datetime.timezone.utc).strftime(TIME_FORMAT)


def parse_time(value, what, who='phase_record'):
    """An aware UTC datetime from a record timestamp (``Z`` or ``+00:00``, optional fraction)."""
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise PhaseError('%s: %s %r has no time zone: record UTC.' % (who, what, value))
        return value.astimezone(datetime.timezone.utc)
    text = value.strip() if isinstance(value, str) else ''
    if not _TIME_RE.fullmatch(text):
        raise PhaseError("%s: %s %r is not an ISO 8601 UTC timestamp such as '2026-01-31T02:00:00.000000Z' "
                         "(call the begin entry point of runbook.ops.phase before end or fail)." % (who, what, value))
    return datetime.datetime.fromisoformat(text.replace('Z', '+00:00')).astimezone(datetime.timezone.utc)


def record(name, status, started_at, ended_at=None, detail='', host=None):
    """One phase record in the one shape; ``duration_s`` is measured here from the two timestamps.

    A skipped phase without ``ended_at`` ends when it starts; any other status needs both.
    """
    who = 'phase_record'
    if not isinstance(name, str) or not name.strip():
        raise PhaseError('%s: the phase has no name: pass phase_name.' % who)
    if status not in STATUSES:
        raise PhaseError('%s: phase %r has status %r: use one of %s.' % (who, name, status, ', '.join(STATUSES)))
    start = parse_time(started_at, 'phase %r started_at' % name, who)
    if ended_at in (None, '') and status == 'skipped':
        end = start
    else:
        end = parse_time(ended_at, 'phase %r ended_at' % name, who)
    if end < start:
        raise PhaseError('%s: phase %r ends (%s) before it starts (%s): use one clock (now(utc=true)).'
                         % (who, name, timestamp(end), timestamp(start)))
    return {
        'name': name, 'host': None if host in (None, '') else str(host), 'status': status,
        'started_at': timestamp(start), 'ended_at': timestamp(end),
        'duration_s': round((end - start).total_seconds(), 6),
        'detail': '' if detail is None else str(detail),
    }


def _cut(text, limit):
    text = str(text)
    if limit and len(text) > limit:
        return text[:max(limit - 3, 0)] + '...'
    return text


def failure_message(result, task_name='', limit=MESSAGE_LIMIT):
    """``<task>: <message>`` of a failed task; a loop names its first failed item's message.

    ``result`` is ``ansible_failed_result``: a loop's result says only "One or more items failed", so
    the message of the first item with ``failed: true`` is used (the loop's own message when no item
    says why). Cut to ``limit`` characters.
    """
    result = result if isinstance(result, Mapping) else {}
    msg = result.get('msg')
    items = result.get('results')
    if isinstance(items, (list, tuple)):
        first = next((i for i in items if isinstance(i, Mapping) and i.get('failed')), None)
        if first is not None and first.get('msg') not in (None, ''):
            msg = first.get('msg')
    if msg in (None, ''):
        msg = 'failed'
    name = '' if task_name is None else str(task_name).strip()
    return _cut('%s: %s' % (name, msg) if name else msg, limit)


def skip_reason(skip='', always=False, failed=None):
    """Why a phase is skipped, or ``''`` when it runs.

    The caller's own reason (``skip``) wins; otherwise a phase is skipped when an earlier phase of its
    scope failed (``failed``: their names), unless it is ``always`` run (a teardown, a report).
    """
    if skip not in (None, '') and str(skip).strip():
        return str(skip).strip()
    names = []
    for name in failed or []:
        if name not in names:
            names.append(name)
    if names and not always:
        return 'an earlier phase failed: %s' % ', '.join(str(n) for n in names)
    return ''


def check_records(records, who='phase_records'):
    """The records, each checked against the one shape (name, status, timestamps); a copy."""
    if records is None:
        return []
    if isinstance(records, (str, bytes, Mapping)) or not hasattr(records, '__iter__'):
        raise PhaseError('%s: phase records must be a list of dicts, got %s.' % (who, type(records).__name__))
    out = []
    for index, rec in enumerate(records):
        if not isinstance(rec, Mapping):
            raise PhaseError('%s: phase record #%d must be a dict with %s, got %r.'
                             % (who, index + 1, ', '.join(FIELDS), rec))
        name = rec.get('name')
        if not isinstance(name, str) or not name.strip():
            raise PhaseError('%s: phase record #%d has no name.' % (who, index + 1))
        if rec.get('status') not in STATUSES:
            raise PhaseError('%s: phase %r has status %r: use one of %s.'
                             % (who, name, rec.get('status'), ', '.join(STATUSES)))
        start = parse_time(rec.get('started_at'), 'phase %r started_at' % name, who)
        end = parse_time(rec.get('ended_at'), 'phase %r ended_at' % name, who)
        copy = dict(rec)
        if copy.get('duration_s') in (None, ''):
            copy['duration_s'] = round((end - start).total_seconds(), 6)
        copy['detail'] = '' if copy.get('detail') is None else str(copy['detail'])
        out.append(copy)
    return out
