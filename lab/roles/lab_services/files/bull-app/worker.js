'use strict';
// The BullMQ worker of the lab's Bull app (seed 002): appends "<job id> <job name> <release version>" to
// PROCESSED_LOG for every job it processes; jobs named 'fail' throw (they end in the failed set).
const fs = require('fs');
const {Worker} = require('bullmq');
const {version, env, connection, queueNames} = require('./common');

const log = env.PROCESSED_LOG || '/tmp/processed.log';
const workers = queueNames.map((n) => new Worker(n, async (job) => {
  if (job.name === 'fail') throw new Error('job ' + job.id + ' fails on purpose');
  fs.appendFileSync(log, job.id + ' ' + job.name + ' ' + version + '\n');
  return {version};
}, {connection, concurrency: 2}));
for (const w of workers) w.on('error', (e) => console.error('worker error', e && e.message));

async function stop() {
  await Promise.all(workers.map((w) => w.close()));
  process.exit(0);
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
