#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
---
module: file_prune
short_description: Delete old or excess files, or clear a directory's contents, safely under allowed roots
version_added: 0.1.0
description:
  - In files mode (the default) deletes the regular files of O(path) whose name matches O(patterns) and that
    are older than O(max_age_days); then, while the matching files left take more than O(max_total_mb), the
    oldest (by modification time) go first. Symlinks are neither followed nor deleted.
  - With O(contents=true) deletes every entry directly inside O(path) that matches O(patterns) - files,
    directories with everything below them, and symlinks (the link, never what it points to). O(path) itself stays.
  - Refuses C(/) (also spelled C(/tmp/../)), a O(path) that is itself a symlink, and a O(path) that resolves,
    with symlinks followed, outside every one of O(allowed_roots).
  - Below O(path) nothing is reached by path name. Directories are opened relative to their parent's file
    descriptor with C(O_NOFOLLOW), so a link is never followed, even one swapped in between the plan and
    the delete. Another filesystem mounted below O(path) is never crossed.
  - A file that disappears in the meantime is not an error (RV(vanished)); an entry that cannot be removed is,
    and the module fails after the others were removed, with what it removed in the result.
author:
  - runbook.ops maintainers (@runbook-ops)
extends_documentation_fragment:
  - runbook.ops.attributes
attributes:
  check_mode:
    support: full
    details:
      - Plans as in a real run and returns what would be removed (RV(removed), RV(planned)); nothing is deleted.
  diff_mode:
    support: full
    details:
      - The diff lists the entries to remove (before), up to O(report_limit) of them.
  idempotent:
    support: full
    details:
      - A second run finds nothing left to remove and returns C(changed=false). Files that age past
        O(max_age_days) or are written in between are removed again.
options:
  path:
    description:
      - Absolute path of the directory to prune. It must not be a symlink; a missing directory is not an
        error (RV(exists) is false and nothing is done).
    type: path
    required: true
  allowed_roots:
    description:
      - O(path) must resolve, with symlinks followed, to one of these directories or below.
      - C(/) and relative paths in this list are ignored; at least one other root is required.
    type: list
    elements: path
    required: true
  contents:
    description:
      - Remove every entry directly inside O(path) matching O(patterns) (files, directories and what they
        hold, symlinks), like C(rm -rf path/*) with dot files, instead of applying age and size rules.
      - Mutually exclusive with O(max_age_days) and O(max_total_mb).
    type: bool
    default: false
  patterns:
    description:
      - Shell globs (C(fnmatch), case-sensitive) matched against the name of each file (files mode) or each
        entry directly inside O(path) (O(contents=true)). A pattern with a C(/) never matches.
    type: list
    elements: str
    default: ['*']
  exclude:
    description: Names matching any of these globs are kept.
    type: list
    elements: str
    default: []
  hidden:
    description: Consider names starting with a dot (and, with O(recurse), descend into such directories).
    type: bool
    default: true
  recurse:
    description: In files mode, also prune the files of subdirectories (on the same filesystem, links not followed).
    type: bool
    default: false
  max_age_days:
    description:
      - In files mode, delete the matching files last modified more than this many days ago.
      - One of O(max_age_days) and O(max_total_mb) is required unless O(contents=true).
    type: float
  max_total_mb:
    description:
      - In files mode, after the age rule, delete the oldest matching files until those left take at most
        this many MiB. V(0) means no cap.
    type: float
  batch_size:
    description: Entries removed per batch (the parent directories are opened once per batch).
    type: int
    default: 200
  report_limit:
    description: At most this many paths are returned in RV(removed.paths), RV(planned) and the diff.
    type: int
    default: 1000
notes:
  - As with the file modules, the result also carries the stat facts of O(path) (C(mode), C(owner), C(state)...).
  - Sizes are the sizes of regular files (C(st_size)); with O(contents=true) an entry's size is the total of
    the regular files below it.
  - Names are never parsed as text; names with newlines or glob characters are handled like any other.
seealso:
  - module: ansible.builtin.find
  - module: ansible.builtin.file
'''

EXAMPLES = r'''
- name: Delete rotated logs older than 30 days, then the oldest until 500 MiB are left
  runbook.ops.file_prune:
    path: /var/log/nginx
    allowed_roots: [/var/log]
    patterns: ["*.log.*", "*.gz"]
    max_age_days: 30
    max_total_mb: 500

- name: Clear the application's file cache (the directory stays; links inside are removed, not followed)
  runbook.ops.file_prune:
    path: /srv/demo-app/cache
    allowed_roots: [/srv]
    contents: true
  register: cleared

- name: What would go, without deleting anything
  runbook.ops.file_prune:
    path: /srv/app/tmp
    allowed_roots: [/srv]
    patterns: ["*.tmp"]
    recurse: true
    max_age_days: 7
  check_mode: true
  register: plan
'''

RETURN = r'''
path:
  description: O(path) as given.
  returned: always
  type: str
  sample: /srv/demo-app/cache
real_path:
  description: O(path) with symlinks resolved; the directory actually pruned.
  returned: always
  type: str
  sample: /srv/demo-app/cache
exists:
  description: Whether the directory exists. When it does not, nothing is done.
  returned: always
  type: bool
  sample: true
contents:
  description: Whether everything inside was pruned (O(contents=true)) rather than files by age and size.
  returned: always
  type: bool
  sample: false
check_mode:
  description: Whether this was a check-mode run (RV(removed) is then what would be removed).
  returned: always
  type: bool
  sample: false
matched:
  description: The entries the patterns matched, before removal.
  returned: success
  type: dict
  contains:
    count:
      description: Number of matching files (files mode) or entries directly inside O(path) (contents mode).
      type: int
    bytes:
      description: Their size in bytes.
      type: int
  sample: {count: 12, bytes: 7340032}
removed:
  description: What was removed (in check mode, what would be).
  returned: success, and on failure once removal had started
  type: dict
  contains:
    count:
      description: Number of entries removed.
      type: int
    bytes:
      description: Bytes of regular files removed.
      type: int
    paths:
      description: The first O(report_limit) removed paths.
      type: list
      elements: str
    paths_truncated:
      description: Whether RV(removed.paths) was cut at O(report_limit).
      type: bool
  sample: {count: 3, bytes: 6500, paths: ["/var/log/app/app.log.3.gz"], paths_truncated: false}
kept:
  description: The matching entries left in place.
  returned: success
  type: dict
  contains:
    count:
      description: Number of matching entries kept.
      type: int
    bytes:
      description: Their size in bytes.
      type: int
  sample: {count: 2, bytes: 1500}
planned:
  description: The first O(report_limit) planned removals, oldest first, each with the reason.
  returned: success
  type: list
  elements: dict
  sample: [{path: /var/log/app/app.log.3.gz, size: 3000, mtime: 1767225600.0, reason: older than 30 days}]
batches:
  description: Batches of deletions run (0 in check mode).
  returned: success
  type: int
  sample: 1
vanished:
  description: Planned entries that were already gone when their turn came (not an error).
  returned: success
  type: int
  sample: 0
errors:
  description: Entries that could not be removed or read, each with C(path) and C(error). The module fails when there are any.
  returned: success, and on failure once the directory was walked
  type: list
  elements: dict
  sample: []
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils.file_prune import (
    MUTUALLY_EXCLUSIVE,
    REQUIRED_IF,
    PruneError,
    argument_spec,
    prune,
)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        mutually_exclusive=MUTUALLY_EXCLUSIVE,
        required_if=REQUIRED_IF,
        supports_check_mode=True,
    )
    try:
        result = prune(module.params, check_mode=module.check_mode, diff=module._diff)
    except PruneError as exc:
        module.fail_json(msg=exc.msg, **exc.result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
