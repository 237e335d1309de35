// SPDX-License-Identifier: Apache-2.0
#include "config/base_url.h"

#include <algorithm>

#include "config/host_port.h"
#include "config/names.h"
#include "status/job_status.h"
#include "util/job_id.h"

namespace jobwatch::config {
namespace {

struct UrlParts {
  std::string scheme;     // lowercase: http or https
  std::string authority;  // host[:port]
  std::string path;       // may be empty
};

Result<UrlParts> splitUrl(const std::string& url) {
  if (url.find_first_of(" \t") != std::string::npos) return Error{"must not contain spaces"};
  auto sep = url.find("://");
  std::string scheme = sep == std::string::npos ? "" : status::toLower(url.substr(0, sep));
  if (scheme != "https" && scheme != "http") {
    return Error{quoteForMessage(url) +
                 " must start with https:// (or http:// together with allow_insecure_http: true)"};
  }
  std::string rest = url.substr(sep + 3);
  if (rest.find_first_of("?#") != std::string::npos) {
    return Error{"must not contain a query (?) or fragment (#); job paths are appended to it"};
  }
  std::string authority = rest.substr(0, rest.find('/'));
  std::string path = rest.substr(authority.size());
  if (authority.find('@') != std::string::npos) {
    return Error{
        "must not contain user info (user:password@); the API key comes from api.api_key_file "
        "or api.api_key_env"};
  }
  return UrlParts{std::move(scheme), std::move(authority), std::move(path)};
}

// The host of `authority`, when it is one a URL may name.
Result<std::string> checkHost(const std::string& url, const std::string& authority) {
  auto hp = splitHostPort(authority);
  if (!hp.ok()) return Error{"invalid host in " + quoteForMessage(url) + ": " + hp.error().message};
  const std::string& host = hp.value().host;
  bool bracketed = authority.front() == '[';
  bool host_ok = bracketed || std::all_of(host.begin(), host.end(), [](char c) {
                   return isAsciiAlnum(c) || c == '-' || c == '.' || c == '_';
                 });
  if (!host_ok)
    return Error{"invalid host " + quoteForMessage(host) + " in " + quoteForMessage(url)};
  if (!hp.value().port.empty() && parsePort(hp.value().port).value_or(0) == 0) {
    return Error{"invalid port 0 in " + quoteForMessage(url)};
  }
  return host;
}

}  // namespace

Result<BaseUrl> checkBaseUrl(const std::string& url, bool allow_insecure_http) {
  auto parts = splitUrl(url);
  if (!parts.ok()) return parts.error();
  UrlParts p = std::move(parts).value();
  auto host = checkHost(url, p.authority);
  if (!host.ok()) return host.error();
  BaseUrl out;
  out.loopback = isLoopbackHost(host.value());
  if (p.scheme == "http") {
    if (!allow_insecure_http) {
      return Error{
          "http:// would send the API key in clear text; use https://, or set "
          "api.allow_insecure_http: true (for tests against a local API)"};
    }
    if (!out.loopback) {
      out.warning =
          "plain http:// to a host other than this machine sends the API key in clear text";
    }
  }
  while (!p.path.empty() && p.path.back() == '/') p.path.pop_back();
  out.url = p.scheme + "://" + p.authority + p.path;
  return out;
}

}  // namespace jobwatch::config
