// Static file server for the browser demo. It serves the package folder (so the page can load dist/browser
// and models/) on 127.0.0.1 with the headers that make a page cross-origin isolated, which browsers
// require before they share memory between workers. Range requests are honoured, so large safetensors
// files are read in pieces.
//   node examples/browser/serve.mjs [--port 8080] [--no-isolation]
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer } from 'node:http';
import { extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const CONTENT_TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
};

const packageRoot = fileURLToPath(new URL('../../', import.meta.url));

/**
 * Starts the server and resolves once it listens. `isolation: false` leaves out the COOP/COEP headers,
 * so pages fall back to one thread. Port 0 picks a free port; read it from the returned URL.
 */
export async function startServer({ root = packageRoot, port = 8080, isolation = true } = {}) {
  const base = resolve(root);
  const server = createServer(async (request, response) => {
    try {
      const url = new URL(request.url ?? '/', 'http://127.0.0.1');
      if (url.pathname === '/') {
        response.writeHead(302, { Location: '/examples/browser/' });
        response.end();
        return;
      }
      let path = normalize(join(base, decodeURIComponent(url.pathname)));
      if (path !== base && !path.startsWith(base + sep)) {
        response.writeHead(403).end();
        return;
      }
      let info = await stat(path).catch(() => null);
      if (info?.isDirectory()) {
        path = join(path, 'index.html');
        info = await stat(path).catch(() => null);
      }
      if (!info?.isFile()) {
        response.writeHead(404, { 'Content-Type': 'text/plain' }).end(`not found: ${url.pathname}\n`);
        return;
      }
      const headers = {
        'Content-Type': CONTENT_TYPES[extname(path)] ?? 'application/octet-stream',
        'Accept-Ranges': 'bytes',
        'Cache-Control': 'no-store',
      };
      if (isolation) {
        headers['Cross-Origin-Opener-Policy'] = 'same-origin';
        headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
        headers['Cross-Origin-Resource-Policy'] = 'same-origin';
      }
      const range = /^bytes=(\d+)-(\d*)$/.exec(request.headers.range ?? '');
      if (range) {
        const start = Number(range[1]);
        const end = range[2] === '' ? info.size - 1 : Math.min(Number(range[2]), info.size - 1);
        if (start > end) {
          response.writeHead(416, { ...headers, 'Content-Range': `bytes */${info.size}` }).end();
          return;
        }
        response.writeHead(206, { ...headers, 'Content-Range': `bytes ${start}-${end}/${info.size}`, 'Content-Length': end - start + 1 });
        createReadStream(path, { start, end }).pipe(response);
        return;
      }
      response.writeHead(200, { ...headers, 'Content-Length': info.size });
      createReadStream(path).pipe(response);
    } catch (error) {
      console.error(`serve: ${request.method} ${request.url} failed:`, error);
      if (!response.headersSent) response.writeHead(500);
      response.end();
    }
  });
  await new Promise((resolveListen, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', resolveListen);
  });
  const address = server.address();
  return { url: `http://127.0.0.1:${address.port}/`, close: () => new Promise((done) => server.close(done)) };
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const portIndex = process.argv.indexOf('--port');
  const port = portIndex > 0 ? Number(process.argv[portIndex + 1]) : 8080;
  const isolation = !process.argv.includes('--no-isolation');
  const { url } = await startServer({ port, isolation });
  console.log(`Serving ${packageRoot} at ${url}examples/browser/ (${isolation ? 'cross-origin isolated' : 'not isolated: one thread'})`);
}
