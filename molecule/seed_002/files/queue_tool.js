'use strict';
// Scenario helper on app1, BullMQ's own view of the Bull app's queue (run with NODE_PATH=/opt/runbook-node/node_modules):
//   add <tag> <n> [name]   add n jobs with the ids <tag>-1..<tag>-n (name 'ok' by default, 'fail' throws); prints the ids
//   counts                 getJobCounts and isPaused, as JSON
// Redis settings from the app's shared .env (REDIS_HOST, REDIS_PORT, REDIS_PASSWORD).
const fs = require('fs');
const {Queue} = require('bullmq');

const env = {};
for (const line of fs.readFileSync('/srv/bull-app/shared/.env', 'utf8').split('\n')) {
  const m = /^([A-Za-z_][A-Za-z0-9_]*)=(.*)$/.exec(line);
  if (m) env[m[1]] = m[2];
}
const connection = {host: env.REDIS_HOST, port: Number(env.REDIS_PORT || 6379), password: env.REDIS_PASSWORD,
  maxRetriesPerRequest: null};
const [,, cmd, tag, n, name] = process.argv;

(async () => {
  const q = new Queue('ai-analysis', {connection});
  if (cmd === 'add') {
    const jobs = [];
    for (let i = 1; i <= Number(n); i++) jobs.push({name: name || 'ok', data: {i}, opts: {jobId: tag + '-' + i}});
    await q.addBulk(jobs);
    console.log(JSON.stringify(jobs.map((j) => j.opts.jobId)));
  } else if (cmd === 'counts') {
    const counts = await q.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'completed', 'failed', 'paused');
    console.log(JSON.stringify({counts, paused: await q.isPaused()}));
  } else {
    throw new Error('unknown command ' + cmd);
  }
  await q.close();
})().catch((e) => { console.error(e && e.stack || String(e)); process.exit(1); });
