#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r"""
---
module: app_release
short_description: Manage release directories, the current symlink, release history and the deploy lock
version_added: 0.1.0
description:
  - Manages C(<app_root>/releases/<release_id>) directories and the C(<app_root>/current) symlink, in the style of
    ansistrano and Capistrano, plus what they lack, namely failed-release marks that keep-N cleanup respects, a history of
    switches, and a deploy lock with owner and expiry.
  - Release ids are UTC timestamps such as V(20261123T150405Z). The order of releases comes only from their ids,
    never from file times.
  - O(state=present) unpacks a tar or zip archive (local, or a URL with a checksum), copies a directory, or exports a
    git commit into a new release directory through a temporary directory and a rename, links O(shared_paths) from
    C(<app_root>/shared), and writes C(REVISION) and C(.release.json).
  - O(state=active) switches C(current) atomically (a new symlink at a temporary name renamed over the old one), so
    C(current) always resolves, and appends the switch to the history file.
  - O(state=failed) marks a release failed with a C(<app_root>/releases/<release_id>.failed) marker.
  - O(state=locked) and O(state=unlocked) take and release the deploy lock C(<app_root>/deploy.lock).
author:
  - runbook.ops maintainers (@runbook-ops)
attributes:
  check_mode:
    support: full
    description: Can run in check_mode and return changed status prediction without modifying the target.
  diff_mode:
    support: full
    description: Returns the active release, the release list, the failed marks and the lock owner before and after.
  idempotent:
    support: full
    description:
      - O(state=present) is unchanged when the release exists with the same checksum (or git commit).
      - O(state=active) is unchanged when C(current) already points to the release; O(state=failed) when the mark
        exists; O(state=locked) when the same O(lock_owner) holds an unexpired lock.
options:
  app_root:
    description:
      - Absolute path of the application directory holding C(releases/), C(shared/) and C(current).
    type: path
    required: true
  state:
    description:
      - V(present) creates the release, V(active) makes it the one C(current) points to, V(failed) marks it failed,
        V(locked) and V(unlocked) take and release the deploy lock.
      - M(runbook.ops.app_release_info) reports releases, the active and previous release, failed marks, the
        history and the lock.
    type: str
    choices: [present, active, failed, locked, unlocked]
    default: present
  release_id:
    description:
      - The release id, a UTC timestamp C(YYYYMMDDTHHMMSSZ) such as V(20261123T150405Z).
      - Required for O(state=present), O(state=active) and O(state=failed).
    type: str
  src:
    description:
      - The artifact for O(state=present). A path on the managed node to a tar (optionally gz, bz2 or xz
        compressed) or zip archive, or to a directory to copy; or an C(http://) or C(https://) URL of an archive,
        which then needs O(checksum).
      - Archives are unpacked safely; members with absolute paths, C(..), device files, or links that resolve
        outside the release are refused.
    type: str
  checksum:
    description:
      - Expected checksum of the artifact, V(sha256:<hex>) or V(sha512:<hex>); bare hex means sha256.
      - Required when O(src) is a URL; verified when O(src) is a local archive.
    type: str
  git_repo:
    description:
      - A git repository (URL or path) to export the release from with the git command line, instead of O(src).
      - The commit is exported with C(git archive), so the release holds no C(.git) directory.
    type: str
  git_ref:
    description:
      - Branch, tag or commit of O(git_repo).
    type: str
    default: HEAD
  shared_paths:
    description:
      - Paths relative to the release that are replaced by links to the same path under C(<app_root>/shared),
        for example V(.env) or V(storage/uploads). Each must exist under C(shared/) already.
    type: list
    elements: str
    default: []
  keep:
    description:
      - With O(state=present) or O(state=active), remove older releases so that this many releases not marked
        failed remain. V(0) disables cleanup.
      - Never removes the active release, the newest release not marked failed, nor O(release_id); failed releases
        do not count toward O(keep).
    type: int
    default: 0
  keep_failed:
    description:
      - How many of the newest failed releases cleanup keeps for investigation, on top of O(keep).
    type: int
    default: 1
  force:
    description:
      - With O(state=present), replace an existing release whose checksum differs (never the active one).
      - With O(state=active), activate a release marked failed.
      - With O(state=failed), mark the active release failed.
      - With O(state=unlocked), remove the lock whoever holds it.
    type: bool
    default: false
  owner:
    description:
      - User that owns the unpacked release tree (applied recursively, links included).
    type: str
  group:
    description:
      - Group that owns the unpacked release tree.
    type: str
  mode:
    description:
      - Octal mode of the release directory itself, such as V("0755").
    type: str
  history_file:
    description:
      - JSON-lines history file. Defaults to C(<app_root>/history.jsonl).
    type: path
  actor:
    description:
      - Who or what made the change (user, AWX job), recorded in the history and failed marks.
    type: str
  reason:
    description:
      - Why, recorded in the history and failed marks (for example V(health gate failed after switch)).
    type: str
  lock_owner:
    description:
      - Owner recorded in the deploy lock; required for O(state=locked) and O(state=unlocked).
      - Taking the lock again with the same owner while it is valid is unchanged.
    type: str
  lock_ttl:
    description:
      - Seconds after which the lock counts as stale.
    type: int
    default: 3600
  break_stale:
    description:
      - With O(state=locked), replace a lock whose expiry has passed. Without it a stale lock still refuses.
    type: bool
    default: false
  validate_certs:
    description:
      - Verify TLS certificates when O(src) is an C(https://) URL.
    type: bool
    default: true
  timeout:
    description:
      - Seconds to wait for the URL download.
    type: int
    default: 60
notes:
  - The deploy role runs cleanup (O(keep)) only after its health gate passed, so an unproven release never pushes the
    last good release out.
  - Releases are listed only when their directory name is a valid release id; other entries are left alone.
  - Every run that switches, marks, installs or prunes holds the module lock C(<app_root>/.app_release.lock) (an
    C(flock), released when the run ends, waiting up to 300 seconds for another run), so two runs at once never
    prune a release the other one just made current. It is not the deploy lock of O(state=locked).
  - Right before each deletion cleanup reads C(current) again and never removes the release it points to, even when
    something outside this module switched to it; that release is kept with a warning.
seealso:
  - module: runbook.ops.app_release_info
  - name: ansistrano deploy
    description: The release-directory layout this module follows.
    link: https://github.com/ansistrano/deploy
"""

EXAMPLES = r"""
- name: Take the deploy lock
  runbook.ops.app_release:
    app_root: /srv/app
    state: locked
    lock_owner: "deploy {{ release }} by {{ lookup('ansible.builtin.env', 'USER') }}"
    lock_ttl: 1800

- name: Unpack a release from a URL, linking the shared .env and uploads
  runbook.ops.app_release:
    app_root: /srv/app
    release_id: "20261123T150405Z"
    src: https://artifacts.example.com/app/app-2.4.1.tar.gz
    checksum: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
    shared_paths: [.env, storage/uploads]
    owner: app
    group: app

- name: Export a git tag as a release
  runbook.ops.app_release:
    app_root: /srv/app
    release_id: "20261123T150405Z"
    git_repo: https://git.example.com/app.git
    git_ref: v2.4.1

- name: Switch current to it
  runbook.ops.app_release:
    app_root: /srv/app
    release_id: "20261123T150405Z"
    state: active
    actor: "{{ lookup('ansible.builtin.env', 'USER') }}"
    reason: deploy v2.4.1
  register: switch

- name: After the health gate passed, keep five good releases
  runbook.ops.app_release:
    app_root: /srv/app
    release_id: "20261123T150405Z"
    state: active
    keep: 5

- name: Roll back to the previous release and mark the bad one failed
  block:
    - name: Switch back
      runbook.ops.app_release:
        app_root: /srv/app
        release_id: "{{ switch.previous_release }}"
        state: active
        reason: health gate failed
    - name: Mark the new one failed
      runbook.ops.app_release:
        app_root: /srv/app
        release_id: "20261123T150405Z"
        state: failed
        reason: health gate failed
"""

RETURN = r"""
app_root:
  description: The application directory.
  returned: always
  type: str
  sample: /srv/app
release_id:
  description: The release the task acted on.
  returned: when O(release_id) is given
  type: str
  sample: "20261123T150405Z"
release_path:
  description: Directory of the release.
  returned: when O(release_id) is given
  type: str
  sample: /srv/app/releases/20261123T150405Z
active_release:
  description: The release C(current) points to after the task (predicted in check mode).
  returned: always
  type: str
  sample: "20261123T150405Z"
previous_release:
  description:
    - The release C(current) pointed to before the switch (when unchanged, the one before the active release
      according to the history).
  returned: when O(state=active)
  type: str
  sample: "20261120T101500Z"
rollback_candidate:
  description: The newest release older than the active one that is not marked failed.
  returned: always
  type: str
  sample: "20261120T101500Z"
releases:
  description: Release ids after the task, oldest first (ordered by id); predicted in check mode.
  returned: always
  type: list
  elements: str
  sample: ["20261120T101500Z", "20261123T150405Z"]
failed_releases:
  description: Release ids marked failed after the task, oldest first; predicted in check mode.
  returned: always
  type: list
  elements: str
  sample: ["20261122T090000Z"]
removed_releases:
  description:
    - Releases keep-N cleanup removed (would remove in check mode, planned on the state the task would leave, in
      which the release being created counts and the release being activated is the active one).
    - A release that C(current) pointed to at the moment of deletion is not removed and not listed here.
  returned: when O(state) is V(present) or V(active)
  type: list
  elements: str
  sample: ["20261101T080000Z"]
checksum:
  description: Checksum of the artifact (V(git:<commit>) for git sources).
  returned: when O(state=present)
  type: str
  sample: sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
revision:
  description: What was written to C(REVISION) (git commit or artifact checksum); null in check mode.
  returned: when O(state=present)
  type: str
  sample: 3f1c0e2a9b7d4c6e8f0a1b2c3d4e5f6a7b8c9d0e
lock:
  description: The deploy lock (owner, host, pid, created, expires, reason), or null when there is none.
  returned: always
  type: dict
  sample: {"owner": "deploy 20261123T150405Z by alice", "host": "app1", "pid": 4242,
           "created": "2026-11-23T15:04:05Z", "expires": "2026-11-23T15:34:05Z", "reason": null}
broken_lock:
  description: The stale lock that O(break_stale) replaced, or null.
  returned: when O(state=locked)
  type: dict
  sample: {"owner": "deploy 20261122T090000Z by bob", "expires": "2026-11-22T09:30:00Z"}
"""

import traceback

from ansible.module_utils.basic import AnsibleModule
from ansible.module_utils.common.text.converters import to_native

from ansible_collections.runbook.ops.plugins.module_utils.release import ReleaseError, ReleaseManager


def main():
    module = AnsibleModule(
        argument_spec=dict(
            app_root=dict(type='path', required=True),
            state=dict(type='str', default='present',
                       choices=['present', 'active', 'failed', 'locked', 'unlocked']),
            release_id=dict(type='str'),
            src=dict(type='str'),
            checksum=dict(type='str'),
            git_repo=dict(type='str'),
            git_ref=dict(type='str', default='HEAD'),
            shared_paths=dict(type='list', elements='str', default=[]),
            keep=dict(type='int', default=0),
            keep_failed=dict(type='int', default=1),
            force=dict(type='bool', default=False),
            owner=dict(type='str'),
            group=dict(type='str'),
            mode=dict(type='str'),
            history_file=dict(type='path'),
            actor=dict(type='str'),
            reason=dict(type='str'),
            lock_owner=dict(type='str'),
            lock_ttl=dict(type='int', default=3600),
            break_stale=dict(type='bool', default=False),
            validate_certs=dict(type='bool', default=True),
            timeout=dict(type='int', default=60),
        ),
        required_if=[
            ('state', 'present', ('release_id',)),
            ('state', 'present', ('src', 'git_repo'), True),
            ('state', 'active', ('release_id',)),
            ('state', 'failed', ('release_id',)),
            ('state', 'locked', ('lock_owner',)),
            ('state', 'unlocked', ('lock_owner',)),
        ],
        mutually_exclusive=[('src', 'git_repo'), ('checksum', 'git_repo')],
        supports_check_mode=True,
    )
    p = module.params
    try:
        manager = ReleaseManager(p, module.check_mode, run_command=module.run_command,
                                 find_git=lambda: module.get_bin_path('git', required=True), warn=module.warn)
        result = manager.run(diff=module._diff)
    except ReleaseError as e:
        module.fail_json(msg=to_native(e))
    except OSError as e:
        module.fail_json(msg='Could not manage releases under %s: %s. Check permissions and free space.'
                         % (p['app_root'], to_native(e)), exception=traceback.format_exc())
    module.exit_json(**result)


if __name__ == '__main__':
    main()
