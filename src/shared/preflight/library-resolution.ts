import { posix } from 'node:path';

/** One library of the dynamic loader's cache (`ldconfig -p`): its soname, ABI flags and file. */
export interface CachedLibrary {
  soname: string;
  /** The parenthesised flags, such as `libc6,x86-64`. */
  flags: string;
  path: string;
}

/**
 * Parses `ldconfig -p`: after a `N libs found in cache` header, one
 * `\tlibcudart.so.11.0 (libc6,x86-64) => /usr/local/cuda/lib64/libcudart.so.11.0` line per
 * library (glibc may add `, OS ABI: Linux 3.2.0` inside the parentheses or a hwcap note).
 */
export function parseLdconfigCache(output: string): CachedLibrary[] {
  const out: CachedLibrary[] = [];
  for (const m of output.matchAll(/^\s+(\S+) \(([^)]*)\)[^=]*=> (.+?)\s*$/gm)) out.push({ soname: m[1], flags: m[2], path: m[3] });
  return out;
}

/**
 * The `ldconfig -p` flag that marks a library built for the running process's architecture
 * (node's `process.arch`), or null for one this check does not know (then any entry counts).
 * A 32-bit copy of a library in the cache must not pass for the 64-bit one.
 */
export function ldconfigArchFlag(arch: string): string | null {
  const flags: Record<string, string> = { x64: 'x86-64', arm64: 'AArch64', ppc64: 'ppc64le' };
  return flags[arch] ?? null;
}

/** Where the loader would find a library, or why not. */
export interface ResolvedLibrary {
  soname: string;
  /** The file the loader would open, or null when it finds none. */
  path: string | null;
  /** How it was found: a directory of LD_LIBRARY_PATH, the loader's cache, or not at all. */
  via: 'LD_LIBRARY_PATH' | 'ldconfig' | null;
}

/** What {@link resolveLibraries} searches: the LD_LIBRARY_PATH directories and their files, and the loader's cache. */
export interface LibrarySearch {
  /** LD_LIBRARY_PATH's directories in order, each with the file names it holds (an unreadable one: none). */
  ldLibraryPath: readonly { dir: string; files: readonly string[] }[];
  /** The loader's cache, or null when `ldconfig -p` could not be read. */
  cache: readonly CachedLibrary[] | null;
  /** The architecture flag a cache entry must carry ({@link ldconfigArchFlag}), or null for any. */
  archFlag: string | null;
}

/**
 * Resolves sonames the way glibc's loader does for a dlopen by name, in its order:
 * LD_LIBRARY_PATH's directories first, then the ldconfig cache. The default directories
 * (/lib, /usr/lib) are left out: ldconfig puts what they hold in its cache. The RUNPATH of
 * the opening library is left out too: libtensorflow's names no CUDA directory.
 */
export function resolveLibraries(sonames: readonly string[], search: LibrarySearch): ResolvedLibrary[] {
  return sonames.map((soname) => {
    for (const { dir, files } of search.ldLibraryPath) {
      if (files.includes(soname)) return { soname, path: posix.join(dir, soname), via: 'LD_LIBRARY_PATH' };
    }
    const cached = search.cache?.find((c) => c.soname === soname && (search.archFlag === null || c.flags.split(',').includes(search.archFlag)));
    return cached ? { soname, path: cached.path, via: 'ldconfig' } : { soname, path: null, via: null };
  });
}

/**
 * The directories of an LD_LIBRARY_PATH value, in order. Empty entries (`a::b`, a leading or
 * trailing colon) mean the current directory to the loader; they are kept as `.`.
 */
export function splitLdLibraryPath(value: string | undefined): string[] {
  if (value === undefined || value === '') return [];
  return value.split(/[:;]/).map((d) => (d === '' ? '.' : d));
}
