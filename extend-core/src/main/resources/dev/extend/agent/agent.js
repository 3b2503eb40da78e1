'use strict';
// The Extend sandbox agent: a dependency-free HTTP server on a Unix domain socket that loads
// webhook code on command and invokes it. One agent serves the webhooks of one container.
//
//   node agent.js --socket <path> --code <dir> --modules <dir>
//
// Control routes (called by the host only; the socket is reachable by nothing else):
//   GET    /_extend/health              -> 200 {"ok":true,"pid":..,"loaded":{name:version}}
//   PUT    /_extend/webhooks/<name>     -> load or replace code: {"version","container","file","secrets","meta"}
//   DELETE /_extend/webhooks/<name>     -> unload
//   ANY    /_extend/run/<name>[/rest]   -> invoke; headers x-extend-version, x-extend-invocation-id
//
// Console output is written to stdout as JSON lines {"t","l","i","w","m"} so the host can
// attribute each line to its invocation.

const http = require('http');
const fs = require('fs');
const path = require('path');
const util = require('util');
const Module = require('module');
const { AsyncLocalStorage } = require('async_hooks');

function arg(name) {
  const i = process.argv.indexOf('--' + name);
  return i > 0 ? process.argv[i + 1] : undefined;
}

const SOCKET = arg('socket');
const CODE_DIR = arg('code');
const MODULES_DIR = arg('modules');
if (!SOCKET || !CODE_DIR) {
  process.stderr.write('usage: agent.js --socket <path> --code <dir> --modules <dir>\n');
  process.exit(2);
}

// ---- console capture ------------------------------------------------------------------------

const als = new AsyncLocalStorage();
const rawWrite = process.stdout.write.bind(process.stdout);
const MAX_LINE = 16 * 1024;

function emit(level, text, inv) {
  const scope = inv || als.getStore();
  let m = String(text);
  if (m.length > MAX_LINE) m = m.slice(0, MAX_LINE) + '...[truncated]';
  rawWrite(JSON.stringify({
    t: Date.now(),
    l: level,
    i: scope ? scope.id : undefined,
    w: scope ? scope.webhook : undefined,
    m,
  }) + '\n');
}

for (const level of ['log', 'info', 'warn', 'error', 'debug']) {
  console[level] = (...args) => emit(level, util.format(...args));
}
console.trace = (...args) => {
  const err = new Error(util.format(...args));
  err.name = 'Trace';
  emit('debug', err.stack);
};

// ---- webhook registry -----------------------------------------------------------------------

const webhooks = new Map(); // name -> {version, fn, container, secrets, meta}

// An optional module-resolution extension shipped beside the agent (peer dependencies).
try {
  const peers = require(path.join(__dirname, 'peer-resolve.js'));
  if (peers && typeof peers.install === 'function') {
    peers.install(Module, { codeDir: CODE_DIR, modulesDir: MODULES_DIR });
  }
} catch (e) {
  if (e && e.code !== 'MODULE_NOT_FOUND') emit('error', 'peer resolution disabled: ' + e.message);
}

function compile(name, file) {
  const filename = path.resolve(CODE_DIR, file);
  if (!filename.startsWith(path.resolve(CODE_DIR) + path.sep)) {
    throw new Error('file is outside the code directory');
  }
  const source = fs.readFileSync(filename, 'utf8');
  const m = new Module(filename, null);
  m.filename = filename;
  m.paths = Module._nodeModulePaths(path.dirname(filename));
  m._compile(source, filename);
  let fn = m.exports;
  if (fn && typeof fn !== 'function' && typeof fn.default === 'function') fn = fn.default;
  if (typeof fn !== 'function') {
    throw new TypeError('the webhook must export a function (module.exports = function ...)');
  }
  return fn;
}

// ---- invocation -----------------------------------------------------------------------------

function isAsyncFunction(fn) {
  return fn.constructor && fn.constructor.name === 'AsyncFunction';
}

// How a webhook is called follows the parameters it declares, decided once when it is loaded:
//   'raw'   (ctx, req, res)  three or more: the function owns the raw request and response
//   'ctxCb' (ctx, cb)        two
//   'either' (x)             one, not async, not destructured: x is ctx and is also callable as
//                            the callback, so both (ctx) => value and function (cb) work
//   'ctx'   (ctx)            none, async with one, or one destructured parameter: no callback
// Whatever the shape, the first answer wins (see call()).
function shapeOf(fn) {
  if (fn.length >= 3) return 'raw';
  if (fn.length === 2) return 'ctxCb';
  if (fn.length === 1 && !isAsyncFunction(fn) && !firstParamIsPattern(fn)) return 'either';
  return 'ctx';
}

// Whether the first parameter is a destructuring pattern, ({ body }) or ([a]), read from the
// source. Anything this cannot read counts as "not a pattern", which only means the agent
// waits for a callback that may come.
function firstParamIsPattern(fn) {
  let src;
  try {
    src = Function.prototype.toString.call(fn);
  } catch (e) {
    return false;
  }
  let i = 0;
  const skip = () => {
    for (;;) {
      while (i < src.length && /\s/.test(src[i])) i++;
      if (src.startsWith('//', i)) {
        const nl = src.indexOf('\n', i);
        i = nl < 0 ? src.length : nl + 1;
      } else if (src.startsWith('/*', i)) {
        const end = src.indexOf('*/', i + 2);
        i = end < 0 ? src.length : end + 2;
      } else {
        return;
      }
    }
  };
  const word = () => {
    const m = /^[A-Za-z_$][\w$]*/.exec(src.slice(i, i + 256));
    return m ? m[0] : '';
  };
  skip();
  if (word() === 'async') {
    i += 5;
    skip();
  }
  if (word() === 'function') {
    i += 8;
    skip();
    if (src[i] === '*') i++;
    skip();
    i += word().length; // the name, if any
    skip();
  } else if (src[i] !== '(') {
    i += word().length; // an arrow's one bare parameter, or a method's name
    skip();
    if (src[i] !== '(') return false;
  }
  if (src[i] !== '(') return false;
  i++;
  skip();
  return src[i] === '{' || src[i] === '[';
}

// Whether a value returned by a function that could also answer through its callback is meant
// as the answer: plain data, not an object an arrow body returns by the way, such as the timer
// of (ctx, cb) => setTimeout(...) or the request of (ctx, cb) => https.get(...).
function isPlainData(v) {
  if (v === null) return true;
  if (typeof v !== 'object') return typeof v !== 'function' && typeof v !== 'symbol';
  if (Array.isArray(v) || Buffer.isBuffer(v)) return true;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

function isThenable(v) {
  return v !== null && (typeof v === 'object' || typeof v === 'function') && typeof v.then === 'function';
}

// ctx that can also be called as the callback; serializes (and spreads) as ctx.
function callableCtx(ctx, cb) {
  const f = function callback(err, value) {
    cb(err, value);
  };
  Object.assign(f, ctx);
  Object.defineProperty(f, 'toJSON', { value() { return Object.assign({}, this); } });
  return f;
}

function parseQuery(qs) {
  const out = {};
  if (!qs) return out;
  for (const [k, v] of new URLSearchParams(qs)) {
    if (Object.prototype.hasOwnProperty.call(out, k)) {
      out[k] = Array.isArray(out[k]) ? out[k].concat(v) : [out[k], v];
    } else {
      out[k] = v;
    }
  }
  return out;
}

const EMPTY = Buffer.alloc(0);

function hasBody(req) {
  const len = req.headers['content-length'];
  return (len !== undefined && len !== '0') || req.headers['transfer-encoding'] !== undefined;
}

function readBody(req) {
  if (!hasBody(req)) {
    req.resume();
    return EMPTY;
  }
  return new Promise((resolve, reject) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function parseBody(raw, contentType) {
  if (raw.length === 0) return undefined;
  const ct = (contentType || '').toLowerCase();
  if (ct.includes('application/json') || ct.includes('+json')) {
    return JSON.parse(raw.toString('utf8'));
  }
  if (ct.includes('application/x-www-form-urlencoded')) {
    return parseQuery(raw.toString('utf8'));
  }
  if (ct.startsWith('text/') || ct === '') return raw.toString('utf8');
  return raw;
}

function sendJson(res, status, obj, extraHeaders) {
  if (res.headersSent) {
    res.end();
    return;
  }
  const body = JSON.stringify(obj);
  res.writeHead(status, Object.assign({
    'content-type': 'application/json; charset=utf-8',
    'content-length': Buffer.byteLength(body),
  }, extraHeaders || {}));
  res.end(body);
}

function sendError(res, status, code, message, extra) {
  sendJson(res, status, { error: Object.assign({ code, message }, extra || {}) }, { 'x-extend-error': code });
}

function sendFunctionError(res, err) {
  const e = err instanceof Error ? err : new Error(typeof err === 'string' ? err : util.inspect(err));
  sendError(res, 502, 'function_error', e.message || String(e), { name: e.name || 'Error' });
}

function sendResult(res, value) {
  if (res.headersSent || res.writableEnded) return;
  if (value === undefined || value === null) {
    res.writeHead(204);
    res.end();
  } else if (typeof value === 'string') {
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'content-length': Buffer.byteLength(value) });
    res.end(value);
  } else if (Buffer.isBuffer(value)) {
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': value.length });
    res.end(value);
  } else {
    let body;
    try {
      body = JSON.stringify(value);
    } catch (e) {
      sendFunctionError(res, new TypeError('the result cannot be serialized to JSON: ' + e.message));
      return;
    }
    if (body === undefined) {
      res.writeHead(204);
      res.end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  }
}


// Runs on the request's own tick as far as it can: no promise is created unless the request
// has a body to read or the function returns one.
function invoke(name, rest, query, req, res) {
  const wh = webhooks.get(name);
  const wanted = req.headers['x-extend-version'];
  if (!wh || (wanted && String(wh.version) !== wanted)) {
    req.resume();
    sendError(res, 409, 'not_loaded', 'webhook ' + name + ' version ' + wanted + ' is not loaded');
    return;
  }
  const id = req.headers['x-extend-invocation-id'] || String(Date.now());
  // the invocation's scope carries its response, to answer 502 when an uncaught error hits it
  const scope = { id, webhook: name, res };
  const headers = {};
  const given = req.headers;
  for (const k in given) {
    if (k !== 'x-extend-version' && k !== 'x-extend-invocation-id') headers[k] = given[k];
  }
  const ctx = {
    method: req.method,
    path: rest,
    query: parseQuery(query),
    headers,
    secrets: wh.secrets,
    meta: wh.meta,
    webhook: { container: wh.container, name, version: wh.version },
    invocationId: id,
  };

  const fn = wh.fn;
  als.run(scope, () => {
    try {
      if (wh.shape === 'raw') {
        // (ctx, req, res): the function owns the raw request and response, body unread.
        req.url = rest + (query ? '?' + query : '');
        delete req.headers['x-extend-version'];
        delete req.headers['x-extend-invocation-id'];
        const r = fn(ctx, req, res);
        if (r && typeof r.then === 'function') {
          r.then(undefined, (err) => {
            emit('error', err && err.stack ? err.stack : String(err));
            sendFunctionError(res, err);
          });
        }
        return;
      }
      if (hasBody(req)) {
        readBody(req).then((raw) => call(wh, ctx, raw, req, res), (err) => sendFunctionError(res, err));
      } else {
        req.resume();
        call(wh, ctx, EMPTY, req, res);
      }
    } catch (err) {
      emit('error', err && err.stack ? err.stack : String(err));
      sendFunctionError(res, err);
    }
  });
}

/**
 * Calls a function of the ctx programming models once the body is in. The first answer wins:
 * the callback's call, or what the function returns (a thenable is awaited; undefined → 204
 * only from a thenable). A (ctx, cb) function answers through cb or a returned thenable only;
 * a one-parameter function that returns undefined, or something that is not plain data, is
 * waited on (the host's timeout bounds it); one that cannot take a callback and returns
 * undefined is answered 204 at once. What comes after the answer is ignored, logged.
 */
function call(wh, ctx, raw, req, res) {
  const fn = wh.fn;
  const scope = als.getStore();
  ctx.rawBody = raw;
  try {
    ctx.body = parseBody(raw, req.headers['content-type']);
  } catch (e) {
    sendError(res, 400, 'invalid_body', 'the request body is not valid JSON: ' + e.message);
    return;
  }
  let answered = false;
  const fail = (err) => {
    emit('error', err && err.stack ? err.stack : String(err), scope);
    if (answered) return;
    answered = true;
    sendFunctionError(res, err);
  };
  const succeed = (value) => {
    if (answered) return;
    answered = true;
    sendResult(res, value);
  };
  const cb = (err, value) => {
    if (answered) {
      emit('warn', 'the callback was called after the webhook had answered; ignored', scope);
    } else if (err) {
      fail(err);
    } else {
      succeed(value);
    }
  };
  let arg = ctx;
  let r;
  try {
    if (wh.shape === 'ctxCb') {
      r = fn(ctx, cb);
    } else if (wh.shape === 'either') {
      arg = callableCtx(ctx, cb);
      r = fn.call(ctx, arg);
    } else {
      r = fn(ctx);
    }
  } catch (err) {
    fail(err);
    return;
  }
  try {
    if (isThenable(r)) {
      r.then(succeed, (e) => fail(e === undefined || e === null ? new Error('the promise was rejected with ' + e) : e));
    } else if (answered) {
      // answered through the callback before returning
    } else if (wh.shape === 'ctx' || (wh.shape === 'either' && r !== undefined && (r === arg || isPlainData(r)))) {
      // No callback to wait for: what it returns is the answer, undefined an empty 204 (a
      // fire-and-forget receiver, as Lambda answers null). (ctx, cb) answers through cb or a
      // promise only: what else it returns is ignored, as in Lambda's callback handlers
      // ((ctx, cb) => list.push(cb) returns a number by the way).
      succeed(r);
    }
    // else: a callback may still come
  } catch (err) {
    fail(err); // a thenable whose then() throws
  }
}

// ---- control --------------------------------------------------------------------------------

async function load(name, req, res) {
  let cmd;
  try {
    cmd = JSON.parse((await readBody(req)).toString('utf8'));
  } catch (e) {
    sendError(res, 400, 'bad_command', 'load command is not JSON');
    return;
  }
  try {
    const fn = compile(name, cmd.file);
    webhooks.set(name, {
      version: cmd.version,
      fn,
      shape: shapeOf(fn),
      container: cmd.container,
      secrets: Object.freeze(Object.assign({}, cmd.secrets || {})),
      meta: Object.freeze(Object.assign({}, cmd.meta || {})),
    });
    sendJson(res, 200, { ok: true, name, version: cmd.version });
  } catch (err) {
    webhooks.delete(name);
    sendError(res, 422, 'load_failed', (err && err.name ? err.name + ': ' : '') + (err && err.message ? err.message : String(err)),
      { name: err && err.name ? err.name : 'Error' });
  }
}

const PREFIX_RUN = '/_extend/run/';
const PREFIX_WH = '/_extend/webhooks/';

const server = http.createServer((req, res) => {
  const url = req.url;
  const q = url.indexOf('?');
  const pathname = q < 0 ? url : url.slice(0, q);
  const query = q < 0 ? '' : url.slice(q + 1);
  if (pathname.startsWith(PREFIX_RUN)) {
    const tail = pathname.slice(PREFIX_RUN.length);
    const s = tail.indexOf('/');
    const name = decodeURIComponent(s < 0 ? tail : tail.slice(0, s));
    const rest = s < 0 ? '/' : tail.slice(s);
    invoke(name, rest, query, req, res);
  } else if (pathname.startsWith(PREFIX_WH)) {
    const name = decodeURIComponent(pathname.slice(PREFIX_WH.length));
    if (req.method === 'PUT') {
      load(name, req, res);
    } else if (req.method === 'DELETE') {
      req.resume();
      webhooks.delete(name);
      sendJson(res, 200, { ok: true });
    } else {
      req.resume();
      sendError(res, 405, 'method_not_allowed', req.method);
    }
  } else if (pathname === '/_extend/health') {
    req.resume();
    const loaded = {};
    for (const [n, w] of webhooks) loaded[n] = w.version;
    sendJson(res, 200, { ok: true, pid: process.pid, loaded, memory: process.memoryUsage().rss });
  } else {
    req.resume();
    sendError(res, 404, 'not_found', pathname);
  }
});
server.keepAliveTimeout = 120000;
server.headersTimeout = 125000;
server.requestTimeout = 0;

// One webhook's uncaught error must not take the others down: attribute it, answer its
// request if still open, and keep serving.
function onUncaught(err) {
  const scope = als.getStore();
  emit('error', 'uncaught: ' + (err && err.stack ? err.stack : String(err)), scope);
  if (scope) {
    const res = scope.res;
    if (res && !res.writableEnded && !res.destroyed) sendFunctionError(res, err);
  }
}
process.on('uncaughtException', onUncaught);
process.on('unhandledRejection', onUncaught);
process.on('SIGTERM', () => {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 2000).unref();
});

try {
  fs.unlinkSync(SOCKET);
} catch (e) {
  // no stale socket
}
server.listen(SOCKET, () => {
  try {
    fs.chmodSync(SOCKET, 0o666);
  } catch (e) {
    // the host connects as root or as our own user
  }
  emit('info', 'agent ready on ' + SOCKET + ' (pid ' + process.pid + ', node ' + process.version + ')');
});
