// A callback on the next turn of the event loop (a macrotask: after pending I/O is delivered), without
// setTimeout's 1-4 ms clamp: setImmediate where the runtime has it (Node, Bun), else a MessageChannel
// message (Deno, workerd, browsers), else setTimeout.
const g = globalThis as { setImmediate?: (f: () => void) => void };

export const nextTurn: (cb: () => void) => void = (() => {
  if (typeof g.setImmediate === 'function') return (cb: () => void) => void g.setImmediate!(cb);
  if (typeof MessageChannel === 'function') {
    const ch = new MessageChannel(),
      queue: (() => void)[] = [];
    ch.port1.onmessage = () => queue.shift()?.();
    return (cb: () => void) => {
      queue.push(cb);
      ch.port2.postMessage(null);
    };
  }
  return (cb: () => void) => void setTimeout(cb, 0);
})();

/** Resolves on the next turn of the event loop. */
export const turn = (): Promise<void> => new Promise<void>((r) => nextTurn(r));
