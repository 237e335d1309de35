// SPDX-License-Identifier: Apache-2.0
#include "fake_server.h"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <vector>

#include "http_message.h"
#include "json_text.h"

namespace fakeapi {

namespace {

constexpr std::size_t kInitialBufferBytes = std::size_t{16} * 1024;
constexpr std::string_view kJson = "application/json";
constexpr std::string_view kOk = "{\"ok\":true}";

bool sendAll(int fd, std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::string detailJson(std::string_view detail) {
  std::string out = "{\"detail\":";
  appendJsonString(out, detail);
  out.push_back('}');
  return out;
}

const std::string* findParam(const std::vector<QueryParam>& params, std::string_view name) {
  for (const QueryParam& p : params) {
    if (p.name == name) return &p.value;
  }
  return nullptr;
}

}  // namespace

// Serves one connection: reads requests, answers them, acts out faults.
// Runs on that connection's thread only.
class FakeApiServer::Session {
 public:
  Session(FakeApiServer& server, Connection& connection, std::stop_token stop)
      : server_(server), store_(server.store_), connection_(connection), stop_(std::move(stop)) {
    std::lock_guard lock(server_.connections_mu_);
    fd_ = connection_.fd;  // stays open until this session ends (or resets it)
  }

  void run() {
    in_.resize(kInitialBufferBytes);
    while (!stop_.stop_requested()) {
      const HeadResult head = parseRequestHead(buffered(), request_);
      switch (head.status) {
        case HeadParse::kIncomplete:
          if (!fill()) return;
          continue;
        case HeadParse::kMalformed:
          refuse(400, "Malformed request");
          return;
        case HeadParse::kTooLarge:
          refuse(431, "Request head too large");
          return;
        case HeadParse::kUnsupported:
          refuse(501, "Transfer-Encoding is not supported");
          return;
        case HeadParse::kComplete:
          break;
      }
      // Request bodies are read and dropped; the head's views into in_ stay valid.
      const std::size_t body_in_buffer = static_cast<std::size_t>(
          std::min<std::uint64_t>(request_.content_length, end_ - begin_ - head.head_length));
      if (!discard(request_.content_length - body_in_buffer)) return;
      const bool keep_open = handle();
      consume(head.head_length + body_in_buffer);
      if (!keep_open) return;
    }
  }

 private:
  std::string_view buffered() const { return std::string_view(in_).substr(begin_, end_ - begin_); }

  void consume(std::size_t n) {
    begin_ += n;
    if (begin_ == end_) begin_ = end_ = 0;
  }

  // Reads more of the request head. False on EOF or error.
  bool fill() {
    if (end_ == in_.size()) {
      if (begin_ > 0) {
        std::memmove(in_.data(), in_.data() + begin_, end_ - begin_);
        end_ -= begin_;
        begin_ = 0;
      } else {
        in_.resize(std::min(in_.size() * 2, 2 * kMaxRequestHeadBytes));
      }
    }
    for (;;) {
      const ssize_t n = ::recv(fd_, in_.data() + end_, in_.size() - end_, 0);
      if (n > 0) {
        end_ += static_cast<std::size_t>(n);
        return true;
      }
      if (n < 0 && errno == EINTR) continue;
      return false;
    }
  }

  bool discard(std::uint64_t remaining) {
    char scratch[16 * 1024];
    while (remaining > 0) {
      const ssize_t n =
          ::recv(fd_, scratch,
                 static_cast<std::size_t>(std::min<std::uint64_t>(remaining, sizeof scratch)), 0);
      if (n > 0) {
        remaining -= static_cast<std::uint64_t>(n);
      } else if (n < 0 && errno == EINTR) {
        continue;
      } else {
        return false;
      }
    }
    return true;
  }

  // Sends a complete response. Returns whether the connection stays open.
  bool respond(int code, std::string_view body, std::string_view content_type = kJson,
               std::string_view retry_after = {}, std::string_view location = {}) {
    out_.clear();
    appendResponseHead(out_, head(code, body.size(), content_type, retry_after, location));
    out_.append(body);
    return sendAll(fd_, out_) && request_.keep_alive;
  }

  ResponseHead head(int code, std::size_t length, std::string_view content_type = kJson,
                    std::string_view retry_after = {}, std::string_view location = {}) const {
    ResponseHead h;
    h.code = code;
    h.content_length = length;
    h.content_type = content_type.empty() ? kJson : content_type;
    h.close = !request_.keep_alive;
    h.keep_alive_header = request_.keep_alive && request_.http10;
    h.retry_after = retry_after;
    h.location = location;
    return h;
  }

  // Answers a request we cannot read and closes gracefully: closing with
  // unread input would send an RST that can destroy the answer in flight.
  void refuse(int code, std::string_view detail) {
    request_.keep_alive = false;
    request_.http10 = false;
    const std::string body = detailJson(detail);
    out_.clear();
    appendResponseHead(out_, head(code, body.size()));
    out_.append(body);
    if (!sendAll(fd_, out_)) return;
    ::shutdown(fd_, SHUT_WR);
    char scratch[4096];
    pollfd readable{fd_, POLLIN, 0};
    for (int rounds = 0; rounds < 64 && ::poll(&readable, 1, 200) > 0; ++rounds) {
      if (::recv(fd_, scratch, sizeof scratch, 0) <= 0) break;
    }
  }

  bool handle() {
    const std::string_view path = request_.path;
    if (path.starts_with("/jobs/")) return handleJobs(path.substr(6));
    if (path.starts_with("/_admin/")) return handleAdmin(path.substr(8));
    return respond(404, detailJson("Not found"));
  }

  bool handleJobs(std::string_view rest) {
    const std::size_t slash = rest.find('/');
    const std::string_view id = rest.substr(0, slash);
    JobEndpoint endpoint = JobEndpoint::kStatus;
    if (slash != std::string_view::npos) {
      if (rest.substr(slash) != "/result") return respond(404, detailJson("Not found"));
      endpoint = JobEndpoint::kResult;
    }
    if (id.empty()) return respond(404, detailJson("Not found"));
    if (request_.method != "GET") return respond(405, detailJson("Method not allowed"));
    const JobReply reply = store_.answerJobRequest(
        id, endpoint, request_.header(store_.keyHeader()), Now::read(), body_);
    if (!reply.fault && reply.code == 200 && reply.stream_bytes > 0) {
      return streamResult(id, reply.stream_bytes, reply.stream_rate, reply.stream_chunked);
    }
    if (reply.retry_after_s) {
      return respond(reply.code, body_, kJson, std::to_string(*reply.retry_after_s));
    }
    if (!reply.fault) return respond(reply.code, body_);
    return actOut(reply.code, *reply.fault);
  }

  // A generated result of `total` bytes in 64 KiB chunks, never held whole
  // (100 MiB results for the size cap); `rate` bytes per second, if set.
  // `chunked`: with Transfer-Encoding: chunked, one HTTP chunk per piece.
  bool streamResult(std::string_view id, std::uint64_t total, std::uint64_t rate, bool chunked) {
    constexpr std::size_t kChunk = 64 * 1024;
    out_.clear();
    ResponseHead h = head(200, total);
    h.chunked = chunked;
    appendResponseHead(out_, h);
    if (!sendAll(fd_, out_)) return false;
    const std::size_t chunk = rate > 0 ? std::clamp<std::size_t>(rate / 10, 1, kChunk) : kChunk;
    for (std::uint64_t sent = 0; sent < total; sent += chunk) {
      out_.clear();
      const auto n = static_cast<std::size_t>(std::min<std::uint64_t>(chunk, total - sent));
      if (chunked) {
        char size[24];
        out_.append(size, static_cast<std::size_t>(std::snprintf(size, sizeof size, "%zx\r\n", n)));
      }
      appendResultBytes(out_, id, total, sent, chunk);
      if (chunked) out_.append("\r\n");
      if (!sendAll(fd_, out_)) return false;
      if (rate > 0 && !server_.sleepFor(Millis(1000 * chunk / rate), stop_)) return false;
    }
    if (chunked && !sendAll(fd_, "0\r\n\r\n")) return false;
    return request_.keep_alive;
  }

  // Answers with `fault` instead of, or around, the normal answer in body_.
  bool actOut(int code, const FaultSpec& fault) {
    switch (fault.kind) {
      case FaultKind::kHttp: {
        const std::string body = fault.body ? *fault.body : detailJson(reasonPhrase(fault.code));
        return respond(fault.code, body, fault.content_type, fault.retry_after, fault.location);
      }
      case FaultKind::kDelay:
        if (!server_.sleepFor(fault.delay, stop_)) return false;
        return respond(code, body_);
      case FaultKind::kHang:
        hang();
        return false;
      case FaultKind::kTrickle: {
        out_.clear();
        appendResponseHead(out_, head(code, body_.size()));
        if (!sendAll(fd_, out_)) return false;
        for (char c : body_) {
          if (!server_.sleepFor(fault.every, stop_)) return false;
          if (!sendAll(fd_, std::string_view(&c, 1))) return false;
        }
        return request_.keep_alive;
      }
      case FaultKind::kReset:
        out_.clear();
        appendResponseHead(out_, head(code, body_.size()));
        out_.append(std::string_view(body_).substr(0, body_.size() / 2));
        (void)sendAll(fd_, out_);
        server_.closeConnection(connection_, /*reset=*/true);
        fd_ = -1;
        return false;
      case FaultKind::kClose:
        return false;
      case FaultKind::kTruncated:
        return respond(200, std::string_view(body_).substr(0, body_.size() / 2));
      case FaultKind::kBody:
        return respond(200, fault.body ? *fault.body : std::string(), fault.content_type);
      case FaultKind::kLarge: {
        // The normal object with a long "padding" string, `bytes` in total.
        constexpr std::string_view kPadding = ",\"padding\":\"";
        std::string big = body_.empty() ? std::string("{}") : body_;
        big.pop_back();  // the closing brace
        const std::size_t fixed = big.size() + kPadding.size() + 2;
        big.append(kPadding);
        big.append(fault.bytes > fixed ? fault.bytes - fixed : 0, 'x');
        big.append("\"}");
        return respond(200, big);
      }
    }
    return false;
  }

  // Keeps the connection open and silent until the client or the server ends it.
  void hang() {
    char scratch[4096];
    for (;;) {
      const ssize_t n = ::recv(fd_, scratch, sizeof scratch, 0);
      if (n > 0 || (n < 0 && errno == EINTR)) continue;
      return;
    }
  }

  bool handleAdmin(std::string_view what) {
    const std::string_view method = request_.method;
    const std::vector<QueryParam> params = parseQuery(request_.query);
    auto wrongMethod = [&] { return respond(405, detailJson("Method not allowed")); };

    if (what == "health") {
      return method == "GET" ? respond(200, kOk) : wrongMethod();
    }
    if (what == "requests") {
      if (method != "GET") return wrongMethod();
      const std::string* job = findParam(params, "job");
      return respond(
          200, store_.requestLogJson(job ? std::optional<std::string_view>(*job) : std::nullopt));
    }
    if (what == "reset") {
      if (method != "POST") return wrongMethod();
      store_.resetRequestLog();
      return respond(200, kOk);
    }
    if (what == "jobs") {
      return method == "GET" ? respond(200, store_.statusesJson(Now::read())) : wrongMethod();
    }
    if (what.starts_with("jobs/")) {
      if (method != "POST") return wrongMethod();
      const std::string_view id = what.substr(5);
      const std::string* status = findParam(params, "status");
      if (!isServableJobId(id)) return respond(400, detailJson("Bad job id"));
      if (status == nullptr || status->empty()) {
        return respond(400, detailJson("status=WORD is required"));
      }
      return respond(200, store_.overrideStatus(id, *status, Now::read()));
    }
    if (what == "faults") {
      if (method == "DELETE") {
        store_.clearFaults();
        return respond(200, kOk);
      }
      if (method != "POST") return wrongMethod();
      std::vector<FaultField> fields;
      const std::string* job = nullptr;
      for (const QueryParam& p : params) {
        if (p.name == "job") {
          job = &p.value;
        } else {
          fields.push_back({p.name, p.value});
        }
      }
      auto parsed = parseFault(fields);
      if (const auto* error = std::get_if<FieldError>(&parsed)) {
        return respond(400, detailJson(error->message));
      }
      const bool added = store_.addFault(job ? std::optional<std::string_view>(*job) : std::nullopt,
                                         std::get<FaultSpec>(std::move(parsed)));
      return added ? respond(200, kOk) : respond(404, detailJson("Job not found"));
    }
    if (what == "rate_limit") return method == "POST" ? setRateLimit(params) : wrongMethod();
    if (what == "key") {
      if (method != "POST") return wrongMethod();
      const std::string* value = findParam(params, "value");
      store_.setApiKey(value ? *value : std::string());
      return respond(200, kOk);
    }
    return respond(404, detailJson("Not found"));
  }

  // POST /_admin/rate_limit?key=K&per_window=N (0: no limit).
  bool setRateLimit(const std::vector<QueryParam>& params) {
    const std::string* key = findParam(params, "key");
    const std::string* per_window = findParam(params, "per_window");
    std::uint64_t n = 0;
    if (key == nullptr || key->empty() || per_window == nullptr ||
        std::from_chars(per_window->data(), per_window->data() + per_window->size(), n).ptr !=
            per_window->data() + per_window->size() ||
        per_window->empty()) {
      return respond(400, detailJson("key=K and per_window=N (a whole number) are required"));
    }
    store_.setRateLimit(*key, n);
    return respond(200, kOk);
  }

  FakeApiServer& server_;
  JobStore& store_;
  Connection& connection_;
  const std::stop_token stop_;
  int fd_ = -1;

  std::string in_;  // bytes received; unread data is in [begin_, end_)
  std::size_t begin_ = 0;
  std::size_t end_ = 0;
  HttpRequest request_;  // views into in_, valid while handling one request
  std::string body_;     // the normal answer's body, reused
  std::string out_;      // the response being sent, reused
};

std::variant<std::unique_ptr<FakeApiServer>, std::string> FakeApiServer::bind(
    JobStore& store, ServerOptions options) {
  const std::string& listen = options.listen;
  const std::size_t colon = listen.rfind(':');
  if (colon == std::string::npos) return "--listen wants host:port, got '" + listen + "'";
  std::string host = listen.substr(0, colon);
  const std::string port = listen.substr(colon + 1);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (const int rc =
          ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found);
      rc != 0) {
    return "cannot resolve '" + listen + "': " + ::gai_strerror(rc);
  }
  std::string last_error = "no usable address";
  int fd = -1;
  for (addrinfo* ai = found; ai != nullptr && fd < 0; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC, ai->ai_protocol);
    if (fd < 0) {
      last_error = std::strerror(errno);
      continue;
    }
    const int one = 1;
    ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (::bind(fd, ai->ai_addr, ai->ai_addrlen) != 0 || ::listen(fd, 1024) != 0) {
      last_error = std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  ::freeaddrinfo(found);
  if (fd < 0) return "cannot listen on " + listen + ": " + last_error;

  sockaddr_storage bound{};
  socklen_t bound_len = sizeof bound;
  char host_text[NI_MAXHOST];
  char port_text[NI_MAXSERV];
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&bound), &bound_len) != 0 ||
      ::getnameinfo(reinterpret_cast<sockaddr*>(&bound), bound_len, host_text, sizeof host_text,
                    port_text, sizeof port_text, NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
    ::close(fd);
    return "cannot read the bound address of " + listen;
  }
  const int wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd < 0) {
    ::close(fd);
    return std::string("eventfd: ") + std::strerror(errno);
  }
  std::unique_ptr<FakeApiServer> server(new FakeApiServer(store, std::move(options), fd, wake_fd));
  const bool v6 = bound.ss_family == AF_INET6;
  server->address_ = (v6 ? "[" : "") + std::string(host_text) + (v6 ? "]:" : ":") + port_text;
  server->port_ = static_cast<std::uint16_t>(std::stoi(port_text));
  return server;
}

FakeApiServer::FakeApiServer(JobStore& store, ServerOptions options, int listen_fd, int wake_fd)
    : store_(store), options_(std::move(options)), listen_fd_(listen_fd), wake_fd_(wake_fd) {}

FakeApiServer::~FakeApiServer() {
  stop();
  ::close(listen_fd_);
  ::close(wake_fd_);
}

void FakeApiServer::start() {
  accept_thread_ = std::jthread([this](std::stop_token stop) { acceptLoop(std::move(stop)); });
}

void FakeApiServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (accept_thread_.joinable()) {
    accept_thread_.request_stop();
    const std::uint64_t one = 1;
    (void)!::write(wake_fd_, &one, sizeof one);
    accept_thread_.join();
  }
  std::list<Connection> all;
  {
    std::lock_guard lock(connections_mu_);
    for (Connection& c : connections_) {
      c.thread.request_stop();
      if (c.fd >= 0) ::shutdown(c.fd, SHUT_RDWR);
    }
    all.splice(all.end(), connections_);
  }
  all.clear();  // joins; list nodes stay put while their threads finish
}

void FakeApiServer::acceptLoop(std::stop_token stop) {
  pollfd fds[2] = {{listen_fd_, POLLIN, 0}, {wake_fd_, POLLIN, 0}};
  while (!stop.stop_requested()) {
    reapFinished();
    {
      std::unique_lock lock(connections_mu_);
      if (!connection_ended_.wait(lock, stop, [&] { return active_ < options_.max_connections; })) {
        return;
      }
    }
    if (::poll(fds, 2, -1) < 0) {
      if (errno == EINTR) continue;
      std::fprintf(stderr, "fakeapi: poll: %s\n", std::strerror(errno));
      return;
    }
    if (fds[1].revents != 0) return;
    const int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        std::fprintf(stderr, "fakeapi: accept: %s\n", std::strerror(errno));
        if (!sleepFor(std::chrono::milliseconds(50), stop)) return;
      }
      continue;  // EINTR, ECONNABORTED and friends: try again
    }
    const int one = 1;
    ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    std::lock_guard lock(connections_mu_);
    Connection& c = connections_.emplace_back();
    c.fd = fd;
    ++active_;
    c.thread = std::jthread([this, &c](std::stop_token st) { connectionMain(c, std::move(st)); });
  }
}

void FakeApiServer::connectionMain(Connection& connection, std::stop_token stop) {
  try {
    Session(*this, connection, std::move(stop)).run();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "fakeapi: connection ended by error: %s\n", e.what());
  }
  closeConnection(connection, /*reset=*/false);
  {
    std::lock_guard lock(connections_mu_);
    connection.finished = true;
    --active_;
  }
  connection_ended_.notify_all();
}

void FakeApiServer::reapFinished() {
  std::list<Connection> done;
  {
    std::lock_guard lock(connections_mu_);
    for (auto it = connections_.begin(); it != connections_.end();) {
      const auto next = std::next(it);
      if (it->finished) done.splice(done.end(), connections_, it);
      it = next;
    }
  }
  // Destroying `done` joins threads that have already left connectionMain's locks.
}

void FakeApiServer::closeConnection(Connection& connection, bool reset) {
  std::lock_guard lock(connections_mu_);
  if (connection.fd < 0) return;
  if (reset) {
    const linger hard{1, 0};  // close() now sends RST instead of FIN
    ::setsockopt(connection.fd, SOL_SOCKET, SO_LINGER, &hard, sizeof hard);
  }
  ::close(connection.fd);
  connection.fd = -1;
}

bool FakeApiServer::sleepFor(std::chrono::milliseconds duration, const std::stop_token& stop) {
  std::unique_lock lock(sleep_mu_);
  sleep_cv_.wait_for(lock, stop, duration, [] { return false; });
  return !stop.stop_requested();
}

}  // namespace fakeapi
