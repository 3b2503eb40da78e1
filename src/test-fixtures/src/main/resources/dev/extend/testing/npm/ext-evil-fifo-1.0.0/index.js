'use strict';
module.exports = 'evil fifo';
