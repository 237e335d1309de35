// SPDX-License-Identifier: Apache-2.0
#include "api/curl_multi_transport.h"

#include <curl/curl.h>

#include <algorithm>
#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>

namespace jobwatch::api {
namespace {

// A body below this rate for kLowSpeedWindow is treated as a timeout.
constexpr long kLowSpeedBytesPerSecond = 64;
constexpr std::chrono::seconds kMaxLowSpeedWindow{10};
// A streamed download (a result: HttpRequest::sink) has no total timeout,
// however large and slow: it is given up only when it stalls, i.e. moves
// fewer than this many bytes per second for a whole request_timeout (curl
// averages the speed over its last 5 s).
constexpr long kStreamStallBytesPerSecond = 1;
// Retry-After beyond a day is a server bug; never sleep longer than that.
constexpr std::chrono::seconds kMaxRetryAfter{86400};
// Response bodies start with this much room (a job document is ~300 bytes).
constexpr size_t kInitialBodyCapacity = 1024;
// The JSON parser reads up to this many bytes beyond the body's end.
constexpr size_t kParserPadding = 64;

[[noreturn]] void die(const char* what, const char* why) {
  std::fprintf(stderr, "jobwatchd: broken invariant: %s: %s\n", what, why);
  std::abort();
}

// Options that cannot fail except by a bug (a misspelt option, or a curl
// built without http): fail fast.
template <typename T>
void setOrDie(CURL* easy, CURLoption option, T value, const char* name) {
  CURLcode rc = curl_easy_setopt(easy, option, value);
  if (rc != CURLE_OK) die(name, curl_easy_strerror(rc));
}

template <typename T>
void setMultiOrDie(CURLM* multi, CURLMoption option, T value, const char* name) {
  CURLMcode rc = curl_multi_setopt(multi, option, value);
  if (rc != CURLM_OK) die(name, curl_multi_strerror(rc));
}

}  // namespace

struct CurlMultiTransport::Impl {
  // One pooled easy handle and the exchange it is carrying. Addresses are
  // stable (owned through unique_ptr) because curl holds them as
  // CURLOPT_PRIVATE and CURLOPT_WRITEDATA.
  struct Transfer {
    CURL* easy = nullptr;
    unsigned generation = 0;              // options it was set up with
    std::shared_ptr<curl_slist> headers;  // kept alive while the handle uses them
    std::uint64_t tag = 0;
    std::string body;
    BodySink* sink = nullptr;  // streams a 2xx body (HttpRequest::sink)
    bool too_large = false;
    bool sink_refused = false;
    bool stream_timing = false;  // timeouts set for a streamed download
  };

  explicit Impl(CurlTransportOptions opts) {
    multi = curl_multi_init();
    if (multi == nullptr) die("curl_multi_init", "out of memory");
    // HTTP/2 multiplexing when the server offers it over TLS; HTTP/1.1
    // connections are simply reused one transfer at a time.
    setMultiOrDie(multi, CURLMOPT_PIPELINING, long{CURLPIPE_MULTIPLEX}, "CURLMOPT_PIPELINING");
    configure(std::move(opts));
  }

  // Applies options to transfers started from now on. Idle pooled handles
  // are dropped (new ones get the new options); busy ones finish with the
  // old options and are retired then. Kept-alive connections live in the
  // multi handle and stay pooled.
  void configure(CurlTransportOptions opts) {
    curl_slist* list = nullptr;
    auto append = [&list](const char* header) {
      curl_slist* grown = curl_slist_append(list, header);
      if (grown == nullptr) die("curl_slist_append", "out of memory");
      list = grown;
    };
    for (const auto& header : opts.headers) {
      // Config validates headers; a line break here would let a header value
      // (the API key file) inject request lines. Never print the header.
      if (header.find_first_of("\r\n") != std::string::npos ||
          header.find('\0') != std::string::npos) {
        die("CurlTransportOptions::headers", "a header contains CR, LF or NUL");
      }
      append(header.c_str());
    }
    append("Accept: application/json");
    headers = std::shared_ptr<curl_slist>(list, curl_slist_free_all);
    options = std::move(opts);
    const long max_connections = std::max(1, options.max_connections);
    // Keep one kept-alive connection per concurrent transfer: reconnecting
    // (TLS handshakes contend on OpenSSL 3 locks) is what we avoid.
    setMultiOrDie(multi, CURLMOPT_MAX_HOST_CONNECTIONS, max_connections,
                  "CURLMOPT_MAX_HOST_CONNECTIONS");
    setMultiOrDie(multi, CURLMOPT_MAXCONNECTS, max_connections, "CURLMOPT_MAXCONNECTS");
    ++generation;
    for (Transfer* idle : free_list) retire(idle);
    free_list.clear();
  }

  void retire(Transfer* transfer) {
    curl_easy_cleanup(transfer->easy);
    auto it = std::find_if(transfers.begin(), transfers.end(),
                           [transfer](const auto& t) { return t.get() == transfer; });
    if (it != transfers.end()) transfers.erase(it);
  }

  ~Impl() {
    for (auto& transfer : transfers) {
      if (active(*transfer)) curl_multi_remove_handle(multi, transfer->easy);
      curl_easy_cleanup(transfer->easy);
    }
    transfers.clear();  // before the header lists the handles point at
    curl_multi_cleanup(multi);
  }

  bool active(const Transfer& transfer) const {
    return std::find(free_list.begin(), free_list.end(), &transfer) == free_list.end();
  }

  static size_t onBody(char* data, size_t size, size_t count, void* user) {
    auto* transfer = static_cast<Transfer*>(user);
    const size_t n = size * count;
    if (transfer->sink != nullptr && streamsToSink(transfer->easy)) {
      if (transfer->sink->write(data, n)) return n;
      transfer->sink_refused = true;
      return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    }
    if (transfer->body.size() + n > kMaxBodyBytes) {
      transfer->too_large = true;
      return 0;  // aborts the transfer with CURLE_WRITE_ERROR
    }
    transfer->body.append(data, n);
    return n;
  }

  // The body of a 2xx answer goes to the sink; an error's stays in memory.
  static bool streamsToSink(CURL* easy) {
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    return status >= 200 && status < 300;
  }

  // Every option is set once per handle; a reused handle only changes its
  // URL and buffer, which keeps the handle's state (and its connection in
  // the multi's pool) warm.
  Transfer* newTransfer() {
    auto transfer = std::make_unique<Transfer>();
    CURL* easy = curl_easy_init();
    if (easy == nullptr) die("curl_easy_init", "out of memory");
    transfer->easy = easy;
    transfer->generation = generation;
    transfer->headers = headers;
    const char* protocols = options.allow_http ? "http,https" : "https";
    setOrDie(easy, CURLOPT_NOSIGNAL, 1L, "CURLOPT_NOSIGNAL");
    setOrDie(easy, CURLOPT_PROTOCOLS_STR, protocols, "CURLOPT_PROTOCOLS_STR");
    setOrDie(easy, CURLOPT_REDIR_PROTOCOLS_STR, protocols, "CURLOPT_REDIR_PROTOCOLS_STR");
    setOrDie(easy, CURLOPT_FOLLOWLOCATION, 0L, "CURLOPT_FOLLOWLOCATION");
    setOrDie(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(options.connect_timeout.count()),
             "CURLOPT_CONNECTTIMEOUT_MS");
    setTiming(*transfer, false);
    setOrDie(easy, CURLOPT_HTTPHEADER, headers.get(), "CURLOPT_HTTPHEADER");
    setOrDie(easy, CURLOPT_USERAGENT, options.user_agent.c_str(), "CURLOPT_USERAGENT");
    setOrDie(easy, CURLOPT_TCP_KEEPALIVE, 1L, "CURLOPT_TCP_KEEPALIVE");
    setOrDie(easy, CURLOPT_WRITEFUNCTION, &Impl::onBody, "CURLOPT_WRITEFUNCTION");
    setOrDie(easy, CURLOPT_WRITEDATA, static_cast<void*>(transfer.get()), "CURLOPT_WRITEDATA");
    setOrDie(easy, CURLOPT_PRIVATE, static_cast<void*>(transfer.get()), "CURLOPT_PRIVATE");
    transfers.push_back(std::move(transfer));
    return transfers.back().get();
  }

  // A status request: request_timeout caps the whole exchange, and a body
  // below kLowSpeedBytesPerSecond for min(request_timeout, 10 s) is a
  // timeout. A streamed download (`stream`): no total cap, only a stall of
  // a whole request_timeout (below kStreamStallBytesPerSecond) is one. The
  // connect timeout holds for both.
  void setTiming(Transfer& transfer, bool stream) const {
    CURL* easy = transfer.easy;
    const auto whole_seconds = [](std::chrono::milliseconds d, bool round_up) {
      const auto s = round_up ? std::chrono::ceil<std::chrono::seconds>(d)
                              : std::chrono::duration_cast<std::chrono::seconds>(d);
      return std::max<long>(1, static_cast<long>(s.count()));
    };
    if (stream) {
      setOrDie(easy, CURLOPT_TIMEOUT_MS, 0L, "CURLOPT_TIMEOUT_MS");
      setOrDie(easy, CURLOPT_LOW_SPEED_LIMIT, kStreamStallBytesPerSecond,
               "CURLOPT_LOW_SPEED_LIMIT");
      setOrDie(easy, CURLOPT_LOW_SPEED_TIME, whole_seconds(options.request_timeout, true),
               "CURLOPT_LOW_SPEED_TIME");
    } else {
      setOrDie(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(options.request_timeout.count()),
               "CURLOPT_TIMEOUT_MS");
      setOrDie(easy, CURLOPT_LOW_SPEED_LIMIT, kLowSpeedBytesPerSecond, "CURLOPT_LOW_SPEED_LIMIT");
      setOrDie(easy, CURLOPT_LOW_SPEED_TIME,
               whole_seconds(
                   std::min<std::chrono::milliseconds>(options.request_timeout, kMaxLowSpeedWindow),
                   false),
               "CURLOPT_LOW_SPEED_TIME");
    }
    transfer.stream_timing = stream;
  }

  Transfer* takeTransfer() {
    if (free_list.empty()) return newTransfer();
    Transfer* transfer = free_list.back();
    free_list.pop_back();
    return transfer;
  }

  void start(const HttpRequest& request) {
    Transfer* transfer = takeTransfer();
    transfer->tag = request.tag;
    transfer->too_large = false;
    transfer->sink_refused = false;
    transfer->sink = request.sink;
    if (transfer->stream_timing != (request.sink != nullptr)) {
      setTiming(*transfer, request.sink != nullptr);
    }
    transfer->body = std::string();
    transfer->body.reserve(kInitialBodyCapacity);
    // Refuses announced oversized bodies before any byte is read; bodies of
    // unannounced length are capped in onBody (or by the sink).
    const std::uint64_t max_body = request.sink != nullptr && request.max_streamed_bytes > 0
                                       ? request.max_streamed_bytes
                                       : std::uint64_t{kMaxBodyBytes};
    setOrDie(transfer->easy, CURLOPT_MAXFILESIZE_LARGE, static_cast<curl_off_t>(max_body),
             "CURLOPT_MAXFILESIZE_LARGE");
    CURLcode rc = curl_easy_setopt(transfer->easy, CURLOPT_URL, request.url.c_str());
    if (rc != CURLE_OK) {
      failEarly(transfer, curl_easy_strerror(rc));
      return;
    }
    CURLMcode mrc = curl_multi_add_handle(multi, transfer->easy);
    if (mrc != CURLM_OK) {
      failEarly(transfer, curl_multi_strerror(mrc));
      return;
    }
    ++in_flight;
  }

  // A request that could not even start is reported by the next run(), so
  // the caller sees every started request finish exactly once.
  void failEarly(Transfer* transfer, const char* why) {
    HttpResponse response;
    response.tag = transfer->tag;
    response.outcome = TransportOutcome::kNetworkError;
    response.detail = std::string("request not started: ") + why;
    early_failures.push_back(std::move(response));
    free_list.push_back(transfer);
  }

  HttpResponse finish(Transfer* transfer, CURLcode result) {
    CURL* easy = transfer->easy;
    HttpResponse response;
    response.tag = transfer->tag;

    curl_off_t total_us = 0;
    if (curl_easy_getinfo(easy, CURLINFO_TOTAL_TIME_T, &total_us) == CURLE_OK) {
      response.elapsed = std::chrono::microseconds(total_us);
    }
    curl_off_t retry_after = 0;
    if (curl_easy_getinfo(easy, CURLINFO_RETRY_AFTER, &retry_after) == CURLE_OK &&
        retry_after > 0) {
      response.retry_after = std::min(std::chrono::seconds(retry_after), kMaxRetryAfter);
    }

    if (result == CURLE_OK) {
      long status = 0;
      curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
      response.outcome = TransportOutcome::kCompleted;
      response.status = status;
      response.body = std::move(transfer->body);
      // The parser reads up to 64 bytes past the end; reserve never shrinks.
      response.body.reserve(response.body.size() + kParserPadding);
    } else if (transfer->sink_refused) {
      response.outcome = TransportOutcome::kSinkRefused;
      response.detail = "the body's destination refused it";
    } else if (transfer->too_large || result == CURLE_FILESIZE_EXCEEDED) {
      response.outcome = TransportOutcome::kBodyTooLarge;
      response.detail = transfer->sink != nullptr && result == CURLE_FILESIZE_EXCEEDED
                            ? "body announced over the size limit refused"
                            : "body over 1 MiB refused";
    } else if (result == CURLE_OPERATION_TIMEDOUT) {
      response.outcome = TransportOutcome::kTimeout;
      response.detail = describe(easy, result);
    } else {
      response.outcome = TransportOutcome::kNetworkError;
      response.detail = describe(easy, result);
    }
    transfer->body = std::string();  // a refused 1 MiB buffer is not kept around
    transfer->sink = nullptr;
    return response;
  }

  // curl's fixed text for the code plus the OS error: never the error
  // buffer, which could quote request or response data.
  static std::string describe(CURL* easy, CURLcode result) {
    std::string text = curl_easy_strerror(result);
    long os_errno = 0;
    if (curl_easy_getinfo(easy, CURLINFO_OS_ERRNO, &os_errno) == CURLE_OK && os_errno != 0) {
      text += " (";
      text += std::strerror(static_cast<int>(os_errno));
      text += ')';
    }
    return text;
  }

  size_t collect(std::vector<HttpResponse>& finished) {
    size_t collected = 0;
    for (auto& response : early_failures) {
      finished.push_back(std::move(response));
      ++collected;
    }
    early_failures.clear();
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      const CURLcode result = msg->data.result;  // msg dies with remove_handle
      void* priv = nullptr;
      curl_easy_getinfo(easy, CURLINFO_PRIVATE, &priv);
      auto* transfer = static_cast<Transfer*>(priv);
      if (transfer == nullptr) die("curl transfer", "finished handle without private data");
      finished.push_back(finish(transfer, result));
      curl_multi_remove_handle(multi, easy);
      if (transfer->generation == generation) {
        free_list.push_back(transfer);
      } else {
        retire(transfer);  // set up with options that were replaced since
      }
      --in_flight;
      ++collected;
    }
    return collected;
  }

  void perform() {
    int running = 0;
    CURLMcode rc = curl_multi_perform(multi, &running);
    // Only out-of-memory or a bug; transfers keep their own errors.
    if (rc != CURLM_OK) die("curl_multi_perform", curl_multi_strerror(rc));
  }

  void run(std::chrono::milliseconds max_wait, std::vector<HttpResponse>& finished) {
    using Steady = std::chrono::steady_clock;
    // Real time on purpose: this is where the process actually blocks on
    // sockets; the Clock seam is for scheduling decisions above us.
    // Bounded so the deadline cannot overflow; callers loop anyway.
    max_wait = std::clamp<std::chrono::milliseconds>(max_wait, std::chrono::milliseconds(0),
                                                     std::chrono::hours(24));
    const auto deadline = Steady::now() + max_wait;
    perform();
    size_t collected = collect(finished);
    while (collected == 0 && !woken.exchange(false)) {
      const auto remaining = std::chrono::ceil<std::chrono::milliseconds>(deadline - Steady::now());
      if (remaining.count() <= 0) break;
      const int timeout_ms =
          static_cast<int>(std::min<std::chrono::milliseconds::rep>(remaining.count(), 60'000));
      // Waits for socket activity, curl's own timers, or wake(); with
      // nothing in flight it simply sleeps (unlike curl_multi_wait).
      CURLMcode rc = curl_multi_poll(multi, nullptr, 0, timeout_ms, nullptr);
      if (rc != CURLM_OK) die("curl_multi_poll", curl_multi_strerror(rc));
      perform();
      collected = collect(finished);
    }
  }

  CurlTransportOptions options;
  CURLM* multi = nullptr;
  std::shared_ptr<curl_slist> headers;  // for handles made from now on
  unsigned generation = 0;
  std::vector<std::unique_ptr<Transfer>> transfers;  // every handle ever made
  std::vector<Transfer*> free_list;                  // idle handles, ready for reuse
  std::vector<HttpResponse> early_failures;
  size_t in_flight = 0;  // added to the multi handle
  std::atomic<bool> woken{false};
};

CurlMultiTransport::CurlMultiTransport(CurlTransportOptions options)
    : impl_(std::make_unique<Impl>(std::move(options))) {}

CurlMultiTransport::~CurlMultiTransport() = default;

void CurlMultiTransport::start(HttpRequest request) { impl_->start(request); }

void CurlMultiTransport::reconfigure(CurlTransportOptions options) {
  impl_->configure(std::move(options));
}

size_t CurlMultiTransport::inFlight() const {
  return impl_->in_flight + impl_->early_failures.size();
}

void CurlMultiTransport::run(std::chrono::milliseconds max_wait,
                             std::vector<HttpResponse>& finished) {
  impl_->run(max_wait, finished);
}

void CurlMultiTransport::wake() {
  impl_->woken.store(true);
  curl_multi_wakeup(impl_->multi);
}

CurlGlobal::CurlGlobal() {
  CURLcode rc = curl_global_init(CURL_GLOBAL_DEFAULT);
  if (rc != CURLE_OK) {
    // 3 is the runtime-failure exit code (app/command_line.h: kExitRuntime).
    std::fprintf(stderr, "jobwatchd: cannot initialise libcurl: %s\n", curl_easy_strerror(rc));
    std::exit(3);
  }
}

CurlGlobal::~CurlGlobal() { curl_global_cleanup(); }

}  // namespace jobwatch::api
