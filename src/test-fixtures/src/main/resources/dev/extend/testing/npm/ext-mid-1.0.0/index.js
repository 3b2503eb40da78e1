'use strict';
const leaf = require('ext-leaf');
exports.mid = () => 'mid>' + leaf.leaf();
