# ruff: noqa: UP032  (the tutorial's str.format calls, kept as printed)
"""The PyMOTW sequential echo server, with the one fix its crash needs: ``python echo_pymotw_robust.py PORT``.

``echo_pymotw.py`` exactly, plus an ``except OSError`` around a connection: as printed in the tutorial, a client
that resets its connection (ECONNRESET out of ``recv`` or ``sendall``) raises through the ``try: ... finally:``
and ends the whole server (tests/test_natural.py shows conn.reset catching it). Here that client's connection
ends, and the server goes on to the next one. Nothing else differs; check it with ``--sequential``.

The original's docstring:


Shape: Doug Hellmann's "socket_echo_server.py" from PyMOTW-3 ("socket -- Network Communication", TCP/IP Client
and Server), as printed there: ``listen(1)``, one client at a time, ``recv(16)`` chunks echoed with ``sendall``,
a print for every chunk. Two changes only: the port comes from the command line instead of the fixed 10000, and
the ``try:`` the seed's extraction lost before the ``finally:`` is restored. Check it with ``--sequential``.
"""

import socket
import sys

# Create a TCP/IP socket
sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)

# Bind the socket to the port
server_address = ("localhost", int(sys.argv[1]))
print("starting up on {} port {}".format(*server_address))
sock.bind(server_address)

# Listen for incoming connections
sock.listen(1)

while True:
    # Wait for a connection
    print("waiting for a connection")
    connection, client_address = sock.accept()
    try:
        print("connection from", client_address)

        # Receive the data in small chunks and retransmit it
        while True:
            data = connection.recv(16)
            print("received {!r}".format(data))
            if data:
                print("sending data back to the client")
                connection.sendall(data)
            else:
                print("no data from", client_address)
                break

    except OSError as exc:  # the fix: a client's reset ends its connection, not the server
        print("connection from", client_address, "failed:", exc)

    finally:
        # Clean up the connection
        connection.close()
