# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
from __future__ import annotations

# A Kubernetes CONTRACT emulator for the service role's kubernetes adapter. No API server can run on the test
# machines (no kube-apiserver, k3s or kind package is reachable), so this builds on a maintained fake, PyPI
# kmock's KubernetesEmulator (discovery, create/get/patch/delete of any resource over real HTTP, which the
# kubernetes client and kubernetes.core talk to unchanged), and adds what it lacks and the adapter relies on:
#   - kmock's bundled discovery document loaded (kinds, subresources);
#   - list responses with kind/apiVersion and a resourceVersion; labelSelector filtering (equality only);
#   - metadata.resourceVersion bumped on every write, metadata.generation on every spec change of a Deployment;
#   - a tiny Deployment controller: after each write it sets status (observedGeneration, replicas, readyReplicas,
#     updatedReplicas, availableReplicas) and keeps spec.replicas pods labelled from the pod template, replacing
#     them all when the template changes (a rollout), with containerStatuses (ready, restartCount, lastState);
#   - pods/<name>/log (the container's "log" is the pod's annotation contract.runbook.ops/log).
# What a real cluster does that this does not: scheduling, gradual rollouts (maxSurge/maxUnavailable), readiness
# probes, strategic-merge of lists by key (the emulator replaces lists: patches here name every container).
# The fixture runs the server in a thread on 127.0.0.1 and writes a kubeconfig pointing at it.

import asyncio
import copy
import hashlib
import json
import threading
import time

import aiohttp.web
import pytest

try:
    import kmock
    HAS_KMOCK = True
except ImportError:  # pragma: no cover
    HAS_KMOCK = False

POD_LOG_ANNOTATION = 'contract.runbook.ops/log'


def _template_hash(template):
    return hashlib.sha256(json.dumps(template, sort_keys=True).encode()).hexdigest()[:10]


def _match(labels, selector):
    if not selector:
        return True
    for term in selector.split(','):
        key, sep, value = term.partition('=')
        if not sep or (labels or {}).get(key.strip()) != value.strip().lstrip('='):
            return False
    return True


if HAS_KMOCK:
    class ContractEmulator(kmock.KubernetesEmulator):
        """kmock's emulator with lists, versions, label selectors, a Deployment controller and pod logs."""

        def __attrs_post_init__(self):
            super().__attrs_post_init__()
            # kmock's bundled discovery of a K3s cluster's built-in resources (kinds, verbs, subresources)
            self.resources.load_bundled()
            self.rv = 1
            self.pod_resource = None
            self.deploy_resource = None

        def _bump(self, key):
            self.rv += 1
            if key in self._objects and not self._objects[key].deleted:
                self._objects[key].patch({'metadata': {'resourceVersion': str(self.rv)}})

        async def _serve_list(self, request):
            payload = await super()._serve_list(request)
            selector = (request.params or {}).get('labelSelector')
            items = [i for i in payload['items'] if _match((i.get('metadata') or {}).get('labels'), selector)]
            kind = (items[0].get('kind') if items else None) or self._kind_of(request.resource)
            version = '%s/%s' % (request.resource.group, request.resource.version) if request.resource.group \
                else request.resource.version
            return {'kind': kind + 'List', 'apiVersion': version,
                    'metadata': {'resourceVersion': str(self.rv)}, 'items': items}

        @staticmethod
        def _kind_of(resource):
            return {'pods': 'Pod', 'deployments': 'Deployment'}.get(resource.plural, resource.plural.capitalize())

        async def _handle(self, request):
            path = str(request.url.path) if request.url is not None else ''
            if request.method == 'GET' and '/pods/' in path and path.endswith('/log'):
                return self._pod_log(path, request.params or {})
            before = None
            key = None
            if request.resource is not None and request.name is not None:
                key = (request.resource, request.namespace, request.name)
                if key in self._objects and not self._objects[key].deleted:
                    before = copy.deepcopy(self._objects[key].raw)
            response = await super()._handle(request)
            if request.resource is not None and request.action in (kmock.action.CREATE, kmock.action.UPDATE):
                data = request.data or {}
                name = request.name or (data.get('metadata') or {}).get('name')
                namespace = request.namespace or (data.get('metadata') or {}).get('namespace')
                key = (request.resource, namespace, name)
                if request.resource.plural == 'deployments' and key in self._objects:
                    self.deploy_resource = request.resource
                    self._bump(key)
                    self._deployment_written(key, before)
                elif request.resource.plural == 'pods':
                    self.pod_resource = request.resource
                    self._bump(key)
            return response

        # ---- the Deployment controller
        def _deployment_written(self, key, before):
            obj = self._objects[key]
            raw = obj.raw
            gen = int((raw.get('metadata') or {}).get('generation') or 0)
            if before is None or before.get('spec') != raw.get('spec') or not gen:
                gen = gen + 1 if before is not None else 1
                obj.patch({'metadata': {'generation': gen}})
            self.reconcile(key)

        def reconcile(self, key):
            raw = self._objects[key].raw
            spec = raw.get('spec') or {}
            template = spec.get('template') or {}
            thash = _template_hash(template)
            replicas = int(spec.get('replicas', 1))
            namespace = key[1]
            labels = dict((template.get('metadata') or {}).get('labels') or {})
            pods = [(k, o) for k, o in self._objects.items()
                    if k[0].plural == 'pods' and k[1] == namespace and not o.deleted
                    and ((o.raw.get('metadata') or {}).get('labels') or {}).get('contract-owner') == key[2]]
            keep = [k for k, o in pods if o.raw['metadata']['labels'].get('pod-template-hash') == thash][:replicas]
            for k, o in pods:
                if k not in keep:
                    o.delete()
            resource = self.pod_resource or kmock.resource('', 'v1', 'pods')
            for index in range(len(keep), replicas):
                name = '%s-%s-%d%s' % (key[2], thash[:5], index, hashlib.sha1(str(time.time()).encode()).hexdigest()[:4])
                containers = (template.get('spec') or {}).get('containers') or []
                now = time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())
                annotations = dict((template.get('metadata') or {}).get('annotations') or {})
                pod = {
                    'apiVersion': 'v1', 'kind': 'Pod',
                    'metadata': {'name': name, 'namespace': namespace, 'annotations': annotations,
                                 'labels': dict(labels, **{'pod-template-hash': thash, 'contract-owner': key[2]}),
                                 'resourceVersion': str(self.rv)},
                    'spec': copy.deepcopy(template.get('spec') or {}),
                    'status': {'phase': 'Running', 'startTime': now,
                               'containerStatuses': [{'name': c.get('name'), 'image': c.get('image'), 'ready': True,
                                                      'imageID': 'contract://' + str(c.get('image')),
                                                      'containerID': 'contract://%s/%s' % (name, c.get('name')),
                                                      'started': True, 'restartCount': 0, 'lastState': {},
                                                      'state': {'running': {'startedAt': now}}}
                                                     for c in containers]},
                }
                self._objects[(resource, namespace, name)] = pod
            ready = replicas
            self._objects[key].patch({'status': {
                'observedGeneration': (raw.get('metadata') or {}).get('generation'), 'replicas': replicas,
                'readyReplicas': ready, 'updatedReplicas': replicas, 'availableReplicas': ready,
                'unavailableReplicas': None if ready >= replicas else replicas - ready}})
            self.rv += 1

        def pods(self, namespace, owner):
            return [o.raw for k, o in self._objects.items()
                    if k[0].plural == 'pods' and k[1] == namespace and not o.deleted
                    and ((o.raw.get('metadata') or {}).get('labels') or {}).get('contract-owner') == owner]

        def crash(self, namespace, owner, restarts, reason):
            """Make the pods of a Deployment look crash-looping: restarts, a last termination reason, not ready."""
            for k, o in self._objects.items():
                if k[0].plural == 'pods' and k[1] == namespace and not o.deleted and \
                        ((o.raw.get('metadata') or {}).get('labels') or {}).get('contract-owner') == owner:
                    statuses = copy.deepcopy(o.raw['status']['containerStatuses'])
                    for status in statuses:
                        status.update(ready=False, restartCount=restarts,
                                      lastState={'terminated': {'reason': reason, 'exitCode': 137}})
                    o.patch({'status': {'containerStatuses': statuses}})
            for k, o in self._objects.items():
                if k[0].plural == 'deployments' and k[1] == namespace and k[2] == owner and not o.deleted:
                    o.patch({'status': {'readyReplicas': 0, 'availableReplicas': 0}})

        def _pod_log(self, path, params):
            parts = path.strip('/').split('/')
            namespace, name = parts[parts.index('namespaces') + 1], parts[parts.index('pods') + 1]
            for k, o in self._objects.items():
                if k[0].plural == 'pods' and k[1] == namespace and k[2] == name and not o.deleted:
                    lines = ((o.raw.get('metadata') or {}).get('annotations') or {}).get(POD_LOG_ANNOTATION, '')
                    lines = lines.splitlines()
                    tail = params.get('tailLines')
                    if tail:
                        lines = lines[-int(tail):]
                    return aiohttp.web.Response(text=''.join(line + '\n' for line in lines))
            return aiohttp.web.json_response({'kind': 'Status', 'apiVersion': 'v1', 'status': 'Failure',
                                              'code': 404, 'reason': 'NotFound', 'message': 'pod not found'},
                                             status=404)


class EmulatorThread(object):
    def __init__(self):
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.stop_event = None
        self.emulator = None
        self.url = None
        self.error = None
        self.thread = threading.Thread(target=self._main, daemon=True)

    def _main(self):
        asyncio.set_event_loop(self.loop)
        try:
            self.loop.run_until_complete(self._serve())
        except Exception as exc:  # pragma: no cover - reported by start()
            self.error = exc
            self.ready.set()

    async def _serve(self):
        self.stop_event = asyncio.Event()
        async with ContractEmulator() as emulator, kmock.Server(emulator) as server:
            self.emulator = emulator
            self.url = str(server.url).rstrip('/')
            self.ready.set()
            await self.stop_event.wait()

    def start(self):
        self.thread.start()
        if not self.ready.wait(60) or self.error:
            raise AssertionError('Could not start the Kubernetes contract emulator: %r' % (self.error,))
        return self

    def call(self, fn, *args):
        """Run ``fn(emulator, *args)`` in the emulator's loop (its objects are not thread-safe)."""
        async def run():
            return fn(self.emulator, *args)
        return asyncio.run_coroutine_threadsafe(run(), self.loop).result(60)

    def stop(self):
        if self.stop_event is not None:
            self.loop.call_soon_threadsafe(self.stop_event.set)
        self.thread.join(30)


@pytest.fixture
def k8s_contract(tmp_path):
    """The contract emulator on 127.0.0.1 and a kubeconfig for it: ``(emulator_thread, kubeconfig_path)``."""
    if not HAS_KMOCK:
        pytest.fail('kmock is needed for the Kubernetes contract tests: pip install -r requirements-dev.txt',
                    pytrace=False)
    server = EmulatorThread().start()
    kubeconfig = tmp_path / 'kubeconfig'
    kubeconfig.write_text(json.dumps({
        'apiVersion': 'v1', 'kind': 'Config', 'current-context': 'contract',
        'clusters': [{'name': 'contract', 'cluster': {'server': server.url}}],
        'contexts': [{'name': 'contract', 'context': {'cluster': 'contract', 'user': 'contract',
                                                      'namespace': 'default'}}],
        'users': [{'name': 'contract', 'user': {'token': 'contract-token'}}]}))
    try:
        yield server, str(kubeconfig)
    finally:
        server.stop()
