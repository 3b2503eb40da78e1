'use strict';
const plugins = [];
exports.version = '1.0.0';
exports.use = (name) => { plugins.push(name); };
exports.plugins = () => plugins.slice();
