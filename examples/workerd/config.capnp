# gptedge on workerd, the open-source Cloudflare Workers runtime (npm `workerd`), on your machine:
#
#   node scripts/build-edge.mjs --model runs/demo        # dist/edge/: worker.js, *.wasm, model/
#   cp examples/workerd/config.capnp dist/edge/ && cd dist/edge
#   npx workerd serve config.capnp                       # http://127.0.0.1:8787/v1/completions
#
# workerd refuses WebAssembly.compile on bytes, so the kernels are `wasm` modules (compiled by the
# runtime), the weights a `data` module and the JSON files `text` modules, all imported by worker.js.
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [ (name = "main", worker = .gptedge) ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "main") ],
);

const gptedge :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker.js"),
    (name = "gptedge-simd128.wasm", wasm = embed "gptedge-simd128.wasm"),
    (name = "gptedge-relaxed.wasm", wasm = embed "gptedge-relaxed.wasm"),
    (name = "model/config.json", text = embed "model/config.json"),
    (name = "model/tokenizer.json", text = embed "model/tokenizer.json"),
    (name = "model/model.safetensors", data = embed "model/model.safetensors"),
  ],
  compatibilityDate = "2025-09-01",
  bindings = [
    (name = "MODEL_ID", text = "gptedge"),
    (name = "MAX_CONCURRENT", text = "2"),
    (name = "MAX_QUEUE", text = "8"),
    # bound to 127.0.0.1 above: nobody else reaches it. Anywhere else, remove this line and give
    # (name = "GPTEDGE_API_KEYS", text = "<key>") instead (docs/serving.md, "Security").
    (name = "ALLOW_UNAUTHENTICATED", text = "true"),
  ],
);
