# Runs the Worker built by build.mjs: npx workerd serve examples/cloudflare/workerd.capnp
using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [(name = "main", worker = .dllmWorker)],
  sockets = [(name = "http", address = "127.0.0.1:8787", http = (), service = "main")],
);

const dllmWorker :Workerd.Worker = (
  modules = [
    (name = "worker.js", esModule = embed "out/worker.js"),
    (name = "dllm-single.wasm", wasm = embed "out/dllm-single.wasm"),
    (name = "model/config.json.txt", text = embed "out/model/config.json.txt"),
    (name = "model/tokenizer.json.txt", text = embed "out/model/tokenizer.json.txt"),
    (name = "model/tokenizer_config.json.txt", text = embed "out/model/tokenizer_config.json.txt"),
    (name = "model/model.safetensors.bin", data = embed "out/model/model.safetensors.bin"),
  ],
  compatibilityDate = "2025-01-01",
);
