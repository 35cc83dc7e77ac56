#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: app_release_info
short_description: Report the releases, the active and previous release, failed marks, history and deploy lock of an app
version_added: 0.1.0
description:
  - Reads what M(runbook.ops.app_release) manages under O(app_root) and reports it; never changes anything.
  - Releases are ordered by their ids (UTC timestamps), never by file times.
author:
  - runbook.ops maintainers (@runbook-ops)
attributes:
  check_mode:
    support: full
    description: Can run in check_mode; it reads only.
  diff_mode:
    support: none
    description: Returns no diff; nothing changes.
  idempotent:
    support: full
    description: Never changes anything.
options:
  app_root:
    description:
      - Absolute path of the application directory holding C(releases/) and C(current). A missing directory
        reports no releases.
    type: path
    required: true
  history_file:
    description:
      - JSON-lines history file. Defaults to C(<app_root>/history.jsonl).
    type: path
  history_lines:
    description:
      - How many of the last history entries to return; V(0) returns none.
    type: int
    default: 20
seealso:
  - module: runbook.ops.app_release
"""

EXAMPLES = r"""
- name: What is deployed, and what would a rollback go back to
  runbook.ops.app_release_info:
    app_root: /srv/app
  register: releases

- name: Show it
  ansible.builtin.debug:
    msg: "active {{ releases.active_release }}, rollback to {{ releases.rollback_candidate }}"
"""

RETURN = r"""
app_root:
  description: The application directory.
  returned: always
  type: str
  sample: /srv/app
releases:
  description: Release ids, oldest first (ordered by id).
  returned: always
  type: list
  elements: str
  sample: ["20261120T101500Z", "20261123T150405Z"]
active_release:
  description: The release C(current) points to, or null.
  returned: always
  type: str
  sample: "20261123T150405Z"
previous_release:
  description: The release that was active before the active one, from the history, or null.
  returned: always
  type: str
  sample: "20261120T101500Z"
rollback_candidate:
  description: The newest release older than the active one that is not marked failed, or null.
  returned: always
  type: str
  sample: "20261120T101500Z"
failed_releases:
  description: Release ids marked failed, oldest first.
  returned: always
  type: list
  elements: str
  sample: ["20261122T090000Z"]
failed_details:
  description: The failed marks (time, actor, reason, host) by release id.
  returned: always
  type: dict
  sample: {"20261122T090000Z": {"time": "2026-11-22T09:05:00Z", "reason": "health failed", "actor": "ci"}}
history:
  description: The last O(history_lines) history entries (switches and failed marks), oldest first.
  returned: always
  type: list
  elements: dict
  sample: [{"action": "activate", "release_id": "20261123T150405Z", "previous": "20261120T101500Z",
            "time": "2026-11-23T15:05:00Z", "actor": "alice", "reason": "deploy v2.4.1", "host": "app1"}]
lock:
  description: The deploy lock (owner, host, pid, created, expires, reason), or null when there is none.
  returned: always
  type: dict
  sample: {"owner": "deploy 20261123T150405Z by alice", "host": "app1", "pid": 4242,
           "created": "2026-11-23T15:04:05Z", "expires": "2026-11-23T15:34:05Z", "reason": null}
"""

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.runbook.ops.plugins.module_utils.release import ReleaseError, ReleaseTree


def main():
    module = AnsibleModule(
        argument_spec=dict(
            app_root=dict(type='path', required=True),
            history_file=dict(type='path'),
            history_lines=dict(type='int', default=20),
        ),
        supports_check_mode=True,
    )
    p = module.params
    if p['history_lines'] < 0:
        module.fail_json(msg='Could not use history_lines=%d: it must be 0 or more.' % p['history_lines'])
    try:
        result = ReleaseTree(p['app_root'], p['history_file'], check_mode=True).info(p['history_lines'])
    except ReleaseError as e:
        module.fail_json(msg=to_native(e))
    except OSError as e:
        module.fail_json(msg='Could not read releases under %s: %s. Check permissions.' % (p['app_root'], to_native(e)))
    module.exit_json(changed=False, **result)


if __name__ == '__main__':
    main()
