'use strict';
// Shared by the API and the worker of the lab's Bull app (seed 002): the release's version, its settings from
// <release>/.env (a link to <app_root>/shared/.env), the Redis connection and the queue names.
// No package.json: the pinned bullmq and ioredis come with the lab image (/opt/runbook-node, NODE_PATH).
const fs = require('fs');
const path = require('path');

const version = fs.readFileSync(path.join(__dirname, 'VERSION'), 'utf8').trim();

function readEnv(file) {
  const out = {};
  if (!fs.existsSync(file)) return out;
  for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
    const m = /^\s*([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  return out;
}

const env = Object.assign(readEnv(path.join(__dirname, '.env')), process.env);
const connection = {host: env.REDIS_HOST || '127.0.0.1', port: Number(env.REDIS_PORT || 6379),
  password: env.REDIS_PASSWORD || undefined, maxRetriesPerRequest: null};
const queueNames = (env.QUEUES || 'ai-analysis').split(',');

module.exports = {version, env, connection, queueNames, release: __dirname};
