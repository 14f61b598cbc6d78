"""A greeting server (a banner, then close) with asyncio streams: ``python greeting_asyncio.py PORT``.

Shape: the asyncio documentation's TCP server using streams (``asyncio.start_server`` on '127.0.0.1',
``serve_forever``, ``asyncio.run``) with a handler that writes the banner, ends its side with ``write_eof()``
(FIN), reads and discards whatever the client sends until the client closes, then ``close()`` and
``wait_closed()`` as the docs end a connection. The reading is not there to please anyone: the obvious handler
that only writes and closes leaves a talking client's bytes unread, so its kernel answers with RST instead of
FIN, and a client that has not read the banner yet may lose it (greeting.client-talks catches that handler,
as it catches tests/broken/greeting_close_unread.py). No signal handling: SIGTERM kills the process.
"""

import asyncio
import sys

BANNER = b"Welcome to the asyncio greeting server!\r\n"


async def greet(reader, writer):
    writer.write(BANNER)
    writer.write_eof()
    await writer.drain()
    while await reader.read(65536):
        pass
    writer.close()
    await writer.wait_closed()


async def main(port):
    server = await asyncio.start_server(greet, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


asyncio.run(main(int(sys.argv[1])))
