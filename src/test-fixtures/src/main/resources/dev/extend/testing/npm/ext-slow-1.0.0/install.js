'use strict';
console.log('ext-slow: waiting forever');
setInterval(() => {}, 1000);
