'use strict';
module.exports = 'chain inside';
