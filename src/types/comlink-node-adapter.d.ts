// comlink ships this adapter without a declaration at this path; its own node-adapter.d.ts sits beside it.
declare module 'comlink/dist/esm/node-adapter.mjs' {
  import type { Endpoint } from 'comlink';
  export default function nodeEndpoint(port: unknown): Endpoint;
}
