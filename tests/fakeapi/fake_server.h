// SPDX-License-Identifier: Apache-2.0
// The fake API's HTTP server: one accept thread plus one thread per
// connection, blocking sockets, HTTP/1.1 keep-alive, TCP_NODELAY. A thread per
// connection keeps the faults trivial to act out: a delay, a hang or a
// trickle is just that connection's thread waiting.
//
// Thread-safety and ownership: start() and stop() are called by the owner's
// thread. The server owns every thread it starts (std::jthread) and joins
// them in stop(), which the destructor also runs. stop() wakes every waiting
// connection (its stop token ends sleeps; shutdown(2) on its socket ends
// blocked reads, writes and hangs), so it returns promptly. A connection's
// fd is closed only under `connections_mu_`, so stop() never shuts down a
// descriptor number the kernel has already handed to someone else.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <stop_token>
#include <string>
#include <thread>
#include <variant>

#include "job_store.h"

namespace fakeapi {

struct ServerOptions {
  std::string listen = "127.0.0.1:0";  // host:port; port 0 picks a free one
  std::size_t max_connections = 1024;  // one thread each; more wait in the backlog
};

class FakeApiServer {
 public:
  // Binds and listens, or returns why it could not.
  [[nodiscard]] static std::variant<std::unique_ptr<FakeApiServer>, std::string> bind(
      JobStore& store, ServerOptions options);

  FakeApiServer(const FakeApiServer&) = delete;
  FakeApiServer& operator=(const FakeApiServer&) = delete;
  ~FakeApiServer();

  // The bound address as "host:port" (IPv6 hosts in brackets).
  const std::string& address() const { return address_; }
  std::uint16_t port() const { return port_; }

  void start();  // starts accepting
  void stop();   // idempotent; returns once every thread has ended

 private:
  class Session;
  struct Connection {
    int fd = -1;            // guarded by connections_mu_; -1 once closed
    bool finished = false;  // guarded by connections_mu_
    std::jthread thread;
  };

  FakeApiServer(JobStore& store, ServerOptions options, int listen_fd, int wake_fd);

  void acceptLoop(std::stop_token stop);
  void connectionMain(Connection& connection, std::stop_token stop);
  void reapFinished();
  // Closes the connection's socket; with `reset`, the peer gets an RST.
  void closeConnection(Connection& connection, bool reset);
  // Waits `duration` unless stop is requested first; false when stopped.
  bool sleepFor(std::chrono::milliseconds duration, const std::stop_token& stop);

  JobStore& store_;
  const ServerOptions options_;
  const int listen_fd_;
  const int wake_fd_;  // eventfd that ends the accept loop's poll
  std::string address_;
  std::uint16_t port_ = 0;
  bool stopped_ = false;

  std::mutex connections_mu_;
  std::condition_variable_any connection_ended_;
  std::list<Connection> connections_;  // guarded by connections_mu_; nodes never move
  std::size_t active_ = 0;             // guarded by connections_mu_

  std::mutex sleep_mu_;
  std::condition_variable_any sleep_cv_;  // never notified: only stop tokens end a sleep early

  std::jthread accept_thread_;  // last member: stopped and joined first
};

}  // namespace fakeapi
