'use strict';
const mid = require('ext-mid');
module.exports = () => 'top>' + mid.mid();
