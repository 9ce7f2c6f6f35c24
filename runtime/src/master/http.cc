#include "http.h"

#include <fmt/format.h>
#include <httplib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "allot/core/error.h"

namespace allot::runtime::master {

std::unique_ptr<httplib::Server> makeHttpServer(const std::string& certFile,
                                                const std::string& keyFile) {
  if (certFile.empty() && keyFile.empty()) return std::make_unique<httplib::Server>();
  if (certFile.empty() || keyFile.empty()) {
    throw Error("--http-tls-cert and --http-tls-key go together: HTTPS needs both");
  }
  for (const std::string* file : {&certFile, &keyFile}) {
    if (::access(file->c_str(), R_OK) != 0) {
      throw Error(fmt::format("{} {}: cannot read it: {}",
                              file == &certFile ? "--http-tls-cert" : "--http-tls-key", *file,
                              std::strerror(errno)));
    }
  }
  auto server = std::make_unique<httplib::SSLServer>(certFile.c_str(), keyFile.c_str());
  if (!server->is_valid()) {
    throw Error(fmt::format(
        "--http-tls-cert {} / --http-tls-key {}: not a PEM certificate and its private key",
        certFile, keyFile));
  }
  return server;
}

HttpServer::HttpServer(EventLoop& loop, const std::string& host, int port, Handler handler,
                       std::chrono::milliseconds timeout, const std::string& tlsCert,
                       const std::string& tlsKey)
    : handler_(std::move(handler)),
      timeout_(timeout),
      server_(makeHttpServer(tlsCert, tlsKey)),
      inbox_(loop, [this](std::deque<std::shared_ptr<Request>> batch) { answer(batch); }) {
  // Requests are answered by the one loop thread; the workers mostly wait on
  // connections. cpp-httplib gives each connection a worker until it closes,
  // so with 4 workers and its 5 s timeouts a few idle or half-sent requests
  // held /health and /metrics for seconds. More workers, and idle
  // connections dropped after 1 s.
  server_->new_task_queue = [] { return new httplib::ThreadPool(32); };
  server_->set_read_timeout(1, 0);
  server_->set_keep_alive_timeout(1);
  server_->set_payload_max_length(kMaxBodyBytes);
  auto serve = [this](const httplib::Request& request, httplib::Response& response) {
    HttpRequest asked{request.method,
                      request.path,
                      request.get_header_value("Content-Type"),
                      request.get_header_value("Authorization"),
                      request.body,
                      {}};
    asked.query.assign(request.params.begin(), request.params.end());
    HttpResponse answer = ask(std::move(asked));
    response.status = answer.status;
    for (const auto& [name, value] : answer.headers) response.set_header(name, value);
    // No answer of the master is meant to be read as another type.
    response.set_header("X-Content-Type-Options", "nosniff");
    response.set_content(answer.body, answer.contentType.c_str());
  };
  server_->Get(".*", serve);
  server_->Post(".*", serve);
  // cpp-httplib sets SO_REUSEPORT by default: a second master would then bind
  // the same port and the kernel would share requests between the two.
  // SO_REUSEADDR alone lets a restarted master bind despite TIME_WAIT, and
  // makes a port in use fail to bind, as it should.
  server_->set_socket_options([](int sock) {
    int yes = 1;
    ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
  });
  if (port == 0) {
    port_ = server_->bind_to_any_port(host);
  } else if (server_->bind_to_port(host, port)) {
    port_ = port;
  }
  if (port_ <= 0) {
    throw Error(fmt::format(
        "http: cannot listen on {}:{} (in use? choose another with --http-port)", host, port));
  }
  thread_ = serveInBackground(*server_);
}

std::thread serveInBackground(httplib::Server& server) {
  std::thread thread([&server] { server.listen_after_bind(); });
  for (int i = 0; i < 5000 && !server.is_running(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return thread;
}

HttpServer::~HttpServer() {
  for (auto& request : inbox_.close()) {
    request->answer.set_value({503, "text/plain", "master stopping\n"});
  }
  server_->stop();
  if (thread_.joinable()) thread_.join();
}

HttpResponse HttpServer::ask(HttpRequest asked) {
  auto request = std::make_shared<Request>();
  request->request = std::move(asked);
  std::future<HttpResponse> answer = request->answer.get_future();
  if (!inbox_.post(request)) return {503, "text/plain", "master stopping\n"};
  if (answer.wait_for(timeout_) != std::future_status::ready) {
    return {503, "text/plain", "the master's event loop did not answer in time\n"};
  }
  HttpResponse response = answer.get();
  if (response.later) return response.later();
  return response;
}

void HttpServer::answer(std::deque<std::shared_ptr<Request>>& batch) {
  for (auto& request : batch) {
    try {
      request->answer.set_value(handler_(request->request));
    } catch (const std::exception& e) {
      request->answer.set_value({500, "text/plain", fmt::format("internal error: {}\n", e.what())});
    }
  }
}

}  // namespace allot::runtime::master
