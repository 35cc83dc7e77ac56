'use strict';
// Scenario helper on app1, BullMQ's own view of the Bull app's queue (run with NODE_PATH=/opt/runbook-node/node_modules):
//   add <tag> <n> [name] [<tag> <n> <name>]...
//                          add n jobs with the ids <tag>-1..<tag>-n per group (name 'ok' by default, 'fail' throws),
//                          in one addBulk; prints the ids
//   counts                 getJobCounts and isPaused, as JSON
//   snapshot <file>        writes {queue: <counts>, processed: <the worker's log lines>} to <file> (one exec for
//                          the tests' records)
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
const [,, cmd, ...args] = process.argv;

async function counts(q) {
  const c = await q.getJobCounts('wait', 'active', 'delayed', 'prioritized', 'completed', 'failed', 'paused');
  return {counts: c, paused: await q.isPaused()};
}

(async () => {
  const q = new Queue('ai-analysis', {connection});
  if (cmd === 'add') {
    const jobs = [];
    for (let g = 0; g < args.length; g += 3) {
      const [tag, n, name] = args.slice(g, g + 3);
      for (let i = 1; i <= Number(n); i++) jobs.push({name: name || 'ok', data: {i}, opts: {jobId: tag + '-' + i}});
    }
    await q.addBulk(jobs);
    console.log(JSON.stringify(jobs.map((j) => j.opts.jobId)));
  } else if (cmd === 'counts') {
    console.log(JSON.stringify(await counts(q)));
  } else if (cmd === 'snapshot') {
    const queue = await counts(q);
    const log = env.PROCESSED_LOG && fs.existsSync(env.PROCESSED_LOG) ? fs.readFileSync(env.PROCESSED_LOG, 'utf8') : '';
    fs.writeFileSync(args[0], JSON.stringify({queue, processed: log.split('\n').filter(Boolean)}, null, 2) + '\n');
    console.log(JSON.stringify(queue));
  } else {
    throw new Error('unknown command ' + cmd);
  }
  await q.close();
})().catch((e) => { console.error(e && e.stack || String(e)); process.exit(1); });
