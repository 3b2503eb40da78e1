'use strict';
console.error('ext-broken: cannot find the native toolchain this package needs');
process.exit(7);
