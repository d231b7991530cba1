#!/usr/bin/env python3
"""Baseline (c): a client written from the seed: reads the whole file, pickles it into one message,
and reads the whole answer into memory (with a recv_into loop, not quadratic concatenation).

Usage: seed_client.py PORT put FILE NAME | get NAME OUT | list
Exits 0 on STATUS OK, 1 on ERROR.
"""

import os
import socket
import sys

# The framing of the seed server the interop tests use (baseline (c) on both ends).
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..', 'test', 'interop'))
from seed_server import recv_message, send_message  # noqa: E402

FRAME = '>I'


def request(port, message):
    with socket.create_connection(('127.0.0.1', port)) as sock:
        send_message(sock, FRAME, message)
        return recv_message(sock, FRAME)


def main():
    port, command = int(sys.argv[1]), sys.argv[2]
    base = {'STATUS': 'REQUEST', 'DETAILS': None, 'FILENAME': None, 'FILE_DATA': None}
    if command == 'put':
        with open(sys.argv[3], 'rb') as source:
            data = source.read()
        response = request(port, {**base, 'COMMAND': 'PUT', 'FILENAME': sys.argv[4], 'FILE_DATA': data})
    elif command == 'get':
        response = request(port, {**base, 'COMMAND': 'GET', 'FILENAME': sys.argv[3]})
        if response['STATUS'] == 'OK':
            with open(sys.argv[4], 'wb') as out:
                out.write(response['FILE_DATA'])
    else:
        response = request(port, {**base, 'COMMAND': 'LIST'})
        details = response['DETAILS']
        print('\n'.join(details) if isinstance(details, list) else details)
    if response['STATUS'] != 'OK':
        print(response['DETAILS'], file=sys.stderr)
        sys.exit(1)


if __name__ == '__main__':
    main()
