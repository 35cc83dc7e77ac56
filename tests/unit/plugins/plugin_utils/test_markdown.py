# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""plugin_utils/markdown: the one Markdown escaping of every report."""
from __future__ import annotations

import re

import pytest

from ansible_collections.runbook.ops.plugins.plugin_utils.markdown import md_cell, md_code
from ansible_collections.runbook.ops.plugins.filter.markdown import FilterModule


def _cells(row):
    """Split a Markdown table row on unescaped pipes (what a renderer does)."""
    out, cur, i = [], '', 0
    while i < len(row):
        if row[i] == '\\' and i + 1 < len(row):
            cur += row[i:i + 2]
            i += 2
            continue
        if row[i] == '|':
            out.append(cur)
            cur = ''
        else:
            cur += row[i]
        i += 1
    out.append(cur)
    return out


@pytest.mark.parametrize('hostile', ['a|b', 'line1\nline2', 'x\\|y', 'tab\there', 'nul\x00byte', '|', '\\', 'ends\\'])
def test_a_hostile_value_stays_in_its_cell(hostile):
    row = '| %s | next |' % md_cell(hostile)
    assert '\n' not in row and '\x00' not in row
    assert len(_cells(row)) == 4  # '', the value, ' next ', ''
    assert _cells(row)[2] == ' next '


def test_empty_values_render_as_given():
    assert md_cell(None) == '' and md_cell('', empty='-') == '-' and md_cell(0) == '0'


@pytest.mark.parametrize('value', ['plain', 'a`b', '``x``', '`lead', 'trail`', 'p|q'])
def test_code_span_cannot_end_early(value):
    code = md_code(value)
    inner = value.replace('|', '\\|')
    runs = [len(r) for r in re.findall('`+', inner)]
    fence = '`' * ((max(runs) if runs else 0) + 1)
    assert code.startswith(fence) and code.endswith(fence)
    assert code.strip('`').strip() == inner.strip('`').strip() or inner in code
    assert len(_cells('| %s |' % code)) == 3


def test_filters_are_registered():
    assert FilterModule().filters() == {'md_cell': md_cell, 'md_code': md_code}
