// Random-access byte sources for checkpoint readers: a local file read range by range (a multi-GB file is
// never read whole), an in-memory buffer, and an HTTP(S) URL read with Range requests.

import { ModelFormatError } from '../errors.js';

export interface ByteSource {
  /** Total size in bytes. */
  readonly size: number;
  /** File path, URL or a label, used in error messages. */
  readonly name: string;
  /**
   * Reads `length` bytes starting at `offset`. Throws ModelFormatError TRUNCATED_FILE when the range ends
   * past `size`. The returned array may share memory with the source (buffer sources return views). With
   * `into` (at least `length` bytes), a source may read into it and return its first `length` bytes,
   * so that a caller reading many ranges reuses one buffer.
   */
  read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array>;
  close(): Promise<void>;
}

function checkRange(source: ByteSource, offset: number, length: number): void {
  if (!Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0) {
    throw new RangeError(`invalid read range offset=${offset} length=${length} in ${source.name}`);
  }
  if (offset + length > source.size) {
    throw new ModelFormatError(
      'TRUNCATED_FILE',
      `${source.name}: reading ${length} bytes at offset ${offset} goes past the end of the file ` +
        `(${source.size} bytes). The file is truncated or corrupt; download it again.`,
    );
  }
}

// ---------------------------------------------------------------------------------------------------
// In-memory buffer

class BufferSource implements ByteSource {
  readonly size: number;

  constructor(private bytes: Uint8Array, readonly name: string) {
    this.size = bytes.byteLength;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    return this.bytes.subarray(offset, offset + length);
  }

  async close(): Promise<void> {}
}

/** Wraps bytes already in memory. The source keeps a view and does not copy them. */
export function bufferSource(data: ArrayBuffer | Uint8Array, name = '<buffer>'): ByteSource {
  const bytes = data instanceof Uint8Array ? data : new Uint8Array(data);
  return new BufferSource(bytes, name);
}

// ---------------------------------------------------------------------------------------------------
// Local file (Node, Deno and Bun provide node:fs)

type FileHandle = import('node:fs/promises').FileHandle;

class FileSource implements ByteSource {
  constructor(private handle: FileHandle | null, readonly size: number, readonly name: string) {}

  async read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    checkRange(this, offset, length);
    if (!this.handle) throw new Error(`${this.name}: read after close()`);
    const out = into && into.byteLength >= length ? into.subarray(0, length) : new Uint8Array(length);
    let done = 0;
    while (done < length) {
      const { bytesRead } = await this.handle.read(out, done, length - done, offset + done);
      if (bytesRead === 0) {
        throw new ModelFormatError(
          'TRUNCATED_FILE',
          `${this.name}: the file ended at offset ${offset + done} while reading ${length} bytes at offset ` +
            `${offset}. It may have been truncated while open.`,
        );
      }
      done += bytesRead;
    }
    return out;
  }

  async close(): Promise<void> {
    const handle = this.handle;
    this.handle = null;
    await handle?.close();
  }
}

/** Opens a local file for range reads. Throws ModelFormatError MISSING_FILE when the path does not exist. */
export async function openFileSource(path: string): Promise<ByteSource> {
  // Imported lazily so that this module also loads in browsers and workerd, which have no node:fs.
  const fs = await import('node:fs/promises');
  let handle: FileHandle;
  try {
    handle = await fs.open(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new ModelFormatError('MISSING_FILE', `model file not found: ${path}`, { cause: error });
    }
    throw error;
  }
  const stat = await handle.stat();
  if (!stat.isFile()) {
    await handle.close();
    throw new ModelFormatError('MISSING_FILE', `${path} is not a regular file`);
  }
  return new FileSource(handle, stat.size, path);
}

// ---------------------------------------------------------------------------------------------------
// HTTP(S) URL

class RangeUrlSource implements ByteSource {
  constructor(
    private url: string,
    readonly size: number,
    private fetchImpl: typeof fetch,
    private init: RequestInit,
  ) {}

  get name(): string {
    return this.url;
  }

  async read(offset: number, length: number): Promise<Uint8Array> {
    checkRange(this, offset, length);
    if (length === 0) return new Uint8Array(0);
    const headers = new Headers(this.init.headers);
    headers.set('Range', `bytes=${offset}-${offset + length - 1}`);
    const response = await this.fetchImpl(this.url, { ...this.init, headers });
    if (response.status !== 206) {
      await response.body?.cancel();
      throw new ModelFormatError('FETCH_FAILED',
        `${this.url}: expected HTTP 206 for a range request, got ${response.status} ${response.statusText}. ` +
          'The server stopped honouring Range requests; load the file from disk instead.',
      );
    }
    const bytes = new Uint8Array(await response.arrayBuffer());
    if (bytes.byteLength !== length) {
      throw new ModelFormatError(
        'TRUNCATED_FILE',
        `${this.url}: range request for ${length} bytes at offset ${offset} returned ${bytes.byteLength} bytes`,
      );
    }
    return bytes;
  }

  async close(): Promise<void> {}
}

/** Parses the total size out of a `Content-Range: bytes a-b/total` header; null when it is absent or `*`. */
function totalFromContentRange(header: string | null): number | null {
  const match = header ? /\/(\d+)\s*$/.exec(header) : null;
  return match ? Number(match[1]) : null;
}

export interface UrlSourceOptions {
  /** Replaces the global `fetch`, for tests or custom transports. */
  fetch?: typeof fetch;
  /** Extra request options (headers, credentials, signal) sent with every request. */
  init?: RequestInit;
}

/**
 * Returns `custom` or the global fetch, wrapped so that a network failure (a bare TypeError such as
 * "fetch failed") becomes a ModelFormatError FETCH_FAILED that names the URL. An abort passes through.
 */
export function fetchNamingUrl(custom?: typeof fetch): typeof fetch {
  // Bound: browsers throw "Illegal invocation" when fetch is called as a method of another object.
  const fetchImpl = custom ?? globalThis.fetch.bind(globalThis);
  return async (input, init) => {
    try {
      return await fetchImpl(input, init);
    } catch (error) {
      if ((error as Error).name === 'AbortError') throw error;
      const cause = (error as { cause?: { message?: string } }).cause?.message;
      const reason = cause ? `${(error as Error).message}: ${cause}` : (error as Error).message;
      throw new ModelFormatError('FETCH_FAILED', `Fetching ${String(input instanceof Request ? input.url : input)} failed (${reason}). Check the URL and that the server is reachable.`, { cause: error });
    }
  };
}

/**
 * Opens a URL for range reads. The first request is for one byte: a 206 response with a total size in
 * Content-Range gives a range-reading source, and a 200 response (a server without Range support) is read
 * to the end and kept in memory.
 */
export async function openUrlSource(url: string | URL, options: UrlSourceOptions = {}): Promise<ByteSource> {
  const href = url.toString();
  const fetchImpl = fetchNamingUrl(options.fetch);
  const init = options.init ?? {};
  const headers = new Headers(init.headers);
  headers.set('Range', 'bytes=0-0');
  const response = await fetchImpl(href, { ...init, headers });
  if (response.status === 404) {
    await response.body?.cancel();
    throw new ModelFormatError('MISSING_FILE', `model file not found: ${href} (HTTP 404)`);
  }
  if (response.status === 206) {
    const total = totalFromContentRange(response.headers.get('Content-Range'));
    await response.arrayBuffer();
    if (total !== null && Number.isSafeInteger(total)) return new RangeUrlSource(href, total, fetchImpl, init);
    // A 206 without a usable total size: download the whole file below.
    const full = await fetchImpl(href, init);
    return downloadWhole(href, full);
  }
  return downloadWhole(href, response);
}

async function downloadWhole(href: string, response: Response): Promise<ByteSource> {
  if (!response.ok) {
    await response.body?.cancel();
    throw new ModelFormatError('FETCH_FAILED', `${href}: download failed with HTTP ${response.status} ${response.statusText}. Check the URL and the server.`);
  }
  return bufferSource(await response.arrayBuffer(), href);
}

// ---------------------------------------------------------------------------------------------------

/** Opens any supported input: a local path, a `file:` or `http(s):` URL, or bytes in memory. */
export async function openSource(input: string | URL | ArrayBuffer | Uint8Array): Promise<ByteSource> {
  if (input instanceof Uint8Array || input instanceof ArrayBuffer) return bufferSource(input);
  const text = input.toString();
  if (input instanceof URL || /^https?:\/\//i.test(text) || /^file:/i.test(text)) {
    const url = input instanceof URL ? input : new URL(text);
    if (url.protocol === 'file:') {
      const { fileURLToPath } = await import('node:url');
      return openFileSource(fileURLToPath(url));
    }
    return openUrlSource(url);
  }
  return openFileSource(text);
}
