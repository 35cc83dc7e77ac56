'use strict';
// A stand-in for seed 000's YETO Express server (port 3000), run by PM2 from <app_root>/current. It answers
// GET / with the page, GET /health (503 when the release ships FAIL_HEALTH), GET /version (the release's VERSION),
// and GET /api/trpc/<procedure>, whose answer it keeps in the file cache (CACHE_DIR: seed 000's `.cache`).
const fs = require('fs');
const http = require('http');
const path = require('path');

const dir = __dirname;  // the release directory: node resolves the current link of the script's path
const version = fs.readFileSync(path.join(dir, 'VERSION'), 'utf8').trim();
const failing = fs.existsSync(path.join(dir, 'FAIL_HEALTH'));
const cacheDir = process.env.CACHE_DIR || path.join(dir, '.cache');

function send(res, status, type, body) {
  res.writeHead(status, {'Content-Type': type});
  res.end(body);
}

http.createServer((req, res) => {
  if (req.method !== 'GET') return send(res, 405, 'text/plain', 'method not allowed\n');
  if (req.url === '/') return send(res, 200, 'text/html', '<h1>YETO</h1>');
  if (req.url === '/version') return send(res, 200, 'text/plain', version);
  if (req.url === '/health') {
    return send(res, failing ? 503 : 200, 'application/json',
      JSON.stringify({status: failing ? 'failing' : 'ok', version, release: path.basename(dir), pid: process.pid}));
  }
  const m = /^\/api\/trpc\/([a-z][a-zA-Z0-9]*)$/.exec(req.url);
  if (m) {
    const body = JSON.stringify({procedure: m[1], version, at: new Date().toISOString()});
    fs.writeFileSync(path.join(cacheDir, 'trpc-' + m[1] + '.json'), body + '\n');
    return send(res, 200, 'application/json', body);
  }
  return send(res, 404, 'text/plain', 'not found\n');
}).listen(Number(process.env.PORT || 3000), process.env.BIND || '127.0.0.1');
