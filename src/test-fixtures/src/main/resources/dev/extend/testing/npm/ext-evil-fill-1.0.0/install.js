'use strict';
// Writes 1 MiB blocks until the disk is full (at most 8 GiB), then empty files until no inode
// is left (at most 2 million), and exits successfully, leaving it all behind.
const fs = require('fs');
const path = require('path');
const dir = path.join(__dirname, 'fill');
fs.mkdirSync(dir);
const block = Buffer.alloc(1 << 20, 7);
let mib = 0;
try {
  const fd = fs.openSync(path.join(dir, 'blob'), 'w');
  for (; mib < 8192; mib++) {
    fs.writeSync(fd, block);
  }
  fs.closeSync(fd);
} catch (e) {
  console.log('ext-evil-fill: ' + e.code + ' after ' + mib + ' MiB');
}
let files = 0;
try {
  for (; files < 2000000; files++) {
    fs.writeFileSync(path.join(dir, 'f' + files), '');
  }
} catch (e) {
  console.log('ext-evil-fill: ' + e.code + ' after ' + files + ' files');
}
