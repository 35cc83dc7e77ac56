'use strict';
// The API of the lab's Bull app (seed 002): GET /health (Redis PING; 503 when the release ships FAIL_HEALTH),
// GET /api/queue/stats (BullMQ's own counts), POST /api/cache/warm (seed 002, 3.3: project:<id> for the first
// 100 items of PostgreSQL, 15 minutes TTL; psql reads the PG* settings of .env from its environment).
const fs = require('fs');
const http = require('http');
const path = require('path');
const {execFile} = require('child_process');
const {Queue} = require('bullmq');
const IORedis = require('ioredis');
const {version, env, connection, queueNames, release} = require('./common');

const failing = fs.existsSync(path.join(__dirname, 'FAIL_HEALTH'));
const redis = new IORedis(connection);
redis.on('error', () => {});
const queues = queueNames.map((n) => new Queue(n, {connection}));

function send(res, status, body) {
  res.writeHead(status, {'Content-Type': 'application/json'});
  res.end(JSON.stringify(body));
}

function psql(sql) {
  const pgEnv = {PATH: process.env.PATH};
  for (const k of ['PGHOST', 'PGPORT', 'PGUSER', 'PGPASSWORD', 'PGDATABASE']) if (env[k]) pgEnv[k] = env[k];
  return new Promise((resolve, reject) => execFile('psql', ['-XAtc', sql], {env: pgEnv, timeout: 30000},
    (err, stdout, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve(stdout))));
}

async function handle(req, res) {
  if (req.method === 'GET' && req.url === '/health') {
    let redisOk = false;
    try { redisOk = (await redis.ping()) === 'PONG'; } catch (e) { redisOk = false; }
    const ok = redisOk && !failing;
    return send(res, ok ? 200 : 503, {status: ok ? 'ok' : 'failing', version, release, redis: redisOk ? 'ok' : 'down'});
  }
  if (req.method === 'GET' && req.url === '/api/queue/stats') {
    const stats = [];
    for (const q of queues) {
      stats.push(Object.assign({name: q.name, paused: await q.isPaused()},
        await q.getJobCounts('wait', 'active', 'delayed', 'completed', 'failed')));
    }
    return send(res, 200, {version, queues: stats});
  }
  if (req.method === 'POST' && req.url === '/api/cache/warm') {
    const ids = (await psql('SELECT id FROM items ORDER BY id LIMIT 100')).split('\n').filter(Boolean);
    const multi = redis.multi();
    for (const id of ids) multi.set('project:' + id, JSON.stringify({id: Number(id), warmed_by: version}), 'EX', 900);
    await multi.exec();
    return send(res, 200, {warmed: ids.length, version});
  }
  return send(res, 404, {error: 'not found'});
}

http.createServer((req, res) => {
  handle(req, res).catch((e) => send(res, 500, {error: String(e && e.message || e)}));
}).listen(Number(env.PORT || 3001), env.BIND || '127.0.0.1');
