'use strict';
// The module build, run inside the build job: npm install, the version check and the packing
// all happen here, so that the host never reads the tree install scripts wrote. The host
// receives out/module.tgz and out/result.json only, and treats both (and this script's exit
// status) as hostile: install scripts run as the same user as this script.
//
// Usage: node build-driver.js <job.json>
//
// Exit status: 0 built; 10 npm failed; 11 the package is not where npm puts it, or its
// package.json is not a readable regular file; 12 another version was installed; 13 the
// tarball would exceed its cap; 14 the work area is full; 15 anything else.
const fs = require('fs');
const net = require('net');
const path = require('path');
const { spawn } = require('child_process');

const EXIT = { npm: 10, missing: 11, version: 12, tooLarge: 13, full: 14, other: 15 };
const MAX_MANIFEST = 1 << 20;
const MTIME = new Date(499162500000); // 1985-10-26T08:15:00Z, npm's own fixed time stamp

class Failure extends Error {
  constructor(code, message) {
    super(message);
    this.exitCode = code;
  }
}

function log(line) {
  process.stdout.write('build: ' + line + '\n');
}

function main() {
  const job = JSON.parse(fs.readFileSync(process.argv[2], 'utf8'));
  const work = job.work;
  for (const d of ['home', 'tmp', 'prefix', 'npm-cache']) {
    fs.mkdirSync(path.join(work, d), { recursive: true });
  }
  // npm reads only these two, both empty: no credentials and no registry settings reach the
  // job; the registry proxy on the host adds them.
  fs.writeFileSync(path.join(work, 'npmrc'), '');
  fs.writeFileSync(path.join(work, 'npmrc-global'), '');
  return forward(job.registrySocket).then((port) => install(job, 'http://127.0.0.1:' + port + '/'));
}

/** A loopback TCP listener that passes every connection on to the host's registry proxy. */
function forward(socketPath) {
  return new Promise((resolve, reject) => {
    const server = net.createServer((client) => {
      const upstream = net.connect(socketPath);
      client.on('error', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
      client.pipe(upstream);
      upstream.pipe(client);
    });
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.unref();
      resolve(server.address().port);
    });
  });
}

function install(job, registry) {
  const work = job.work;
  const env = Object.assign({}, process.env, {
    HOME: path.join(work, 'home'),
    TMPDIR: path.join(work, 'tmp'),
    npm_config_userconfig: path.join(work, 'npmrc'),
    npm_config_globalconfig: path.join(work, 'npmrc-global'),
    npm_config_cache: path.join(work, 'npm-cache'),
    npm_config_update_notifier: 'false',
    npm_config_progress: 'false',
    npm_config_color: 'false',
    NO_COLOR: '1',
  });
  const spec = job.name + '@' + job.version;
  const args = job.npm.slice(1).concat(['install', '--no-audit', '--no-fund', '--no-package-lock', '--omit=dev',
    '--legacy-peer-deps', '--foreground-scripts', '--no-update-notifier', '--prefix', path.join(work, 'prefix'),
    '--cache', path.join(work, 'npm-cache'), '--registry', registry, spec]);
  process.stdout.write('$ npm ' + args.slice(job.npm.length - 1).join(' ') + '\n');
  return new Promise((resolve) => {
    const child = spawn(job.npm[0], args, { cwd: work, env, stdio: ['ignore', 'inherit', 'inherit'] });
    child.on('error', (e) => resolve({ status: -1, error: e.code || 'spawn failed' }));
    child.on('exit', (status, signal) => resolve({ status: status === null ? 128 : status, signal }));
  }).then((r) => {
    // Whatever install scripts left running must not touch the tree while it is checked and
    // packed. As the init of the job's own pid namespace, -1 reaches every other process in
    // it and nothing outside; anywhere else this would be wrong, so only then.
    if (process.pid === 1) {
      try {
        process.kill(-1, 'SIGKILL');
      } catch (e) {
        // nothing left
      }
    }
    if (r.status !== 0) {
      throw new Failure(EXIT.npm, 'npm install failed with ' + (r.signal ? 'signal ' + r.signal : 'exit status ' + r.status));
    }
    const nodeModules = path.join(work, 'prefix', 'node_modules');
    const manifest = readManifest(nodeModules, job.name);
    if (manifest.version !== job.version) {
      // The installed version is not printed: it comes from a file install scripts control.
      throw new Failure(EXIT.version, 'npm installed another version of ' + job.name + ' than ' + spec);
    }
    const peers = {};
    if (manifest.peerDependencies && typeof manifest.peerDependencies === 'object') {
      for (const [k, v] of Object.entries(manifest.peerDependencies)) {
        if (typeof v === 'string') {
          peers[k] = v;
        }
      }
    }
    const out = path.join(work, 'out');
    fs.rmSync(out, { recursive: true, force: true });
    fs.mkdirSync(out);
    const summary = pack(job, nodeModules, path.join(out, 'module.tgz'));
    fs.writeFileSync(path.join(out, 'result.json'), JSON.stringify({
      version: manifest.version, peerDependencies: peers, files: summary.files, directories: summary.directories,
      symlinks: summary.symlinks, bytes: summary.bytes,
    }));
    log('packed ' + summary.files + ' files, ' + summary.directories + ' directories, ' + summary.symlinks
        + ' symlinks (' + summary.bytes + ' bytes)');
  });
}

/** Every component must be a real directory, the manifest a regular file read without following links. */
function readManifest(nodeModules, name) {
  const parts = name.split('/');
  let dir = nodeModules;
  for (const p of [''].concat(parts)) {
    dir = p ? path.join(dir, p) : dir;
    let st;
    try {
      st = fs.lstatSync(dir);
    } catch (e) {
      throw new Failure(EXIT.missing, 'npm install produced no node_modules/' + name);
    }
    if (!st.isDirectory()) {
      throw new Failure(EXIT.missing, 'node_modules/' + name + ' is not a plain directory');
    }
  }
  let fd;
  try {
    fd = fs.openSync(path.join(dir, 'package.json'),
      fs.constants.O_RDONLY | fs.constants.O_NOFOLLOW | fs.constants.O_NONBLOCK);
  } catch (e) {
    throw new Failure(EXIT.missing, 'node_modules/' + name + '/package.json is missing or not a regular file');
  }
  try {
    const st = fs.fstatSync(fd);
    if (!st.isFile() || st.size > MAX_MANIFEST) {
      throw new Failure(EXIT.missing, 'node_modules/' + name + '/package.json is not a regular file of at most 1 MiB');
    }
    const buf = Buffer.alloc(st.size);
    let off = 0;
    while (off < buf.length) {
      const n = fs.readSync(fd, buf, off, buf.length - off, off);
      if (n <= 0) {
        break;
      }
      off += n;
    }
    try {
      const json = JSON.parse(buf.subarray(0, off).toString('utf8'));
      if (json === null || typeof json !== 'object') {
        throw new Error('not an object');
      }
      return json;
    } catch (e) {
      // Never the parser's message: it quotes the content.
      throw new Failure(EXIT.missing, 'node_modules/' + name + '/package.json is not valid JSON');
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** npm's own tar package (node-tar), found next to the npm this build runs. */
function nodeTar(npmCommand) {
  const tried = [];
  for (const c of npmCommand.slice().reverse()) {
    let file = c;
    if (!c.includes('/')) {
      const dir = (process.env.PATH || '').split(':').find((d) => d && fs.existsSync(path.join(d, c)));
      if (!dir) {
        continue;
      }
      file = path.join(dir, c);
    }
    try {
      const real = fs.realpathSync(file);
      const npmDir = path.dirname(path.dirname(real));
      tried.push(npmDir);
      return require(require.resolve('tar', { paths: [npmDir] }));
    } catch (e) {
      // next candidate
    }
  }
  throw new Failure(EXIT.other, 'npm\'s tar package was not found next to npm (' + tried.join(', ') + ')');
}

/**
 * Packs node_modules as a deterministic tar.gz of node_modules/...: sorted entries, no owners,
 * a fixed time stamp, no hard links, no hidden lockfile. Directories, regular files and symlinks that resolve
 * inside the tree are packed; links that leave it (also through other links) and anything
 * else are left out.
 */
function pack(job, nodeModules, file) {
  const tar = nodeTar(job.npm);
  // The real location: everything below is checked against it.
  const root = fs.realpathSync(nodeModules);
  const cwd = path.dirname(root);
  const entries = [];
  const summary = { files: 0, directories: 0, symlinks: 0, bytes: 0 };
  (function walk(rel) {
    entries.push(rel);
    const names = fs.readdirSync(path.join(cwd, rel)).sort();
    for (const n of names) {
      const child = rel + '/' + n;
      if (child === 'node_modules/.package-lock.json') {
        // npm's hidden lockfile: a cache of npm's, naming this build's registry address.
        continue;
      }
      const st = fs.lstatSync(path.join(cwd, child));
      if (st.isDirectory()) {
        walk(child);
      } else if (st.isFile() || st.isSymbolicLink()) {
        entries.push(child);
      } else {
        log('pack: left out ' + child + ' (not a file, directory or symlink)');
      }
    }
  })('node_modules');

  const filter = (p, st) => {
    if (st.isDirectory()) {
      summary.directories++;
      return true;
    }
    if (st.isFile()) {
      summary.files++;
      summary.bytes += st.size;
      return true;
    }
    if (st.isSymbolicLink()) {
      if (linkStaysInside(root, path.join(cwd, p))) {
        summary.symlinks++;
        return true;
      }
      log('pack: left out symlink ' + p + ' (points outside node_modules)');
      return false;
    }
    log('pack: left out ' + p + ' (not a file, directory or symlink)');
    return false;
  };
  const fd = fs.openSync(file, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o644);
  let written = 0;
  try {
    const packer = new tar.PackSync({
      cwd, gzip: true, portable: true, mtime: MTIME, noDirRecurse: true, follow: false, strict: true, filter,
      // Never a hard-link entry: every file is packed with its content.
      linkCache: { get() {}, set() {} },
    });
    packer.on('data', (chunk) => {
      written += chunk.length;
      if (written > job.maxTarballBytes) {
        throw new Failure(EXIT.tooLarge, 'module tarball exceeds the maximum size of ' + job.maxTarballBytes + ' bytes');
      }
      fs.writeSync(fd, chunk);
    });
    for (const e of entries) {
      packer.add(e);
    }
    packer.end();
  } catch (e) {
    fs.closeSync(fd);
    fs.rmSync(file, { force: true });
    throw e;
  }
  fs.closeSync(fd);
  return summary;
}

/** Whether a link resolves, link by link, to something inside root (and not root itself). */
function linkStaysInside(root, link) {
  try {
    const target = fs.readlinkSync(link);
    const textual = path.resolve(path.dirname(link), target);
    const real = fs.realpathSync(link);
    return textual.startsWith(root + '/') && real.startsWith(root + '/') && !path.isAbsolute(target);
  } catch (e) {
    return false;
  }
}

main().then(() => process.exit(0), (e) => {
  if (e instanceof Failure) {
    log(e.message);
    process.exit(e.exitCode);
  }
  if (e && (e.code === 'ENOSPC' || e.code === 'EDQUOT')) {
    log('the work area is full');
    process.exit(EXIT.full);
  }
  log('failed: ' + (e && e.code ? e.code : 'internal error'));
  process.exit(EXIT.other);
});
