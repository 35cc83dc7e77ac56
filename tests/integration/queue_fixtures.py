# -*- coding: utf-8 -*-
# Copyright: (c) 2026, runbook.ops maintainers
# GNU General Public License v3.0+ (see LICENSE or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Real queues and real workers for the queue_info / queue_control tests.

* npm ``bullmq`` at a pinned version, installed once into <repo>/.build/bullmq (kept between runs, like pm2),
  driven by small Node scripts written here: a producer (waiting, delayed, prioritized, failing and completed
  jobs), a worker that records each job it processes in a file, and a reader that prints the library's own view
  (``getJobCounts``, ``isPaused``) as JSON. The tests check our modules against that view.
* a real ``celery worker`` (the venv's celery) with a Redis broker and a tiny task module in the test's temp dir,
  and a producer that sends tasks by name from a bare app.
Nothing is mocked: the processes are the libraries' own.
"""
from __future__ import annotations

import fcntl
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

from testkit import REPO

BULLMQ_NPM_VERSION = '6.7.6'
# bullmq 6 makes its Redis client an optional peer dependency
IOREDIS_NPM_VERSION = '5.9.2'
# Bull 4, only to make a queue with the Bull 3/4 key layout that the modules must refuse
BULL_NPM_VERSION = '4.16.5'
BULLMQ_PREFIX = os.path.join(REPO, '.build', 'bullmq')
NODE_MIN_MAJOR = 18
VENV_BIN = os.path.dirname(sys.executable)

NODE_COMMON = r"""'use strict';
const {Queue, Worker} = require('bullmq');
const fs = require('fs');
const [,, cmd, name, argJson] = process.argv;
const args = JSON.parse(argJson || '{}');
const connection = {host: '127.0.0.1', port: Number(process.env.RBO_REDIS_PORT),
  password: process.env.RBO_REDIS_PASSWORD || undefined, maxRetriesPerRequest: null};
const prefix = process.env.RBO_PREFIX || 'bull';
"""

NODE_PRODUCER = NODE_COMMON + r"""
async function main() {
  const q = new Queue(name, {connection, prefix});
  if (cmd === 'add') {
    // args: {ok, fail, slow, delayed, prioritized, slow_ms, delay_ms}
    const jobs = [];
    for (let i = 0; i < (args.ok || 0); i++) jobs.push({name: 'ok', data: {i}});
    for (let i = 0; i < (args.fail || 0); i++) jobs.push({name: 'fail', data: {i}});
    for (let i = 0; i < (args.slow || 0); i++) jobs.push({name: 'slow', data: {i, ms: args.slow_ms || 3000}});
    for (let i = 0; i < (args.delayed || 0); i++) jobs.push({name: 'ok', data: {i}, opts: {delay: args.delay_ms || 3600000}});
    for (let i = 0; i < (args.prioritized || 0); i++) jobs.push({name: 'ok', data: {i}, opts: {priority: 5}});
    if (jobs.length) await q.addBulk(jobs);
    console.log(JSON.stringify({added: jobs.length}));
  } else if (cmd === 'load') {
    // args.n completed jobs, made the library's way: addBulk in chunks, then a worker with an empty processor
    for (let done = 0; done < args.n; done += 5000) {
      const jobs = [];
      for (let i = done; i < Math.min(args.n, done + 5000); i++) jobs.push({name: 'ok', data: {i}});
      await q.addBulk(jobs);
    }
    const w = new Worker(name, async () => 1, {connection, prefix, concurrency: args.concurrency || 200});
    for (;;) {
      const c = await q.getJobCounts('completed');
      if (c.completed >= args.n) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    await w.close();
    console.log(JSON.stringify(await q.getJobCounts('completed', 'wait', 'active')));
  } else if (cmd === 'counts') {
    const counts = await q.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'completed', 'failed',
                                        'paused', 'waiting-children');
    console.log(JSON.stringify({counts, paused: await q.isPaused()}));
  } else if (cmd === 'clean') {
    // BullMQ's own clean in batches of args.limit (the bench's reference)
    let total = 0;
    const t0 = process.hrtime.bigint();
    for (;;) {
      const ids = await q.clean(args.grace || 0, args.limit, args.type || 'completed');
      total += ids.length;
      if (ids.length < args.limit) break;
    }
    const ms = Number(process.hrtime.bigint() - t0) / 1e6;
    console.log(JSON.stringify({removed: total, ms}));
  }
  await q.close();
}
main().catch((e) => { console.error(e && e.stack || String(e)); process.exit(1); });
"""

NODE_WORKER = NODE_COMMON + r"""
// Processes jobs of one queue, appending "<id> <name>\n" to args.log when a job starts. 'fail' jobs throw,
// 'slow' jobs take data.ms milliseconds.
const worker = new Worker(name, async (job) => {
  fs.appendFileSync(args.log, job.id + ' ' + job.name + '\n');
  if (job.name === 'fail') throw new Error('boom ' + job.id);
  if (job.name === 'slow') await new Promise((r) => setTimeout(r, job.data.ms));
  return {done: job.id};
}, {connection, prefix, concurrency: args.concurrency || 1, stalledInterval: args.stalled_interval || 30000,
    lockDuration: args.lock_ms || 30000});
worker.on('error', (e) => console.error('worker error', e && e.message));
worker.on('ready', () => fs.appendFileSync(args.log, ''));
async function stop() { await worker.close(); process.exit(0); }
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
"""

NODE_BULL4 = r"""'use strict';
// Adds args.n jobs to a Bull 4 queue and optionally pauses it (Bull's own API).
const Bull = require('bull');
const [,, name, argJson] = process.argv;
const args = JSON.parse(argJson || '{}');
const q = new Bull(name, {redis: {host: '127.0.0.1', port: Number(process.env.RBO_REDIS_PORT),
  password: process.env.RBO_REDIS_PASSWORD || undefined}});
(async () => {
  for (let i = 0; i < (args.n === undefined ? 1 : args.n); i++) await q.add({i});
  if (args.pause) await q.pause();
  console.log(JSON.stringify({counts: await q.getJobCounts(), paused: await q.isPaused()}));
  await q.close();
})().catch((e) => { console.error(e && e.stack || String(e)); process.exit(1); });
"""


def _node_problem():
    node, npm = shutil.which('node'), shutil.which('npm')
    if not node or not npm:
        return 'node and npm are needed for the BullMQ tests'
    out = subprocess.run([node, '--version'], capture_output=True, text=True, timeout=30, check=False).stdout
    try:
        major = int(out.strip().lstrip('v').split('.')[0])
    except ValueError:
        return 'could not read the version of %s: %r' % (node, out)
    if major < NODE_MIN_MAJOR:
        return 'bullmq %s needs Node.js >= %d, %s is %s' % (BULLMQ_NPM_VERSION, NODE_MIN_MAJOR, node, out.strip())
    return None


def _installed_version(package='bullmq'):
    try:
        with open(os.path.join(BULLMQ_PREFIX, 'node_modules', package, 'package.json')) as f:
            return json.load(f).get('version')
    except (OSError, ValueError):
        return None


def install_bullmq_npm():
    """The prefix holding the pinned npm bullmq; installs it when missing (kept between runs)."""
    problem = _node_problem()
    if problem:
        pytest.fail('%s: run `make bootstrap` or install Node.js >= %d with npm.' % (problem, NODE_MIN_MAJOR),
                    pytrace=False)
    os.makedirs(BULLMQ_PREFIX, exist_ok=True)
    with open(BULLMQ_PREFIX + '.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        wanted = {'bullmq': BULLMQ_NPM_VERSION, 'ioredis': IOREDIS_NPM_VERSION, 'bull': BULL_NPM_VERSION}
        if any(_installed_version(p) != v for p, v in wanted.items()):
            r = subprocess.run(['npm', 'install', '--prefix', BULLMQ_PREFIX, '--no-audit', '--no-fund',
                                '--no-update-notifier'] + ['%s@%s' % pv for pv in sorted(wanted.items())],
                               capture_output=True, text=True, timeout=600, check=False)
            if r.returncode != 0 or any(_installed_version(p) != v for p, v in wanted.items()):
                pytest.fail('Could not install bullmq@%s with npm into %s (rc %d): %s' % (
                    BULLMQ_NPM_VERSION, BULLMQ_PREFIX, r.returncode, (r.stdout + r.stderr)[-2000:]), pytrace=False)
        for fname, text in (('producer.js', NODE_PRODUCER), ('worker.js', NODE_WORKER), ('bull4.js', NODE_BULL4)):
            path = os.path.join(BULLMQ_PREFIX, fname)
            tmp = path + '.%d' % os.getpid()
            with open(tmp, 'w') as f:
                f.write(text)
            os.replace(tmp, path)
    return BULLMQ_PREFIX


class NodeBullmq(object):
    """The npm bullmq's own view and actions on one Redis server (every call runs real Node code)."""

    def __init__(self, prefix_dir, redis, key_prefix='bull'):
        self.dir = prefix_dir
        self.redis = redis
        self.env = dict(os.environ, RBO_REDIS_PORT=str(redis.port), RBO_REDIS_PASSWORD=redis.password or '',
                        RBO_PREFIX=key_prefix, NODE_PATH=os.path.join(prefix_dir, 'node_modules'))
        self.workers = []

    def _run(self, cmd, queue, args=None, timeout=600):
        r = subprocess.run(['node', os.path.join(self.dir, 'producer.js'), cmd, queue, json.dumps(args or {})],
                           capture_output=True, text=True, env=self.env, timeout=timeout, cwd=self.dir, check=False)
        if r.returncode != 0:
            raise AssertionError('node producer %s %s failed (rc %d): %s' % (cmd, queue, r.returncode, r.stderr[-2000:]))
        return json.loads(r.stdout.strip().splitlines()[-1])

    def bull4(self, queue, n=1, pause=False):
        """Make a Bull 4 queue (the other key layout) with Bull's own API."""
        r = subprocess.run(['node', os.path.join(self.dir, 'bull4.js'), queue, json.dumps({'n': n, 'pause': pause})],
                           capture_output=True, text=True, env=self.env, timeout=120, cwd=self.dir, check=False)
        if r.returncode != 0:
            raise AssertionError('node bull4 %s failed (rc %d): %s' % (queue, r.returncode, r.stderr[-2000:]))
        return json.loads(r.stdout.strip().splitlines()[-1])

    def add(self, queue, **kinds):
        return self._run('add', queue, kinds)

    def counts(self, queue):
        """{'counts': {...}, 'paused': bool} from Queue.getJobCounts / isPaused."""
        return self._run('counts', queue)

    def clean(self, queue, limit, grace=0, kind='completed'):
        return self._run('clean', queue, {'limit': limit, 'grace': grace, 'type': kind}, timeout=3600)

    def start_worker(self, queue, log, **opts):
        args = dict(opts, log=str(log))
        open(str(log), 'a').close()
        proc = subprocess.Popen(['node', os.path.join(self.dir, 'worker.js'), 'work', queue, json.dumps(args)],
                                env=self.env, cwd=self.dir, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self.workers.append(proc)
        return proc

    def stop_worker(self, proc, hard=False):
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL if hard else signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)

    def wait_counts(self, queue, pred, deadline_s=60):
        """Poll the library's counts until pred(counts) holds (bounded); return them."""
        end = time.monotonic() + deadline_s
        last = None
        while time.monotonic() < end:
            last = self.counts(queue)
            if pred(last['counts']):
                return last
            time.sleep(0.3)
        raise AssertionError('queue %s never reached the expected counts: %r' % (queue, last))

    def close(self):
        for proc in self.workers:
            self.stop_worker(proc, hard=True)


@pytest.fixture(scope='session')
def bullmq_npm():
    return install_bullmq_npm()


@pytest.fixture
def node_bullmq(bullmq_npm, redis_server):
    """NodeBullmq on the session's password-protected Redis (workers stopped at teardown)."""
    nb = NodeBullmq(bullmq_npm, redis_server)
    yield nb
    nb.close()


def processed(log):
    """Lines '<id> <name>' a Node or Celery worker wrote, in order."""
    try:
        with open(str(log)) as f:
            return [line.split() for line in f.read().splitlines() if line.strip()]
    except OSError:
        return []


# ---------------------------------------------------------------------------------------------- Celery

CELERY_TASKS = r'''
import os
import time
from celery import Celery

app = Celery('rbotasks', broker=os.environ['RBO_BROKER'])
app.conf.worker_hijack_root_logger = False
app.conf.broker_connection_retry_on_startup = True
app.conf.task_acks_late = False
app.conf.worker_prefetch_multiplier = 1


@app.task(name='rbo.record')
def record(tag, sleep_s=0):
    with open(os.environ['RBO_LOG'], 'a') as f:
        f.write('%s record\n' % tag)
    if sleep_s:
        time.sleep(sleep_s)
    return tag
'''


def broker_url(redis, db=0):
    if redis.password:
        return 'redis://:%s@127.0.0.1:%d/%d' % (redis.password, redis.port, db)
    return 'redis://127.0.0.1:%d/%d' % (redis.port, db)


class CeleryWorkers(object):
    """Real `celery worker` processes with a Redis broker, and a bare app to send tasks and inspect."""

    def __init__(self, redis, tmp_path, db=0):
        from celery import Celery
        self.redis = redis
        self.dir = str(tmp_path)
        self.log = os.path.join(self.dir, 'tasks.log')
        self.db = db
        with open(os.path.join(self.dir, 'rbotasks.py'), 'w') as f:
            f.write(CELERY_TASKS)
        self.env = dict(os.environ, RBO_BROKER=broker_url(redis, db), RBO_LOG=self.log,
                        PYTHONPATH=self.dir)
        self.app = Celery(broker=broker_url(redis, db))
        self.procs = []

    def start(self, name, queues, concurrency=1):
        argv = [os.path.join(VENV_BIN, 'celery'), '-A', 'rbotasks', 'worker', '-n', '%s@rbo' % name,
                '-Q', ','.join(queues), '-c', str(concurrency), '-P', 'solo' if concurrency == 1 else 'prefork',
                '--without-gossip', '--without-mingle', '--without-heartbeat', '-l', 'WARNING']
        logf = open(os.path.join(self.dir, 'worker-%s.log' % name), 'wb')
        proc = subprocess.Popen(argv, env=self.env, cwd=self.dir, stdout=logf, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        self.wait_ready('%s@rbo' % name, proc)
        return proc

    def wait_ready(self, node, proc, deadline_s=90):
        end = time.monotonic() + deadline_s
        while time.monotonic() < end:
            if proc.poll() is not None:
                raise AssertionError('celery worker %s exited (rc %s)' % (node, proc.returncode))
            replies = self.app.control.ping(destination=[node], timeout=1.0) or []
            if any(node in r for r in replies):
                return
            time.sleep(0.3)
        raise AssertionError('celery worker %s never answered ping' % node)

    def send(self, queue, tag, sleep_s=0, priority=None):
        opts = {'queue': queue}
        if priority is not None:
            opts['priority'] = priority
        self.app.send_task('rbo.record', args=[tag, sleep_s], **opts)

    def active_queues(self):
        """{worker: [queue names]} from Celery's own inspect."""
        replies = self.app.control.inspect(timeout=2.0).active_queues() or {}
        return {w: sorted(q['name'] for q in qs) for w, qs in replies.items()}

    def stop_all(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        self.app.close()


@pytest.fixture
def celery_workers(redis_server, tmp_path):
    cw = CeleryWorkers(redis_server, tmp_path, db=3)
    yield cw
    cw.stop_all()


def wait_for(pred, deadline_s=60, what='condition'):
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        value = pred()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError('%s never held within %ss' % (what, deadline_s))
