'use strict';
module.exports = require('./lib/inside.js');
