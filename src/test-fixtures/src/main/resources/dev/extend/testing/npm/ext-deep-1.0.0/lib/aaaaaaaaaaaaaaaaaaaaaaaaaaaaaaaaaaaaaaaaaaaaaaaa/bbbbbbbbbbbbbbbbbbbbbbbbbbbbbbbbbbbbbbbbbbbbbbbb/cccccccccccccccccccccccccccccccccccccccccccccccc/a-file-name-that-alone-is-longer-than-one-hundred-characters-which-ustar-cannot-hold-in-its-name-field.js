'use strict';
module.exports = 'deep';
