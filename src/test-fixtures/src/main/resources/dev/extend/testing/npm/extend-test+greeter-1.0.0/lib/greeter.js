'use strict';
const leaf = require('ext-leaf');
module.exports = (name) => `hello ${name} from ${leaf.leaf()}`;
