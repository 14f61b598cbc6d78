// UDP echo with Node's `dgram`: `node udp_echo_node.js PORT`.
//
// Shape: the Node.js `dgram` documentation's example (`dgram.createSocket('udp4')`, an 'error' listener that
// logs and closes, a 'message' listener, a 'listening' log, `server.bind(port)`), its 'message' listener
// sending each datagram back with `server.send(msg, rinfo.port, rinfo.address)` instead of logging it. Node's
// defaults otherwise: bound to all interfaces, no signal handler (SIGTERM kills the process).
"use strict";
const dgram = require("node:dgram");

const server = dgram.createSocket("udp4");
server.on("error", (err) => {
  console.error(`server error:\n${err.stack}`);
  server.close();
});
server.on("message", (msg, rinfo) => {
  server.send(msg, rinfo.port, rinfo.address);
});
server.on("listening", () => {
  const address = server.address();
  console.log(`server listening ${address.address}:${address.port}`);
});
server.bind(Number(process.argv[2]));
