// Hugging Face model folders wherever their files live: a local directory, a base URL (a browser fetches
// the embedded model this way), or files already in memory (Cloudflare Workers bundle them as data
// modules). The checkpoint loader reads config.json, the tokenizer files and the safetensors through
// this interface and does not care which kind it has.

import { ModelFormatError } from '../errors.js';
import { bufferSource, fetchNamingUrl, openFileSource, openUrlSource, type ByteSource, type UrlSourceOptions } from './source.js';

const MODEL_FOLDER = Symbol.for('dllm-wasm.ModelFolder');

export interface ModelFolder {
  readonly [MODEL_FOLDER]: true;
  /** Path, URL or label, used in error messages. */
  readonly name: string;
  /** Reads a text file of the folder; null when the folder has no such file. */
  readText(file: string): Promise<string | null>;
  /** Opens a file for range reads. Throws ModelFormatError MISSING_FILE when it does not exist. */
  open(file: string): Promise<ByteSource>;
}

export function isModelFolder(value: unknown): value is ModelFolder {
  return typeof value === 'object' && value !== null && (value as Partial<ModelFolder>)[MODEL_FOLDER] === true;
}

/** Returns the folder for a directory on the local file system (Node, Deno). */
export function localFolder(path: string): ModelFolder {
  const pathOf = async (file: string) => (await import('node:path')).join(path, file);
  return {
    [MODEL_FOLDER]: true,
    name: path,
    async readText(file) {
      const fs = await import('node:fs/promises');
      try {
        return await fs.readFile(await pathOf(file), 'utf8');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
        throw error;
      }
    },
    async open(file) {
      return openFileSource(await pathOf(file));
    },
  };
}

/**
 * Returns the folder served over HTTP(S) at `base`, whose files are fetched relative to it. Text files are
 * fetched whole, and safetensors files are read with Range requests when the server supports them.
 */
export function urlFolder(base: string | URL, options: UrlSourceOptions = {}): ModelFolder {
  const folderUrl = new URL(base.toString());
  if (!folderUrl.pathname.endsWith('/')) folderUrl.pathname += '/';
  const fetchImpl = fetchNamingUrl(options.fetch);
  return {
    [MODEL_FOLDER]: true,
    name: folderUrl.href,
    async readText(file) {
      const url = new URL(file, folderUrl);
      const response = await fetchImpl(url, options.init);
      if (response.status === 404) {
        await response.body?.cancel();
        return null;
      }
      if (!response.ok) {
        await response.body?.cancel();
        throw new ModelFormatError('FETCH_FAILED', `${url.href}: download failed with HTTP ${response.status} ${response.statusText}. Check the URL and the server.`);
      }
      return response.text();
    },
    open(file) {
      return openUrlSource(new URL(file, folderUrl), options);
    },
  };
}

/** Folder contents already in memory: file name to text or bytes. */
export type FolderFiles = Record<string, string | ArrayBuffer | Uint8Array>;

/** Returns a folder whose files are in memory, such as data modules bundled with a Cloudflare Worker. */
export function memoryFolder(files: FolderFiles, name = '<memory folder>'): ModelFolder {
  return {
    [MODEL_FOLDER]: true,
    name,
    async readText(file) {
      const content = files[file];
      if (content === undefined) return null;
      return typeof content === 'string' ? content : new TextDecoder().decode(content);
    },
    async open(file) {
      const content = files[file];
      if (content === undefined) throw new ModelFormatError('MISSING_FILE', `model file not found: ${file} in ${name}`);
      return bufferSource(typeof content === 'string' ? new TextEncoder().encode(content) : content, `${name}/${file}`);
    },
  };
}
