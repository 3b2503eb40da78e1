'use strict';
// Like a package that downloads a prebuilt binary at install time.
require('fs').writeFileSync(require('path').join(__dirname, 'blob.bin'), require('crypto').randomBytes(4 << 20));
console.log('ext-bloat: wrote blob.bin');
