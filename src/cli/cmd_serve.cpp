// `s2d serve`: the model behind an OpenAI-compatible HTTP API (api/openai_server.h does the work).
#include <filesystem>
#include <iostream>

#include "s2d/api/openai_server.h"
#include "s2d/cli/commands.h"
#include "s2d/util/log.h"

namespace s2d::cli {

void register_serve(CLI::App& root, Commands& out) {
  auto cmd = add_command(
      root, out, "serve", "Serve a model (e.g. a distilled one) over the OpenAI API: chat, completions, streaming",
      R"(Routes: GET /v1/models, POST /v1/chat/completions, POST /v1/completions ("stream": true for SSE), GET /health.
Examples:
  s2d serve --model runs/distilled --port 8000
  s2d serve --model base --adapter runs/lora --api-key "$KEY" --host 0.0.0.0
  curl localhost:8000/v1/chat/completions -d '{"model":"distilled","messages":[{"role":"user","content":"Hi"}]}'
Any OpenAI client works: OpenAI(base_url="http://localhost:8000/v1", api_key=KEY or "none").
SIGTERM or Ctrl-C: stops accepting, finishes the requests in flight, exits 0.)");
  CLI::App& a = *cmd->app;
  auto lb = add_option_set<LocalBackendOptions>(a);
  auto o = add_option_set<api::ServeOptions>(a);
  cmd->run = [lb, o, cmd] {
    require_flags(*cmd->app, {"--model"});
    api::check_serve_options(*o);          // before the model loads: bad flags fail fast
    if (o->limits.served_model.empty()) {  // the folder's name, trailing slash or not
      std::filesystem::path dir(lb->model_dir);
      if (!dir.has_filename()) dir = dir.parent_path();
      o->limits.served_model = dir.filename().string();
    }
    lb->cache_answers = true;  // a chat's next turn starts with this one's prompt and answer
    auto backend = make_local_backend(*lb);
    log::info("model: " + backend->describe());
    if (cmd->app->get_option("--max-tokens")->count() == 0 && backend->context_length() > 0)
      o->limits.max_tokens_cap = backend->context_length();
    api::serve_openai(*backend, *o, [&](int port) {
      std::cout << "s2d serve: listening on http://" << o->host << ":" << port << "/v1 (model '"
                << o->limits.served_model << "'" << (o->api_key.empty() ? "" : ", API key required") << ")"
                << std::endl;
    });
    log::info("server stopped");
    return 0;
  };
}

}  // namespace s2d::cli
