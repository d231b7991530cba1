#!/usr/bin/env python3
"""Baseline (c): a server written from the seed, as its authors would: every message is one pickled
dict read whole into memory behind a 4-byte big-endian length, one thread per connection. The one
liberty taken is a receive loop that fills a preallocated buffer (recv_into), so that a large
message costs its size once instead of quadratic copying. Like the seed it does not fsync.

Usage: seed_server.py STORAGE_DIR PORT   (127.0.0.1 only: it unpickles what it receives)
"""

import os
import pickle
import socket
import struct
import sys
import threading

ALLOWED = ('.jpg', '.jpeg', '.png')


def recv_exact(sock, count):
    buffer = bytearray(count)
    view = memoryview(buffer)
    filled = 0
    while filled < count:
        got = sock.recv_into(view[filled:], min(count - filled, 1 << 20))
        if got == 0:
            return None
        filled += got
    return buffer


def recv_message(sock):
    header = recv_exact(sock, 4)
    if header is None:
        return None
    (size,) = struct.unpack('>I', header)
    payload = recv_exact(sock, size)
    if payload is None:
        return None
    message = pickle.loads(payload)
    del payload
    return message


def send_message(sock, message):
    payload = pickle.dumps(message, protocol=4)
    sock.sendall(struct.pack('>I', len(payload)))
    sock.sendall(payload)


def reply(command, status, details=None, filename=None, data=None):
    return {'COMMAND': command, 'STATUS': status, 'DETAILS': details, 'FILENAME': filename, 'FILE_DATA': data}


def handle(request, storage):
    command = request.get('COMMAND')
    filename = request.get('FILENAME')
    if command == 'PUT':
        data = request.get('FILE_DATA')
        if not filename or os.path.basename(filename) != filename or not filename.lower().endswith(ALLOWED):
            return reply(command, 'ERROR', f"File '{filename}' is not a supported image", filename)
        if not data:
            return reply(command, 'ERROR', f"File '{filename}' is empty", filename)
        path = os.path.join(storage, filename)
        if os.path.exists(path):
            return reply(command, 'ERROR', f"File '{filename}' already exists on server", filename)
        with open(path, 'wb') as out:
            out.write(data)
        return reply(command, 'OK', None, filename)
    if command == 'GET':
        path = os.path.join(storage, filename or '')
        if not filename or os.path.basename(filename) != filename or not os.path.isfile(path):
            return reply(command, 'ERROR', f"File '{filename}' does not exist on server", filename)
        with open(path, 'rb') as source:
            return reply(command, 'OK', None, filename, source.read())
    if command == 'LIST':
        names = sorted(os.listdir(storage))
        return reply(command, 'OK', names if names else 'No files on server')
    return reply(command, 'ERROR', f"Unknown command '{command}'", filename)


def serve_connection(sock, storage):
    with sock:
        while True:
            request = recv_message(sock)
            if request is None:
                return
            response = handle(request, storage)
            del request
            send_message(sock, response)


def main():
    storage, port = sys.argv[1], int(sys.argv[2])
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(('127.0.0.1', port))
    listener.listen(128)
    while True:
        sock, _ = listener.accept()
        threading.Thread(target=serve_connection, args=(sock, storage), daemon=True).start()


if __name__ == '__main__':
    main()
