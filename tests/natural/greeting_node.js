// A greeting server (a banner, then close) with Node's `net`: `node greeting_node.js PORT`.
//
// Shape: the Node.js `net` documentation's `net.createServer()` example, whose connection listener writes a
// greeting ('hello\r\n'), here ending the connection with it: `socket.end(banner)` (write, then FIN), and
// `socket.resume()`, the stream docs' way to consume a stream's data without processing it. Without it the
// socket is never read, so a client that sends anything is never seen to end and its descriptor is kept
// forever (measured: one descriptor per such client; no greeting check counts descriptors yet). A socket
// 'error' listener, without which one client's reset would crash the server. Node's defaults otherwise:
// allowHalfOpen false, the default backlog, all interfaces, no signal handler (SIGTERM kills the process).
"use strict";
const net = require("node:net");

const BANNER = "Welcome to the Node.js greeting server!\r\n";

const server = net.createServer((socket) => {
  socket.on("error", (err) => console.error(`client error: ${err.message}`));
  socket.end(BANNER);
  socket.resume();
});
server.on("error", (err) => {
  throw err;
});
server.listen(Number(process.argv[2]), () => {
  console.log("server bound");
});
