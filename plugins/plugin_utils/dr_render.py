# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Renderers of the DR report dict (built by plugin_utils/dr.py ``report``): JUnit XML for CI, a
self-contained HTML page for people, Markdown for the end of a playbook run. They render; every rule
(measurement, grading) is in plugin_utils/dr.py.
"""

from __future__ import annotations

import html
import re
import xml.etree.ElementTree as ET
from collections.abc import Mapping

from ansible_collections.runbook.ops.plugins.plugin_utils.dr import STATUSES, DRError, human_duration
from ansible_collections.runbook.ops.plugins.plugin_utils.markdown import md_cell

# Characters XML 1.0 cannot carry at all, even escaped.
_XML_BAD_RE = re.compile('[^\u0009\u000a\u000d\u0020-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]')


def _check_report(report, who):
    if not isinstance(report, Mapping) or 'phases' not in report or 'components' not in report:
        raise DRError('%s: the input must be the output of runbook.ops.dr_report, got %s.'
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
        status = p.get('status') if p.get('status') in STATUSES else 'failed'
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
    return md_cell(value)


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
        sources = ['%s from %s' % (_md(c.get('name')), _md(c['rpo_source'])) for c in comps if c.get('rpo_source')]
        if sources:
            lines += ['RPO source: %s.' % ', '.join(sources), '']
    dump_rpo = (report.get('meta') or {}).get('dump_rpo_s')
    if dump_rpo is not None:
        lines += ['A restore of the newest dump would have lost %s (its RPO).' % human_duration(float(dump_rpo)), '']
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
