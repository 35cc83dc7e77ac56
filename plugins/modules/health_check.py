#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import annotations

DOCUMENTATION = r'''
module: health_check
short_description: Run typed health probes concurrently and grade them against thresholds
version_added: 0.1.0
description:
  - Runs a list of probes (HTTP endpoint, TCP port, PostgreSQL, Redis, disk, memory, load average,
    TLS certificate, age of the newest valid backup) concurrently on the targeted host, grades every measured metric as V(ok),
    V(warning) or V(critical) against its thresholds and returns one report.
  - A probe that cannot run (refused connection, wrong password, missing file, timeout) is
    V(critical) with the reason in its C(message); it never makes the module crash.
  - When O(fail_on) is reached the module fails with a one-line message naming the failing
    checks, and the full report is still in the result.
  - With O(wait_timeout) the probes are run again, O(delay) seconds apart, until they pass O(fail_on) or
    O(wait_timeout) seconds have passed.
  - "Grading: a metric whose higher values are worse is V(critical) when it is at or above its
    C(critical) threshold and V(warning) when at or above its C(warning) threshold. For metrics
    whose lower values are worse (C(hit_rate), C(days_remaining), C(free_bytes), C(available_bytes),
    C(replicas)) the comparison is at or below. A metric without a measured value (for example
    C(memory_pct) when Redis has no C(maxmemory)) is reported but not graded."
  - "Default thresholds, from the runbooks' threshold tables (warning / critical):
    http and tcp C(latency_ms) 100 / 1000; http with O(checks[].samples) C(p95_ms) 500 / 1000 and C(error_rate_pct) 1 / 5;
    postgres C(latency_ms) 100 / 500, C(connections_pct) 70 / 90, C(longest_query_s) 60 / 300,
    C(ungranted_locks) 5 / 20, C(replication_lag_bytes) 16 MiB / 1 GiB, C(replication_lag_s) 60 / 300;
    redis C(latency_ms) 100 / 1000, C(memory_pct) 80 / 95, C(clients_pct) 80 / 95, C(hit_rate) 70 / 50;
    disk C(used_pct) 80 / 90, C(inodes_pct) 80 / 90;
    memory C(used_pct) 80 / 95;
    load C(load5_per_core) 1.0 / 2.0;
    tls_cert C(days_remaining) 30 / 7;
    cpu C(busy_pct) 70 / 90 (seed 000);
    log C(errors) 10 / 50 in the window (seed 002: fewer than 10 errors in the last hour);
    process C(restarts_since_last) 1 / 5 (and not running is always critical);
    backup_age C(age_h) 26 / 50 (a nightly backup, two missed nights are critical);
    wal_archive C(last_archived_age_s) 3600 / 7200 (seed 004's RPO of one hour), C(newest_backup_age_h) 26 / 50."
  - "Other metrics that can be graded when thresholds are given: postgres C(connect_ms), C(connections),
    C(replicas); redis C(connect_ms), C(used_memory), C(connected_clients), C(evicted_keys); disk C(free_bytes); memory
    C(swap_used_pct), C(available_bytes); load C(load1_per_core), C(load15_per_core); http C(p50_ms), C(p99_ms);
    cpu C(iowait_pct), C(steal_pct),
    C(system_pct); log C(errors_per_hour), C(error_pct), C(lines);
    process C(restarts), C(uptime_s), C(memory_bytes);
    backup_age C(age_s) (in seconds, instead of C(age_h): thresholds may name only one of the two, and naming
    either drops the default of the other)."
  - The module is read-only and never reports a change.
author:
  - runbook.ops maintainers (@runbook-ops)
extends_documentation_fragment:
  - runbook.ops.attributes
attributes:
  check_mode:
    support: full
    details: The probes only read, so they run in check mode too and return the same report.
  diff_mode:
    support: none
  idempotent:
    description:
      - When run twice in a row with the same arguments, the second invocation indicates no change.
      - This assumes that the system controlled/queried by the module has not changed in a relevant way.
    support: full
    details: The module never changes anything; measured values naturally vary between runs.
options:
  checks:
    description:
      - The probes to run. Each check takes the common options O(checks[].name), O(checks[].type),
        O(checks[].thresholds) and O(checks[].timeout), plus the options of its type only; an option
        of another type is rejected.
    type: list
    elements: dict
    required: true
    suboptions:
      name:
        description:
          - Name of the check in the report; must be unique within O(checks).
        type: str
        required: true
      type:
        description:
          - What to probe.
          - V(http) requests O(checks[].url). Metrics C(status_code), C(latency_ms), C(bytes), C(body_match),
            C(json_match).
          - V(tcp) connects to O(checks[].host):O(checks[].port). Metrics C(reachable), C(latency_ms).
          - V(postgres) connects with the C(login_*) options. Metrics C(reachable), C(connect_ms) (connection and
            authentication), C(latency_ms) (a C(SELECT 1) round trip), C(role),
            C(server_version), C(max_connections), C(connections), C(connections_pct), C(longest_query_s),
            C(ungranted_locks), C(replicas), C(replication_lag_bytes), C(replication_lag_s) (on a primary from
            C(pg_stat_replication), on a replica from the received and replayed WAL positions and
            C(pg_last_xact_replay_timestamp())).
          - V(redis) connects with the Redis connection options. Metrics C(reachable), C(connect_ms) (first PING,
            with connection and authentication), C(latency_ms) (a second PING),
            C(used_memory), C(maxmemory), C(memory_pct), C(keyspace_hits), C(keyspace_misses), C(hit_rate),
            C(evicted_keys), C(connected_clients), C(maxclients), C(clients_pct).
          - V(disk) measures the file system holding O(checks[].path). Metrics C(used_pct) (as C(df) shows it),
            C(inodes_pct), C(free_bytes), C(total_bytes), C(inodes_total).
          - V(memory) reads C(/proc/meminfo). Metrics C(used_pct) (from C(MemAvailable)), C(available_bytes),
            C(total_bytes), C(swap_used_pct), C(swap_total_bytes).
          - V(load) reads the load average. Metrics C(load1), C(load5), C(load15), C(cpus) and the same per core.
          - V(tls_cert) reads a certificate from a live endpoint (O(checks[].host), O(checks[].port),
            O(checks[].server_name), O(checks[].starttls)) or from a PEM or DER file (O(checks[].path)). Metrics C(days_remaining),
            C(not_before), C(not_after), C(subject), C(issuer), C(serial_number), C(expired), C(not_yet_valid),
            C(chain_valid), C(hostname_valid), C(verify_error). An expired or not yet valid certificate is
            always V(critical).
          - V(backup_age) finds the newest valid backup in the backup store O(checks[].store) (as written by
            M(runbook.ops.db_backup); valid means its manifest exists and is well-formed and the data object has the
            size the manifest says; the checksum is not read), optionally only backups of O(checks[].source_db).
            Metrics C(age_h) and C(age_s) (its age), C(found), C(backup_id), C(created_at), C(valid_count),
            C(invalid_count) and C(store) (the store URL without credentials). When the store holds no valid backup
            the check is V(critical) with a message saying so; a store that cannot be read is V(critical) too.
          - V(cpu) samples C(/proc/stat) twice, O(checks[].interval) seconds apart. Metrics C(busy_pct) (share of all
            CPUs' time neither idle nor waiting for I/O), C(iowait_pct), C(steal_pct), C(system_pct), C(cpus).
          - V(log) counts the lines of a log file (O(checks[].path)) or of a unit's journal (O(checks[].unit)) whose
            timestamp falls within the last O(checks[].window_minutes), and those matching O(checks[].patterns).
            A file is read backwards from its end and reading stops at the first older line; rotated parts
            (C(.1), C(.2.gz), C(-YYYYMMDD)) are read only while the window reaches into them, so a multi-GB log costs
            what its window costs. A line without a timestamp belongs to the timestamped line above it. Metrics
            C(errors), C(errors_per_hour), C(error_pct), C(lines), C(files_read), C(bytes_read), C(window_minutes).
            A file where no line has a readable timestamp is a V(warning) (set O(checks[].timestamp_pattern)).
          - V(queue) reads BullMQ or Celery queues on Redis (O(checks[].engine), O(checks[].queues), the Redis
            connection options) as M(runbook.ops.queue_info) does. Metrics C(waiting) (default thresholds 100 / 500),
            C(failed), C(oldest_wait_s), C(failed_rate_pct) and C(failed_recent) (in the last
            O(checks[].window_minutes)), C(active), C(delayed), C(latency_ms), each the worst queue's value, with every
            queue's figures in C(by_queue). A paused BullMQ queue, or a Celery queue no worker consumes, is a V(warning).
          - V(wal_archive) reads C(pg_stat_archiver) on the PostgreSQL server (the V(postgres) connection options).
            Metrics C(last_archived_age_s) (default thresholds 3600 / 7200), C(failed_count), C(archived_count),
            C(last_archived_wal), C(last_failed_wal), C(failing) and C(archive_mode). C(archive_mode=off), or an
            C(archive_command) whose latest attempt failed (an unreachable repository), is V(critical). With
            O(checks[].stanza), also runs C(pgbackrest info) for C(newest_backup_age_h) (26 / 50) and C(newest_backup);
            no backup, or a repository that cannot be read, is V(critical).
          - V(mysql) connects with PyMySQL (MySQL protocol, tested on MariaDB; the C(login_*) options,
            O(checks[].config_file)) and times C(SELECT 1). Metrics C(latency_ms) (100 / 500), C(connect_ms),
            C(connections) and C(connections_pct) of C(max_connections) (70 / 90), C(threads_running), C(longest_query_s)
            (60 / 300, the oldest running query but its own), C(replica_lag_s) (60 / 300, C(Seconds_Behind_Master) on a
            replica), C(role) and C(server_version). A replica whose IO or SQL thread is stopped is V(critical).
          - V(process) reads one service of O(checks[].manager) V(systemd) (C(systemctl show)), V(pm2) (C(pm2 jlist)),
            V(container) (C(podman|docker container inspect); the docker CLI reads the engine of C(DOCKER_HOST)) or
            V(kubernetes) (a Deployment and its pods, with the kubernetes Python library), named O(checks[].service).
            Metrics C(running) (1/0), C(restarts) (the manager's counter; summed over the pods), C(restarts_since_last)
            (default thresholds 1 / 5), C(uptime_s), C(memory_bytes) (null for containers and Kubernetes), C(state),
            C(started_at); for Kubernetes also C(replicas), C(ready_replicas), C(last_termination_reason) and C(age_s).
            A service that is not running is V(critical); a Deployment with some but not all replicas ready is
            V(warning). C(restarts_since_last) needs the count of the previous check, kept in a small JSON file
            per service under O(checks[].state_dir) on the host (null on the first check).
        type: str
        required: true
        choices: [http, tcp, postgres, redis, disk, memory, load, tls_cert, backup_age, cpu, log, queue, wal_archive, mysql, process]
      thresholds:
        description:
          - "Per metric thresholds, C({metric: {warning: X, critical: Y}}). A metric named here replaces its
            default thresholds entirely; V({}) turns grading of that metric off. Either level may be left out."
          - Only the numeric metrics listed in the module description can be graded; any other name is an error.
        type: dict
      timeout:
        description:
          - Seconds the whole probe may take, connecting and reading the whole answer included (an HTTP body
            that arrives too slowly times out too).
          - A probe still running a couple of seconds after its timeout is abandoned and reported V(critical)
            with the message C(timed out after N s), so the module always returns within about
            O(checks[].timeout) (times the number of rounds when there are more checks than O(max_workers)).
          - For V(backup_age) on S3 the client's connect and read timeouts are at most this value, without retries.
        type: float
        default: 10.0
      url:
        description:
          - V(http) only, required. URL to request.
          - "C(user:password@) in the URL (percent-encoded, as in any URL) is sent as HTTP basic auth, unless
            O(checks[].headers) sets C(Authorization). The password and token-like query values (C(token=), C(key=),
            C(signature=)...) are redacted from every message and result."
        type: str
      method:
        description:
          - V(http) only. HTTP method; V(GET) when omitted.
        type: str
        choices: [GET, HEAD, OPTIONS, POST]
      expect_status:
        description:
          - V(http) only. Status codes that count as healthy; V([200]) when omitted. Any other status is V(critical).
        type: list
        elements: int
      expect_body:
        description:
          - V(http) only. A substring the body must contain, else the check is V(critical).
        type: str
      expect_json:
        description:
          - "V(http) only. Either a JSON path (V(status.db) or V($.items[0].id)) that must exist in the JSON body,
            or a mapping of JSON path to expected value, for example V({status: ok}). A mismatch is V(critical)."
        type: raw
      headers:
        description:
          - V(http) only. Request headers. Their values are treated as secrets.
        type: dict
      samples:
        description:
          - V(http) only. How many requests to send (V(1) when omitted). With more than one, the check measures
            latency percentiles C(p50_ms), C(p95_ms), C(p99_ms) (nearest rank, over the answered requests;
            C(latency_ms) is then the median) and C(error_rate_pct) (requests with no answer or a status not in
            O(checks[].expect_status)), plus C(requests), C(errors) and C(status_codes). Defaults grade
            C(p95_ms) 500 / 1000 (seed 003) and C(error_rate_pct) 1 / 5 (seed 000).
          - All the requests share the check's one O(checks[].timeout). The body and JSON expectations are checked
            on the first answer with an expected status. Only when no request is answered at all is the check
            V(critical) with the first failure's message.
        type: int
      concurrency:
        description:
          - V(http) only, with O(checks[].samples). How many requests are in flight at once; the smaller of
            O(checks[].samples) and V(4) when omitted.
        type: int
      use_proxy:
        description:
          - V(http) only. Whether to honour the proxy environment variables; V(true) when omitted.
        type: bool
      validate_certs:
        description:
          - V(http) and V(redis) (V(true) when omitted), whether to verify the server certificate.
          - V(tls_cert) (V(false) when omitted), whether a certificate whose chain or host name does not verify is
            V(critical). Either way the result is reported in the C(chain_valid) and C(hostname_valid) metrics.
        type: bool
      ca_cert:
        description:
          - V(http), V(redis), V(postgres), V(mysql) and V(tls_cert). CA bundle used to verify the server.
        type: path
      path:
        description:
          - V(disk) (required), a path on the file system to measure.
          - V(tls_cert), a certificate file to read instead of a live endpoint.
          - V(log), the log file to read (its rotated parts beside it are read too, as far as the window needs).
        type: path
      unit:
        description:
          - V(log) only, instead of O(checks[].path). A systemd unit whose journal is read (C(journalctl --unit)).
        type: str
      patterns:
        description:
          - V(log) only. Python regular expressions; a line matching any of them counts as an error.
          - When omitted, the words C(error) (also as the start of a word, so C(errors)), C(fatal) and C(panic) in any
            case, and Python's C(Traceback) line; that is the seeds' C(grep -i error), plus the other words loggers use.
        type: list
        elements: str
      window_minutes:
        description:
          - V(log) only. How far back to count, in minutes; V(60) when omitted.
          - V(queue), the window of C(failed_recent) and C(failed_rate_pct); V(60) when omitted.
        type: float
      engine:
        description:
          - V(queue) only (required). V(bullmq), V(bull) (Bull 3/4 queues are refused with a message) or V(celery).
        type: str
        choices: [bullmq, bull, celery]
      queues:
        description:
          - V(queue) only (required). Queue names, or C([*]) for every queue found.
        type: list
        elements: str
      prefix:
        description:
          - V(queue) only. Key prefix of the BullMQ queues; V(bull) when omitted.
        type: str
      stanza:
        description:
          - V(wal_archive) only. The pgBackRest stanza whose newest backup's age is read (C(pgbackrest info), run as
            C(postgres) when the module runs as root).
        type: str
      pgbackrest_config:
        description:
          - V(wal_archive) only, with O(checks[].stanza). The pgBackRest configuration file; pgBackRest's default
            when omitted.
        type: path
      timestamp_pattern:
        description:
          - V(log) only, with O(checks[].timestamp_format). A regular expression whose first group is a line's
            timestamp, for logs whose timestamps are not recognized.
          - "Recognized without it, in a line's first 120 characters: ISO 8601 / RFC 3339 (with or without a zone;
            without one it is the host's local time), nginx's C(2026/12/06 03:52:43), the common log format's
            C([06/Dec/2026:03:52:43 +0000]) and syslog's C(Dec  6 03:52:43)."
        type: str
      timestamp_format:
        description:
          - V(log) only, with O(checks[].timestamp_pattern). The C(strptime) format of the group it captures.
        type: str
      manager:
        description:
          - V(process) only (required). What runs the service.
        type: str
        choices: [systemd, pm2, container, kubernetes]
      service:
        description:
          - V(process) only (required). The systemd unit (C(.service) added when it has no suffix), the pm2 app name
            (all its cluster instances), the container name or the Kubernetes Deployment.
        type: str
      container_engine:
        description:
          - V(process) with O(checks[].manager=container) only. The CLI to inspect the container with; V(podman) when
            omitted.
        type: str
        choices: [podman, docker]
      namespace:
        description:
          - V(process) with O(checks[].manager=kubernetes) only. The Deployment's namespace; V(default) when omitted.
        type: str
      kubeconfig:
        description:
          - V(process) with O(checks[].manager=kubernetes) only. Kubeconfig file on the host; when omitted, C(KUBECONFIG)
            or C(~/.kube/config), else the in-cluster service account.
        type: path
      state_dir:
        description:
          - V(process) only. Directory on the host for the last restart count of each service (one small JSON file per
            service, written at every check, in check mode too); C(~/.cache/runbook.ops/health-process) of the user
            the module runs as when omitted. An empty string keeps no state (C(restarts_since_last) stays null).
        type: path
      interval:
        description:
          - V(cpu) only. Seconds between the two samples; V(1) when omitted. Must be shorter than
            O(checks[].timeout).
        type: float
      host:
        description:
          - V(tcp) (required) and V(tls_cert) (required unless O(checks[].path)), the host to connect to.
          - V(redis) and V(queue), the Redis server; V(127.0.0.1) when omitted.
        type: str
      port:
        description:
          - V(tcp) (required), V(tls_cert) (V(443) when omitted), V(redis) and V(queue) (V(6379) when omitted).
        type: int
      server_name:
        description:
          - V(tls_cert) only. Server name sent as SNI and checked against the certificate; O(checks[].host) when
            omitted.
          - The host name rule is RFC 6125's, the same as M(runbook.ops.cert_info)'s; a wildcard matches only as the
            whole left-most label and exactly one label (C(*.example.com) covers C(www.example.com), not
            C(example.com) nor C(a.b.example.com)).
        type: str
      starttls:
        description:
          - V(tls_cert) only, with O(checks[].host). Protocol preamble to send before the TLS handshake, as in
            M(runbook.ops.cert_info).
          - V(postgres) sends PostgreSQL's C(SSLRequest), so the certificate of a PostgreSQL server with
            C(ssl = on) can be checked on its own port.
        type: str
        choices: [postgres]
      login_host:
        description:
          - V(postgres), V(wal_archive) and V(mysql) only. Host of the database server; V(localhost) when omitted.
        type: str
      login_port:
        description:
          - V(postgres), V(wal_archive) and V(mysql) only. Port of the server; V(5432) (V(3306) for V(mysql)) when omitted.
        type: int
      login_user:
        description:
          - V(postgres), V(wal_archive) and V(mysql) only. Role to connect as; V(postgres) when omitted (for V(mysql),
            the user of O(checks[].config_file) or the client library's). The C(pg_monitor) role lets a
            non-superuser see the queries of other roles (C(PROCESS) on MySQL).
        type: str
      login_password:
        description:
          - V(postgres), V(wal_archive) and V(mysql) only. Password of O(checks[].login_user); never logged or returned.
        type: str
      login_db:
        description:
          - V(postgres) and V(wal_archive) only. Database to connect to; V(postgres) when omitted.
        type: str
      login_unix_socket:
        description:
          - V(postgres) and V(wal_archive) only. Directory of the server's Unix socket; overrides O(checks[].login_host).
          - V(mysql), the server's socket B(file).
        type: path
      ssl_mode:
        description:
          - V(postgres) and V(wal_archive) only. libpq SSL mode; V(prefer) when omitted.
        type: str
        choices: [disable, allow, prefer, require, verify-ca, verify-full]
      connect_timeout:
        description:
          - V(postgres), V(wal_archive) and V(mysql) only. Seconds to wait for the connection; O(checks[].timeout) rounded up when omitted.
        type: int
      config_file:
        description:
          - V(mysql) only. A MySQL option file read for the connection when it exists; C(~/.my.cnf) when omitted.
        type: path
      db:
        description:
          - V(redis) and V(queue) only. Database index to select; V(0) when omitted.
        type: int
      username:
        description:
          - V(redis) and V(queue) only. ACL user name.
        type: str
      password:
        description:
          - V(redis) and V(queue) only. Password (C(requirepass) or ACL password); never logged or returned.
        type: str
      tls:
        description:
          - V(redis) and V(queue) only. Connect over TLS; V(false) when omitted.
        type: bool
      client_cert:
        description:
          - V(redis), V(queue) and V(mysql) only. Client certificate for TLS client authentication.
        type: path
      client_key:
        description:
          - V(redis), V(queue) and V(mysql) only. Private key of O(checks[].client_cert).
        type: path
      socket_timeout:
        description:
          - V(redis) and V(queue) only. Seconds to wait for the server; O(checks[].timeout) when omitted.
        type: float
      store:
        description:
          - V(backup_age) only, required. The backup store, V(s3://bucket/prefix) or an absolute directory path
            (or V(file:///path)), as in M(runbook.ops.db_backup).
        type: str
      source_db:
        description:
          - V(backup_age) only. Only count backups of this database; every backup in the store when omitted.
        type: str
      s3_endpoint_url:
        description:
          - V(backup_age) only. URL of an S3-compatible endpoint (MinIO, Ceph, moto); AWS when omitted.
          - A password or token in it is redacted from every message and result.
        type: str
      aws_region:
        description:
          - V(backup_age) only. AWS region of the bucket; E(AWS_REGION) or E(AWS_DEFAULT_REGION) when omitted.
        type: str
      aws_access_key:
        description:
          - V(backup_age) only. AWS access key id; boto3's usual chain (environment, shared credentials, instance
            role) when omitted. Requires O(checks[].aws_secret_key).
        type: str
      aws_secret_key:
        description:
          - V(backup_age) only. AWS secret access key; never logged or returned. Requires
            O(checks[].aws_access_key).
        type: str
  fail_on:
    description:
      - Fail the task when any check is V(critical), when any check is V(warning) or V(critical), or V(never).
      - The report is in the result either way.
    type: str
    default: critical
    choices: [critical, warning, never]
  max_workers:
    description:
      - How many probes run at the same time.
    type: int
    default: 10
  wait_timeout:
    description:
      - Seconds to wait for the checks to become healthy by O(fail_on). Until then the whole probe set is run
        again, O(delay) seconds apart, and the module stops at the first healthy pass; after this many seconds
        it returns the last pass (and fails as O(fail_on) says).
      - The wait before the last pass is shortened so that it starts when O(wait_timeout) is reached; no pass
        starts later, and each pass keeps its own deadline (every probe bounded by O(checks[].timeout)), so the
        module returns within about O(wait_timeout) plus one pass.
      - V(0) runs the probes once. With O(fail_on=never) every pass counts as healthy, so there is one pass.
      - Replaces a C(retries)/C(until)/C(delay) loop around the task, like the C(wait_timeout) options of the
        amazon.aws modules.
    type: int
    default: 0
    version_added: 0.1.0
  delay:
    description:
      - Seconds between two passes while waiting (see O(wait_timeout)).
    type: int
    default: 5
    version_added: 0.1.0
requirements:
  - psycopg >= 3.1 for V(postgres) checks
  - redis >= 4.3 for V(redis) checks
  - cryptography for V(tls_cert) checks
  - boto3 for V(backup_age) checks of an V(s3://) store
seealso:
  - module: runbook.ops.db_backup_info
  - module: community.postgresql.postgresql_info
  - module: community.crypto.get_certificate
notes:
  - Probes run in threads of the module process on the targeted host, so addresses such as V(127.0.0.1) are
    those of that host.
  - Every network probe is bounded by O(checks[].timeout) (PostgreSQL also by a C(statement_timeout), Redis
    probes do not retry). A probe still running well after its time is reported V(critical), but the module
    process can only end once the probe returns (for example a C(statvfs) on a hung NFS mount).
  - Use O(fail_on=never) to collect the report without failing, and grade it in the play.
  - With O(wait_timeout), RV(attempts) says how many passes ran and RV(waited_s) how long they took together.
  - A V(backup_age) probe of an S3 store uses the store's own S3 timeouts and retries (connect 10 s, read
    120 s, 3 attempts) rather than O(checks[].timeout).
'''

EXAMPLES = r'''
- name: Daily health check
  runbook.ops.health_check:
    fail_on: critical
    checks:
      - name: api
        type: http
        url: http://127.0.0.1/health
        expect_status: [200]
        expect_json: {status: ok}
        thresholds:
          latency_ms: {warning: 100, critical: 1000}
      - name: pg
        type: postgres
        login_host: 127.0.0.1
        login_user: monitor
        login_password: "{{ vault_pg_monitor_password }}"
        login_db: app
        thresholds:
          connections_pct: {warning: 70, critical: 90}
      - name: redis
        type: redis
        host: 127.0.0.1
        port: 6379
        password: "{{ vault_redis_password }}"
        thresholds:
          memory_pct: {warning: 80, critical: 95}
      - {name: root, type: disk, path: /, thresholds: {used_pct: {warning: 80, critical: 90}}}
      - {name: mem, type: memory}
      - {name: load, type: load}
      - {name: ssh port, type: tcp, host: 127.0.0.1, port: 22}
      - {name: site cert, type: tls_cert, host: www.example.com, port: 443, validate_certs: true}
      - {name: cert file, type: tls_cert, path: /etc/ssl/certs/site.pem}
      - {name: db cert, type: tls_cert, host: db.example.com, port: 5432, starttls: postgres}
      - name: nightly backup
        type: backup_age
        store: s3://backups/postgres
        source_db: app
        s3_endpoint_url: http://s3.internal:9000
        aws_access_key: "{{ vault_s3_access_key }}"
        aws_secret_key: "{{ vault_s3_secret_key }}"
        thresholds:
          age_h: {warning: 26, critical: 50}
      - {name: local dumps, type: backup_age, store: /var/backups/pg, thresholds: {age_s: {critical: 7200}}}
  register: health

- name: Report without failing, warnings included
  runbook.ops.health_check:
    fail_on: never
    checks:
      - {name: data disk, type: disk, path: /var/lib/postgresql, thresholds: {used_pct: {warning: 70}}}
  register: health

- name: Wait up to 60 seconds for a restarted app to answer, probing every 5 seconds
  runbook.ops.health_check:
    checks:
      - {name: api, type: http, url: http://127.0.0.1:8080/health, timeout: 5}
    wait_timeout: 60
    delay: 5
  register: health

- name: Show what is not ok
  ansible.builtin.debug:
    msg: "{{ health.checks | rejectattr('status', 'equalto', 'ok') | map(attribute='message') | list }}"
'''

RETURN = r'''
status:
  description: The worst status of all checks.
  returned: always
  type: str
  sample: warning
summary:
  description: How many checks ended in each status.
  returned: always
  type: dict
  sample: {ok: 6, warning: 1, critical: 0}
  contains:
    ok:
      description: Number of V(ok) checks.
      returned: always
      type: int
      sample: 6
    warning:
      description: Number of V(warning) checks.
      returned: always
      type: int
      sample: 1
    critical:
      description: Number of V(critical) checks.
      returned: always
      type: int
      sample: 0
checks:
  description: One entry per check, in the order of O(checks).
  returned: always
  type: list
  elements: dict
  sample:
    - name: root
      type: disk
      status: warning
      metrics: {used_pct: 83.4, inodes_pct: 12.1, free_bytes: 8123456789, total_bytes: 52710469632,
                inodes_total: 3276800}
      message: used_pct 83.4 >= warning 80
      thresholds: {used_pct: {warning: 80.0, critical: 90.0}, inodes_pct: {warning: 80.0, critical: 90.0}}
      duration_ms: 0.05
  contains:
    name:
      description: Name of the check.
      returned: always
      type: str
      sample: root
    type:
      description: Type of the check.
      returned: always
      type: str
      sample: disk
    status:
      description: V(ok), V(warning) or V(critical).
      returned: always
      type: str
      sample: warning
    metrics:
      description: The measured values (see O(checks[].type) for the names); empty when the probe could not run.
      returned: always
      type: dict
      sample: {used_pct: 83.4, inodes_pct: 12.1}
    message:
      description: V(ok), or which metric crossed which threshold, or why the probe could not run. Never holds a secret.
      returned: always
      type: str
      sample: used_pct 83.4 >= warning 80
    thresholds:
      description: The thresholds the check was graded against (defaults merged with O(checks[].thresholds)).
      returned: always
      type: dict
      sample: {used_pct: {warning: 80.0, critical: 90.0}}
    duration_ms:
      description: How long the probe took, in milliseconds.
      returned: always
      type: float
      sample: 12.5
duration_ms:
  description: Wall time of all probes together (of the last pass), in milliseconds.
  returned: always
  type: float
  sample: 1012.3
attempts:
  description: How many passes ran (V(1) unless O(wait_timeout) made the module wait). The other keys describe the
    last pass.
  returned: always
  type: int
  sample: 3
  version_added: 0.1.0
waited_s:
  description: Seconds from the start of the first pass to the end of the last one.
  returned: always
  type: float
  sample: 10.512
  version_added: 0.1.0
'''

from ansible.module_utils import basic
from ansible.module_utils.basic import AnsibleModule, missing_required_lib

from ansible_collections.runbook.ops.plugins.module_utils import health


def main():
    # import only the probe types these checks use (AnsibleModule reads the same arguments again)
    health.load_types_for(basic._load_params())  # pylint: disable=protected-access
    module = AnsibleModule(argument_spec=health.argument_spec(), supports_check_mode=True)
    if module.params['max_workers'] < 1:
        module.fail_json(msg='Could not run the checks: max_workers must be at least 1, got %s. Set max_workers '
                             'to a positive number.' % module.params['max_workers'])
    for option in ('wait_timeout', 'delay'):
        if module.params[option] < 0:
            module.fail_json(msg='Could not run the checks: %s must be 0 or more, got %s. Set %s to a number of '
                                 'seconds.' % (option, module.params[option], option))
    try:
        checks = health.normalize_checks(module.params['checks'])
    except health.HealthConfigError as exc:
        module.fail_json(msg='Could not validate checks: %s. Fix the checks option.' % exc)
    for check in checks:
        # URL passwords and tokens are not no_log options: keep them out of the result (invocation included)
        module.no_log_values.update(health.secrets_of(check))
    missing = health.check_requirements(checks)
    if missing:
        module.fail_json(msg=missing_required_lib(missing[0]), exception=missing[1])

    report = health.run_until_healthy(checks, wait_timeout=module.params['wait_timeout'],
                                      delay=module.params['delay'], fail_on=module.params['fail_on'],
                                      max_workers=module.params['max_workers'])
    message = health.failure_message(report['checks'], module.params['fail_on'])
    if message:
        module.fail_json(msg=message, changed=False, **report)
    module.exit_json(changed=False, **report)


if __name__ == '__main__':
    main()
