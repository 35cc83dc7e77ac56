# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""md_cell and md_code: the collection's one Markdown escaping (plugin_utils/markdown.py), for templates."""

from __future__ import annotations

from ansible_collections.runbook.ops.plugins.plugin_utils.markdown import md_cell, md_code


class FilterModule(object):
    def filters(self):
        return {'md_cell': md_cell, 'md_code': md_code}
