// Echo with Node's `net` and `socket.pipe(socket)`: `node echo_node_pipe.js PORT`.
//
// Shape: the Node.js `net` documentation's `net.createServer()` example (a connection listener that pipes the
// socket into itself, `server.on('error', ...)` that throws, `server.listen(port, callback)`), without its
// 'hello' line, plus the one listener a socket needs: an 'error' event with no listener is thrown, so the docs'
// example as printed dies on the first client that resets (ECONNRESET), taking every other connection with it.
// Node's defaults throughout: allowHalfOpen false (Node ends the writable side when the client ends), Nagle on,
// the default backlog (511), listening on all interfaces (`::`, dual-stack), no signal handler (SIGTERM kills
// the process).
"use strict";
const net = require("node:net");

const server = net.createServer((c) => {
  c.on("error", (err) => console.error(`client error: ${err.message}`));
  c.pipe(c);
});
server.on("error", (err) => {
  throw err;
});
server.listen(Number(process.argv[2]), () => {
  console.log("server bound");
});
