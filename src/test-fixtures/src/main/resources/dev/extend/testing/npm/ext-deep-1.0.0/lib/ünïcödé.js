'use strict';
module.exports = 'accents';
