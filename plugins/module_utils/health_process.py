# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The ``process`` check type of health_check: is a service up, how often did it restart, since when, how big.

One service, run by one ``manager``:

- ``systemd``: ``systemctl show <unit>`` (ActiveState, SubState, NRestarts, ExecMainStartTimestampMonotonic,
  MemoryCurrent);
- ``pm2``: ``pm2 jlist`` (status, restart_time, pm_uptime, monit.memory; the instances of a cluster-mode app
  are summed, the app runs when all of them are online);
- ``container``: ``podman|docker container inspect <name>`` (State.Status, RestartCount, State.StartedAt; memory
  is not part of inspect and stays null).  The CLI talks to the engine its environment names: ``DOCKER_HOST`` for
  docker (a remote Docker engine, or podman's Docker-compatible ``podman system service`` socket), as the ``docker``
  CLI itself does;
- ``kubernetes``: a Deployment and its pods, read with the kubernetes Python client (``kubeconfig`` or the
  environment's, in-cluster config in a pod): running when every desired replica is ready, ``restarts`` summed over
  the containers of its pods, ``ready_replicas``/``replicas``, ``last_termination_reason`` (OOMKilled, Error...),
  ``age_s`` of the Deployment and ``uptime_s`` since the youngest container (re)start.  Some replicas ready is a
  warning; none (or scaled to 0) is not running.

Metrics: ``running`` (1/0), ``restarts`` (the manager's counter), ``restarts_since_last`` (restarts since the
previous check of the same service on this host), ``uptime_s``, ``memory_bytes``.  A service that is not running
is critical whatever the thresholds.  ``restarts_since_last`` needs the previous count: it is kept in a small JSON
file per service under ``state_dir`` (default ``~/.cache/runbook.ops/health-process/`` of the user the module
runs as; written in check mode too, it only caches what the probe read).  On the first check it is null; when
the counter went down (the service was re-created) the whole new counter counts.
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
import re
import subprocess
import tempfile
import time

from ansible_collections.runbook.ops.plugins.module_utils import _lazy
from ansible_collections.runbook.ops.plugins.module_utils import probe

MANAGERS = ('systemd', 'pm2', 'container', 'kubernetes')
# managers of one host's processes (restart_group waits on these; a Kubernetes rollout waits on its own)
HOST_MANAGERS = ('systemd', 'pm2', 'container')
ENGINES = ('podman', 'docker')
DEFAULT_STATE_DIR = '~/.cache/runbook.ops/health-process'
SYSTEMD_PROPERTIES = ('LoadState', 'ActiveState', 'SubState', 'NRestarts', 'ExecMainStartTimestampMonotonic',
                      'ExecMainStartTimestamp', 'MemoryCurrent', 'MainPID')
# MemoryCurrent when memory accounting is off
UINT64_MAX = 18446744073709551615
NAME_RE = re.compile(r'^[A-Za-z0-9][A-Za-z0-9_.@:-]*$')
K8S_NAME_RE = re.compile(r'^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$')


# --------------------------------------------------------------------------- parsing (pure functions)

def _int_or_none(value):
    try:
        number = int(value)
    except (TypeError, ValueError):
        return None
    return None if number >= UINT64_MAX or number < 0 else number


def parse_systemctl_show(text, now_monotonic_us):
    """Facts of one unit from ``systemctl show --property=...`` output (``Key=value`` lines)."""
    props = {}
    for line in text.splitlines():
        key, sep, value = line.partition('=')
        if sep:
            props[key.strip()] = value.strip()
    if props.get('LoadState') in ('not-found', 'masked', 'error') or not props.get('ActiveState'):
        raise probe.ProbeError('Could not read the unit: systemd reports LoadState %s. Check the unit name '
                               '(systemctl list-units --all).' % (props.get('LoadState') or 'unknown'))
    running = props['ActiveState'] in ('active', 'reloading')
    started = _int_or_none(props.get('ExecMainStartTimestampMonotonic'))
    uptime = None
    if running and started:
        uptime = round(max(now_monotonic_us - started, 0) / 1e6, 1)
    return {
        'running': 1 if running else 0,
        'state': '%s/%s' % (props['ActiveState'], props.get('SubState', '')),
        'restarts': _int_or_none(props.get('NRestarts')),
        'uptime_s': uptime,
        'memory_bytes': _int_or_none(props.get('MemoryCurrent')),
        'started_at': props.get('ExecMainStartTimestamp') or None,
        'identity': props.get('ExecMainStartTimestampMonotonic') or '',
    }


def _json_array(text, what):
    # pm2 may print daemon start-up lines before the JSON list
    for line in reversed(text.splitlines()):
        line = line.strip()
        if line.startswith('['):
            try:
                return json.loads(line)
            except ValueError:
                break
    try:
        return json.loads(text)
    except ValueError:
        raise probe.ProbeError('Could not read %s: the output is not a JSON list. Run it by hand and look at what '
                               'it prints.' % what)


def parse_pm2_jlist(text, name, now_ms):
    """Facts of the pm2 app ``name`` (all its instances) from ``pm2 jlist``; no secret (pm2_env) is kept."""
    procs = [p for p in _json_array(text, 'pm2 jlist') if isinstance(p, dict) and p.get('name') == name]
    if not procs:
        raise probe.ProbeError("Could not find the pm2 app '%s': pm2 jlist does not list it. Check the name "
                               "(pm2 list) and that the check runs as the user owning the pm2 daemon." % name)
    statuses = [(p.get('pm2_env') or {}).get('status') or 'unknown' for p in procs]
    running = all(s == 'online' for s in statuses)
    restarts = sum(int((p.get('pm2_env') or {}).get('restart_time') or 0) for p in procs)
    uptimes = [(now_ms - int((p.get('pm2_env') or {}).get('pm_uptime') or now_ms)) / 1000.0
               for p, s in zip(procs, statuses) if s == 'online']
    memory = [(p.get('monit') or {}).get('memory') for p in procs]
    return {
        'running': 1 if running else 0,
        'state': ','.join(sorted(set(statuses))),
        'restarts': restarts,
        'uptime_s': round(max(min(uptimes), 0), 1) if uptimes and running else None,
        'memory_bytes': sum(int(m) for m in memory if m is not None) if any(m is not None for m in memory) else None,
        'instances': len(procs),
        'identity': ','.join(sorted(str((p.get('pm2_env') or {}).get('created_at') or p.get('pm_id')) for p in procs)),
    }


def parse_rfc3339(value):
    """A podman/docker timestamp (nanoseconds, ``Z`` or an offset) as an aware datetime, None for the zero time."""
    if not value or value.startswith('0001-01-01'):
        return None
    match = re.match(r'^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?\s*(Z|[+-]\d\d:?\d\d)?', value.strip())
    if not match:
        return None
    stamp = datetime.datetime.strptime(match.group(1), '%Y-%m-%dT%H:%M:%S')
    micro = int((match.group(2) or '0')[:6].ljust(6, '0'))
    zone = match.group(3) or 'Z'
    if zone == 'Z':
        offset = datetime.timedelta(0)
    else:
        digits = zone.replace(':', '')
        offset = datetime.timedelta(hours=int(digits[1:3]), minutes=int(digits[3:5]))
        offset = -offset if digits[0] == '-' else offset
    return stamp.replace(microsecond=micro, tzinfo=datetime.timezone(offset))


def parse_container_inspect(text, name, now):
    """Facts of a container from ``<engine> container inspect <name>`` (a JSON list of one object)."""
    items = _json_array(text, 'container inspect')
    if not items or not isinstance(items[0], dict):
        raise probe.ProbeError("Could not find the container '%s': inspect returned nothing." % name)
    item = items[0]
    state = item.get('State') or {}
    status = state.get('Status') or ('running' if state.get('Running') else 'unknown')
    running = status == 'running'
    started = parse_rfc3339(state.get('StartedAt'))
    restarts = item.get('RestartCount', state.get('RestartCount'))
    return {
        'running': 1 if running else 0,
        'state': status,
        'restarts': _int_or_none(restarts),
        'uptime_s': round(max((now - started).total_seconds(), 0), 1) if (running and started) else None,
        'memory_bytes': None,
        'started_at': state.get('StartedAt') or None,
        'exit_code': state.get('ExitCode'),
        'identity': item.get('Id') or '',
    }


def label_selector(selector):
    """A Deployment's ``spec.selector`` as the ``labelSelector`` query of a pod list (as kubectl writes it):
    ``matchLabels`` as ``k=v``, ``matchExpressions`` as ``k in (a,b)``, ``k notin (a,b)``, ``k``, ``!k``."""
    terms = ['%s=%s' % (key, value) for key, value in sorted(((selector or {}).get('matchLabels') or {}).items())]
    for expr in (selector or {}).get('matchExpressions') or []:
        key, operator, values = expr.get('key'), expr.get('operator'), expr.get('values') or []
        if operator == 'In':
            terms.append('%s in (%s)' % (key, ','.join(values)))
        elif operator == 'NotIn':
            terms.append('%s notin (%s)' % (key, ','.join(values)))
        elif operator == 'Exists':
            terms.append(key)
        elif operator == 'DoesNotExist':
            terms.append('!' + key)
        else:
            raise probe.ProbeError('Could not read the pods of the Deployment: its selector has the operator %r, '
                                   'which a label selector cannot say.' % operator)
    if not terms:
        raise probe.ProbeError('Could not read the pods of the Deployment: it has no selector.')
    return ','.join(terms)


def _last_termination(pods):
    """The reason of the most recent container termination over ``pods`` (by finishedAt), None when none."""
    last = None
    for pod in pods or []:
        for status in (pod.get('status') or {}).get('containerStatuses') or []:
            terminated = (status.get('lastState') or {}).get('terminated') or {}
            if terminated.get('reason'):
                finished = parse_rfc3339(terminated.get('finishedAt') or '')
                stamp = finished.timestamp() if finished else float('-inf')
                if last is None or stamp > last[0]:
                    last = (stamp, terminated['reason'])
    return last[1] if last else None


def parse_k8s_deployment(deployment, pods, now):
    """Facts of a Deployment (``process`` probe, manager kubernetes) from its object and its pods as the API
    returns them (JSON, camelCase): the service role's :func:`k8s_status` plus the probe's metrics."""
    status = k8s_status(deployment, pods, (deployment.get('metadata') or {}).get('name'), now=now)
    meta = deployment.get('metadata') or {}
    created = parse_rfc3339(meta.get('creationTimestamp') or '')
    desired, ready = status['replicas'], status['ready_replicas']
    return {
        'running': 1 if status['running'] else 0,
        'state': '%s (%d/%d ready)' % (status['state'], ready, desired),
        'restarts': status['restarts'],
        'uptime_s': status['uptime_s'] if status['running'] else None,
        'memory_bytes': None,
        'replicas': desired,
        'ready_replicas': ready,
        'updated_replicas': status['updated_replicas'],
        'rollout_current': status['rollout_current'],
        'last_termination_reason': _last_termination(pods),
        'age_s': round(max((now - created).total_seconds(), 0), 1) if created else None,
        'started_at': meta.get('creationTimestamp'),
        'identity': meta.get('uid') or '',
    }


# --------------------------------------------------------------------------- restarts since the last check

def state_path(state_dir, check):
    key = '%s|%s|%s' % (check['manager'], check.get('container_engine') or '', check['service'])
    if check['manager'] == 'kubernetes':
        key += '|%s|%s' % (check.get('namespace') or 'default', check.get('kubeconfig') or '')
    digest = hashlib.sha256(key.encode('utf-8')).hexdigest()[:24]
    return os.path.join(os.path.expanduser(state_dir), '%s-%s.json' % (check['manager'], digest))


def restarts_since(previous, restarts, identity):
    """Restarts since the previous reading (None on the first one); a counter that went down counts in full."""
    if restarts is None or not isinstance(previous, dict) or not isinstance(previous.get('restarts'), int):
        return None
    if restarts < previous['restarts']:
        return restarts
    return restarts - previous['restarts']


def load_state(path):
    try:
        with open(path) as handle:
            data = json.load(handle)
        return data if isinstance(data, dict) else None
    except (IOError, OSError, ValueError):
        return None


def save_state(path, data):
    directory = os.path.dirname(path)
    try:
        os.makedirs(directory, mode=0o700, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=directory, prefix='.tmp-')
        with os.fdopen(fd, 'w') as handle:
            json.dump(data, handle)
        os.replace(tmp, path)
    except (IOError, OSError) as exc:
        raise probe.ProbeError('Could not write the process state file %s: %s. Set the check\'s state_dir to a '
                               'writable directory.' % (path, exc))


# --------------------------------------------------------------------------- probe

def _command(argv, deadline, what):
    try:
        proc = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False,
                              timeout=probe.time_left(deadline), env=dict(os.environ, LC_ALL='C', SYSTEMD_PAGER=''))
    except subprocess.TimeoutExpired:
        raise probe.ProbeTimeout()
    except OSError as exc:
        raise probe.ProbeError('Could not run %s: %s. Install it on the host, or put it on the PATH.' % (argv[0], exc))
    text = proc.stdout.decode('utf-8', 'replace')
    if proc.returncode != 0:
        err = proc.stderr.decode('utf-8', 'replace').strip().splitlines()
        raise probe.ProbeError('Could not read %s: %s exited with %d (%s).' % (
            what, argv[0], proc.returncode, err[-1][:300] if err else 'no message'))
    return text


def _k8s_api(check):
    """An ApiClient from the check's kubeconfig, else the environment's (KUBECONFIG, ~/.kube/config), else the
    in-cluster service account."""
    kubernetes = _lazy.module('kubernetes')
    if not check.get('kubeconfig') and os.environ.get('KUBERNETES_SERVICE_HOST') \
            and not os.environ.get('KUBECONFIG') and not os.path.exists(os.path.expanduser('~/.kube/config')):
        configuration = kubernetes.client.Configuration()
        kubernetes.config.load_incluster_config(client_configuration=configuration)
        return kubernetes.client.ApiClient(configuration)
    return kubernetes.config.new_client_from_config(config_file=check.get('kubeconfig') or None)


def _k8s_json(call, deadline, what):
    kubernetes = _lazy.module('kubernetes')
    try:
        response = call(_preload_content=False, _request_timeout=probe.time_left(deadline))
        return json.loads(response.data)
    except kubernetes.client.exceptions.ApiException as exc:
        if exc.status == 404:
            raise probe.ProbeError('Could not find %s: the API server answers 404. Check the name and the '
                                   'namespace (kubectl get deployments -n <namespace>).' % what)
        raise probe.ProbeError('Could not read %s: the API server answers %s %s. Check the kubeconfig and that '
                               'its user may get deployments and list pods.' % (what, exc.status, exc.reason))
    except ValueError:
        raise probe.ProbeError('Could not read %s: the answer is not JSON. Check that the kubeconfig names a '
                               'Kubernetes API server.' % what)
    except Exception as exc:  # urllib3 connection and timeout errors have no common public base
        if 'timeout' in type(exc).__name__.lower() or 'timed out' in str(exc):
            raise probe.ProbeTimeout()
        raise probe.ProbeError('Could not read %s: %s. Check that the API server of the kubeconfig answers.'
                               % (what, type(exc).__name__))


def read_k8s(check, deadline, now=None):
    """Facts of the Deployment ``check['service']`` in ``check['namespace']`` (default ``default``)."""
    kubernetes = _lazy.module('kubernetes')
    namespace, name = check.get('namespace') or 'default', check['service']
    what = 'the Deployment %s/%s' % (namespace, name)
    try:
        api = _k8s_api(check)
    except (kubernetes.config.ConfigException, IOError, OSError, ValueError) as exc:
        raise probe.ProbeError('Could not load the Kubernetes configuration: %s. Set the check\'s kubeconfig, or '
                               'KUBECONFIG on the host.' % exc)
    apps, core = kubernetes.client.AppsV1Api(api), kubernetes.client.CoreV1Api(api)
    deployment = _k8s_json(lambda **kw: apps.read_namespaced_deployment(name, namespace, **kw), deadline, what)
    selector = label_selector((deployment.get('spec') or {}).get('selector'))
    pods = _k8s_json(lambda **kw: core.list_namespaced_pod(namespace, label_selector=selector, **kw), deadline,
                     'the pods of %s' % what).get('items') or []
    return parse_k8s_deployment(deployment, pods, now or datetime.datetime.now(datetime.timezone.utc))


def read_facts(check, deadline):
    manager, name = check['manager'], check['service']
    if manager == 'kubernetes':
        return read_k8s(check, deadline)
    if manager == 'systemd':
        unit = name if '.' in name else name + '.service'
        text = _command(['systemctl', 'show', unit, '--property=' + ','.join(SYSTEMD_PROPERTIES)], deadline,
                        'the unit %s' % unit)
        return parse_systemctl_show(text, time.clock_gettime(time.CLOCK_MONOTONIC) * 1e6)
    if manager == 'pm2':
        text = _command(['pm2', 'jlist'], deadline, 'the pm2 process list')
        return parse_pm2_jlist(text, name, time.time() * 1000.0)
    engine = check.get('container_engine') or 'podman'
    text = _command([engine, 'container', 'inspect', name], deadline, 'the container %s' % name)
    return parse_container_inspect(text, name, datetime.datetime.now(datetime.timezone.utc))


def validate(check):
    if not NAME_RE.match(check.get('service') or ''):
        raise probe.HealthConfigError("check '%s': service must be a unit, pm2 app or container name (letters, digits, "
                                      "_ . @ : -), got %r" % (check['name'], check.get('service')))
    if check.get('container_engine') and check['manager'] != 'container':
        raise probe.HealthConfigError("check '%s': container_engine goes with manager container only" % check['name'])
    for option in ('namespace', 'kubeconfig'):
        if check.get(option) and check['manager'] != 'kubernetes':
            raise probe.HealthConfigError("check '%s': %s goes with manager kubernetes only" % (check['name'], option))
    if check.get('namespace') and not K8S_NAME_RE.match(check['namespace']):
        raise probe.HealthConfigError("check '%s': namespace must be a Kubernetes name (lower-case letters, digits, "
                                      "-), got %r" % (check['name'], check['namespace']))


def requirement(checks):
    if any(c.get('manager') == 'kubernetes' for c in checks):
        found, error = _lazy.available('kubernetes')
        if not found:
            return 'kubernetes', error
    return None


def run(check):
    deadline = time.monotonic() + check['timeout']
    facts = read_facts(check, deadline)
    state_dir = check.get('state_dir')
    state_dir = DEFAULT_STATE_DIR if state_dir is None else state_dir
    since = None
    if state_dir:
        path = state_path(state_dir, check)
        since = restarts_since(load_state(path), facts['restarts'], facts.get('identity'))
        save_state(path, {'restarts': facts['restarts'], 'identity': facts.get('identity'),
                          'checked_at': int(time.time()), 'service': check['service'], 'manager': check['manager']})
    metrics = dict((k, v) for k, v in facts.items() if k != 'identity')
    metrics['restarts_since_last'] = since
    result = probe.ProbeResult(metrics)
    if not facts['running'] and check['manager'] == 'kubernetes' and facts.get('ready_replicas'):
        result.add(probe.WARNING, 'kubernetes %s is degraded: %s' % (check['service'], facts['state']))
    elif not facts['running']:
        result.add(probe.CRITICAL, '%s %s is not running (%s)' % (check['manager'], check['service'], facts['state']))
    return result


PROBE_TYPE = probe.ProbeType(
    name='process', run=run,
    metrics={
        'running': (probe.LOWER, None),
        'restarts': (probe.HIGHER, None),
        'restarts_since_last': (probe.HIGHER, probe.levels(1, 5)),
        'uptime_s': (probe.LOWER, None),
        'memory_bytes': (probe.HIGHER, None),
        'ready_replicas': (probe.LOWER, None),
        'age_s': (probe.LOWER, None),
    },
    options=('manager', 'service', 'container_engine', 'state_dir', 'namespace', 'kubeconfig'),
    suboptions={
        'manager': dict(type='str', choices=list(MANAGERS)),
        'service': dict(type='str'),
        'container_engine': dict(type='str', choices=list(ENGINES)),
        'state_dir': dict(type='path'),
        'namespace': dict(type='str'),
        'kubeconfig': dict(type='path'),
    },
    required=('manager', 'service'),
    requirement=requirement,
    validate=validate,
)


# --------------------------------------------------------------------------- the service role's status (filters)

def process_checks(names, manager, container_engine=None):
    """The ``process`` checks the service role's status entry point hands to health_check, one per name."""
    checks = []
    for name in names:
        check = {'name': '%s %s' % (manager, name), 'type': 'process', 'manager': manager, 'service': name}
        if manager == 'container':
            check['container_engine'] = os.path.basename(container_engine or 'podman')
        checks.append(check)
    return checks


METRIC_KEYS = ('running', 'state', 'restarts', 'restarts_since_last', 'uptime_s', 'memory_bytes', 'started_at')


def status_from_report(report, manager, name):
    """``service_status`` from a health_check result of :func:`process_checks`: one row per unit/app/container,
    and the service's own figures (running only when all run; restarts and memory summed; the shortest uptime)."""
    rows = []
    for check in (report or {}).get('checks') or []:
        metrics = check.get('metrics') or {}
        row = {'name': check.get('name', '').split(' ', 1)[-1], 'status': check.get('status'),
               'message': check.get('message')}
        row.update((key, metrics.get(key)) for key in METRIC_KEYS)
        rows.append(row)
    out = {'manager': manager, 'name': name, 'status': (report or {}).get('status', 'critical'), 'services': rows}
    out.update(_totals(rows))
    return out


def _sum(values):
    values = [v for v in values if v is not None]
    return sum(values) if values else None


def _totals(rows):
    if not rows:
        return {'running': False, 'state': 'unknown', 'restarts': None, 'uptime_s': None, 'memory_bytes': None}
    uptimes = [r['uptime_s'] for r in rows if r.get('uptime_s') is not None]
    return {
        'running': all(r.get('running') == 1 for r in rows),
        'state': ', '.join(str(r.get('state')) for r in rows),
        'restarts': _sum(r.get('restarts') for r in rows),
        'restarts_since_last': _sum(r.get('restarts_since_last') for r in rows),
        'uptime_s': min(uptimes) if uptimes else None,
        'memory_bytes': _sum(r.get('memory_bytes') for r in rows),
    }


def k8s_status(deployment, pods, name, now=None):
    """``service_status`` of a Kubernetes Deployment from its object and its pods (as the API returns them):
    replicas desired/ready/updated, whether the rollout is current, and per pod phase, readiness, restarts and the
    last termination reason of its containers."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    if not deployment:
        return {'manager': 'kubernetes', 'name': name, 'status': 'critical', 'running': False, 'state': 'not found',
                'restarts': None, 'uptime_s': None, 'memory_bytes': None, 'services': []}
    spec, status = deployment.get('spec') or {}, deployment.get('status') or {}
    meta = deployment.get('metadata') or {}
    desired = int(spec.get('replicas', 1) or 0)
    ready = int(status.get('readyReplicas') or 0)
    updated = int(status.get('updatedReplicas') or 0)
    current = int(status.get('observedGeneration') or 0) >= int(meta.get('generation') or 0)
    rows = []
    for pod in pods or []:
        pstatus = pod.get('status') or {}
        containers = pstatus.get('containerStatuses') or []
        reasons = [((c.get('lastState') or {}).get('terminated') or {}).get('reason') for c in containers]
        # since the youngest container (re)start, else since the pod started
        starts = [parse_rfc3339(((c.get('state') or {}).get('running') or {}).get('startedAt') or '')
                  for c in containers]
        starts = [s for s in starts if s is not None]
        started = max(starts) if starts else parse_rfc3339(pstatus.get('startTime') or '')
        all_ready = bool(containers) and all(c.get('ready') for c in containers)
        rows.append({
            'name': (pod.get('metadata') or {}).get('name'),
            'status': 'ok' if all_ready else 'critical',
            'running': 1 if (pstatus.get('phase') == 'Running' and all_ready) else 0,
            'state': pstatus.get('phase') or 'Unknown',
            'restarts': sum(int(c.get('restartCount') or 0) for c in containers),
            'last_termination_reason': next((r for r in reasons if r), None),
            'uptime_s': round((now - started).total_seconds(), 1) if started else None,
            'memory_bytes': None,
        })
    if desired == 0:
        state, verdict = 'scaled to 0', 'warning'
    elif ready >= desired and current and updated >= desired:
        state, verdict = 'available', 'ok'
    elif ready > 0:
        state, verdict = 'degraded' if current else 'rolling out', 'warning'
    else:
        state, verdict = 'unavailable', 'critical'
    uptimes = [r['uptime_s'] for r in rows if r['uptime_s'] is not None]
    return {
        'manager': 'kubernetes', 'name': name, 'status': verdict, 'running': desired > 0 and ready >= desired,
        'state': state, 'replicas': desired, 'ready_replicas': ready, 'updated_replicas': updated,
        'rollout_current': current, 'restarts': sum(r['restarts'] for r in rows),
        'uptime_s': min(uptimes) if uptimes else None, 'memory_bytes': None, 'services': rows,
    }


# --------------------------------------------------------------------------- incident playbooks (filters)

def group_checks(services, default_manager='systemd', default_engine='podman', min_uptime=None):
    """The process checks that tell whether a restarted group is back (Kubernetes restarts wait on their own).
    With ``min_uptime`` a service counts as back only once it has run that many seconds (a crash-looping one that
    is up for an instant between two crashes does not)."""
    checks = []
    for item in services or []:
        manager = item.get('manager') or default_manager
        if manager not in HOST_MANAGERS:
            continue
        names = item.get('units') if manager == 'systemd' and item.get('units') else [item['name']]
        checks.extend(process_checks(names, manager, item.get('container_engine') or default_engine))
    for check in checks:
        check['state_dir'] = ''   # a restart must not eat the restarts-since-last count of the daily check
        if min_uptime:
            check['thresholds'] = {'uptime_s': {'critical': min_uptime}}
    return checks


def fleet_rows(fleet):
    """``{host: [service_status, ...] or None}`` -> ``{'rows': [...], 'summary': {...}}``, worst first."""
    rank = {probe.CRITICAL: 0, probe.WARNING: 1, probe.OK: 2}
    rows = []
    for host, statuses in sorted((fleet or {}).items()):
        if not isinstance(statuses, list):
            rows.append({'host': host, 'service': '-', 'manager': '-', 'status': probe.CRITICAL,
                         'state': 'no result: host unreachable or the status did not run', 'running': False,
                         'uptime_s': None, 'restarts': None, 'restarts_since_last': None, 'memory_bytes': None})
            continue
        for status in statuses:
            rows.append({'host': host, 'service': status.get('name'), 'manager': status.get('manager'),
                         'status': status.get('status') or probe.CRITICAL, 'state': status.get('state'),
                         'running': status.get('running'), 'uptime_s': status.get('uptime_s'),
                         'restarts': status.get('restarts'), 'restarts_since_last': status.get('restarts_since_last'),
                         'memory_bytes': status.get('memory_bytes')})
    rows.sort(key=lambda r: (rank.get(r['status'], 0), r['host'], str(r['service'])))
    summary = dict((s, len([r for r in rows if r['status'] == s])) for s in (probe.OK, probe.WARNING, probe.CRITICAL))
    return {'rows': rows, 'summary': summary}


def _human_bytes(value):
    if value is None:
        return '-'
    for unit in ('B', 'KiB', 'MiB', 'GiB'):
        if value < 1024 or unit == 'GiB':
            return ('%d %s' % (value, unit)) if unit == 'B' else ('%.1f %s' % (value, unit))
        value = value / 1024.0
    return '-'  # pragma: no cover


def _human_seconds(value):
    if value is None:
        return '-'
    value = int(value)
    days, rest = divmod(value, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    if days:
        return '%dd %dh' % (days, hours)
    if hours:
        return '%dh %dm' % (hours, minutes)
    return '%dm %ds' % (minutes, seconds) if minutes else '%ds' % seconds


def _cell(value):
    text = '-' if value is None else str(value)
    return text.replace('\\', '\\\\').replace('|', '\\|').replace('\n', ' ')


def fleet_markdown(report):
    """The fleet table of :func:`fleet_rows` as Markdown."""
    summary = report.get('summary') or {}
    lines = ['# Service status', '',
             '%d ok, %d warning, %d critical' % (summary.get('ok', 0), summary.get('warning', 0),
                                                 summary.get('critical', 0)), '',
             '| host | service | manager | status | state | uptime | restarts | since last check | memory |',
             '|---|---|---|---|---|---|---|---|---|']
    for row in report.get('rows') or []:
        lines.append('| %s |' % ' | '.join(_cell(v) for v in (
            row['host'], row['service'], row['manager'], row['status'], row['state'], _human_seconds(row['uptime_s']),
            row['restarts'], row['restarts_since_last'], _human_bytes(row['memory_bytes']))))
    return '\n'.join(lines) + '\n'
