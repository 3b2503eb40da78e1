'use strict';
exports.leaf = () => 'leaf 1.1';
