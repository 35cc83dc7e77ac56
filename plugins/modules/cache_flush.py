#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

DOCUMENTATION = r'''
---
module: cache_flush
short_description: Delete Redis keys by pattern, or flush a Redis db, without blocking the server
version_added: 0.1.0
description:
  - Deletes the keys matching a glob O(pattern) with C(SCAN MATCH pattern COUNT batch_size) and a multi-key
    C(UNLINK) per batch, sent in the same pipeline as the next C(SCAN). It never uses C(KEYS), which blocks
    the server for the whole keyspace walk.
  - Or drops a whole database (O(flush=db), C(FLUSHDB)) or every database (O(flush=all), C(FLUSHALL)),
    C(ASYNC) by default.
  - With Redis Cluster (the server reports C(cluster_enabled:1), or O(cluster=always)), every primary is
    scanned in turn and the keys of a batch are unlinked one hash slot at a time; flushes run on every primary.
  - O(max_keys) is checked before anything is deleted; in check mode nothing is deleted and the module
    returns how many keys would be, with a sample of their names.
  - Key names are handled as bytes, so binary and non-UTF-8 names are deleted like any other; they are
    returned escaped (a backslash as C(\\), other non-printable bytes as C(\xNN)).
author:
  - runbook.ops maintainers (@runbook-ops)
extends_documentation_fragment:
  - runbook.ops.attributes
  - runbook.ops.redis
attributes:
  check_mode:
    support: full
    details:
      - Counts the keys that would be deleted (RV(matched)) and returns a sample; O(max_keys) is enforced too.
  diff_mode:
    support: none
  idempotent:
    support: full
    details:
      - A second run finds nothing left to delete and returns C(changed=false). Keys the application writes
        in between are deleted again, which is the point of a cache flush.
options:
  pattern:
    description:
      - Delete the keys whose name matches this Redis glob (C(*), C(?), C([abc]), C(\) escapes), in O(db).
      - C(*) deletes every key of the db without any FLUSH command, for servers where those are renamed,
        disabled or denied to the user.
      - Must not be empty. Mutually exclusive with O(flush).
    type: str
  flush:
    description:
      - V(db) drops every key of O(db) with C(FLUSHDB); V(all) drops every key of every db with C(FLUSHALL).
      - Mutually exclusive with O(pattern).
    type: str
    choices: [db, all]
  batch_size:
    description:
      - The C(COUNT) hint of each C(SCAN) and the largest C(UNLINK) sent at once (1 to 100000).
      - Larger batches are faster; each batch blocks the server for as long as it takes to run, about
        a millisecond per thousand small keys.
    type: int
    default: 1000
  max_keys:
    description:
      - Refuse, and delete nothing, when more keys than this match (or are in the db to flush).
      - The keys are counted with C(SCAN) before the first deletion. V(0) means no cap.
    type: int
    default: 0
  async:
    description:
      - Use C(FLUSHDB ASYNC) / C(FLUSHALL ASYNC) so the memory is released in a background thread.
      - Pattern deletes always use C(UNLINK), which frees large values in the background.
    type: bool
    default: true
  throttle_ms:
    description:
      - Milliseconds to sleep after each batch that deleted keys, to leave the server room under load.
    type: int
    default: 0
  sample_size:
    description:
      - How many matching key names to return in RV(sample).
    type: int
    default: 10
  cluster:
    description:
      - V(auto) asks the server (C(INFO cluster)) whether it is part of a Redis Cluster.
      - V(always) treats it as a cluster node and discovers the primaries; V(never) works on that one server.
    type: str
    default: auto
    choices: [auto, always, never]
notes:
  - The user needs C(SCAN), C(UNLINK) (or C(DEL) on Redis before 4.0) and C(INFO) for pattern deletes;
    C(DBSIZE)/C(INFO) and C(FLUSHDB)/C(FLUSHALL) for flushes. Without C(INFO) the memory figures are null.
  - Memory figures are informative. After the deletions the module waits up to 5 seconds for the
    server's lazy-free thread (C(lazyfree_pending_objects)) before it reads C(used_memory) again.
  - With O(max_keys), keys are counted in a first C(SCAN) pass and deleted in a second one; keys written
    between the passes are deleted too.
seealso:
  - name: SCAN
    description: How SCAN walks the keyspace and what it guarantees.
    link: https://redis.io/docs/latest/commands/scan/
  - name: UNLINK
    description: Non-blocking key deletion.
    link: https://redis.io/docs/latest/commands/unlink/
'''

EXAMPLES = r'''
- name: Delete the Gemini analysis cache (seed 002), refusing if far more keys match than expected
  runbook.ops.cache_flush:
    host: cache1.internal
    password: "{{ vault_redis_password }}"
    pattern: "gemini:*"
    max_keys: 500000
  register: flushed

- name: Dry run - how many project keys would go, and a few of their names
  runbook.ops.cache_flush:
    pattern: "project:*"
  check_mode: true
  register: would_flush

- name: Drop db 2 entirely, memory released in the background
  runbook.ops.cache_flush:
    db: 2
    flush: db

- name: Every key of db 0 on a server where FLUSHDB is renamed away
  runbook.ops.cache_flush:
    pattern: "*"
    batch_size: 2000
    throttle_ms: 5

- name: Over TLS with an ACL user
  runbook.ops.cache_flush:
    host: redis.example.com
    port: 6380
    tls: true
    ca_cert: /etc/ssl/certs/internal-ca.pem
    username: cache-admin
    password: "{{ vault_cache_admin_password }}"
    pattern: "session:*"
'''

RETURN = r'''
mode:
  description: What was done, V(pattern), V(db) or V(all).
  returned: always
  type: str
  sample: pattern
pattern:
  description: The pattern the keys were matched against.
  returned: when O(pattern) is set
  type: str
  sample: "gemini:*"
async:
  description: Whether the flush ran with C(ASYNC).
  returned: when O(flush) is set
  type: bool
  sample: true
matched:
  description:
    - Keys that matched the pattern (counted from the C(SCAN) replies), or keys in the db(s) to flush.
    - C(SCAN) may return a key twice when the keyspace is resized during the walk; RV(deleted) is exact.
  returned: always
  type: int
  sample: 48211
deleted:
  description: Keys actually deleted (the sum of the C(UNLINK) replies, or the keys the flush dropped). V(0) in check mode.
  returned: always
  type: int
  sample: 48211
sample:
  description: Up to O(sample_size) names of matching keys, escaped (C(\\) for a backslash, C(\xNN) for other non-printable bytes).
  returned: always
  type: list
  elements: str
  sample: ["gemini:analysis:scene:123", "gemini:\\xff\\x00raw"]
duration_ms:
  description: Milliseconds from connecting to the last deletion (the wait for memory release is not included).
  returned: always
  type: int
  sample: 812
batches:
  description: C(SCAN) calls made (one round trip each).
  returned: always
  type: int
  sample: 97
used_memory_before:
  description: C(used_memory) in bytes before anything was deleted, summed over the cluster primaries. Null without C(INFO).
  returned: always
  type: int
  sample: 104857600
used_memory_after:
  description: C(used_memory) in bytes after the deletions. Null without C(INFO).
  returned: always
  type: int
  sample: 52428800
freed:
  description: RV(used_memory_before) minus RV(used_memory_after), at least 0. Null without C(INFO).
  returned: always
  type: int
  sample: 52428800
cluster:
  description: Whether the server was handled as a Redis Cluster.
  returned: always
  type: bool
  sample: false
nodes:
  description: The servers (primaries) worked on.
  returned: always
  type: list
  elements: str
  sample: ["redis://127.0.0.1:6379/0"]
target:
  description: The server connected to, without the password.
  returned: always
  type: str
  sample: "redis://cache-admin@127.0.0.1:6379/0"
'''

from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils.cache import (
    CacheFlushError,
    cache_flush,
    cache_flush_argument_spec,
)
from ansible_collections.runbook.ops.plugins.module_utils.redis_client import (
    HAS_REDIS,
    REDIS_IMP_ERR,
    redis_argument_spec,
)


def main():
    argument_spec = redis_argument_spec()
    argument_spec.update(cache_flush_argument_spec())
    module = AnsibleModule(
        argument_spec=argument_spec,
        mutually_exclusive=[('pattern', 'flush')],
        required_one_of=[('pattern', 'flush')],
        supports_check_mode=True,
    )
    if not HAS_REDIS:
        module.fail_json(msg=missing_required_lib('redis'), exception=REDIS_IMP_ERR)

    try:
        result = cache_flush(module.params, check_mode=module.check_mode, warn=module.warn)
    except CacheFlushError as exc:
        module.fail_json(msg=exc.msg, **exc.result)
    module.exit_json(**result)


if __name__ == '__main__':
    main()
