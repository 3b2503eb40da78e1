// A test host's servers: HTTP on 80, HTTPS on 443 (key and certificate from argv), and a bare
// TCP service on 5432. Each answers who asked, so tests see the address a connection came from.
'use strict';
const http = require('http');
const https = require('https');
const net = require('net');
const fs = require('fs');
const [key, cert, name] = process.argv.slice(2);
function handler(req, res) {
  let size = 0;
  req.on('data', (c) => { size += c.length; });
  req.on('end', () => {
    const body = JSON.stringify({ host: name, from: req.socket.remoteAddress, path: req.url, received: size });
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) });
    res.end(body);
  });
}
const servers = [http.createServer(handler).listen(80)];
if (key && cert) servers.push(https.createServer({ key: fs.readFileSync(key), cert: fs.readFileSync(cert) }, handler).listen(443));
servers.push(net.createServer((s) => { s.end(name + ' from ' + s.remoteAddress + '\n'); }).listen(5432));
let listening = 0;
for (const s of servers) s.on('listening', () => { if (++listening === servers.length) console.log('ready'); });
