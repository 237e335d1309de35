// SPDX-License-Identifier: Apache-2.0
// Loading a config: the one YAML document, its top-level sections (each read
// by its parser in sections.h), then the checks that span keys.

#include "config/config.h"

#include <yaml-cpp/yaml.h>

#include "config/schema_reader.h"
#include "config/sections.h"
#include "config/state_url.h"
#include "status/job_status.h"
#include "util/account_name.h"
#include "util/bounded_file.h"
#include "util/yaml_node.h"

namespace jobwatch::config {
namespace {

// A config is a few kilobytes; anything far larger is a mistake (or hostile).
constexpr std::size_t kMaxConfigBytes = std::size_t{4} * 1024 * 1024;

void readSections(SchemaReader& r, const YAML::Node& root, Config& cfg) {
  if (!root.IsNull() && !root.IsMap()) {
    r.error("", yamlLine(root, 1),
            "the top level must be a map of sections (api, accounts, poll, watch, state, hooks, "
            "metrics, logging, shard, results, control), got " +
                yamlKind(root));
    return;
  }
  DeferredChecks later;
  r.walkMap(
      Value{root, "", 1},
      {
          {"api",
           [&](const Value& v) { parseApiSection(r, v, cfg.api, later.default_threads, later); }},
          {"accounts", [&](const Value& v) { later.accounts = v; }},
          {"poll", [&](const Value& v) { parsePollSection(r, v, cfg.poll); }},
          {"watch", [&](const Value& v) { parseWatchSection(r, v, cfg.watch); }},
          {"state", [&](const Value& v) { parseStateSection(r, v, cfg.state); }},
          {"hooks", [&](const Value& v) { parseHooksSection(r, v, cfg.hooks, later); }},
          {"metrics", [&](const Value& v) { parseMetricsSection(r, v, cfg.metrics); }},
          {"logging", [&](const Value& v) { parseLoggingSection(r, v, cfg.logging); }},
          {"shard", [&](const Value& v) { parseShardSection(r, v, cfg.shard); }},
          {"results", [&](const Value& v) { parseResultsSection(r, v, cfg.results); }},
          {"control", [&](const Value& v) { parseControlSection(r, v, cfg.control); }},
      },
      "sections");
  checkAcrossKeys(r, later, cfg);
  parseAccountsSection(r, later.accounts, later.default_threads, cfg);
}

}  // namespace

const AccountConfig* Config::account(std::string_view name) const {
  for (const AccountConfig& a : accounts) {
    if (sameAccount(a.name, name)) return &a;
  }
  return nullptr;
}

std::string ConfigIssue::toString() const {
  std::string out;
  if (!file.empty()) {
    out += file.string();
    if (line > 0) out += ":" + std::to_string(line);
    out += ": ";
  } else if (line > 0) {
    out += "line " + std::to_string(line) + ": ";
  }
  if (!key.empty()) out += key + ": ";
  out += message;
  return out;
}

ConfigLoad loadConfigText(const std::string& yaml, const std::filesystem::path& source) {
  SchemaReader reader(source);
  Config cfg;
  cfg.source = source;
  cfg.poll.status_aliases = status::defaultAliases();
  cfg.poll.extra_terminal_statuses = status::defaultExtraTerminal();
  cfg.state.instance = hostInstanceName();
  try {
    const YamlDocument doc = loadSingleYamlDocument(yaml);
    if (doc.second_document_line > 0) {
      reader.error("", doc.second_document_line,
                   "a second YAML document starts here (after '---', or where the YAML stops "
                   "making sense); expected exactly one");
    } else if (doc.present) {
      readSections(reader, doc.root, cfg);
    }
  } catch (const YAML::Exception& e) {
    reader.error("", e.mark.line >= 0 ? e.mark.line + 1 : 0, "invalid YAML: " + e.msg);
  }
  // An empty file: the default account alone.
  if (cfg.accounts.empty()) cfg.accounts.push_back(AccountConfig{"default", cfg.api, 1});
  return reader.finish(std::move(cfg));
}

ConfigLoad loadConfigFile(const std::filesystem::path& path) {
  auto text = readBoundedFile(path, kMaxConfigBytes);
  if (!text.ok()) {
    ConfigLoad out;
    out.issues.push_back(ConfigIssue{path, 0, "", text.error().message});
    return out;
  }
  return loadConfigText(text.value(), path);
}

}  // namespace jobwatch::config
