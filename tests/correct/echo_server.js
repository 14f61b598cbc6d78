// A correct TCP echo server in Node.js: `node echo_server.js PORT` (PORT may be 0), host from $HOST.
//
// It is what the harness should pass with no false alarm: every byte is echoed (pipe handles partial writes
// and backpressure), a client's half-close is answered with the rest of the echo then FIN (allowHalfOpen
// plus pipe's end()), resets only end that connection, and SIGTERM/SIGINT stop accepting, let connections in
// flight finish for at most 5 s, then exit 0.
"use strict";
const net = require("net");

const port = Number(process.argv[2] || 0);
const host = process.env.HOST || "127.0.0.1";
const GRACE_MS = 5000;
const sockets = new Set();

const server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
  sockets.add(socket);
  socket.on("error", () => socket.destroy()); // a reset ends this connection only
  socket.on("close", () => sockets.delete(socket));
  socket.pipe(socket);
});

server.on("error", (err) => {
  console.error(`error: cannot listen on ${host}:${port}: ${err.message}`);
  process.exit(1);
});

server.listen({ port, host, backlog: 1024 }, () => {
  const address = server.address();
  process.stdout.write(`listening on ${address.address}:${address.port}\n`);
});

function stop() {
  server.close(() => process.exit(0)); // called once every connection has closed
  setTimeout(() => {
    for (const socket of sockets) socket.destroy();
    process.exit(0);
  }, GRACE_MS).unref();
}
process.once("SIGTERM", stop);
process.once("SIGINT", stop);
