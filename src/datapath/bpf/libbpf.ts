// SPDX-License-Identifier: Apache-2.0
// Typed binding of libbpf 1.1 (libbpf.so.1) through koffi, and the only importer of koffi: objects, maps, programs,
// pins, BPF_PROG_TEST_RUN, interfaces (attach.ts puts programs on them). Every failure throws a LibbpfError that carries
// libbpf's text (libbpf_strerror and its own log lines) and, for a failed load, the verifier log.
// The opts structs are written by hand with libbpf 1.1.2's x86-64 layouts (notes/libbpf-from-node.md).
import { readFileSync, rmSync } from 'node:fs';
import koffi, { type LibraryHandle, type TypeObject } from 'koffi';
import { DpbenchError, PrereqError } from '../../errors.ts';

export class LibbpfError extends DpbenchError {
  constructor(
    readonly op: string,
    /** positive errno (or libbpf's own code, e.g. 4001) */
    readonly errno: number,
    readonly detail = '',
  ) {
    super(`${op}: ${errorText(errno)} (errno ${errno})${detail ? `\n${detail}` : ''}`);
    this.name = 'LibbpfError';
  }
}

export const BPF_ANY = 0;
export const BPF_NOEXIST = 1;
export const BPF_EXIST = 2;
export const ENOENT = 2;
export const EINVAL = 22;
export const EOPNOTSUPP = 95;
export const ENOTSUPP = 524;
/** enum bpf_map_type values whose lookups return one value per possible CPU */
const PERCPU_MAP_TYPES = new Set([5 /* PERCPU_HASH */, 6 /* PERCPU_ARRAY */, 10 /* LRU_PERCPU_HASH */]);

type Ptr = unknown;

export interface Api {
  strerror: (err: number, buf: Buffer, size: number) => number;
  setPrint: (fn: unknown) => unknown;
  openFile: (path: string, opts: Buffer) => Ptr | null;
  load: (obj: Ptr) => number;
  close: (obj: Ptr) => void;
  nextMap: (obj: Ptr, prev: Ptr | null) => Ptr | null;
  nextProgram: (obj: Ptr, prev: Ptr | null) => Ptr | null;
  mapName: (map: Ptr) => string;
  mapFd: (map: Ptr) => number;
  mapType: (map: Ptr) => number;
  mapKeySize: (map: Ptr) => number;
  mapValueSize: (map: Ptr) => number;
  mapMaxEntries: (map: Ptr) => number;
  progName: (prog: Ptr) => string;
  progFd: (prog: Ptr) => number;
  update: (fd: number, key: Buffer, value: Buffer, flags: number) => number;
  lookup: (fd: number, key: Buffer, value: Buffer) => number;
  remove: (fd: number, key: Buffer) => number;
  nextKey: (fd: number, key: Buffer | null, next: Buffer) => number;
  updateBatch: (fd: number, keys: Buffer, values: Buffer, count: Uint32Array, opts: Buffer) => number;
  deleteBatch: (fd: number, keys: Buffer, count: Uint32Array, opts: Buffer) => number;
  lookupBatch: (fd: number, inBatch: Buffer | null, outBatch: Buffer, keys: Buffer, values: Buffer, count: Uint32Array, opts: Buffer) => number;
  objPin: (fd: number, path: string) => number;
  objGet: (path: string) => number;
  testRun: (fd: number, opts: Buffer) => number;
  linkCreate: (progFd: number, targetFd: number, attachType: number, opts: Buffer | null) => number;
  linkDetach: (fd: number) => number;
  tcHookCreate: (hook: Buffer) => number;
  tcHookDestroy: (hook: Buffer) => number;
  tcAttach: (hook: Buffer, opts: Buffer) => number;
  tcDetach: (hook: Buffer, opts: Buffer) => number;
  ifNameToIndex: (name: string) => number;
  ifNameIndex: () => Ptr | null;
  ifFreeNameIndex: (list: Ptr) => void;
  closeFd: (fd: number) => number;
}

let api: Api | undefined;
let ifNameIndexType: TypeObject;
/** libbpf's own messages (warnings and info) since the last reset: the "why" behind many error codes */
const libbpfLog: string[] = [];

/** the bound library; attach.ts shares it */
export function bind(): Api {
  if (api) return api;
  let lib: LibraryHandle;
  let libc: LibraryHandle;
  try {
    lib = koffi.load('libbpf.so.1');
    libc = koffi.load('libc.so.6');
  } catch (e) {
    throw new PrereqError(`cannot load libbpf.so.1 (${(e as Error).message}); install it with \`sudo bash scripts/setup.sh\` (Debian package libbpf1)`);
  }
  for (const name of ['bpf_object', 'bpf_map', 'bpf_program']) koffi.opaque(name);
  ifNameIndexType = koffi.struct('dpb_if_nameindex', { if_index: 'uint32_t', if_name: 'const char *' });
  const printFn = koffi.proto('int dpb_libbpf_print_fn(int level, const char *fmt, void *args)');
  const vsnprintf = libc.func('int vsnprintf(_Out_ uint8_t *buf, size_t size, const char *fmt, void *args)');
  const f = (decl: string) => lib.func(decl);
  api = {
    strerror: f('int libbpf_strerror(int err, _Out_ uint8_t *buf, size_t size)'),
    setPrint: lib.func('void *libbpf_set_print(dpb_libbpf_print_fn *fn)'),
    openFile: f('bpf_object *bpf_object__open_file(const char *path, const void *opts)'),
    load: f('int bpf_object__load(bpf_object *obj)'),
    close: f('void bpf_object__close(bpf_object *obj)'),
    nextMap: f('bpf_map *bpf_object__next_map(const bpf_object *obj, const bpf_map *map)'),
    nextProgram: f('bpf_program *bpf_object__next_program(const bpf_object *obj, bpf_program *prog)'),
    mapName: f('const char *bpf_map__name(const bpf_map *map)'),
    mapFd: f('int bpf_map__fd(const bpf_map *map)'),
    mapType: f('int bpf_map__type(const bpf_map *map)'),
    mapKeySize: f('uint32_t bpf_map__key_size(const bpf_map *map)'),
    mapValueSize: f('uint32_t bpf_map__value_size(const bpf_map *map)'),
    mapMaxEntries: f('uint32_t bpf_map__max_entries(const bpf_map *map)'),
    progName: f('const char *bpf_program__name(const bpf_program *prog)'),
    progFd: f('int bpf_program__fd(const bpf_program *prog)'),
    update: f('int bpf_map_update_elem(int fd, const void *key, const void *value, uint64_t flags)'),
    lookup: f('int bpf_map_lookup_elem(int fd, const void *key, void *value)'),
    remove: f('int bpf_map_delete_elem(int fd, const void *key)'),
    nextKey: f('int bpf_map_get_next_key(int fd, const void *key, void *next_key)'),
    updateBatch: f('int bpf_map_update_batch(int fd, const void *keys, const void *values, _Inout_ uint32_t *count, const void *opts)'),
    deleteBatch: f('int bpf_map_delete_batch(int fd, const void *keys, _Inout_ uint32_t *count, const void *opts)'),
    lookupBatch: f('int bpf_map_lookup_batch(int fd, void *in_batch, void *out_batch, void *keys, void *values, _Inout_ uint32_t *count, const void *opts)'),
    objPin: f('int bpf_obj_pin(int fd, const char *path)'),
    objGet: f('int bpf_obj_get(const char *path)'),
    testRun: f('int bpf_prog_test_run_opts(int prog_fd, void *opts)'),
    linkCreate: f('int bpf_link_create(int prog_fd, int target_fd, int attach_type, const void *opts)'),
    linkDetach: f('int bpf_link_detach(int link_fd)'),
    tcHookCreate: f('int bpf_tc_hook_create(void *hook)'),
    tcHookDestroy: f('int bpf_tc_hook_destroy(void *hook)'),
    tcAttach: f('int bpf_tc_attach(const void *hook, void *opts)'),
    tcDetach: f('int bpf_tc_detach(const void *hook, const void *opts)'),
    ifNameToIndex: libc.func('unsigned int if_nametoindex(const char *name)'),
    ifNameIndex: libc.func('dpb_if_nameindex *if_nameindex(void)'),
    ifFreeNameIndex: libc.func('void if_freenameindex(dpb_if_nameindex *list)'),
    closeFd: libc.func('int close(int fd)'),
  };
  // never throws (koffi would hand libbpf a 0) and stays registered for the life of the process
  const print = koffi.register((level: number, fmt: string, args: unknown) => {
    try {
      if (level > 1) return 0; // LIBBPF_DEBUG
      const buf = Buffer.alloc(2048);
      const n = vsnprintf(buf, buf.length, fmt, args) as number;
      libbpfLog.push(buf.toString('utf8', 0, Math.max(0, Math.min(n, buf.length - 1))).trimEnd());
      if (libbpfLog.length > 60) libbpfLog.splice(0, libbpfLog.length - 60);
    } catch {
      /* a log line is not worth a crash */
    }
    return 0;
  }, koffi.pointer(printFn));
  api.setPrint(print);
  return api;
}

function errorText(errno: number): string {
  if (!api) return `errno ${errno}`;
  const buf = Buffer.alloc(256);
  api.strerror(errno, buf, buf.length);
  const text = buf.toString('utf8', 0, Math.max(0, buf.indexOf(0)));
  return errno === ENOTSUPP ? `${text} (ENOTSUPP: the kernel does not support this for this map or program type)` : text;
}

export function takeLog(): string {
  const lines = libbpfLog.splice(0);
  return lines.length ? `libbpf said:\n  ${lines.join('\n  ')}` : '';
}

/** run a libbpf call returning 0 / -errno; throw with libbpf's words on failure */
export function check(op: string, ret: number, extra = ''): number {
  if (ret < 0) throw new LibbpfError(op, -ret, [takeLog(), extra].filter(Boolean).join('\n'));
  return ret;
}

function cString(ptr: unknown, size: number): string {
  const bytes = Buffer.from(koffi.view(ptr, size));
  const end = bytes.indexOf(0);
  return bytes.toString('utf8', 0, end < 0 ? size : end);
}

/** possible CPUs: how many values a per-CPU map lookup returns */
export function possibleCpus(): number {
  const text = readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim();
  return text.split(',').reduce((n, range) => {
    const [a, b] = range.split('-').map(Number);
    return n + (b === undefined ? 1 : b - a! + 1);
  }, 0);
}

export class BpfMap {
  private readonly percpu: boolean;
  /** bytes of one lookup result: per-CPU maps return round_up(value_size, 8) per possible CPU */
  readonly lookupSize: number;

  constructor(
    readonly name: string,
    readonly fd: number,
    readonly type: number,
    readonly keySize: number,
    readonly valueSize: number,
    readonly maxEntries: number,
  ) {
    this.percpu = PERCPU_MAP_TYPES.has(type);
    this.lookupSize = this.percpu ? Math.ceil(valueSize / 8) * 8 * possibleCpus() : valueSize;
  }

  update(key: Buffer, value: Buffer, flags = BPF_ANY): void {
    check(`updating an element of map ${this.name}`, bind().update(this.fd, key, value, flags));
  }

  lookup(key: Buffer): Buffer | undefined {
    const out = Buffer.alloc(this.lookupSize);
    const ret = bind().lookup(this.fd, key, out);
    if (ret === -ENOENT) return undefined;
    check(`looking up an element of map ${this.name}`, ret);
    return out;
  }

  /** false when the key was not there */
  delete(key: Buffer): boolean {
    const ret = bind().remove(this.fd, key);
    if (ret === -ENOENT) return false;
    check(`deleting an element of map ${this.name}`, ret);
    return true;
  }

  /** `count` keys and values packed back to back; one syscall (upsert: BPF_ANY only) */
  updateBatch(keys: Buffer, values: Buffer, count: number): void {
    if (count === 0) return;
    const n = new Uint32Array([count]);
    const ret = bind().updateBatch(this.fd, keys, values, n, batchOpts());
    check(`batch-updating map ${this.name}`, ret, `${n[0]} of ${count} elements were written`);
  }

  /** deletes `count` packed keys; keys already gone are skipped (the batch call stops at the first one) */
  deleteBatch(keys: Buffer, count: number): number {
    if (count === 0) return 0;
    const n = new Uint32Array([count]);
    const ret = bind().deleteBatch(this.fd, keys, n, batchOpts());
    if (ret === 0) return count;
    if (ret !== -ENOENT) check(`batch-deleting from map ${this.name}`, ret, `${n[0]} of ${count} keys were deleted`);
    takeLog();
    let deleted = n[0]!;
    for (let i = n[0]!; i < count; i++) if (this.delete(keys.subarray(i * this.keySize, (i + 1) * this.keySize))) deleted++;
    return deleted;
  }

  /** every element, through bpf_map_lookup_batch (hash maps) */
  entries(chunk = 4096): [Buffer, Buffer][] {
    const out: [Buffer, Buffer][] = [];
    const token = Buffer.alloc(Math.max(8, this.keySize));
    const next = Buffer.alloc(Math.max(8, this.keySize));
    const keys = Buffer.alloc(chunk * this.keySize);
    const values = Buffer.alloc(chunk * this.lookupSize);
    let first = true;
    for (;;) {
      const n = new Uint32Array([chunk]);
      const ret = bind().lookupBatch(this.fd, first ? null : token, next, keys, values, n, batchOpts());
      if (ret < 0 && ret !== -ENOENT) check(`dumping map ${this.name}`, ret);
      for (let i = 0; i < n[0]!; i++) {
        out.push([
          Buffer.from(keys.subarray(i * this.keySize, (i + 1) * this.keySize)),
          Buffer.from(values.subarray(i * this.lookupSize, (i + 1) * this.lookupSize)),
        ]);
      }
      if (ret === -ENOENT) return out;
      next.copy(token);
      first = false;
    }
  }

  /** removes every element (tests, resets) */
  clear(): void {
    const entries = this.entries();
    if (!entries.length) return;
    this.deleteBatch(Buffer.concat(entries.map(([k]) => k)), entries.length);
  }
}

function batchOpts(): Buffer {
  const opts = Buffer.alloc(24); // sz, elem_flags, flags
  opts.writeBigUInt64LE(24n, 0);
  return opts;
}

export interface TestRunResult {
  /** the program's return value: a tc action */
  retval: number;
  /** the packet as the program left it */
  data: Buffer;
  durationNs: number;
}

export class BpfProgram {
  constructor(
    readonly name: string,
    readonly fd: number,
  ) {}

  /** BPF_PROG_TEST_RUN: runs the program once on a copy of `packet` (tc programs need at least 14 bytes) */
  testRun(packet: Buffer, opts: { repeat?: number; outSize?: number } = {}): TestRunResult {
    const outSize = opts.outSize ?? packet.length + 4096;
    const dataIn = koffi.alloc('uint8_t', packet.length);
    const dataOut = koffi.alloc('uint8_t', outSize);
    try {
      packet.copy(Buffer.from(koffi.view(dataIn, packet.length)));
      const o = Buffer.alloc(80);
      o.writeBigUInt64LE(80n, 0);
      o.writeBigUInt64LE(BigInt(koffi.address(dataIn)), 8);
      o.writeBigUInt64LE(BigInt(koffi.address(dataOut)), 16);
      o.writeUInt32LE(packet.length, 24);
      o.writeUInt32LE(outSize, 28);
      o.writeInt32LE(opts.repeat ?? 1, 60);
      check(`test-running program ${this.name}`, bind().testRun(this.fd, o));
      const size = o.readUInt32LE(28);
      return { retval: o.readInt32LE(56), data: Buffer.from(Buffer.from(koffi.view(dataOut, size))), durationNs: o.readUInt32LE(64) };
    } finally {
      koffi.free(dataIn);
      koffi.free(dataOut);
    }
  }
}

/** the verifier's log of a failed load: kept in a koffi allocation libbpf writes to until load returns */
const VERIFIER_LOG_SIZE = 8 << 20;

export class BpfObject {
  private ptr: Ptr | null;
  private logBuf: unknown;
  private readonly maps = new Map<string, BpfMap>();
  private readonly programs = new Map<string, BpfProgram>();

  private constructor(
    readonly path: string,
    ptr: Ptr,
    logBuf: unknown,
  ) {
    this.ptr = ptr;
    this.logBuf = logBuf;
  }

  static open(path: string): BpfObject {
    const a = bind();
    const logBuf = koffi.alloc('uint8_t', VERIFIER_LOG_SIZE);
    const opts = Buffer.alloc(80);
    opts.writeBigUInt64LE(80n, 0);
    opts.writeBigUInt64LE(BigInt(koffi.address(logBuf)), 56); // kernel_log_buf
    opts.writeBigUInt64LE(BigInt(VERIFIER_LOG_SIZE), 64); // kernel_log_size
    opts.writeUInt32LE(0, 72); // level 0: libbpf asks for a log only when a load fails
    takeLog();
    const obj = a.openFile(path, opts);
    if (!obj) {
      const errno = koffi.errno();
      koffi.free(logBuf);
      throw new LibbpfError(`opening BPF object ${path}`, errno, [takeLog(), 'build it with `make -C bpf` (scripts/setup.sh does)'].filter(Boolean).join('\n'));
    }
    return new BpfObject(path, obj, logBuf);
  }

  /** creates the maps and loads the programs; a verifier rejection throws with the log's tail */
  load(): void {
    const a = bind();
    new Uint8Array(koffi.view(this.logBuf, 1))[0] = 0;
    const ret = a.load(this.live());
    if (ret < 0) {
      const log = cString(this.logBuf, VERIFIER_LOG_SIZE).trimEnd().split('\n');
      const tail = log.length > 60 ? ['…', ...log.slice(-60)] : log;
      check(`loading BPF object ${this.path}`, ret, log.length > 1 ? `verifier log (last ${Math.min(60, log.length)} of ${log.length} lines):\n${tail.join('\n')}` : '');
    }
    for (let m = a.nextMap(this.live(), null); m; m = a.nextMap(this.live(), m)) {
      const name = a.mapName(m);
      this.maps.set(name, new BpfMap(name, a.mapFd(m), a.mapType(m), a.mapKeySize(m), a.mapValueSize(m), a.mapMaxEntries(m)));
    }
    for (let p = a.nextProgram(this.live(), null); p; p = a.nextProgram(this.live(), p)) {
      const name = a.progName(p);
      this.programs.set(name, new BpfProgram(name, a.progFd(p)));
    }
  }

  map(name: string): BpfMap {
    const m = this.maps.get(name);
    if (!m) throw new LibbpfError(`map ${name} in ${this.path}`, ENOENT, `the object has: ${[...this.maps.keys()].join(', ') || 'nothing loaded yet'}`);
    return m;
  }

  program(name: string): BpfProgram {
    const p = this.programs.get(name);
    if (!p) throw new LibbpfError(`program ${name} in ${this.path}`, ENOENT, `the object has: ${[...this.programs.keys()].join(', ') || 'nothing loaded yet'}`);
    return p;
  }

  get mapNames(): string[] {
    return [...this.maps.keys()];
  }

  /** closes every fd of the object; pinned maps live on until unpinned */
  close(): void {
    if (this.ptr) bind().close(this.ptr);
    this.ptr = null;
    if (this.logBuf) koffi.free(this.logBuf);
    this.logBuf = null;
    this.maps.clear();
    this.programs.clear();
  }

  private live(): Ptr {
    if (!this.ptr) throw new LibbpfError(`using BPF object ${this.path}`, EINVAL, 'it was closed');
    return this.ptr;
  }
}

/** pins a map, program or link fd at a bpffs path */
export function pinFd(fd: number, path: string): void {
  check(`pinning fd ${fd} at ${path}`, bind().objPin(fd, path));
}

/** removing a pin drops the reference it held */
export function unpin(path: string): void {
  rmSync(path, { force: true });
}

export function ifNameToIndex(name: string): number {
  const index = bind().ifNameToIndex(name);
  if (!index) throw new LibbpfError(`resolving interface ${name}`, koffi.errno() || ENOENT, 'if_nametoindex found no such device in this network namespace');
  return index;
}

export interface NetInterface {
  index: number;
  name: string;
}

/** every device of the current network namespace (libc if_nameindex: netlink, so /sys need not match the namespace) */
export function listInterfaces(): NetInterface[] {
  const a = bind();
  const list = a.ifNameIndex();
  if (!list) throw new LibbpfError('listing network interfaces', koffi.errno() || ENOENT, 'if_nameindex failed');
  const out: NetInterface[] = [];
  try {
    const size = koffi.sizeof(ifNameIndexType);
    for (let i = 0; ; i++) {
      const e = koffi.decode(list, i * size, ifNameIndexType) as { if_index: number; if_name: string | null };
      if (!e.if_index) break;
      out.push({ index: e.if_index, name: e.if_name ?? '' });
    }
  } finally {
    a.ifFreeNameIndex(list);
  }
  return out;
}
