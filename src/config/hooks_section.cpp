// SPDX-License-Identifier: Apache-2.0
// The `hooks` section: programs to run when a job's status changes. Each
// definition is checked whole; one with any problem is left out.

#include <algorithm>
#include <map>

#include "config/names.h"
#include "config/sections.h"
#include "util/job_id.h"
#include "util/yaml_node.h"

namespace jobwatch::config {
namespace {

// Which of the keys a definition must (or must not together) have were set.
struct HookKeysSeen {
  bool name = false;
  bool on = false;
  bool command = false;
  bool shell = false;
};

// hook name -> line of its first definition
using HookNames = std::map<std::string, int>;

void readHookName(SchemaReader& r, const Value& v, HookNames& names, HookDefinition& hook) {
  auto s = r.text(v, "a hook name");
  if (!s) return;
  if (!isHookName(*s)) {
    r.error(v, quoteForMessage(*s) +
                   " is not a valid hook name (letters, digits, _ . and -, at most 64 "
                   "characters)");
    return;
  }
  auto [pos, fresh] = names.emplace(*s, v.line);
  if (!fresh) {
    r.error(v, "duplicate hook name `" + *s + "` (first defined on line " +
                   std::to_string(pos->second) + ")");
    return;
  }
  hook.name = *s;
}

// `on`: one status, a list of them, or "*" alone for every change.
void readHookOn(SchemaReader& r, const Value& v, HookDefinition& hook,
                std::vector<PendingHookStatus>& statuses) {
  std::vector<std::pair<std::string, Value>> words;
  if (v.node.IsScalar()) {
    auto s = r.text(v, "a list of statuses or \"*\"");
    if (!s) return;
    words.emplace_back(*s, v);
  } else {
    auto items = r.list(v, "statuses (or \"*\")");
    if (!items) return;
    words = std::move(*items);
  }
  if (words.empty()) {
    r.error(v, "must list at least one status, or \"*\" for every change");
    return;
  }
  bool star = std::any_of(words.begin(), words.end(), [](const auto& w) { return w.first == "*"; });
  if (star) {
    if (words.size() > 1) {
      r.error(v, "\"*\" already means every status; do not combine it with other statuses");
      return;
    }
    hook.on = {"*"};
    return;
  }
  for (auto& [word, iv] : words) {
    auto lowered = lowercaseStatus(r, iv, word);
    if (!lowered || std::find(hook.on.begin(), hook.on.end(), *lowered) != hook.on.end()) continue;
    statuses.push_back(PendingHookStatus{iv.key, SchemaReader::valueLine(iv), *lowered});
    hook.on.push_back(std::move(*lowered));
  }
}

void readHookTypes(SchemaReader& r, const Value& v, std::vector<std::string>& types) {
  if (v.node.IsNull()) return;
  if (v.node.IsScalar()) {
    if (auto s = r.text(v, "a job type")) types.push_back(*s);
    return;
  }
  auto items = r.list(v, "job types");
  if (!items) return;
  for (auto& [word, iv] : *items) types.push_back(word);
}

// The argv elements, each a string without NUL; nullopt after any problem.
std::optional<std::vector<std::string>> readArgv(SchemaReader& r, const Value& v) {
  std::vector<std::string> argv;
  std::size_t i = 0;
  bool ok = true;
  for (const YAML::Node& item : v.node) {
    Value iv{item, v.key + "[" + std::to_string(i++) + "]", yamlLine(item, v.line)};
    auto s = r.scalar(iv, "a string");
    if (!s) {
      ok = false;
      continue;
    }
    if (s->find('\0') != std::string::npos) {
      r.error(iv, "contains a NUL character");
      ok = false;
      continue;
    }
    argv.push_back(*s);
  }
  if (!ok) return std::nullopt;
  return argv;
}

// `command`: an argv list run without a shell.
void readHookCommand(SchemaReader& r, const Value& v, HookDefinition& hook) {
  if (v.node.IsScalar()) {
    r.error(v,
            "`command` is an argv list, e.g. [\"/usr/local/bin/notify\", \"--verbose\"], run "
            "without a shell; to run a command line through /bin/sh -c, write it as `shell: "
            "\"...\"` instead (an explicit opt-in)");
    return;
  }
  if (!v.node.IsSequence()) {
    r.error(v, v.node.IsNull() ? std::string("has no value (expected an argv list)")
                               : "expected an argv list, got " + yamlKind(v.node));
    return;
  }
  auto argv = readArgv(r, v);
  if (!argv) return;
  if (argv->empty()) {
    r.error(v, "must not be empty: the first element is the program to run");
    return;
  }
  const std::string& program = argv->front();
  Value first{v.node[0], v.key + "[0]", yamlLine(v.node[0], v.line)};
  if (program.empty()) {
    r.error(first, "the program must not be empty");
    return;
  }
  if (program.front() != '/' && program.find('/') != std::string::npos) {
    r.error(first, "the program " + quoteForMessage(program) +
                       " must be an absolute path or a bare name looked up in PATH, not a "
                       "relative path");
    return;
  }
  hook.command = std::move(*argv);
}

// `shell`: a command line for /bin/sh -c, an explicit opt-in.
void readHookShell(SchemaReader& r, const Value& v, HookDefinition& hook) {
  auto s = r.scalar(v, "a shell command line");
  if (!s) return;
  if (s->find_first_not_of(" \t\n") == std::string::npos) {
    r.error(v, "must not be empty");
  } else if (s->find('\0') != std::string::npos) {
    r.error(v, "contains a NUL character");
  } else {
    hook.shell = *s;
  }
}

void checkHookKeys(SchemaReader& r, const Value& hv, const HookKeysSeen& seen) {
  if (!seen.name) r.error(hv.key + ".name", hv.line, "a hook needs a `name`");
  if (!seen.on) {
    r.error(hv.key + ".on", hv.line,
            "a hook needs `on`: the statuses that run it, e.g. [completed, failed], or \"*\"");
  }
  if (seen.command && seen.shell) {
    r.error(hv.key, hv.line,
            "set either `command` (an argv list, run directly) or `shell` (a string run through "
            "/bin/sh -c, an explicit opt-in), not both");
  } else if (!seen.command && !seen.shell) {
    r.error(hv.key + ".command", hv.line,
            "a hook needs `command: [\"/path/to/program\", \"arg\", ...]` (run directly, no "
            "shell) or, as an explicit opt-in, `shell: \"...\"` (run through /bin/sh -c)");
  }
}

void readHook(SchemaReader& r, const Value& hv, HookNames& names, HooksConfig& hooks,
              DeferredChecks& later) {
  if (!hv.node.IsMap()) {
    r.error(hv, "expected a hook definition (a map with name, on, command or shell), got " +
                    yamlKind(hv.node));
    return;
  }
  HookDefinition hook;
  HookKeysSeen seen;
  const std::size_t errors_before = r.errorCount();
  std::vector<PendingHookStatus> statuses;
  r.walkMap(hv,
            {
                {"name",
                 [&](const Value& v) {
                   seen.name = true;
                   readHookName(r, v, names, hook);
                 }},
                {"on",
                 [&](const Value& v) {
                   seen.on = true;
                   readHookOn(r, v, hook, statuses);
                 }},
                {"types", [&](const Value& v) { readHookTypes(r, v, hook.types); }},
                {"command",
                 [&](const Value& v) {
                   seen.command = true;
                   readHookCommand(r, v, hook);
                 }},
                {"shell",
                 [&](const Value& v) {
                   seen.shell = true;
                   readHookShell(r, v, hook);
                 }},
                {"timeout", [&](const Value& v) { r.positiveDuration(v, hook.timeout); }},
                {"retries", [&](const Value& v) { r.integerInRange(v, hook.retries, 0, 100); }},
                {"with_result", [&](const Value& v) { r.boolean(v, hook.with_result); }},
            },
            "hook settings");
  checkHookKeys(r, hv, seen);
  // A definition with any problem is left out (the load fails anyway), so
  // its statuses are not second-guessed with warnings.
  if (r.errorCount() != errors_before) return;
  for (auto& s : statuses) later.hook_statuses.push_back(std::move(s));
  hooks.definitions.push_back(std::move(hook));
}

void readHookDefinitions(SchemaReader& r, const Value& v, HooksConfig& hooks,
                         DeferredChecks& later) {
  if (v.node.IsNull()) return;
  if (!v.node.IsSequence()) {
    r.error(v, "expected a list of hook definitions (each with name, on, command or shell), got " +
                   yamlKind(v.node));
    return;
  }
  HookNames names;
  std::size_t index = 0;
  for (const YAML::Node& item : v.node) {
    Value hv{item, v.key + "[" + std::to_string(index++) + "]", yamlLine(item, v.line)};
    readHook(r, hv, names, hooks, later);
  }
}

}  // namespace

void parseHooksSection(SchemaReader& r, const Value& section, HooksConfig& hooks,
                       DeferredChecks& later) {
  r.walkMap(section,
            {
                {"max_concurrent",
                 [&](const Value& v) { r.integerInRange(v, hooks.max_concurrent, 1, 256); }},
                {"definitions", [&](const Value& v) { readHookDefinitions(r, v, hooks, later); }},
            },
            "hook settings");
}

}  // namespace jobwatch::config
