# gptedge on workerd with the model outside the script (examples/workerd/worker-binding.ts): the worker
# fetches config.json, tokenizer.json and model.safetensors from the MODEL binding, here a disk service
# over a model folder (on Cloudflare: a service binding to a worker in front of R2, or MODEL_URL).
#
#   node scripts/build-edge.mjs                        # dist/edge/: worker-binding.js, *.wasm
#   cp examples/workerd/config-binding.capnp dist/edge/ && cd dist/edge
#   npx workerd serve config-binding.capnp --directory-path model=/abs/path/to/model-folder
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "main", worker = .gptedge),
    (name = "model", disk = (path = "model", writable = false)),
  ],
  sockets = [ (name = "http", address = "127.0.0.1:8787", http = (), service = "main") ],
);

const gptedge :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "worker-binding.js"),
    (name = "gptedge-simd128.wasm", wasm = embed "gptedge-simd128.wasm"),
    (name = "gptedge-relaxed.wasm", wasm = embed "gptedge-relaxed.wasm"),
  ],
  compatibilityDate = "2025-09-01",
  bindings = [
    (name = "MODEL", service = "model"),
    (name = "MODEL_ID", text = "gptedge"),
    # the KV cache in half precision: half its memory (GPT-2 at 256 positions: 9.4 MB instead of 18.9)
    (name = "KV_CACHE", text = "f16"),
    (name = "WASM_MEMORY_MB", text = "88"),
    (name = "PREFILL_CHUNK", text = "64"),
    # a request's prompt + completion: the KV cache is MAX_CONCURRENT slots of this many positions
    (name = "KV_TOKENS", text = "256"),
    (name = "MAX_CONCURRENT", text = "1"),
    (name = "MAX_QUEUE", text = "8"),
    # bound to 127.0.0.1 above: nobody else reaches it. Anywhere else, remove this line and give
    # (name = "GPTEDGE_API_KEYS", text = "<key>") instead (docs/serving.md, "Security").
    (name = "ALLOW_UNAUTHENTICATED", text = "true"),
  ],
);
