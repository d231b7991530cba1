#!/usr/bin/env python3
"""A server written from the seed (image-sharing-service.md), for interop tests of the iss clients and
as the benchmark's baseline (c): every message is one pickled dict read whole into memory, one thread per
connection, no fsync, as the seed's authors would write it (the one liberty: a receive loop that fills a
preallocated buffer, so a large message is not copied quadratically).

Standard library only. It speaks the seed protocol as the seed describes it: a 4-byte length, then a
pickled dict with COMMAND, STATUS, DETAILS, FILENAME and FILE_DATA, answered with exactly those five keys.
It unpickles with pickle.loads as the seed does, so it is for tests on 127.0.0.1 only.

Usage: seed_server.py STORAGE_DIR [--endian native|big|little] [--port N]
Prints "PORT <n>" on stdout once it listens on 127.0.0.1.
"""

import argparse
import os
import pickle
import socket
import struct
import sys
import threading

ALLOWED = ('.jpg', '.jpeg', '.png')
EMPTY_MESSAGE = 'No files on server'


def recv_exact(sock, count):
    # Fills one preallocated buffer: a large message costs its size once, not a quadratic join.
    buffer = bytearray(count)
    view = memoryview(buffer)
    filled = 0
    while filled < count:
        got = sock.recv_into(view[filled:], min(count - filled, 1 << 20))
        if got == 0:
            return None
        filled += got
    return buffer


def recv_message(sock, fmt):
    header = recv_exact(sock, 4)
    if header is None:
        return None
    (size,) = struct.unpack(fmt, header)
    payload = recv_exact(sock, size)
    if payload is None:
        return None
    message = pickle.loads(payload)
    del payload
    return message


def send_message(sock, fmt, message):
    payload = pickle.dumps(message)
    # Two sends rather than a concatenation, which would copy a whole image once more.
    sock.sendall(struct.pack(fmt, len(payload)))
    sock.sendall(payload)


def response(command, status, details=None, filename=None, file_data=None):
    return {'COMMAND': command, 'STATUS': status, 'DETAILS': details, 'FILENAME': filename, 'FILE_DATA': file_data}


def handle(request, storage):
    command = request.get('COMMAND')
    filename = request.get('FILENAME')
    if command == 'PUT':
        data = request.get('FILE_DATA')
        if not filename or os.path.basename(filename) != filename or not filename.lower().endswith(ALLOWED):
            return response(command, 'ERROR', f"File '{filename}' is not a supported image", filename)
        if not data:
            return response(command, 'ERROR', f"File '{filename}' is empty", filename)
        path = os.path.join(storage, filename)
        if os.path.exists(path):
            return response(command, 'ERROR', f"File '{filename}' already exists on server", filename)
        with open(path, 'wb') as handle_:
            handle_.write(data)
        return response(command, 'OK', None, filename)
    if command == 'GET':
        path = os.path.join(storage, filename or '')
        if not filename or os.path.basename(filename) != filename or not os.path.isfile(path):
            return response(command, 'ERROR', f"File '{filename}' does not exist on server", filename)
        with open(path, 'rb') as handle_:
            return response(command, 'OK', None, filename, handle_.read())
    if command == 'LIST':
        names = sorted(os.listdir(storage))
        if not names:
            return response(command, 'OK', EMPTY_MESSAGE)
        return response(command, 'OK', names)
    return response(command, 'ERROR', f"Unknown command '{command}'", filename)


def serve_client(sock, fmt, storage):
    with sock:
        while True:
            try:
                request = recv_message(sock, fmt)
            except (OSError, pickle.UnpicklingError, EOFError, struct.error):
                return
            if request is None:
                return
            try:
                send_message(sock, fmt, handle(request, storage))
            except OSError:
                return


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('storage')
    parser.add_argument('--endian', choices=['native', 'big', 'little'], default='native')
    parser.add_argument('--port', type=int, default=0)
    options = parser.parse_args()
    fmt = {'native': 'I', 'big': '>I', 'little': '<I'}[options.endian]
    os.makedirs(options.storage, exist_ok=True)

    server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(('127.0.0.1', options.port))
    server.listen()
    print(f'PORT {server.getsockname()[1]}', flush=True)
    try:
        while True:
            client, _ = server.accept()
            threading.Thread(target=serve_client, args=(client, fmt, options.storage), daemon=True).start()
    except KeyboardInterrupt:
        pass
    finally:
        server.close()


if __name__ == '__main__':
    sys.exit(main())
