'use strict';
// Peer dependencies for modules in the shared module store.
//
// Every module is built once, alone, with `npm install --legacy-peer-deps`, so its tarball holds
// its own dependency closure but not its peer dependencies: a plugin does not carry a copy of
// the library it plugs into. Unpacked, a module lives at
//   <store>/<name>@<version>/node_modules/<name>/...
// and Node resolves its requires from that real path, so a plugin's `require('<peer>')` would
// find nothing (or a stray copy some other dependency pulled in). This hook sends such a
// request to the webhook that loaded the plugin: it resolves the peer from the webhook's own
// node_modules, so webhook and plugin share one instance of the peer.
//
// Rule: a require made from a file inside the module store, naming a package that the nearest
// enclosing package declares in `peerDependencies` (or `peerDependenciesMeta`), resolves from
// the directory of the webhook file at the root of the require chain; when the webhook does not
// provide it, normal resolution applies (and a failure says which peer is missing).
//
// Node caches modules by real path, so one sandbox holds one instance of a store package. For a
// package with peers that is not enough: two webhooks of one container (or two versions of one
// webhook) may provide different copies of the peer. So the instances of a package with peers
// are kept per binding (which file each of its peers resolves to): when a webhook enters such a
// package with another binding than the one loaded, the package's cached files are set aside
// and those of the new binding (loaded afresh the first time) take their place. A webhook's
// top-level requires thus always see a plugin bound to its own peer. Known limit: a require of
// the plugin made later, from inside a handler, returns whichever binding entered last.
//
// Usage (by the sandbox agent, once, before any webhook code loads):
//   require('./peer-resolve.js').install(require('module'), { modulesDir: MODULES_DIR });

const fs = require('fs');
const path = require('path');

function packageName(request) {
  if (typeof request !== 'string' || request === '' || request[0] === '.' || request[0] === '/'
      || request.startsWith('node:') || request.includes('\\')) {
    return null;
  }
  const parts = request.split('/');
  if (request[0] === '@') {
    return parts.length >= 2 && parts[1] ? parts[0] + '/' + parts[1] : null;
  }
  return parts[0];
}

function realpathOr(dir) {
  try {
    return fs.realpathSync(dir);
  } catch (e) {
    return path.resolve(dir);
  }
}

/**
 * Installs the hook on Node's CommonJS loader.
 *
 * @param Module the `module` builtin
 * @param options `{ modulesDir }`: the module store as this process sees it (required);
 *     `codeDir` is accepted and unused (webhooks are found through the require chain)
 * @returns true when installed
 */
function install(Module, options) {
  const modulesDir = options && options.modulesDir;
  if (!modulesDir || typeof Module._resolveFilename !== 'function') {
    return false;
  }
  if (Module._resolveFilename.extendPeerHook) {
    return true;
  }
  const stores = new Set([path.resolve(modulesDir), realpathOr(modulesDir)]);
  const prefixes = [...stores].map((s) => (s.endsWith(path.sep) ? s : s + path.sep));
  const builtins = new Set(Module.builtinModules);
  const peerCache = new Map(); // package dir -> Set of peer names (empty when none)
  const original = Module._resolveFilename;

  function storeRelative(file) {
    if (typeof file !== 'string') return null;
    for (const p of prefixes) {
      if (file.startsWith(p)) return { root: p, rel: file.slice(p.length) };
    }
    return null;
  }

  // The directory of the package a store file belongs to: the deepest
  // node_modules/<name> (or node_modules/@scope/<name>) segment above the file.
  function packageDir(file) {
    const where = storeRelative(file);
    if (!where) return null;
    const parts = where.rel.split(path.sep);
    for (let i = parts.length - 2; i >= 0; i--) {
      if (parts[i] !== 'node_modules') continue;
      const scoped = parts[i + 1] && parts[i + 1][0] === '@';
      const end = scoped ? i + 2 : i + 1;
      if (end >= parts.length - 1) continue; // the file itself is not a package directory
      return where.root + parts.slice(0, end + 1).join(path.sep);
    }
    return null;
  }

  function peersOf(dir) {
    let peers = peerCache.get(dir);
    if (peers === undefined) {
      peers = new Set();
      try {
        const pkg = JSON.parse(fs.readFileSync(path.join(dir, 'package.json'), 'utf8'));
        for (const field of ['peerDependencies', 'peerDependenciesMeta']) {
          if (pkg && pkg[field] && typeof pkg[field] === 'object') {
            for (const name of Object.keys(pkg[field])) peers.add(name);
          }
        }
      } catch (e) {
        // no readable manifest: no peers
      }
      peerCache.set(dir, peers);
    }
    return peers;
  }

  // The directory of the first module in the require chain that is not in the store: the
  // webhook (or a file of its own) that pulled this package in.
  function requirerDir(parent) {
    let m = parent;
    for (let hops = 0; m && hops < 1000; hops++) {
      if (typeof m.filename === 'string' && !storeRelative(m.filename)) {
        return path.dirname(m.filename);
      }
      m = m.parent;
    }
    return null;
  }

  // package dir -> { key: binding loaded in Module._cache, stash: Map(key -> Map(file -> Module)) }
  const bindings = new Map();

  function bindingKey(dir, peers, contextDir, parent) {
    const parts = [];
    for (const peer of [...peers].sort()) {
      let target = '';
      try {
        target = original.call(Module, peer, parent, false, { paths: [contextDir] });
      } catch (e) {
        // not provided by this webhook
      }
      parts.push(peer + '=' + target);
    }
    return parts.join('\n');
  }

  // Called with the file a request from outside package `dir` resolved to: makes sure the
  // instances in Module._cache for `dir` are those bound to the requiring webhook's peers.
  function enter(dir, peers, parent) {
    const contextDir = storeRelative(parent.filename) ? requirerDir(parent) : path.dirname(parent.filename);
    if (!contextDir) return;
    const key = bindingKey(dir, peers, contextDir, parent);
    const state = bindings.get(dir);
    if (!state) {
      bindings.set(dir, { key, stash: new Map() });
      return;
    }
    if (state.key === key) return;
    const prefix = dir + path.sep;
    const current = new Map();
    for (const f of Object.keys(Module._cache)) {
      if (f.startsWith(prefix)) {
        current.set(f, Module._cache[f]);
        delete Module._cache[f];
      }
    }
    state.stash.set(state.key, current);
    const restored = state.stash.get(key);
    if (restored) {
      for (const [f, m] of restored) Module._cache[f] = m;
      state.stash.delete(key);
    }
    state.key = key;
  }

  function resolve(request, parent, isMain, opts) {
    const filename = resolvePeer.call(this, request, parent, isMain, opts);
    if (parent && typeof parent.filename === 'string' && typeof filename === 'string' && !(opts && opts.paths)) {
      const target = packageDir(filename);
      if (target && !parent.filename.startsWith(target + path.sep)) {
        const peers = peersOf(target);
        if (peers.size > 0) enter(target, peers, parent);
      }
    }
    return filename;
  }

  function resolvePeer(request, parent, isMain, opts) {
    const file = parent && parent.filename;
    if (!file || (opts && opts.paths) || !storeRelative(file)) {
      return original.call(this, request, parent, isMain, opts);
    }
    const name = packageName(request);
    if (!name || builtins.has(name) || builtins.has(request)) {
      return original.call(this, request, parent, isMain, opts);
    }
    const dir = packageDir(file);
    if (!dir || !peersOf(dir).has(name)) {
      return original.call(this, request, parent, isMain, opts);
    }
    const base = requirerDir(parent);
    if (base) {
      try {
        return original.call(this, request, parent, isMain, { paths: [base] });
      } catch (e) {
        if (!e || e.code !== 'MODULE_NOT_FOUND') throw e;
      }
    }
    try {
      return original.call(this, request, parent, isMain, opts);
    } catch (e) {
      if (e && e.code === 'MODULE_NOT_FOUND' && typeof e.message === 'string') {
        e.message += `\n'${name}' is a peer dependency of ${dir.slice(dir.lastIndexOf("node_modules") + 13)}: `
            + `add it to the webhook's dependencies`;
      }
      throw e;
    }
  }
  resolve.extendPeerHook = true;
  Module._resolveFilename = resolve;
  return true;
}

module.exports = { install };
