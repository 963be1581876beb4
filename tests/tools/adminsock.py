#!/usr/bin/env python3
"""adminsock.py SOCKET COMMAND... — send commands to proxyd's admin unix
socket, one line each, then "quit", and print every answer until proxyd
closes the connection (or 5 s pass). The tests' one client for that socket.
"""
import socket
import sys


def main():
    if len(sys.argv) < 3:
        sys.exit("usage: adminsock.py SOCKET COMMAND...")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(5)
    s.connect(sys.argv[1])
    s.sendall("".join(c + "\n" for c in sys.argv[2:] + ["quit"]).encode())
    out = b""
    while True:
        try:
            d = s.recv(65536)
        except socket.timeout:
            break
        if not d:
            break
        out += d
    sys.stdout.write(out.decode("latin-1"))


if __name__ == "__main__":
    main()
