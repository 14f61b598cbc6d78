// Framed echo (a 10-byte ASCII length header, then the body) with Node's `net`: `node framed_node.js PORT`.
//
// Shape: the Node.js `net` documentation's `net.createServer()` example, with the usual 'data' handler of a
// length-prefixed protocol: append each chunk to a buffer, cut off every complete frame (a header of 10 bytes,
// the body's length in decimal padded with spaces, then the body) and write it back behind the same kind of
// header. `socket.write()` returning false pauses reading until 'drain' (the docs' backpressure idiom). A header
// that is not a length (anything but digits, then spaces), or one over the 1 MiB maximum, ends the connection
// (`socket.destroy()`), as the protocol says (README "framed"). A socket 'error' listener, without which one
// client's reset would crash the server. Node's defaults otherwise: allowHalfOpen false, the default backlog,
// all interfaces, no signal handler.
"use strict";
const net = require("node:net");

const HEADERSIZE = 10;
const MAX_FRAME = 1024 * 1024;

const server = net.createServer((socket) => {
  let buffered = Buffer.alloc(0);
  socket.on("error", (err) => console.error(`client error: ${err.message}`));
  socket.on("data", (chunk) => {
    buffered = Buffer.concat([buffered, chunk]);
    while (buffered.length >= HEADERSIZE) {
      const header = buffered.toString("latin1", 0, HEADERSIZE);
      if (!/^[0-9]+ *$/.test(header) || Number(header) > MAX_FRAME) {
        socket.destroy();
        return;
      }
      const size = Number(header);
      if (buffered.length < HEADERSIZE + size) break;
      const msg = buffered.subarray(HEADERSIZE, HEADERSIZE + size);
      buffered = buffered.subarray(HEADERSIZE + size);
      if (!socket.write(Buffer.concat([Buffer.from(String(size).padEnd(HEADERSIZE)), msg]))) {
        socket.pause();
        socket.once("drain", () => socket.resume());
      }
    }
  });
});
server.on("error", (err) => {
  throw err;
});
server.listen(Number(process.argv[2]), () => {
  console.log("server bound");
});
