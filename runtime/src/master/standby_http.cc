#include "allot/runtime/standby_http.h"

#include <fmt/format.h>
#include <httplib.h>
#include <sys/socket.h>

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "allot/core/error.h"
#include "http.h"

namespace allot::runtime {

struct StandbyHttp::Impl {
  std::string selfId;
  std::unique_ptr<httplib::Server> server;
  std::thread thread;
  std::mutex mutex;
  std::optional<MasterInfo> leader;  // guarded by mutex

  void answer(const httplib::Request& request, httplib::Response& response) {
    std::optional<MasterInfo> now;
    {
      std::lock_guard lock(mutex);
      now = leader;
    }
    const bool redirect = now && !now->http.empty() && request.path != "/health";
    nlohmann::json j{
        {"status", "standby"},
        {"master_id", selfId},
        {"leader",
         now ? nlohmann::json{{"id", now->id}, {"endpoint", now->endpoint}, {"http", now->http}}
             : nlohmann::json()}};
    response.set_header("X-Content-Type-Options", "nosniff");
    response.set_header("Cache-Control", "no-store");
    if (redirect) {
      // The target keeps the query string (?refresh=...).
      const std::string target = request.target.empty() ? request.path : request.target;
      response.status = 307;
      response.set_header("Location", fmt::format("{}{}", httpUrl(now->http), target));
      j["error"] =
          fmt::format("this master stands by; the leader is {} at {}", now->id, httpUrl(now->http));
    } else {
      response.status = 503;
      j["error"] = !now ? std::string("this master stands by and no master leads yet")
                   : now->http.empty()
                       ? fmt::format("this master stands by; the leader {} serves no HTTP", now->id)
                       : fmt::format("this master stands by; the leader is {} at {}", now->id,
                                     httpUrl(now->http));
    }
    response.set_content(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace),
                         "application/json");
  }
};

StandbyHttp::StandbyHttp(const std::string& host, int port, std::string selfId,
                         const std::string& tlsCert, const std::string& tlsKey)
    : impl_(std::make_unique<Impl>()) {
  impl_->selfId = std::move(selfId);
  impl_->server = master::makeHttpServer(tlsCert, tlsKey);
  auto& server = *impl_->server;
  server.new_task_queue = [] { return new httplib::ThreadPool(4); };
  server.set_read_timeout(1, 0);
  server.set_keep_alive_timeout(1);
  server.set_payload_max_length(64 * 1024);
  auto serve = [this](const httplib::Request& request, httplib::Response& response) {
    impl_->answer(request, response);
  };
  server.Get(".*", serve);
  server.Post(".*", serve);
  // As the master's own server: SO_REUSEADDR only, so that a port in use
  // fails to bind instead of sharing requests.
  server.set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  if (!server.bind_to_port(host, port)) {
    throw Error(
        fmt::format("http: cannot listen on {}:{} while standing by (in use? choose another with "
                    "--http-port)",
                    host, port));
  }
  impl_->thread = master::serveInBackground(server);
}

StandbyHttp::~StandbyHttp() {
  impl_->server->stop();
  if (impl_->thread.joinable()) impl_->thread.join();
}

void StandbyHttp::setLeader(const std::optional<MasterInfo>& leader) {
  std::lock_guard lock(impl_->mutex);
  impl_->leader = leader;
}

}  // namespace allot::runtime
