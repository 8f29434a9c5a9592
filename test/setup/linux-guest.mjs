// The Linux conformance guest: Debian's 686 kernel and a busybox + pciutils initramfs whose /init
// (linux-guest-init.sh) prints what the guest sees of PCI. Built offline from Debian's i386
// packages (apt-get download, dpkg-deb -x) into a cache outside git, keyed by the package versions
// and the init script, so that a second run costs nothing:
//   $MACHBUS_CACHE (default ~/.cache/machbus)/linux-guest/<key>/{vmlinuz,initramfs.cpio}
//   $MACHBUS_CACHE/linux-guest/guest.json   the guest last built: paths, versions, sha256s
// Run directly (`node test/setup/linux-guest.mjs`) it builds the guest if needed and prints guest.json.
// Plain Node >= 20; needs apt-get and dpkg-deb (Debian), as root the first time (i386 architecture).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, readlinkSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, posix } from 'node:path';
import { fileURLToPath } from 'node:url';

export const CACHE = join(process.env.MACHBUS_CACHE || join(homedir(), '.cache', 'machbus'), 'linux-guest');
export const GUEST_JSON = join(CACHE, 'guest.json');
const INIT = fileURLToPath(new URL('./linux-guest-init.sh', import.meta.url));

/**
 * The packages, pinned to the versions the fixtures in test/fixtures/linux were recorded with.
 * When Debian no longer serves a pinned version, the candidate is taken instead (with a warning),
 * and test/linux.test.ts names the mismatch: the fixtures then need regenerating.
 */
const KERNEL = { name: 'linux-image-6.1.0-57-686', version: '6.1.192-3', arch: 'i386', meta: 'linux-image-686' };
const USERLAND = [
  ['busybox-static', '1:1.35.0-4+deb12u1+b1', 'i386'],
  ['pciutils', '1:3.9.0-4', 'i386'],
  ['libpci3', '1:3.9.0-4', 'i386'],
  ['libc6', '2.36-9+deb12u14', 'i386'],
  ['libkmod2', '30+20221128-1', 'i386'],
  ['libudev1', '252.39-1~deb12u2', 'i386'],
  ['zlib1g', '1:1.2.13.dfsg-1+deb12u1', 'i386'],
  ['libzstd1', '1.5.4+dfsg2-5+deb12u1', 'i386'],
  ['liblzma5', '5.4.1-1+deb12u2', 'i386'],
  ['libssl3', '3.0.22-1~deb12u2', 'i386'],
  ['pci.ids', '0.0~2023.04.11-1', 'all'],
].map(([name, version, arch]) => ({ name, version, arch }));
/** What goes into the initramfs besides /init: programs, the libraries they load (found from ELF DT_NEEDED), pci.ids. */
const PROGRAMS = ['bin/busybox', 'usr/bin/lspci'];
const DATA = ['usr/share/misc/pci.ids'];
const LIBRARY_DIRS = ['lib/i386-linux-gnu', 'usr/lib/i386-linux-gnu', 'lib'];
const BUILDER_VERSION = 1; // bump when the initramfs layout changes

const run = (cmd, args, opts = {}) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', ...opts });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${(r.stderr || r.error?.message || '').trim()}`);
  return r.stdout;
};
const sha256 = (data) => createHash('sha256').update(data).digest('hex');

/** The guest last built, or null (no cache yet). */
export function locateLinuxGuest() {
  if (!existsSync(GUEST_JSON)) return null;
  const guest = JSON.parse(readFileSync(GUEST_JSON, 'utf8'));
  return existsSync(guest.kernel.path) && existsSync(guest.initrd.path) ? guest : null;
}

function ensureI386() {
  if (run('dpkg', ['--print-foreign-architectures']).split('\n').includes('i386')) return;
  console.error('linux-guest: adding the i386 architecture to dpkg (apt-get update)...');
  run('dpkg', ['--add-architecture', 'i386']);
  run('apt-get', ['update', '-qq']);
}

/** A .deb in the cache: the pinned version if Debian has it, else the candidate (said on stderr). */
function download(pkg, debs) {
  const file = (version) => join(debs, `${pkg.name}_${version.replace(/:/g, '%3a')}_${pkg.arch}.deb`);
  if (existsSync(file(pkg.version))) return { ...pkg, file: file(pkg.version) };
  const spec = `${pkg.name}:${pkg.arch}`;
  let r = spawnSync('apt-get', ['download', `${spec}=${pkg.version}`], { cwd: debs, encoding: 'utf8' });
  if (r.status === 0) return { ...pkg, file: file(pkg.version) };
  const candidate = /Candidate: (\S+)/.exec(run('apt-cache', ['policy', spec]))?.[1];
  if (!candidate || candidate === '(none)') throw new Error(`linux-guest: Debian has no ${spec} (wanted ${pkg.version})`);
  console.error(`linux-guest: ${spec} ${pkg.version} is no longer served; using ${candidate} (regenerate test/fixtures/linux)`);
  if (!existsSync(file(candidate))) run('apt-get', ['download', `${spec}=${candidate}`], { cwd: debs });
  return { ...pkg, version: candidate, file: file(candidate) };
}

/** The kernel package: the pinned one, or the one Debian's linux-image-686 depends on now. */
function downloadKernel(debs) {
  try {
    return download(KERNEL, debs);
  } catch {
    const dep = /Depends: (linux-image-\S+-686)(:i386)?/.exec(run('apt-cache', ['depends', `${KERNEL.meta}:i386`]))?.[1];
    if (!dep) throw new Error('linux-guest: cannot find the package linux-image-686:i386 depends on');
    const version = /Candidate: (\S+)/.exec(run('apt-cache', ['policy', `${dep}:i386`]))[1];
    console.error(`linux-guest: ${KERNEL.name} ${KERNEL.version} is no longer served; using ${dep} ${version}`);
    return download({ ...KERNEL, name: dep, version }, debs);
  }
}

// ---------------------------------------------------------------- ELF: the libraries a program needs

/** DT_NEEDED names of a 32-bit little-endian ELF file (an i386 program or library). */
function neededLibraries(bytes) {
  const b = Buffer.from(bytes);
  if (b.readUInt32BE(0) !== 0x7f454c46 || b[4] !== 1) return [];
  const shoff = b.readUInt32LE(0x20);
  const shentsize = b.readUInt16LE(0x2e);
  const shnum = b.readUInt16LE(0x30);
  const sections = Array.from({ length: shnum }, (_, i) => {
    const at = shoff + i * shentsize;
    return { type: b.readUInt32LE(at + 4), offset: b.readUInt32LE(at + 16), size: b.readUInt32LE(at + 20), link: b.readUInt32LE(at + 24) };
  });
  const dynamic = sections.find((s) => s.type === 6); // SHT_DYNAMIC
  if (!dynamic) return [];
  const strtab = sections[dynamic.link];
  const names = [];
  for (let at = dynamic.offset; at < dynamic.offset + dynamic.size; at += 8) {
    const tag = b.readUInt32LE(at);
    if (tag === 0) break;
    if (tag !== 1) continue; // DT_NEEDED
    const start = strtab.offset + b.readUInt32LE(at + 4);
    names.push(b.subarray(start, b.indexOf(0, start)).toString('latin1'));
  }
  return names;
}

// ---------------------------------------------------------------- cpio (newc), as the kernel unpacks it

function cpioEntry(name, mode, data, ino) {
  const field = (n) => n.toString(16).padStart(8, '0');
  const header = '070701' + [ino, mode, 0, 0, 1, 0, data.length, 0, 0, 0, 0, name.length + 1, 0].map(field).join('');
  const pad = (n) => Buffer.alloc((4 - (n % 4)) % 4);
  const head = Buffer.concat([Buffer.from(header + name + '\0', 'latin1')]);
  return Buffer.concat([head, pad(head.length), data, pad(data.length)]);
}

/** An uncompressed newc archive of `entries` ([path, mode, data]), every timestamp and owner 0. */
function cpio(entries) {
  const parts = entries.map(([name, mode, data], i) => cpioEntry(name, mode, data, i + 1));
  parts.push(cpioEntry('TRAILER!!!', 0, Buffer.alloc(0), 0));
  return Buffer.concat(parts);
}

// ---------------------------------------------------------------- build

function initramfs(root) {
  const files = new Map(); // path in the guest -> [mode, data]
  const dirs = new Set();
  const addDirs = (path) => {
    for (let d = posix.dirname(path); d !== '.' && d !== '/'; d = posix.dirname(d)) dirs.add(d);
  };
  const addFile = (path) => {
    if (files.has(path)) return;
    const full = join(root, path);
    const st = lstatSync(full);
    addDirs(path);
    if (st.isSymbolicLink()) {
      const target = readlinkSync(full);
      files.set(path, [0o120777, Buffer.from(target, 'latin1')]);
      addFile(posix.normalize(posix.isAbsolute(target) ? target.slice(1) : posix.join(posix.dirname(path), target)));
      return;
    }
    const data = readFileSync(full);
    files.set(path, [0o100000 | (st.mode & 0o777), data]);
    for (const lib of neededLibraries(data)) {
      const dir = LIBRARY_DIRS.find((d) => existsSync(join(root, d, lib)));
      if (!dir) throw new Error(`linux-guest: ${path} needs ${lib}, which no package provides`);
      addFile(posix.join(dir, lib));
    }
  };
  for (const p of [...PROGRAMS, ...DATA]) addFile(p);
  // The program interpreter (PT_INTERP of every i386 program here).
  addFile('lib/ld-linux.so.2');
  const entries = [...dirs].sort().map((d) => [d, 0o40755, Buffer.alloc(0)]);
  for (const d of ['proc', 'sys', 'dev']) entries.push([d, 0o40755, Buffer.alloc(0)]);
  entries.push(['init', 0o100755, readFileSync(INIT)]);
  for (const [path, [mode, data]] of [...files].sort(([a], [b]) => (a < b ? -1 : 1))) entries.push([path, mode, data]);
  return cpio(entries);
}

/** Builds the guest unless the cache has it; returns what guest.json says. */
export function buildLinuxGuest() {
  ensureI386();
  const debs = join(CACHE, 'debs');
  mkdirSync(debs, { recursive: true });
  const kernelPkg = downloadKernel(debs);
  const userland = USERLAND.map((p) => download(p, debs));
  const packages = [kernelPkg, ...userland].map(({ name, version, arch }) => ({ name, version, arch }));
  const key = sha256(JSON.stringify({ BUILDER_VERSION, packages, init: readFileSync(INIT, 'latin1') })).slice(0, 16);
  const dir = join(CACHE, key);
  const guestOf = () => JSON.parse(readFileSync(join(dir, 'guest.json'), 'utf8'));
  if (!existsSync(join(dir, 'guest.json'))) {
    const tmp = `${dir}.tmp-${process.pid}`;
    rmSync(tmp, { recursive: true, force: true });
    const root = join(tmp, 'root');
    mkdirSync(root, { recursive: true });
    for (const p of [kernelPkg, ...userland]) run('dpkg-deb', ['-x', p.file, root]);
    const boot = join(root, 'boot');
    const vmlinuz = readdirSync(boot).find((f) => f.startsWith('vmlinuz-'));
    const kernel = readFileSync(join(boot, vmlinuz));
    const initrd = initramfs(root);
    writeFileSync(join(tmp, 'vmlinuz'), kernel);
    writeFileSync(join(tmp, 'initramfs.cpio'), initrd);
    rmSync(root, { recursive: true, force: true });
    const guest = {
      key,
      kernel: { path: join(dir, 'vmlinuz'), release: vmlinuz.slice('vmlinuz-'.length), bytes: kernel.length, sha256: sha256(kernel) },
      initrd: { path: join(dir, 'initramfs.cpio'), bytes: initrd.length, sha256: sha256(initrd) },
      init: { sha256: sha256(readFileSync(INIT)) },
      packages,
    };
    writeFileSync(join(tmp, 'guest.json'), JSON.stringify(guest, null, 2) + '\n');
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  }
  const guest = guestOf();
  writeFileSync(GUEST_JSON, JSON.stringify(guest, null, 2) + '\n');
  return guest;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  process.stdout.write(JSON.stringify(buildLinuxGuest(), null, 2) + '\n');
}
