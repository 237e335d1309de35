// SPDX-License-Identifier: Apache-2.0
#include "config/state_url.h"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdlib>

#include "config/api_key.h"
#include "config/config.h"
#include "config/names.h"
#include "util/bounded_file.h"

namespace jobwatch::config {
namespace {

bool hasUriScheme(std::string_view uri) {
  return uri.starts_with("postgresql://") || uri.starts_with("postgres://");
}

// What is wrong with a trimmed URI (`where` names its source), never quoting it.
Status checkUrl(std::string_view uri, const std::string& where) {
  if (uri.empty()) return Error{where + " is empty; it must hold the PostgreSQL connection URI"};
  if (hasControlChars(uri)) {
    return Error{where +
                 " holds more than one line or control characters; it must hold only the "
                 "connection URI"};
  }
  if (!hasUriScheme(uri)) {
    return Error{where +
                 " does not hold a PostgreSQL connection URI (postgresql://USER:PASSWORD@HOST:"
                 "PORT/DATABASE)"};
  }
  return Ok{};
}

Result<std::string> readUrlFile(const std::filesystem::path& configured) {
  auto file = resolveCredentialFile(configured, "state.url_file");
  if (!file.ok()) return Error{file.error().message};
  const std::string where = "state.url_file " + file.value().string();
  auto content = readBoundedFile(file.value(), kMaxStateUrlBytes);
  if (!content.ok()) return Error{where + ": " + content.error().message};
  const std::string_view uri = trimSpace(content.value());
  if (auto ok = checkUrl(uri, where); !ok) return ok.error();
  return std::string(uri);
}

Result<std::string> readUrlVariable(const std::string& variable) {
  const char* value = std::getenv(variable.c_str());
  if (value == nullptr || *value == '\0') {
    return Error{"state.url_env: environment variable " + variable +
                 " is not set or empty; set it, or point state.url_file at a file holding the "
                 "URI (e.g. a systemd LoadCredential= credential)"};
  }
  const std::string_view uri = trimSpace(value);
  if (auto ok = checkUrl(uri, "state.url_env: environment variable " + variable); !ok) {
    return ok.error();
  }
  return std::string(uri);
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// A host, port or database name percent-decoded (a socket directory is
// written %2Fvar%2Frun%2Fpostgresql), for showing; "(not shown)" when it
// holds anything else than such names do (it may be a mangled password).
std::string shown(std::string_view s) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c == '%' && i + 2 < s.size() && hexValue(s[i + 1]) >= 0 && hexValue(s[i + 2]) >= 0) {
      c = static_cast<char>(hexValue(s[i + 1]) * 16 + hexValue(s[i + 2]));
      i += 2;
    }
    if (!isAsciiAlnum(c) && std::string_view("._-:/[],$").find(c) == std::string_view::npos) {
      return "(not shown)";
    }
    out += c;
  }
  return out;
}

// The value of `name` in a query string ("a=1&b=2"), undecoded; "" when absent.
std::string_view queryParameter(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    if (pair.size() > name.size() && pair.starts_with(name) && pair[name.size()] == '=') {
      return pair.substr(name.size() + 1);
    }
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

// Whether a host[:port] (or [v6]:port, or a list) names its port.
bool hasPort(std::string_view host) {
  const size_t colon = host.rfind(':');
  return colon != std::string_view::npos && host.find(']', colon) == std::string_view::npos;
}

}  // namespace

std::string stateUrlKey(const StateConfig& state) {
  return state.url_file ? "state.url_file" : "state.url_env";
}

Result<std::string> readStateUrl(const StateConfig& state) {
  if (state.url_file) return readUrlFile(*state.url_file);
  if (state.url_env) return readUrlVariable(*state.url_env);
  return Error{"neither state.url_file nor state.url_env is set"};
}

std::string describeStateUrl(std::string_view uri) {
  std::string_view rest = uri.substr(std::min(uri.size(), uri.find("://") + 3));
  // User and password end at the first '@' before any '/' (as libpq reads it).
  if (const size_t cut = rest.find_first_of("@/");
      cut != std::string_view::npos && rest[cut] == '@') {
    rest.remove_prefix(cut + 1);
  }
  const size_t query_at = rest.find('?');
  const std::string_view query =
      query_at == std::string_view::npos ? std::string_view{} : rest.substr(query_at + 1);
  rest = rest.substr(0, query_at);
  // A '@' still there: a password with an unencoded '/'; drop it all.
  if (const size_t at = rest.rfind('@'); at != std::string_view::npos) rest.remove_prefix(at + 1);
  const size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  const std::string_view database =
      slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
  std::string host = shown(authority);
  if (host.empty()) host = shown(queryParameter(query, "host"));
  if (host.empty()) host = "local socket";
  if (!hasPort(authority)) {
    const std::string port = shown(queryParameter(query, "port"));
    host += ":" + (port.empty() ? std::string("5432") : port);
  }
  std::string name = shown(database);
  if (name.empty()) name = shown(queryParameter(query, "dbname"));
  return name.empty() ? host : host + "/" + name;
}

std::string hostInstanceName() {
  std::array<char, 256> name{};
  if (::gethostname(name.data(), name.size() - 1) != 0) return "";
  return std::string(name.data());
}

}  // namespace jobwatch::config
