// A forward pass runs synchronously: the coordinating thread computes its share and waits at barriers.
// Between two forwards the event loop must get a turn, or an AbortSignal fired by a timer, a SIGINT
// handler or an incoming request would only run once the whole generation is over.

type Resolve = () => void;
let channel: MessageChannel | null = null;
const waiting: Resolve[] = [];

/** Resolves in a later macrotask, after due timers, I/O callbacks and signal handlers had their turn. */
export function yieldToEventLoop(): Promise<void> {
  if (typeof setImmediate === 'function') return new Promise((resolve) => setImmediate(resolve));
  // Browsers: a MessageChannel message is a macrotask without setTimeout's 4 ms clamp. Cloudflare's
  // workerd has no MessageChannel, so it falls back to setTimeout.
  if (typeof MessageChannel !== 'function') return new Promise((resolve) => setTimeout(resolve, 0));
  if (!channel) {
    channel = new MessageChannel();
    channel.port1.onmessage = () => waiting.shift()?.();
  }
  const port = channel.port2;
  return new Promise<void>((resolve) => {
    waiting.push(resolve);
    port.postMessage(null);
  });
}
