'use strict';
module.exports = 'evil link';
