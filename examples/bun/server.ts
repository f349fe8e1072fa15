// gptedge's HTTP server on Bun (Bun.serve), e.g.
//   bun examples/bun/server.ts --model runs/demo --port 8787
// The same options as `gptedge serve` (--model id=dir repeatable, --backend, --jobs, limits).
import { parseArgs } from 'node:util';
import { serveCommand } from '../../adapters/cli/commands/serve.ts';
import { NodeFileSystem } from '../../adapters/node/fs.ts';
import { createBackend } from '../../adapters/node/backend.ts';

process.exit(await serveCommand(process.argv.slice(2), { fs: new NodeFileSystem(), createBackend, parse: parseArgs }));
