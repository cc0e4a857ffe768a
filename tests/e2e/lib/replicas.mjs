// Helpers for the multi-replica tests and bench: a redis-server and an nginx
// round-robin load balancer, each run unprivileged on loopback from a temp
// directory, stopped by the caller's Stack.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { sleep, stopProcess } from './gateway.mjs';

function findBinary(name) {
  for (const dir of (process.env.PATH || '').split(':').concat(['/usr/sbin', '/usr/bin', '/usr/local/sbin', '/usr/local/bin'])) {
    const p = path.join(dir, name);
    try {
      fs.accessSync(p, fs.constants.X_OK);
      return p;
    } catch {}
  }
  return null;
}
export const REDIS_SERVER = findBinary('redis-server');
export const NGINX = findBinary('nginx');

/** Sends one inline command to Redis and resolves with the raw reply ('' when it cannot connect). */
export function redisCommand(port, command, timeoutMs = 1000) {
  return new Promise((resolve) => {
    const sock = net.connect({ host: '127.0.0.1', port });
    let data = '';
    const done = (v) => {
      clearTimeout(timer);
      sock.destroy();
      resolve(v);
    };
    const timer = setTimeout(() => done(data), timeoutMs);
    sock.on('connect', () => sock.write(command + '\r\n'));
    sock.on('data', (d) => {
      data += d.toString('utf8');
      if (data.endsWith('\r\n')) done(data);
    });
    sock.on('error', () => done(''));
  });
}

/**
 * Starts redis-server on 127.0.0.1:port with its data in `dir` (append-only
 * file on, as in examples/three-replicas). Returns {port, dir, child, stop(),
 * restart()}: stop() is a clean SIGTERM (Redis writes its AOF), restart()
 * starts it again on the same port and dir.
 */
export async function startRedis({ port, dir, stack }) {
  if (!REDIS_SERVER) throw new Error('redis-server not found: run scripts/setup.sh');
  fs.mkdirSync(dir, { recursive: true });
  const r = { port, dir, child: null };
  r.start = async () => {
    const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--save', '',
      '--daemonize', 'no', '--logfile', path.join(dir, 'redis.log'), '--protected-mode', 'yes'];
    r.child = spawn(REDIS_SERVER, args, { stdio: 'ignore' });
    const deadline = Date.now() + 10000;
    while (Date.now() < deadline) {
      if ((await redisCommand(port, 'PING', 300)).startsWith('+PONG')) return r;
      await sleep(50);
    }
    throw new Error(`redis-server did not answer PING on port ${port}; see ${path.join(dir, 'redis.log')}`);
  };
  r.stop = async () => {
    const c = r.child;
    r.child = null;
    if (c) await stopProcess(c, 5000);
  };
  r.restart = async () => {
    await r.stop();
    return r.start();
  };
  await r.start();
  stack?.add(r.stop);
  return r;
}

/**
 * Starts nginx as a round-robin load balancer on 127.0.0.1:port in front of
 * `backends` (ports), with streaming (no buffering) and no retries on another
 * replica. Returns {port, base, conf, stop()}.
 */
export async function startNginx({ port, backends, dir, stack }) {
  if (!NGINX) throw new Error('nginx not found: run scripts/setup.sh');
  fs.mkdirSync(path.join(dir, 'tmp'), { recursive: true });
  const conf = path.join(dir, 'nginx.conf');
  fs.writeFileSync(
    conf,
    `worker_processes 1;
daemon off;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 1024; }
http {
  access_log ${dir}/access.log;
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  uwsgi_temp_path ${dir}/tmp/uwsgi;
  scgi_temp_path ${dir}/tmp/scgi;
  upstream portcullis {
${backends.map((p) => `    server 127.0.0.1:${p};`).join('\n')}
    keepalive 32;
  }
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://portcullis;
      proxy_http_version 1.1;
      proxy_set_header Connection "";
      proxy_set_header Host $http_host;
      proxy_buffering off;
      proxy_request_buffering off;
      proxy_read_timeout 600s;
      proxy_next_upstream off;
    }
  }
}
`,
  );
  const child = spawn(NGINX, ['-p', dir, '-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  const n = { port, base: `http://127.0.0.1:${port}`, conf, child, stop: () => stopProcess(child, 3000) };
  stack?.add(n.stop);
  const deadline = Date.now() + 10000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`nginx exited: ${stderr}`);
    const ok = await new Promise((resolve) => {
      const s = net.connect({ host: '127.0.0.1', port }, () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(false));
    });
    if (ok) return n;
    await sleep(50);
  }
  throw new Error(`nginx did not listen on ${port}: ${stderr}`);
}
