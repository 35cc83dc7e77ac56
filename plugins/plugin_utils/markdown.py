# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Markdown escaping for every report the collection renders (health, maintenance, DR, cache).

One owner: a value put into a Markdown table cell or inline code must never break the table (a ``|`` or a
line break), start markup of its own, or smuggle control characters into the file.
"""

from __future__ import annotations

import re

_CONTROL_RE = re.compile('[\x00-\x1f\x7f]')
_BACKTICKS_RE = re.compile('`+')


def md_cell(value, empty=''):
    """``value`` as the text of one Markdown table cell: control characters (newlines included) become
    spaces, backslashes and pipes are escaped. None and '' give ``empty``."""
    if value is None or value == '':
        return empty
    text = _CONTROL_RE.sub(' ', str(value))
    return text.replace('\\', '\\\\').replace('|', '\\|')


def md_code(value, empty=''):
    """``value`` as inline code that stays inline code whatever it holds (backticks included) and can sit in a
    table cell: the fence is one backtick longer than the longest run inside, pipes are escaped."""
    if value is None or value == '':
        return empty
    text = _CONTROL_RE.sub(' ', str(value)).replace('|', '\\|')
    longest = max((len(m) for m in _BACKTICKS_RE.findall(text)), default=0)
    fence = '`' * (longest + 1)
    pad = ' ' if text.startswith('`') or text.endswith('`') else ''
    return '%s%s%s%s%s' % (fence, pad, text, pad, fence)
