// gptedge's HTTP server on Deno (Deno.serve), e.g.
//   deno run -A examples/deno/server.ts --model runs/demo --port 8787
//   curl -s localhost:8787/v1/completions -H 'content-type: application/json' -d '{"prompt": "Call me", "max_tokens": 20}'
// The same options as `gptedge serve` (--model id=dir repeatable, --backend, --jobs, limits).
import { parseArgs } from 'node:util';
import { serveCommand } from '../../adapters/cli/commands/serve.ts';
import { NodeFileSystem } from '../../adapters/node/fs.ts';
import { createBackend } from '../../adapters/node/backend.ts';

declare const Deno: { args: string[]; exit(code: number): never };
Deno.exit(await serveCommand(Deno.args, { fs: new NodeFileSystem(), createBackend, parse: parseArgs }));
