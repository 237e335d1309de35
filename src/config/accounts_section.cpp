// SPDX-License-Identifier: Apache-2.0
// The `accounts` section (SPEC "Accounts"): API accounts beside `api:` (the
// account "default"), each a `name` plus any `api:` key; a key an entry
// leaves unset is taken from `api:`, except that an entry setting either
// api_key_file or api_key_env does not inherit the other (its key comes
// from where it says, never from the default account's file).

#include <map>
#include <string>

#include "config/base_url.h"
#include "config/sections.h"
#include "util/account_name.h"
#include "util/job_id.h"
#include "util/yaml_node.h"

namespace jobwatch::config {
namespace {

using AccountNames = std::map<std::string, int>;  // name -> line of its first entry

void readAccountName(SchemaReader& r, const Value& v, AccountNames& names, std::string& out) {
  auto s = r.text(v, "an account name");
  if (!s) return;
  if (!isAccountName(*s)) {
    r.error(v,
            quoteForMessage(*s) + " is not a valid account name" + std::string(kAccountNameRule));
    return;
  }
  if (*s == kDefaultAccount) {
    r.error(v, "the name `default` is reserved for the account of the `api:` section");
    return;
  }
  const int line = SchemaReader::valueLine(v);
  auto [pos, fresh] = names.emplace(*s, line);
  if (!fresh) {
    r.error(v, "duplicate account name `" + *s + "` (first defined on line " +
                   std::to_string(pos->second) + ")");
    return;
  }
  out = *s;
}

bool isSet(const SchemaReader& r, const std::string& entry, std::string_view key) {
  return r.lineFor(entry + "." + std::string(key)) > 0;
}

// An entry that names either key source does not inherit the other.
void settleKeySource(const SchemaReader& r, const std::string& entry, ApiConfig& api) {
  const bool file = isSet(r, entry, "api_key_file");
  const bool env = isSet(r, entry, "api_key_env");
  if (env && !file) api.api_key_file.reset();
  if (file && !env) api.api_key_env = ApiConfig{}.api_key_env;
}

// The entry's base URL, its own or inherited, against its own
// allow_insecure_http (when it sets either; else api:'s check stands).
void checkAccountBaseUrl(SchemaReader& r, const std::string& entry,
                         const std::optional<std::string>& written, ApiConfig& api) {
  const std::string url_key = entry + ".base_url";
  const std::string allow_key = entry + ".allow_insecure_http";
  if (!written && !isSet(r, entry, "allow_insecure_http")) return;
  if (r.isBad(url_key) || r.isBad(allow_key) || (!written && r.isBad("api.base_url"))) return;
  const std::string& key = written ? url_key : allow_key;
  const int line = r.lineFor(key);
  auto checked = checkBaseUrl(written ? *written : api.base_url, api.allow_insecure_http);
  if (!checked.ok()) {
    r.error(key, line,
            checked.error().message + (written ? "" : " (the base_url inherited from api:)"));
    r.markBad(key);
    return;
  }
  if (checked->warning) r.warning(key, line, *checked->warning);
  api.base_url = checked->url;
}

void readAccount(SchemaReader& r, const Value& av, const AccountConfig& inherited,
                 AccountNames& names, std::vector<AccountConfig>& out) {
  if (!av.node.IsMap()) {
    r.error(av, "expected an account (a map with `name` and any key of `api:`), got " +
                    yamlKind(av.node));
    return;
  }
  AccountConfig account = inherited;
  account.name.clear();
  std::optional<std::string> base_url;
  bool named = false;
  std::vector<Field> fields = apiFields(r, account.api, account.threads, base_url);
  fields.insert(fields.begin(), Field{"name", [&](const Value& v) {
                                        named = true;
                                        readAccountName(r, v, names, account.name);
                                      }});
  const std::size_t errors_before = r.errorCount();
  r.walkMap(av, fields, "account settings");
  if (!named) {
    r.error(av.key, av.line,
            "an account needs a `name`" + std::string(kAccountNameRule) +
                "; `default` is the account of `api:`");
  }
  settleKeySource(r, av.key, account.api);
  checkAccountBaseUrl(r, av.key, base_url, account.api);
  if (account.api.connect_timeout > account.api.request_timeout &&
      (isSet(r, av.key, "connect_timeout") || isSet(r, av.key, "request_timeout"))) {
    const std::string key = av.key + ".connect_timeout";
    r.warning(key, r.lineFor(key) > 0 ? r.lineFor(key) : av.line,
              "is longer than request_timeout (" + formatDuration(account.api.request_timeout) +
                  "), which bounds the whole request");
  }
  // An entry with any problem is left out (the load fails anyway).
  if (r.errorCount() != errors_before) return;
  out.push_back(std::move(account));
}

std::string keySource(const ApiConfig& api) {
  return api.api_key_file ? "api_key_file " + api.api_key_file->string()
                          : "api_key_env " + api.api_key_env;
}

// Two accounts reading one key share the vendor's budget for it: allowed
// (e.g. one key against two base URLs), but rarely meant.
void warnSharedKeys(SchemaReader& r, const std::vector<AccountConfig>& accounts,
                    const std::vector<std::pair<std::string, int>>& where) {
  std::map<std::string, std::string> first;  // key source -> account name
  for (std::size_t i = 0; i < accounts.size(); ++i) {
    const std::string source = keySource(accounts[i].api);
    auto [pos, fresh] = first.emplace(source, accounts[i].name);
    if (fresh || i == 0) continue;
    r.warning(where[i].first, where[i].second,
              "account `" + accounts[i].name + "` reads its API key from the same place as `" +
                  pos->second + "` (" + source +
                  "): they share the vendor's budget for that key; set this account's own "
                  "api_key_file or api_key_env");
  }
}

}  // namespace

void parseAccountsSection(SchemaReader& r, const std::optional<Value>& section, int default_threads,
                          Config& cfg) {
  cfg.accounts.clear();
  cfg.accounts.push_back(AccountConfig{std::string(kDefaultAccount), cfg.api, default_threads});
  if (!section || section->node.IsNull()) return;
  if (!section->node.IsSequence()) {
    r.error(*section,
            "expected a list of accounts (each a map with `name` and any key of `api:`), "
            "got " +
                yamlKind(section->node));
    return;
  }
  const AccountConfig inherited = cfg.accounts.front();
  std::vector<std::pair<std::string, int>> where{{"api", r.lineFor("api")}};
  AccountNames names;
  std::size_t index = 0;
  for (const YAML::Node& item : section->node) {
    Value av{item, section->key + "[" + std::to_string(index++) + "]",
             yamlLine(item, section->line)};
    const std::size_t before = cfg.accounts.size();
    readAccount(r, av, inherited, names, cfg.accounts);
    if (cfg.accounts.size() != before) where.emplace_back(av.key, av.line);
  }
  warnSharedKeys(r, cfg.accounts, where);
}

}  // namespace jobwatch::config
