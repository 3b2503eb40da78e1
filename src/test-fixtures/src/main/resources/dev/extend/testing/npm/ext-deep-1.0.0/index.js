'use strict';
const deep = require('./lib/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa/bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb/cccccccccccccccccccccccccccccccccccccccccccccccc/a-file-name-that-alone-is-longer-than-one-hundred-characters-which-ustar-cannot-hold-in-its-name-field.js');
const accents = require('./lib/ünïcödé.js');
module.exports = deep + ' ' + accents;
