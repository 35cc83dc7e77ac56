// pm2 apps of the lab's Bull app (seed 002). Paths go through <app_root>/current, never __dirname (a release
// directory): pm2 keeps a process's script and cwd across reloads (see the service role's pm2 adapter).
const root = '/srv/bull-app/current';
const env = {NODE_PATH: '/opt/runbook-node/node_modules', NODE_ENV: 'production'};
module.exports = {apps: [
  {name: 'bull-app-api', script: root + '/server.js', cwd: root, env, kill_timeout: 10000},
  {name: 'bull-app-worker', script: root + '/worker.js', cwd: root, env, kill_timeout: 15000},
]};
