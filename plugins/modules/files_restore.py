#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
---
module: files_restore
short_description: Restore a tree of files from an S3 prefix into a local directory, in parallel and atomically
version_added: 0.1.0
description:
  - Every object under O(src) (V(s3://bucket/prefix/)) is written to O(dest) under its key relative to the
    prefix, for example the application's uploads and configuration during a disaster recovery.
  - The prefix is listed with the S3 paginator (any number of keys, up to O(max_files)). Keys ending in C(/)
    ("directory markers") are skipped.
  - Before anything is written, every relative name is checked. An absolute name, a C(..), C(.) or empty
    component, a NUL byte or a backslash, or a name that is both a file and a directory prefix fails the
    task and names the keys. A local path under O(dest) that is a symlink (the file or one of its
    directories), a directory or a special file fails the task too; symlinks under O(dest) are never
    followed for writes. O(dest) itself may be a symlink to a directory.
  - A file whose size equals the object's and whose MD5 equals the object's ETag is unchanged and is not
    downloaded. For a multipart ETag (C(<md5>-<parts>)) the module computes the multipart ETag of the file
    with the part size the server reports, else with the usual part sizes (8 MiB first); when the part size
    cannot be known and none matches, a file of the same size whose mtime is not older than the object's
    C(LastModified) is unchanged. Any other ETag (for example SSE-KMS) uses that size and mtime rule.
  - Each download goes to a temp file in its target's directory, is checked (size, and MD5 for a single-part
    ETag), gets O(mode), O(owner), O(group) and the object's C(LastModified) as mtime, is flushed to disk,
    and only then renamed over the target. A failed download leaves no partial file and removes its temp
    file. Up to O(concurrency) objects download at once.
  - Directories are created with O(dir_mode), O(owner) and O(group); unchanged files and existing
    directories that hold restored files get their mode and ownership corrected.
  - With O(delete=true), after every download succeeded, the files under O(dest) that have no object are
    removed (symlinks themselves, never their targets; never anything outside O(dest); never a name matched
    by O(exclude)), then the directories left empty that hold no object.
author:
  - runbook.ops maintainers (@runbook-ops)
extends_documentation_fragment:
  - runbook.ops.backup_store.s3
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details:
      - Lists, validates and compares as in a real run and returns the files that would be downloaded
        (RV(files)) and deleted (RV(deleted_files)); nothing is written.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details:
      - The diff lists the files replaced or deleted (before) and the files downloaded (after), the first 100 of each.
  idempotent:
    description: When run twice in a row with the same arguments, the second run reports no change.
    support: full
    details:
      - A second run finds every file unchanged and downloads nothing.
options:
  src:
    description:
      - The S3 prefix to restore, V(s3://bucket/prefix/). A trailing slash is implied; the prefix may be
        empty (V(s3://bucket)) to restore the whole bucket.
    type: str
    required: true
  dest:
    description:
      - The absolute local directory the files land in. Created (with its missing parents) when missing.
      - Must not be V(/).
    type: path
    required: true
  owner:
    description:
      - Owner (name or uid) of the files and of the directories that hold them. Default is the user running
        the module.
    type: str
  group:
    description:
      - Group (name or gid) of the files and of the directories that hold them.
    type: str
  mode:
    description:
      - Permissions of the restored files, an octal number as a quoted string (V('0640')) or an integer.
        Symbolic modes are not supported.
    type: raw
    default: '0644'
  dir_mode:
    description:
      - Permissions of O(dest) and of the directories under it that hold restored files.
    type: raw
    default: '0755'
  delete:
    description:
      - Remove the files under O(dest) that have no object under O(src) (and directories left empty), after
        all downloads succeeded. Names matched by O(exclude) are kept.
    type: bool
    default: false
  exclude:
    description:
      - C(fnmatch) patterns on the relative names (C(*) also matches C(/)). Matching objects are not restored
        and matching local files are never deleted; a matching local directory is not entered.
    type: list
    elements: str
    default: []
  concurrency:
    description:
      - How many objects download (and how many local files are compared) at once, 1 to 64.
    type: int
    default: 8
  max_files:
    description:
      - Fail before writing anything when the prefix holds more objects than this (directory markers not
        counted).
    type: int
    default: 100000
notes:
  - The content check reads every existing local file of the right size once (MD5), in parallel.
  - Objects encrypted with SSE-C cannot be read by this module.
seealso:
  - module: amazon.aws.s3_object
    description: One object at a time, with more S3 options.
'''

EXAMPLES = r'''
- name: Restore the application's uploads onto the DR app host
  runbook.ops.files_restore:
    src: s3://fileforge-backups/uploads/
    dest: /srv/fileforge/shared/uploads
    owner: fileforge
    group: fileforge
    delete: true
    exclude:
      - 'tmp/*'
    concurrency: 16
  register: uploads_restore

- name: Restore the configuration, readable by the app group only
  runbook.ops.files_restore:
    src: s3://fileforge-backups/config/app1
    dest: /etc/fileforge
    owner: root
    group: fileforge
    mode: '0640'
    dir_mode: '0750'
    s3_endpoint_url: https://s3.dr.example.net
    aws_region: eu-west-1
    aws_access_key: "{{ dr_aws_access_key }}"
    aws_secret_key: "{{ dr_aws_secret_key }}"
  notify: Restart fileforge
'''

RETURN = r'''
changed:
  description: Whether a file was downloaded or deleted, or a mode/owner corrected (or would be, in check mode).
  returned: always
  type: bool
  sample: true
downloaded:
  description: Number of files downloaded (in check mode, that would be).
  returned: always
  type: int
  sample: 3
unchanged:
  description:
    - Number of objects whose local file was already identical (not downloaded).
    - Not named C(skipped), which Ansible reserves for skipped tasks.
  returned: always
  type: int
  sample: 1497
deleted:
  description: Number of files removed because they had no object (in check mode, that would be).
  returned: always
  type: int
  sample: 1
attributes_fixed:
  description: Number of unchanged files and existing directories whose mode or ownership was corrected.
  returned: always
  type: int
  sample: 0
bytes:
  description: Bytes downloaded (in check mode, that would be).
  returned: always
  type: int
  sample: 1048576
total_bytes:
  description: Size of all the objects restored or found unchanged (excluded ones not counted); with
    RV(downloaded) + RV(unchanged) files, what O(dest) now holds from O(src).
  returned: always
  type: int
  sample: 734003200
files:
  description: Relative names of the files downloaded (in check mode, that would be), sorted, the first 1000.
  returned: always
  type: list
  elements: str
  sample: [avatars/1/me.png, config/app.yml]
deleted_files:
  description: Relative names of the files deleted (in check mode, that would be), sorted, the first 1000.
  returned: always
  type: list
  elements: str
  sample: [stale.txt]
duration_s:
  description: Seconds the restore took.
  returned: always
  type: float
  sample: 2.31
src:
  description: The source as restored, V(s3://bucket/prefix/), without credentials or endpoint.
  returned: always
  type: str
  sample: s3://fileforge-backups/uploads/
dest:
  description: The destination directory as given.
  returned: always
  type: str
  sample: /srv/fileforge/shared/uploads
msg:
  description: A one-line summary.
  returned: always
  type: str
  sample: Downloaded 3 file(s) (1.0 MiB) from s3://fileforge-backups/uploads/ to /srv/fileforge/shared/uploads, 1497 unchanged, 1 deleted
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.runbook.ops.plugins.module_utils.backup_store import require_boto3
from ansible_collections.runbook.ops.plugins.module_utils.files_restore import (
    RestoreError,
    argument_spec,
    error_message,
    required_by,
    restore,
)


def main():
    module = AnsibleModule(
        argument_spec=argument_spec(),
        required_by=required_by(),
        supports_check_mode=True,
    )
    require_boto3(module)

    try:
        result = restore(module.params, check_mode=module.check_mode, diff=module._diff)
    except RestoreError as exc:
        module.fail_json(msg=error_message(exc, module.params), **exc.partial)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
