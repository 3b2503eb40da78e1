'use strict';
module.exports = 'evil fill';
