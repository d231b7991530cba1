// Seed pickles made by the local CPython (python3, standard library only). Python only writes bytes
// here: nothing is ever unpickled, so the hostile __reduce__ classes below never run.
import {spawnSync} from 'node:child_process'

/** One pickle CPython wrote. `kind` is 'seed' for values of the subset, 'hostile' for values outside it. */
export interface CorpusEntry {
  readonly name: string
  readonly protocol: number
  readonly kind: 'seed' | 'hostile'
  readonly pickle: Buffer
}

const PYTHON = String.raw`
import base64, collections, json, os, pickle, pickletools, posix, subprocess, sys

CANARY = sys.argv[1]
PNG = b'\x89PNG\r\n\x1a\n' + bytes(range(64))
JPEG = b'\xff\xd8\xff\xe0' + bytes(range(255, 191, -1))

def request(command, filename=None, data=None, version=False):
    message = {'COMMAND': command, 'STATUS': 'REQUEST', 'DETAILS': None, 'FILENAME': filename, 'FILE_DATA': data}
    if version:
        message['VERSION'] = 1
    return message

SHARED = ['shared', 7, (8, 'x')]
SEEDS = [
    ('PUT png', request('PUT', 'cat.png', PNG)),
    ('PUT jpeg with VERSION', request('PUT', 'IMG_0001.JPG', JPEG, True)),
    ('PUT bytearray', {'COMMAND': 'PUT', 'STATUS': 'REQUEST', 'FILENAME': 'b.png', 'FILE_DATA': bytearray(PNG)}),
    ('PUT empty data', request('PUT', 'e.png', b'')),
    ('GET', request('GET', 'cat.png')),
    ('LIST', request('LIST')),
    ('LIST with VERSION', request('LIST', None, None, True)),
    ('OK list response', {'COMMAND': 'LIST', 'STATUS': 'OK', 'DETAILS': ['a.png', 'b.jpg', '\u00e7.jpeg'],
                          'FILENAME': None, 'FILE_DATA': None}),
    ('ERROR response', {'COMMAND': 'PUT', 'STATUS': 'ERROR', 'DETAILS': "File 'x.png' already exists on server",
                        'FILENAME': 'x.png', 'FILE_DATA': None, 'CODE': 'E_DUPLICATE'}),
    ('unicode name', request('PUT', '\u00dcn\u00efc\u00f8d\u00e9 \u732b \U0001f600.png', PNG)),
    ('odd values', {'COMMAND': 'LIST', 'X': [1, -1, 255, 256, 65536, -2**31, 2**31, 2**64, -(10**30), 1.5, -0.0,
                                             float('inf'), True, False, None, (), (1,), (1, 2), (1, 2, 3), (1, 2, 3, 4)],
                    'Y': {1: 'a', -5: 'b', 'c': {}}, 'Z': 'line\nbreak \\ back\x00slash'}),
    ('memo sharing', {'a': SHARED, 'b': SHARED, 'c': (SHARED, SHARED), 'FILE_DATA': PNG}),
    ('nested', {'COMMAND': 'GET', 'DETAILS': [[[[['deep']]]]], 'T': ((((('t',),),),),)}),
    ('bytes outside FILE_DATA', {'OTHER': b'\x00\xff\\\n', 'NESTED': {'FILE_DATA': b'not streamed'}}),
    ('empty dict', {}),
    ('many keys', dict([('k%d' % i, i) for i in range(40)] + [('FILE_DATA', PNG)])),
    ('top-level list', ['PUT', 'x.png']),
]

class Run:
    def __init__(self, func, *args):
        self.func, self.args = func, args
    def __reduce__(self):
        return (self.func, self.args)

class Instance:
    def __init__(self):
        self.attr = 'value'

class WithState:
    def __reduce__(self):
        return (collections.OrderedDict, (), {'state': 1})

class NewObj:
    def __reduce_ex__(self, protocol):
        return (copyreg_newobj, (NewObj,))

import copyreg
copyreg_newobj = copyreg.__newobj__

TOUCH = 'touch ' + CANARY
HOSTILE = [
    ('posix.system via __reduce__', {'COMMAND': Run(os.system, TOUCH)}),
    ('posix.system as FILENAME', request('PUT', Run(posix.system, TOUCH), PNG)),
    ('builtins.eval', {'COMMAND': Run(eval, "__import__('os').system(%r)" % TOUCH)}),
    ('builtins.exec', {'COMMAND': Run(exec, "import os; os.system(%r)" % TOUCH)}),
    ('builtins.getattr', {'COMMAND': Run(getattr, 'x', '__class__')}),
    ('builtins.__import__', {'COMMAND': Run(__import__, 'os')}),
    ('subprocess.Popen', {'COMMAND': Run(subprocess.Popen, ['touch', CANARY])}),
    ('subprocess.call top-level', Run(subprocess.call, ['touch', CANARY])),
    ('OrderedDict top-level', collections.OrderedDict([('COMMAND', 'LIST'), ('STATUS', 'REQUEST')])),
    ('class instance top-level', Instance()),
    ('class instance value', {'COMMAND': 'LIST', 'STATUS': 'REQUEST', 'DETAILS': Instance()}),
    ('BUILD state', {'COMMAND': WithState()}),
    ('set value', {'COMMAND': 'LIST', 'STATUS': 'REQUEST', 'DETAILS': {1, 2}}),
    ('frozenset value', {'COMMAND': 'LIST', 'STATUS': 'REQUEST', 'DETAILS': frozenset([1])}),
    ('complex value', {'COMMAND': 'LIST', 'STATUS': 'REQUEST', 'DETAILS': 1j}),
]

out = []
for name, value in SEEDS:
    for protocol in range(6):
        data = pickle.dumps(value, protocol=protocol)
        out.append({'name': name, 'protocol': protocol, 'kind': 'seed', 'pickle': base64.b64encode(data).decode()})
        if protocol in (0, 2, 4):
            out.append({'name': name + ' (optimized)', 'protocol': protocol, 'kind': 'seed',
                        'pickle': base64.b64encode(pickletools.optimize(data)).decode()})
for name, value in HOSTILE:
    for protocol in range(6):
        try:
            data = pickle.dumps(value, protocol=protocol)
        except Exception:
            continue
        out.append({'name': name, 'protocol': protocol, 'kind': 'hostile', 'pickle': base64.b64encode(data).decode()})
json.dump(out, sys.stdout)
`

const cache = new Map<string, CorpusEntry[]>()

/**
 * Message pickles and hostile pickles written by python3 at protocols 0 to 5 (one python3 run per
 * canary path). The hostile ones would run `touch <canary>` if anything ever unpickled them.
 */
export function cpythonCorpus(canary = '/nonexistent/iss-fuzz-canary'): CorpusEntry[] {
  const cached = cache.get(canary)
  if (cached) return cached
  const result = spawnSync('python3', ['-c', PYTHON, canary], {maxBuffer: 64 << 20, timeout: 60_000})
  if (result.status !== 0) throw new Error(`python3 corpus failed: ${String(result.error ?? result.stderr)}`)
  const entries = (JSON.parse(result.stdout.toString()) as Array<Omit<CorpusEntry, 'pickle'> & {pickle: string}>).map(
    (entry) => ({...entry, pickle: Buffer.from(entry.pickle, 'base64')}),
  )
  cache.set(canary, entries)
  return entries
}
