# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Filters of the health role: the probe list of a host, and per-host health_check results into one fleet report."""

from __future__ import annotations

# Only the light probe vocabulary: filters are loaded in every forked worker of the controller.
from ansible_collections.runbook.ops.plugins.module_utils.probe import CRITICAL, SEVERITY, merge_checks


def health_merge_checks(sources, default='health_checks_system'):
    """One probe list from ``{variable name: probes}``, concatenated in variable name order; a probe of any
    other variable overrides the probe of ``default`` with the same name (module_utils/probe.py owns the rule)."""
    return merge_checks(sorted(dict(sources or {}).items()), default)


def _rank(status):
    """The severity of a status (module_utils/probe.py owns the order); an unknown status counts as critical."""
    return SEVERITY.get(status, SEVERITY[CRITICAL])


def health_fleet(results, hosts=None):
    """Fleet report from ``{host: health_check result}``, worst host first.

    A host listed in ``hosts`` without a result (unreachable, or the probe task did
    not run) is reported critical, so a silent host never looks healthy.
    """
    results = dict(results or {})
    names = list(hosts) if hosts is not None else list(results)
    out = []
    for host in names:
        res = results.get(host)
        if not isinstance(res, dict) or 'checks' not in res:
            msg = 'no result: host unreachable or the health check did not run'
            if isinstance(res, dict) and res.get('msg'):
                msg = str(res['msg'])
            out.append({'host': host, 'status': 'critical', 'message': msg,
                        'summary': {'ok': 0, 'warning': 0, 'critical': 1}, 'checks': []})
            continue
        checks = sorted(res.get('checks') or [],
                        key=lambda c: (-_rank(c.get('status')), str(c.get('name'))))
        out.append({'host': host, 'status': res.get('status', 'critical'), 'message': '',
                    'summary': res.get('summary', {}), 'checks': checks})
    out.sort(key=lambda h: (-_rank(h['status']), h['host']))
    totals = {'ok': 0, 'warning': 0, 'critical': 0}
    for h in out:
        totals[h['status'] if h['status'] in totals else 'critical'] += 1
    status = 'ok'
    for h in out:
        if _rank(h['status']) > _rank(status):
            status = h['status'] if h['status'] in SEVERITY else CRITICAL
    return {'status': status, 'hosts': out, 'host_summary': totals}


def _cell(value):
    return str(value).replace('|', '\\|').replace('\n', ' ')


def _metrics(metrics):
    if not metrics:
        return ''
    return ', '.join('%s=%s' % (k, metrics[k]) for k in sorted(metrics))


def health_markdown(report, title='Health report', generated_at=''):
    """Markdown rendering of :func:`health_fleet`: a table per host, worst first."""
    icon = {'ok': 'OK', 'warning': 'WARNING', 'critical': 'CRITICAL'}
    lines = ['# %s' % title, '']
    if generated_at:
        lines += ['Generated: %s' % generated_at, '']
    hs = report.get('host_summary', {})
    lines += ['Overall: **%s** (hosts: %s ok, %s warning, %s critical)'
              % (icon.get(report.get('status'), 'CRITICAL'), hs.get('ok', 0), hs.get('warning', 0),
                 hs.get('critical', 0)), '']
    for h in report.get('hosts', []):
        lines += ['## %s: %s' % (h['host'], icon.get(h['status'], 'CRITICAL')), '']
        if h.get('message'):
            lines += [_cell(h['message']), '']
        if h.get('checks'):
            lines += ['| check | type | status | message | metrics | ms |',
                      '|---|---|---|---|---|---|']
            for c in h['checks']:
                lines.append('| %s | %s | %s | %s | %s | %s |' % (
                    _cell(c.get('name', '')), _cell(c.get('type', '')),
                    icon.get(c.get('status'), 'CRITICAL'), _cell(c.get('message', '')),
                    _cell(_metrics(c.get('metrics'))), _cell(c.get('duration_ms', ''))))
            lines.append('')
    return '\n'.join(lines) + '\n'


class FilterModule(object):
    def filters(self):
        return {'health_fleet': health_fleet, 'health_markdown': health_markdown,
                'health_merge_checks': health_merge_checks}
