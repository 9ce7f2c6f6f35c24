#pragma once

#include <memory>
#include <optional>
#include <string>

#include "allot/runtime/zookeeper.h"

namespace allot::runtime {

// What a standby master (allot master --zk, not leading) answers on its HTTP
// port, as Mesos' standby masters do: /health with 503 and the leader, so
// that load balancers and probes see it is not the one to use; any other
// request, GET or POST, with 307 to the same path on the leader's HTTP
// address (MasterInfo::http: "HOST:PORT", or "https://HOST:PORT") (clients re-send a POST there
// with its body), or 503 while no master leads. Requests are served on the server's own threads;
// nothing else runs there.
class StandbyHttp {
 public:
  // Binds host:port and starts serving, over HTTPS with `tlsCert` and
  // `tlsKey` (PEM files, as the master's). Throws allot::Error naming them
  // when the port cannot be bound or the files do not load.
  StandbyHttp(const std::string& host, int port, std::string selfId,
              const std::string& tlsCert = {}, const std::string& tlsKey = {});
  ~StandbyHttp();  // stops serving and unbinds, so that the master may bind
  StandbyHttp(const StandbyHttp&) = delete;
  StandbyHttp& operator=(const StandbyHttp&) = delete;

  // The master that leads now (nullopt: none). Thread-safe.
  void setLeader(const std::optional<MasterInfo>& leader);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace allot::runtime
