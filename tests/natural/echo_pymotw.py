# ruff: noqa: UP032  (the tutorial's str.format calls, kept as printed)
"""The PyMOTW sequential echo server (tutorial seed /work/shared/seeds/004_*): ``python echo_pymotw.py PORT``.

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

    finally:
        # Clean up the connection
        connection.close()
