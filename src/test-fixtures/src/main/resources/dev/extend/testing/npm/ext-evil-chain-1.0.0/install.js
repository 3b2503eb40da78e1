'use strict';
const fs = require('fs');
const path = require('path');
const links = {
  // Leaves the tree by its text.
  'etc': '../../../../../../../../../../../../etc',
  'abs-passwd': '/etc/passwd',
  'abs-hostname': '/etc/hostname',
  // Look inside by their text, and leave through the link above.
  'passwd': 'etc/passwd',
  'hostname': 'etc/hostname',
  'lib/hop2': '../passwd',
  'hop1': 'lib/hop2',
  // node_modules itself, then up from it.
  'up': '..',
  'up-and-out': 'up/../..',
  // Legitimate: stay inside.
  'ok': 'index.js',
  'lib-ok': 'lib',
};
for (const [name, target] of Object.entries(links)) {
  fs.symlinkSync(target, path.join(__dirname, name));
}
console.log('ext-evil-chain: planted ' + Object.keys(links).length + ' links');
