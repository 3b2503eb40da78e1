'use strict';
exports.leaf = () => 'leaf';
