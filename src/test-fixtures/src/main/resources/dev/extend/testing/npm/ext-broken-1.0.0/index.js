'use strict';
module.exports = 'unreachable';
