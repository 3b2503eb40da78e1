'use strict';
const host = require('ext-host');
require('ext-leaf');
host.use('ext-plugin');
module.exports = { host, hostVersion: host.version };
