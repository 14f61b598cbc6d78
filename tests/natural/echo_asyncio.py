"""Echo with ``asyncio.start_server``: ``python echo_asyncio.py PORT``.

Shape: the asyncio documentation's "TCP echo server using streams" (``asyncio.start_server(handle_echo,
'127.0.0.1', port)``, ``async with server: await server.serve_forever()``, ``asyncio.run(main())``), with the
handler looping read/write/drain until EOF instead of answering one ``read(100)``, then closing. No signal
handling: SIGTERM kills the process (Python's default action).
"""

import asyncio
import sys


async def handle_echo(reader, writer):
    while data := await reader.read(65536):
        writer.write(data)
        await writer.drain()
    writer.close()
    await writer.wait_closed()


async def main(port):
    server = await asyncio.start_server(handle_echo, "127.0.0.1", port)
    addrs = ", ".join(str(sock.getsockname()) for sock in server.sockets)
    print(f"Serving on {addrs}")
    async with server:
        await server.serve_forever()


asyncio.run(main(int(sys.argv[1])))
