// Types of serve.mjs, for the TypeScript tests that start it.
export interface ServerOptions {
  /** Folder to serve. Default: the package folder. */
  root?: string;
  /** Port on 127.0.0.1; 0 picks a free one. Default 8080. */
  port?: number;
  /** Send the COOP/COEP headers that make pages cross-origin isolated. Default true. */
  isolation?: boolean;
}

export interface RunningServer {
  /** Base URL, ending in `/`. */
  url: string;
  close(): Promise<void>;
}

export function startServer(options?: ServerOptions): Promise<RunningServer>;
