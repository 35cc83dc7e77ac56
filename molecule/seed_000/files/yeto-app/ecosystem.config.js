// The PM2 app of seed 000's YETO stand-in. Paths go through <app_root>/current, never __dirname (a release
// directory): pm2 keeps a process's script and cwd across restarts (see the service role's pm2 adapter).
const root = '/srv/yeto-platform/current';
module.exports = {apps: [
  {name: 'yeto-platform', script: root + '/server.js', cwd: root, kill_timeout: 5000,
   env: {NODE_ENV: 'production', PORT: '3000', CACHE_DIR: '/srv/yeto-platform/.cache'}},
]};
