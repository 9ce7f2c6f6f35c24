#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "allot/runtime/event_loop.h"

namespace httplib {
class Server;
}

namespace allot::runtime::master {

struct HttpResponse {
  using Headers = std::vector<std::pair<std::string, std::string>>;
  HttpResponse() = default;
  HttpResponse(int status_, std::string contentType_, std::string body_, Headers headers_ = {})
      : status(status_),
        contentType(std::move(contentType_)),
        body(std::move(body_)),
        headers(std::move(headers_)) {}

  int status = 200;
  std::string contentType = "text/plain; version=0.0.4";
  std::string body;
  Headers headers;  // beyond Content-Type
  // An answer that comes later (the loop asked an agent): when set, the
  // worker thread calls it, off the loop, and answers what it returns.
  std::function<HttpResponse()> later;
};

// What the master is asked: GET for pages and state, POST (with a JSON body)
// for operator changes.
struct HttpRequest {
  std::string method;  // "GET" or "POST"
  std::string path;
  std::string contentType;    // the Content-Type header, as sent
  std::string authorization;  // the Authorization header, as sent
  std::string body;
  std::vector<std::pair<std::string, std::string>> query;  // decoded, in order
};

// An HTTP server, or with `certFile` (PEM: the certificate, then any
// intermediates) and `keyFile` (its private key, PEM) an HTTPS one. Throws
// allot::Error naming the files when they do not load.
std::unique_ptr<httplib::Server> makeHttpServer(const std::string& certFile,
                                                const std::string& keyFile);

// Runs `server` (bound already) on a thread of its own and returns it once
// the server serves: cpp-httplib 0.11 loses a stop() that comes before
// listen(), and its destructor would then wait for ever; a master or a
// standby may be made and dropped within milliseconds (ASan made a test
// whose second master is refused hang).
std::thread serveInBackground(httplib::Server& server);

// cpp-httplib on its own worker threads, answering GET and POST requests
// from the event loop's thread: each request is posted to the loop (a
// LoopInbox), `handler` runs on the loop thread, and the worker waits for its
// answer (503 after `timeout`, e.g. when the loop is stuck). The handler
// never runs concurrently with the loop's other callbacks.
class HttpServer {
 public:
  using Handler = std::function<HttpResponse(const HttpRequest& request)>;
  // Bodies larger than this are refused (413) before they reach the loop.
  static constexpr std::size_t kMaxBodyBytes = 64 * 1024;

  // Binds `host:port` (port 0: any free port) and starts serving. Throws
  // allot::Error when the address cannot be bound. `loop` must outlive this.
  // With `tlsCert` and `tlsKey`, HTTPS (see makeHttpServer).
  HttpServer(EventLoop& loop, const std::string& host, int port, Handler handler,
             std::chrono::milliseconds timeout = std::chrono::seconds(10),
             const std::string& tlsCert = {}, const std::string& tlsKey = {});
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  int port() const { return port_; }

 private:
  struct Request {
    HttpRequest request;
    std::promise<HttpResponse> answer;
  };

  HttpResponse ask(HttpRequest request);
  void answer(std::deque<std::shared_ptr<Request>>& batch);  // on the loop thread

  Handler handler_;
  std::chrono::milliseconds timeout_;
  std::unique_ptr<httplib::Server> server_;
  std::thread thread_;
  int port_ = -1;
  LoopInbox<std::shared_ptr<Request>> inbox_;
};

}  // namespace allot::runtime::master
