#!/usr/bin/env python3
"""A client written from the seed (image-sharing-service.md), for interop tests of `iss serve`.

Standard library only. It speaks the seed protocol as a naive seed implementation would: a 4-byte
length packed with struct ('I', native byte order and size, unless --endian says otherwise), then
pickle.dumps of a dict with COMMAND, STATUS, DETAILS, FILENAME and FILE_DATA. Answers are read with
pickle.loads, as the seed does, so it is for tests against a trusted server only.

Usage: seed_client.py --port N [--host H] [--protocol 0..5] [--endian native|big|little]
                      [--per-request] [--version] [--tls-ca FILE [--tls-server-name NAME]] < script.json

With --tls-ca, each socket is wrapped as docs/protocol.md shows: ssl.create_default_context(cafile=FILE),
checking the certificate and the server name (--host, unless --tls-server-name says otherwise).

The script is a JSON list of operations, or {"sessions": [{"protocol": 0, "endian": "big", "per_request": true,
"version": false, "ops": [...]}, ...]} to run several sessions in one process (each line then carries
"session": its index; Python starts slowly on some machines). Operations:
  {"op": "PUT", "name": "cat.png", "path": "/tmp/cat.png"}   (or "data_hex": "89504e47...")
  {"op": "GET", "name": "cat.png"}
  {"op": "LIST"}
  {"op": "RAW", "message": {"COMMAND": "X", "STATUS": "REQUEST", ...}}   (bytes values as {"hex": "..."})
For each operation one JSON line is printed: the answer's keys in order, the Python type of each value,
the values of COMMAND, STATUS, DETAILS, FILENAME, and the length and sha256 of FILE_DATA.
"""

import argparse
import hashlib
import json
import pickle
import socket
import ssl
import struct
import sys

FORMATS = {'native': 'I', 'big': '>I', 'little': '<I'}


def recv_exact(sock, count):
    chunks = []
    while count > 0:
        chunk = sock.recv(min(count, 1 << 20))
        if not chunk:
            raise ConnectionError('connection closed by the server')
        chunks.append(chunk)
        count -= len(chunk)
    return b''.join(chunks)


def send_message(sock, fmt, message, protocol):
    payload = pickle.dumps(message, protocol=protocol)
    sock.sendall(struct.pack(fmt, len(payload)) + payload)


def recv_message(sock, fmt):
    (size,) = struct.unpack(fmt, recv_exact(sock, 4))
    return pickle.loads(recv_exact(sock, size))


def request(command, filename=None, file_data=None, version=False):
    message = {'COMMAND': command, 'STATUS': 'REQUEST', 'DETAILS': None, 'FILENAME': filename, 'FILE_DATA': file_data}
    if version:
        message['VERSION'] = 1
    return message


def from_json(value):
    if isinstance(value, dict) and set(value) == {'hex'}:
        return bytes.fromhex(value['hex'])
    if isinstance(value, dict):
        return {key: from_json(item) for key, item in value.items()}
    if isinstance(value, list):
        return [from_json(item) for item in value]
    return value


def build(op, version):
    kind = op['op']
    if kind == 'PUT':
        if 'path' in op:
            with open(op['path'], 'rb') as source:
                data = source.read()
        else:
            data = bytes.fromhex(op.get('data_hex', ''))
        return request('PUT', op['name'], data, version)
    if kind == 'GET':
        return request('GET', op['name'], None, version)
    if kind == 'LIST':
        return request('LIST', None, None, version)
    if kind == 'RAW':
        return from_json(op['message'])
    raise ValueError('unknown op ' + kind)


def describe(answer):
    if not isinstance(answer, dict):
        return {'type': type(answer).__name__}
    data = answer.get('FILE_DATA')
    result = {
        'keys': list(answer.keys()),
        'types': {str(key): type(value).__name__ for key, value in answer.items()},
    }
    for key in ('COMMAND', 'STATUS', 'DETAILS', 'FILENAME', 'CODE', 'COMMANDS'):
        if key in answer:
            result[key] = answer[key]
    if isinstance(data, (bytes, bytearray)):
        result['length'] = len(data)
        result['sha256'] = hashlib.sha256(data).hexdigest()
    return result


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, required=True)
    parser.add_argument('--protocol', type=int, default=pickle.DEFAULT_PROTOCOL)
    parser.add_argument('--endian', choices=sorted(FORMATS), default='native')
    parser.add_argument('--per-request', action='store_true', help='one connection per request, as the seed does')
    parser.add_argument('--version', action='store_true', help='add VERSION = 1 as iss clients do')
    parser.add_argument('--timeout', type=float, default=30.0)
    parser.add_argument('--tls-ca', help='speak TLS, trusting the certificate authority (or self-signed certificate) in this PEM file')
    parser.add_argument('--tls-server-name', help='name the certificate must carry (default: --host)')
    args = parser.parse_args()
    global CONNECT
    CONNECT = plain_connection if args.tls_ca is None else tls_connection(args.tls_ca, args.tls_server_name or args.host)
    script = json.load(sys.stdin)
    if isinstance(script, dict):
        for index, session in enumerate(script['sessions']):
            run_session(
                args.host,
                args.port,
                session['ops'],
                protocol=session.get('protocol', args.protocol),
                fmt=FORMATS[session.get('endian', args.endian)],
                per_request=session.get('per_request', args.per_request),
                version=session.get('version', args.version),
                timeout=args.timeout,
                tag={'session': index},
            )
    else:
        run_session(
            args.host,
            args.port,
            script,
            protocol=args.protocol,
            fmt=FORMATS[args.endian],
            per_request=args.per_request,
            version=args.version,
            timeout=args.timeout,
            tag={},
        )


def plain_connection(host, port, timeout):
    return socket.create_connection((host, port), timeout=timeout)


def tls_connection(cafile, server_name):
    context = ssl.create_default_context(cafile=cafile)

    def connect(host, port, timeout):
        return context.wrap_socket(socket.create_connection((host, port), timeout=timeout), server_hostname=server_name)

    return connect


CONNECT = plain_connection


def run_session(host, port, ops, protocol, fmt, per_request, version, timeout, tag):
    sock = None
    for op in ops:
        if sock is None:
            sock = CONNECT(host, port, timeout)
        try:
            send_message(sock, fmt, build(op, version), protocol)
            line = describe(recv_message(sock, fmt))
        except (ConnectionError, OSError) as error:
            line = {'error': type(error).__name__, 'message': str(error)}
            sock.close()
            sock = None
        line.update(tag)
        print(json.dumps(line), flush=True)
        if per_request and sock is not None:
            sock.close()
            sock = None
    if sock is not None:
        sock.close()


if __name__ == '__main__':
    main()
