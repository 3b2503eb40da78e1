'use strict';
module.exports = require('fs').statSync(require('path').join(__dirname, 'blob.bin')).size;
