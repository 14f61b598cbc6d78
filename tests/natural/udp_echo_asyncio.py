"""UDP echo with an asyncio ``DatagramProtocol``: ``python udp_echo_asyncio.py PORT``.

Shape: the asyncio documentation's "UDP Echo Server" example (``EchoServerProtocol`` whose ``datagram_received``
calls ``self.transport.sendto(data, addr)``, ``loop.create_datagram_endpoint(..., local_addr=('127.0.0.1',
port))``, then waiting forever), without its two prints of ``data.decode()``: a print of the datagram as text
raises UnicodeDecodeError for bytes that are not UTF-8, before the ``sendto``, so the docs' example drops
such datagrams instead of echoing them (tests/broken/udp_decodes_text.py is that bug). No signal handling:
SIGTERM kills the process.
"""

import asyncio
import sys


class EchoServerProtocol:
    def connection_made(self, transport):
        self.transport = transport

    def datagram_received(self, data, addr):
        self.transport.sendto(data, addr)


async def main(port):
    print("Starting UDP server")
    loop = asyncio.get_running_loop()
    transport, _protocol = await loop.create_datagram_endpoint(EchoServerProtocol, local_addr=("127.0.0.1", port))
    try:
        await asyncio.Event().wait()  # serve forever (the docs' example serves for an hour: asyncio.sleep(3600))
    finally:
        transport.close()


asyncio.run(main(int(sys.argv[1])))
