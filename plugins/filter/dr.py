# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters that turn the phases and measurements of a DR rehearsal into reports.

``dr_report`` builds one report dict (the JSON report) from the recorded phases, the RTO/RPO
objectives per component and the measurements; ``dr_junit``, ``dr_html`` and ``dr_markdown``
render that dict for CI, for people, and for the end of a playbook run.
"""

from __future__ import annotations

import datetime
import html
import math
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping

from ansible.errors import AnsibleFilterError

_UNITS = {'w': 604800.0, 'd': 86400.0, 'h': 3600.0, 'm': 60.0, 's': 1.0}
_PART_RE = re.compile(r'\s*([0-9]+(?:\.[0-9]+)?)\s*([wdhms])', re.IGNORECASE)
_NUMBER_RE = re.compile(r'^\s*[0-9]+(?:\.[0-9]+)?\s*$')
_STATUSES = ('ok', 'failed', 'skipped')
_OBJECTIVE_KEYS = ('rto', 'rpo', 'priority', 'description')
_MEASUREMENT_KEYS = ('rto_s', 'rpo_s')
# Characters XML 1.0 cannot carry at all, even escaped.
_XML_BAD_RE = re.compile('[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]')
_CONTROL_RE = re.compile('[\x00-\x1f\x7f]')
_HINT = "use a number of seconds or a duration such as '4h', '30m', '90s', '1h30m', '7d'"


def _fail(msg):
    raise AnsibleFilterError(msg)


# ---------------------------------------------------------------------------------------------
# durations

def duration_seconds(value):
    """Seconds (float) from ``4h``, ``30m``, ``90s``, ``1h30m``, ``7d``, ``2w`` or a number.

    ``None`` and ``''`` give ``None`` (no objective / not measured).
    """
    if value is None:
        return None
    if isinstance(value, bool):
        _fail('duration_seconds: %r is not a duration: %s.' % (value, _HINT))
    if isinstance(value, (int, float)):
        seconds = float(value)
    elif isinstance(value, str):
        text = value.strip()
        if not text:
            return None
        if _NUMBER_RE.match(text):
            seconds = float(text)
        else:
            seconds = 0.0
            seen = set()
            pos = 0
            for m in _PART_RE.finditer(text):
                unit = m.group(2).lower()
                if m.start() != pos or unit in seen:
                    break
                seen.add(unit)
                seconds += float(m.group(1)) * _UNITS[unit]
                pos = m.end()
            if not seen or pos != len(text):
                _fail('duration_seconds: cannot parse %r as a duration: %s (each unit once).'
                      % (value, _HINT))
    else:
        _fail('duration_seconds: %r (%s) is not a duration: %s.' % (value, type(value).__name__, _HINT))
    if math.isnan(seconds) or math.isinf(seconds):
        _fail('duration_seconds: %r is not a finite duration: %s.' % (value, _HINT))
    if seconds < 0:
        _fail('duration_seconds: %r is negative: a duration must be zero or more seconds.' % (value,))
    return seconds


def human_duration(seconds):
    """``1h 02m 03s``, ``2m 05s``, ``4.2s``, ``4h`` (trailing zero parts dropped); ``n/a`` for None."""
    if seconds is None:
        return 'n/a'
    seconds = float(seconds)
    if round(seconds, 1) < 60:
        text = '%.1f' % seconds
        if text.endswith('.0'):
            text = text[:-2]
        return text + 's'
    rest = int(round(seconds))
    parts = []
    for unit, size in (('d', 86400), ('h', 3600), ('m', 60), ('s', 1)):
        n, rest = divmod(rest, size)
        if parts or n:
            parts.append((n, unit))
    while parts and parts[-1][0] == 0:
        parts.pop()
    return ' '.join(('%d%s' % (n, u)) if i == 0 else ('%02d%s' % (n, u))
                    for i, (n, u) in enumerate(parts))


# ---------------------------------------------------------------------------------------------
# timestamps

def _parse_time(value, what):
    if isinstance(value, datetime.datetime):
        dt = value
    elif isinstance(value, str) and value.strip():
        text = value.strip()
        if text[-1:] in ('Z', 'z'):
            text = text[:-1] + '+00:00'
        try:
            dt = datetime.datetime.fromisoformat(text)
        except ValueError:
            _fail("dr_report: %s %r is not an ISO 8601 timestamp: use UTC such as "
                  "'2026-01-31T02:00:00Z'." % (what, value))
    else:
        _fail("dr_report: %s is missing or not a timestamp (%r): use ISO 8601 UTC such as "
              "'2026-01-31T02:00:00Z'." % (what, value))
    if dt.tzinfo is None or dt.utcoffset() is None:
        _fail("dr_report: %s %r has no time zone: record UTC with 'Z' or '+00:00' "
              "(for example now(utc=true).isoformat() ~ 'Z')." % (what, str(value)))
    return dt.astimezone(datetime.timezone.utc)


def _format_time(dt):
    if dt is None:
        return None
    text = dt.strftime('%Y-%m-%dT%H:%M:%S')
    if dt.microsecond:
        text += ('.%06d' % dt.microsecond).rstrip('0')
    return text + 'Z'


# ---------------------------------------------------------------------------------------------
# the report

def _phases(phases):
    if phases is None:
        return []
    if isinstance(phases, (str, bytes, Mapping)) or not hasattr(phases, '__iter__'):
        _fail('dr_report: phases must be a list of phase dicts, got %s.' % type(phases).__name__)
    out = []
    for index, phase in enumerate(phases):
        if not isinstance(phase, Mapping):
            _fail('dr_report: phase #%d must be a dict with name, started_at, ended_at and status, got %r.'
                  % (index + 1, phase))
        name = phase.get('name')
        if not isinstance(name, str) or not name.strip():
            _fail('dr_report: phase #%d has no name.' % (index + 1))
        label = 'phase %r' % name
        status = phase.get('status')
        if status not in _STATUSES:
            _fail('dr_report: %s has status %r: use one of %s.' % (label, status, ', '.join(_STATUSES)))
        started = _parse_time(phase.get('started_at'), '%s started_at' % label)
        if status == 'skipped' and phase.get('ended_at') in (None, ''):
            ended = started
        else:
            ended = _parse_time(phase.get('ended_at'), '%s ended_at' % label)
        if ended < started:
            _fail('dr_report: %s ends (%s) before it starts (%s).'
                  % (label, _format_time(ended), _format_time(started)))
        detail = phase.get('detail')
        host = phase.get('host')
        out.append({'index': index, 'name': name, 'status': status, '_start': started, '_end': ended,
                    'detail': '' if detail is None else str(detail),
                    'host': None if host in (None, '') else str(host)})
    out.sort(key=lambda p: (p['_start'], p['index']))
    return out


def _duration_field(value, what):
    try:
        return duration_seconds(value)
    except AnsibleFilterError as e:
        _fail('dr_report: %s: %s' % (what, str(e).split(': ', 1)[-1]))


def _objectives(objectives):
    if objectives is None:
        return {}
    if not isinstance(objectives, Mapping):
        _fail('dr_report: objectives must be a dict {component: {rto: ..., rpo: ...}}, got %s.'
              % type(objectives).__name__)
    out = {}
    for comp, obj in objectives.items():
        if not isinstance(obj, Mapping):
            _fail('dr_report: objectives for %r must be a dict with rto and rpo, got %r.' % (comp, obj))
        unknown = sorted(str(k) for k in obj if k not in _OBJECTIVE_KEYS)
        if unknown:
            _fail('dr_report: objectives for %r have unknown keys %s: use %s.'
                  % (comp, ', '.join(unknown), ', '.join(_OBJECTIVE_KEYS)))
        if 'rto' not in obj:
            _fail('dr_report: objectives for %r have no rto: give a duration, or null for no objective.'
                  % (comp,))
        out[str(comp)] = {
            'rto': _duration_field(obj.get('rto'), 'objectives %s rto' % comp),
            'rpo': _duration_field(obj.get('rpo'), 'objectives %s rpo' % comp),
            'priority': obj.get('priority'),
        }
    return out


def _measurements(measurements):
    if measurements is None:
        return {}
    if not isinstance(measurements, Mapping):
        _fail('dr_report: measurements must be a dict {component: {rto_s: ..., rpo_s: ...}}, got %s.'
              % type(measurements).__name__)
    out = {}
    for comp, meas in measurements.items():
        if meas is None:
            meas = {}
        if not isinstance(meas, Mapping):
            _fail('dr_report: measurements for %r must be a dict with rto_s and rpo_s, got %r.' % (comp, meas))
        unknown = sorted(str(k) for k in meas if k not in _MEASUREMENT_KEYS)
        if unknown:
            _fail('dr_report: measurements for %r have unknown keys %s: use %s.'
                  % (comp, ', '.join(unknown), ', '.join(_MEASUREMENT_KEYS)))
        out[str(comp)] = {
            'rto': _duration_field(meas.get('rto_s'), 'measurements %s rto_s' % comp),
            'rpo': _duration_field(meas.get('rpo_s'), 'measurements %s rpo_s' % comp),
        }
    return out


def _verdict(comp, kind, objective, measured):
    """(met, miss message or None)."""
    if objective is None:
        return None, None
    if measured is None:
        return False, '%s %s not measured (objective %s)' % (comp, kind, human_duration(objective))
    if measured <= objective:
        return True, None
    shown = human_duration(measured)
    if shown == human_duration(objective):
        shown = '%s (%gs)' % (shown, measured)
    return False, '%s %s %s > %s' % (comp, kind, shown, human_duration(objective))


def dr_report(phases, objectives, measurements, meta=None):
    """One DR report dict from phases, objectives and measurements (see the sidecar docs)."""
    if meta is not None and not isinstance(meta, Mapping):
        _fail('dr_report: meta must be a dict, got %s.' % type(meta).__name__)
    plist = _phases(phases)
    objs = _objectives(objectives)
    meas = _measurements(measurements)

    start = min((p['_start'] for p in plist), default=None)
    end = max((p['_end'] for p in plist), default=None)
    out_phases = []
    for p in plist:
        out_phases.append({
            'name': p['name'], 'status': p['status'],
            'started_at': _format_time(p['_start']), 'ended_at': _format_time(p['_end']),
            'duration_s': (p['_end'] - p['_start']).total_seconds(),
            'offset_s': (p['_start'] - start).total_seconds(),
            'detail': p['detail'], 'host': p['host'],
        })

    components = []
    missed = []
    for comp in list(objs) + [c for c in meas if c not in objs]:
        obj = objs.get(comp, {'rto': None, 'rpo': None, 'priority': None})
        m = meas.get(comp, {'rto': None, 'rpo': None})
        rto_met, rto_miss = _verdict(comp, 'RTO', obj['rto'], m['rto'])
        rpo_met, rpo_miss = _verdict(comp, 'RPO', obj['rpo'], m['rpo'])
        missed += [msg for msg in (rto_miss, rpo_miss) if msg]
        components.append({
            'name': comp, 'priority': obj['priority'],
            'rto_objective_s': obj['rto'], 'rto_s': m['rto'], 'rto_met': rto_met,
            'rpo_objective_s': obj['rpo'], 'rpo_s': m['rpo'], 'rpo_met': rpo_met,
            'ok': rto_met is not False and rpo_met is not False,
        })

    failed = [p['name'] for p in out_phases if p['status'] == 'failed']
    return {
        'started_at': _format_time(start), 'ended_at': _format_time(end),
        'total_s': (end - start).total_seconds() if start is not None else 0.0,
        'ok': not failed and not missed,
        'phases': out_phases, 'components': components,
        'failed_phases': failed, 'missed_objectives': missed,
        'meta': dict(meta or {}),
    }


def _check_report(report, who):
    if not isinstance(report, Mapping) or 'phases' not in report or 'components' not in report:
        _fail('%s: the input must be the output of runbook.ops.dr_report, got %s.'
              % (who, type(report).__name__))


# ---------------------------------------------------------------------------------------------
# JUnit

def _x(value):
    return _XML_BAD_RE.sub('\ufffd', '' if value is None else str(value))


def _secs(value):
    return '%.3f' % float(value or 0)


def _objective_cases(report):
    """(name, measured, objective, met, message) per component objective that is set."""
    cases = []
    for c in report.get('components') or []:
        for kind, key in (('RTO', 'rto'), ('RPO', 'rpo')):
            objective = c.get('%s_objective_s' % key)
            if objective is None:
                continue
            measured = c.get('%s_s' % key)
            met = c.get('%s_met' % key)
            if measured is None:
                msg = '%s not measured (objective %s)' % (kind, human_duration(objective))
            else:
                msg = '%s %s %s objective %s' % (kind, human_duration(measured), '<=' if met else '>',
                                                 human_duration(objective))
            cases.append(('%s %s' % (c.get('name'), kind), measured, objective, met, msg))
    return cases


def dr_junit(report, suite='dr-rehearsal'):
    """JUnit XML: one testcase per phase and one per component objective."""
    _check_report(report, 'dr_junit')
    cases = []
    counts = {'tests': 0, 'failures': 0, 'skipped': 0}
    for p in report.get('phases') or []:
        tc = ET.Element('testcase', {'classname': 'dr.phases', 'name': _x(p.get('name')),
                                     'time': _secs(p.get('duration_s'))})
        detail = p.get('detail') or ''
        host = p.get('host')
        if p.get('status') == 'failed':
            f = ET.SubElement(tc, 'failure', {'message': _x(detail or 'phase failed'), 'type': 'failed'})
            f.text = _x(detail or 'phase failed')
            counts['failures'] += 1
        elif p.get('status') == 'skipped':
            ET.SubElement(tc, 'skipped', {'message': _x(detail or 'phase skipped')})
            counts['skipped'] += 1
        out = ['host: %s' % host] if host else []
        out += ['started_at: %s' % p.get('started_at'), 'ended_at: %s' % p.get('ended_at')]
        if detail:
            out.append(detail)
        ET.SubElement(tc, 'system-out').text = _x('\n'.join(out))
        counts['tests'] += 1
        cases.append(tc)
    for name, measured, objective, met, msg in _objective_cases(report):
        tc = ET.Element('testcase', {'classname': 'dr.objectives', 'name': _x(name), 'time': '0.000'})
        if not met:
            f = ET.SubElement(tc, 'failure', {'message': _x(msg), 'type': 'objective_missed'})
            f.text = _x('%s: %s, objective %gs' % (
                name, 'not measured' if measured is None else 'measured %gs' % measured, objective))
            counts['failures'] += 1
        else:
            ET.SubElement(tc, 'system-out').text = _x(msg)
        counts['tests'] += 1
        cases.append(tc)

    attrs = {'name': _x(suite), 'tests': str(counts['tests']), 'failures': str(counts['failures']),
             'errors': '0', 'skipped': str(counts['skipped']), 'time': _secs(report.get('total_s'))}
    root = ET.Element('testsuites', dict(attrs))
    ts_attrs = dict(attrs)
    if report.get('started_at'):
        # JUnit's timestamp has no zone designator; the report's times are UTC.
        ts_attrs['timestamp'] = str(report['started_at']).rstrip('Z')
    ts = ET.SubElement(root, 'testsuite', ts_attrs)
    meta = report.get('meta') or {}
    if meta:
        props = ET.SubElement(ts, 'properties')
        for key in meta:
            ET.SubElement(props, 'property', {'name': _x(key), 'value': _x(meta[key])})
    ts.extend(cases)
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding='unicode') + '\n'


# ---------------------------------------------------------------------------------------------
# HTML

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:2em;color:#1f2328;background:#fff}
h1{margin:0 0 .3em}h2{margin-top:1.6em}
.verdict{display:inline-block;padding:.25em .8em;border-radius:4px;color:#fff;font-weight:bold}
.pass{background:#1a7f37}.fail{background:#cf222e}
table{border-collapse:collapse;margin-top:.5em}
th,td{border:1px solid #d0d7de;padding:.35em .7em;text-align:left;vertical-align:top}
th{background:#f6f8fa}
td.met{background:#dafbe1;color:#116329;font-weight:bold}
td.missed{background:#ffebe9;color:#a40e26;font-weight:bold}
td.na{color:#6e7781}
.meta{color:#57606a}
ul.missed li{color:#a40e26}
.timeline{margin-top:.8em;max-width:1100px}
.row{display:flex;align-items:center;margin:4px 0}
.label{width:230px;flex:none;padding-right:10px;font-size:.9em;overflow-wrap:anywhere}
.label small{color:#57606a}
.track{position:relative;flex:1;height:22px;background:#f6f8fa;border:1px solid #d0d7de}
.bar{position:absolute;top:0;bottom:0;min-width:2px}
.bar.ok{background:#2da44e}.bar.failed{background:#cf222e}.bar.skipped{background:#afb8c1}
.dur{width:110px;flex:none;padding-left:10px;font-size:.85em;font-variant-numeric:tabular-nums}
.axis{display:flex;justify-content:space-between;margin-left:230px;margin-right:120px;color:#57606a;
font-size:.8em}
.legend span{display:inline-block;width:12px;height:12px;margin:0 4px 0 12px;vertical-align:middle}
"""


def _e(value):
    return html.escape('' if value is None else str(value), quote=True)


def _met_cell(met):
    if met is None:
        return '<td class="na">N/A</td>'
    if met:
        return '<td class="met">met</td>'
    return '<td class="missed">missed</td>'


def _obj_text(value):
    return 'N/A' if value is None else human_duration(value)


def _measured_text(objective, measured):
    if measured is None:
        return 'not measured' if objective is not None else 'n/a'
    return human_duration(measured)


def dr_html(report, title='DR rehearsal'):
    """A self-contained HTML page: verdict, RTO/RPO table and a timeline of the phases."""
    _check_report(report, 'dr_html')
    ok = bool(report.get('ok'))
    total = float(report.get('total_s') or 0)
    out = ['<!DOCTYPE html>', '<html lang="en">', '<head>', '<meta charset="utf-8">',
           '<meta name="viewport" content="width=device-width, initial-scale=1">',
           '<title>%s: %s</title>' % (_e(title), 'PASSED' if ok else 'FAILED'),
           '<style>%s</style>' % _CSS, '</head>', '<body>',
           '<h1>%s <span class="verdict %s">%s</span></h1>'
           % (_e(title), 'pass' if ok else 'fail', 'PASSED' if ok else 'FAILED'),
           '<p class="meta">Started %s, ended %s, total %s.</p>'
           % (_e(report.get('started_at') or 'n/a'), _e(report.get('ended_at') or 'n/a'),
              _e(human_duration(total)))]
    meta = report.get('meta') or {}
    if meta:
        out.append('<table class="meta-table">')
        for key in meta:
            out.append('<tr><th>%s</th><td>%s</td></tr>' % (_e(key), _e(meta[key])))
        out.append('</table>')
    failed = report.get('failed_phases') or []
    missed = report.get('missed_objectives') or []
    if failed or missed:
        out.append('<ul class="missed">')
        out += ['<li>phase failed: %s</li>' % _e(n) for n in failed]
        out += ['<li>objective missed: %s</li>' % _e(m) for m in missed]
        out.append('</ul>')

    out += ['<h2>Recovery objectives</h2>']
    comps = report.get('components') or []
    if comps:
        out += ['<table class="objectives">',
                '<tr><th>component</th><th>RTO objective</th><th>RTO measured</th><th>RTO</th>'
                '<th>RPO objective</th><th>RPO measured</th><th>RPO</th></tr>']
        for c in comps:
            out.append('<tr><td>%s</td><td>%s</td><td>%s</td>%s<td>%s</td><td>%s</td>%s</tr>' % (
                _e(c.get('name')),
                _e(_obj_text(c.get('rto_objective_s'))),
                _e(_measured_text(c.get('rto_objective_s'), c.get('rto_s'))), _met_cell(c.get('rto_met')),
                _e(_obj_text(c.get('rpo_objective_s'))),
                _e(_measured_text(c.get('rpo_objective_s'), c.get('rpo_s'))), _met_cell(c.get('rpo_met'))))
        out.append('</table>')
    else:
        out.append('<p class="meta">No objectives were given.</p>')

    out += ['<h2>Timeline</h2>',
            '<div class="legend"><span class="bar ok" style="position:static;display:inline-block">'
            '</span>ok<span class="bar failed" style="position:static;display:inline-block"></span>failed'
            '<span class="bar skipped" style="position:static;display:inline-block"></span>skipped</div>',
            '<div class="timeline">']
    for p in report.get('phases') or []:
        offset = float(p.get('offset_s') or 0)
        dur = float(p.get('duration_s') or 0)
        left = 100.0 * offset / total if total > 0 else 0.0
        width = 100.0 * dur / total if total > 0 else (100.0 if dur else 0.0)
        left = min(max(left, 0.0), 100.0)
        width = min(max(width, 0.0), 100.0 - left)
        status = p.get('status') if p.get('status') in _STATUSES else 'failed'
        tip = '%s: %s, %s, from +%s' % (p.get('name'), status, human_duration(dur), human_duration(offset))
        if p.get('detail'):
            tip += ' - %s' % p['detail']
        host = ' <small>%s</small>' % _e(p['host']) if p.get('host') else ''
        out.append('<div class="row"><div class="label">%s%s</div><div class="track">'
                   '<div class="bar %s" style="left:%.3f%%;width:%.3f%%" title="%s"></div></div>'
                   '<div class="dur">%s%s</div></div>'
                   % (_e(p.get('name')), host, status, left, width, _e(tip), _e(human_duration(dur)),
                      '' if status == 'ok' else ' %s' % status))
    out += ['<div class="axis"><span>+0s</span><span>+%s</span><span>+%s</span></div>'
            % (_e(human_duration(total / 2)), _e(human_duration(total))), '</div>']

    out += ['<h2>Phases</h2>', '<table class="phases">',
            '<tr><th>#</th><th>phase</th><th>host</th><th>status</th><th>start</th><th>offset</th>'
            '<th>duration</th><th>detail</th></tr>']
    for i, p in enumerate(report.get('phases') or [], 1):
        status = p.get('status')
        cls = {'ok': 'met', 'failed': 'missed'}.get(status, 'na')
        out.append('<tr><td>%d</td><td>%s</td><td>%s</td><td class="%s">%s</td><td>%s</td><td>+%s</td>'
                   '<td>%s</td><td>%s</td></tr>'
                   % (i, _e(p.get('name')), _e(p.get('host') or ''), cls, _e(status), _e(p.get('started_at')),
                      _e(human_duration(p.get('offset_s') or 0)), _e(human_duration(p.get('duration_s') or 0)),
                      _e(p.get('detail') or '')))
    out += ['</table>', '</body>', '</html>']
    return '\n'.join(out) + '\n'


# ---------------------------------------------------------------------------------------------
# Markdown

def _md(value):
    text = _CONTROL_RE.sub(' ', '' if value is None else str(value))
    return text.replace('\\', '\\\\').replace('|', '\\|')


def _md_met(met):
    return 'N/A' if met is None else ('met' if met else '**MISSED**')


def dr_markdown(report, title='DR rehearsal'):
    """Markdown summary: verdict, RTO/RPO table and the phase list."""
    _check_report(report, 'dr_markdown')
    ok = bool(report.get('ok'))
    lines = ['## %s: %s' % (_md(title), 'PASSED' if ok else 'FAILED'), '',
             'Started %s, ended %s, total **%s**.' % (
                 report.get('started_at') or 'n/a', report.get('ended_at') or 'n/a',
                 human_duration(report.get('total_s') or 0)), '']
    for name in report.get('failed_phases') or []:
        lines.append('- phase failed: %s' % _md(name))
    for msg in report.get('missed_objectives') or []:
        lines.append('- objective missed: %s' % _md(msg))
    if report.get('failed_phases') or report.get('missed_objectives'):
        lines.append('')
    comps = report.get('components') or []
    if comps:
        lines += ['| component | RTO objective | RTO measured | RTO | RPO objective | RPO measured | RPO |',
                  '|---|---|---|---|---|---|---|']
        for c in comps:
            lines.append('| %s | %s | %s | %s | %s | %s | %s |' % (
                _md(c.get('name')),
                _obj_text(c.get('rto_objective_s')), _measured_text(c.get('rto_objective_s'), c.get('rto_s')),
                _md_met(c.get('rto_met')),
                _obj_text(c.get('rpo_objective_s')), _measured_text(c.get('rpo_objective_s'), c.get('rpo_s')),
                _md_met(c.get('rpo_met'))))
        lines.append('')
    phases = report.get('phases') or []
    if phases:
        lines += ['Phases:', '']
        for i, p in enumerate(phases, 1):
            line = '%d. %s: %s, %s (at +%s)' % (
                i, _md(p.get('name')), p.get('status'), human_duration(p.get('duration_s') or 0),
                human_duration(p.get('offset_s') or 0))
            if p.get('host'):
                line += ' on %s' % _md(p['host'])
            if p.get('detail'):
                line += ' - %s' % _md(p['detail'])
            lines.append(line)
        lines.append('')
    return '\n'.join(lines)


class FilterModule(object):
    def filters(self):
        return {
            'duration_seconds': duration_seconds,
            'dr_report': dr_report,
            'dr_junit': dr_junit,
            'dr_html': dr_html,
            'dr_markdown': dr_markdown,
        }
