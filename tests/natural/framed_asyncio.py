"""Framed echo (a 10-byte ASCII length header, then the body) with asyncio streams: ``python framed_asyncio.py PORT``.

Shape: the asyncio documentation's TCP echo server using streams (``asyncio.start_server`` on '127.0.0.1',
``serve_forever``, ``asyncio.run``), reading frames the tutorial's way (a header of ``HEADERSIZE = 10`` bytes,
``int(header)``, then that many bytes) with ``readexactly``, and answering each frame with the tutorial's
``f"{len(msg):<10}"`` header. The protocol's two rules for bad input (README "framed") are what ``int()`` and a
range test give: a header that is not a number, or larger than the 1 MiB maximum, ends that connection.
``IncompleteReadError`` (the client ended the stream) ends the connection, as the asyncio docs describe it. No
signal handling: SIGTERM kills the process.
"""

import asyncio
import sys

HEADERSIZE = 10
MAX_FRAME = 1024 * 1024


async def handle_frames(reader, writer):
    try:
        while True:
            header = await reader.readexactly(HEADERSIZE)
            try:
                size = int(header)
            except ValueError:
                break
            if not 0 <= size <= MAX_FRAME:
                break
            msg = await reader.readexactly(size)
            writer.write(f"{len(msg):<{HEADERSIZE}}".encode() + msg)
            await writer.drain()
    except asyncio.IncompleteReadError:
        pass
    writer.close()
    await writer.wait_closed()


async def main(port):
    server = await asyncio.start_server(handle_frames, "127.0.0.1", port)
    async with server:
        await server.serve_forever()


asyncio.run(main(int(sys.argv[1])))
