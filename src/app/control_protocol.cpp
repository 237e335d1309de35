// SPDX-License-Identifier: Apache-2.0
#include "app/control_protocol.h"

#include <simdjson.h>

#include <array>
#include <set>
#include <utility>

#include "config/names.h"
#include "util/job_id.h"
#include "util/json_writer.h"

namespace jobwatch::app {
namespace {

namespace dom = simdjson::dom;

constexpr std::array<std::pair<ControlCommand, std::string_view>, 7> kCommands = {{
    {ControlCommand::kStatus, "status"},
    {ControlCommand::kJobs, "jobs"},
    {ControlCommand::kShow, "show"},
    {ControlCommand::kHooks, "hooks"},
    {ControlCommand::kRetry, "retry"},
    {ControlCommand::kPoll, "poll"},
    {ControlCommand::kForget, "forget"},
}};

// The fields each command takes besides v, cmd and format.
std::set<std::string_view> fieldsOf(ControlCommand cmd) {
  switch (cmd) {
    case ControlCommand::kStatus:
      return {};
    case ControlCommand::kJobs:
      return {"status", "account"};
    case ControlCommand::kShow:
    case ControlCommand::kPoll:
    case ControlCommand::kForget:
      return {"ids"};
    case ControlCommand::kHooks:
      return {"failed"};
    case ControlCommand::kRetry:
      return {"ids", "all_failed"};
  }
  return {};
}

Error bad(const std::string& message) { return Error{message, ErrorKind::kBadInput}; }

Result<std::vector<std::string>> stringArray(dom::element e, std::string_view name,
                                             bool (*valid)(std::string_view),
                                             std::string_view what) {
  dom::array array;
  if (e.get(array) != simdjson::SUCCESS) {
    return bad("\"" + std::string(name) + "\" must be an array of " + std::string(what));
  }
  std::vector<std::string> out;
  for (dom::element item : array) {
    std::string_view s;
    if (item.get(s) != simdjson::SUCCESS || !valid(s)) {
      return bad("\"" + std::string(name) + "\" holds an invalid " + std::string(what) +
                 (item.is_string() ? " " + quoteForMessage(s) : std::string()));
    }
    if (out.size() == kMaxRequestIds) {
      return bad("\"" + std::string(name) + "\" holds more than " + std::to_string(kMaxRequestIds) +
                 " entries");
    }
    out.emplace_back(s);
  }
  return out;
}

bool validStatus(std::string_view s) { return config::isStatusWord(s); }
bool validAccount(std::string_view s) { return isValidJobId(s); }  // same plain form

Status readField(ControlRequest& r, std::string_view key, dom::element value) {
  if (key == "status") {
    auto v = stringArray(value, key, validStatus, "status word");
    if (!v) return v.error();
    r.statuses = std::move(v).value();
  } else if (key == "ids") {
    const bool events = r.cmd == ControlCommand::kRetry;
    auto v = stringArray(value, key, events ? isValidEventId : isValidJobId,
                         events ? "event ID (<job_id>:<status>)" : "job ID");
    if (!v) return v.error();
    r.ids = std::move(v).value();
  } else if (key == "account") {
    std::string_view s;
    if (value.get(s) != simdjson::SUCCESS || !validAccount(s)) {
      return bad("\"account\" must be an account name");
    }
    r.account = s;
  } else if (key == "failed" || key == "all_failed") {
    bool b = false;
    if (value.get(b) != simdjson::SUCCESS)
      return bad("\"" + std::string(key) + "\" must be true or false");
    (key == "failed" ? r.failed_only : r.all_failed) = b;
  }
  return Ok{};
}

// Arity rules that span fields.
Status checkShape(const ControlRequest& r) {
  switch (r.cmd) {
    case ControlCommand::kShow:
      if (r.ids.size() != 1) return bad("show takes exactly one job ID");
      break;
    case ControlCommand::kPoll:
    case ControlCommand::kForget:
      if (r.ids.empty()) return bad(std::string(commandName(r.cmd)) + " takes at least one job ID");
      break;
    case ControlCommand::kRetry:
      if (r.ids.empty() == !r.all_failed) {
        return bad("retry takes event IDs or all_failed, one of the two");
      }
      break;
    default:
      break;
  }
  return Ok{};
}

Result<ControlRequest> readRequest(dom::object object) {
  ControlRequest r;
  std::optional<std::string_view> cmd;
  bool has_version = false;
  std::set<std::string_view> seen;
  for (auto [key, value] : object) {
    if (!seen.insert(key).second) return bad("field " + quoteForMessage(key) + " given twice");
    if (key == "v") {
      int64_t v = 0;
      if (value.get(v) != simdjson::SUCCESS || v != kProtocolVersion) {
        return bad("unsupported protocol version (this daemon speaks v=1)");
      }
      has_version = true;
    } else if (key == "cmd") {
      std::string_view s;
      if (value.get(s) != simdjson::SUCCESS) return bad("\"cmd\" must be a string");
      cmd = s;
    } else if (key == "format") {
      std::string_view s;
      if (value.get(s) != simdjson::SUCCESS || (s != "text" && s != "json")) {
        return bad("\"format\" must be \"text\" or \"json\"");
      }
      r.text = s == "text";
    }
  }
  if (!has_version) return bad("missing \"v\" (protocol version)");
  if (!cmd) return bad("missing \"cmd\"");
  auto known = commandFromName(*cmd);
  if (!known) return bad("unknown command " + quoteForMessage(*cmd));
  r.cmd = *known;
  const auto allowed = fieldsOf(r.cmd);
  for (auto [key, value] : object) {
    if (key == "v" || key == "cmd" || key == "format") continue;
    if (allowed.count(key) == 0) {
      return bad("unknown field " + quoteForMessage(key) + " for " + std::string(*cmd));
    }
    if (auto read = readField(r, key, value); !read) return read.error();
  }
  if (auto shape = checkShape(r); !shape) return shape.error();
  return r;
}

}  // namespace

std::string_view commandName(ControlCommand cmd) {
  for (const auto& [c, name] : kCommands) {
    if (c == cmd) return name;
  }
  return "?";
}

std::optional<ControlCommand> commandFromName(std::string_view name) {
  for (const auto& [c, n] : kCommands) {
    if (n == name) return c;
  }
  return std::nullopt;
}

bool isValidEventId(std::string_view id) {
  const size_t colon = id.find(':');
  if (colon == std::string_view::npos) return false;
  return isValidJobId(id.substr(0, colon)) && config::isStatusWord(id.substr(colon + 1));
}

Result<ControlRequest> parseRequest(std::string_view line) {
  if (line.size() > kMaxRequestBytes) {
    return bad("request larger than " + std::to_string(kMaxRequestBytes) + " bytes");
  }
  dom::parser parser;
  dom::element doc;
  if (auto err = parser.parse(line.data(), line.size()).get(doc); err) {
    return bad(std::string("request is not valid JSON: ") + simdjson::error_message(err));
  }
  dom::object object;
  if (doc.get(object) != simdjson::SUCCESS) return bad("request must be a JSON object");
  return readRequest(object);
}

std::string encodeRequest(const ControlRequest& r) {
  JsonWriter w;
  w.beginObject().field("v", kProtocolVersion).field("cmd", commandName(r.cmd));
  if (r.text) w.field("format", "text");
  const auto allowed = fieldsOf(r.cmd);
  if (allowed.count("status") && !r.statuses.empty()) {
    w.key("status").beginArray();
    for (const auto& s : r.statuses) w.value(s);
    w.endArray();
  }
  if (allowed.count("account") && !r.account.empty()) w.field("account", r.account);
  if (allowed.count("ids") && !r.ids.empty()) {
    w.key("ids").beginArray();
    for (const auto& id : r.ids) w.value(id);
    w.endArray();
  }
  if (allowed.count("failed") && r.failed_only) w.field("failed", true);
  if (allowed.count("all_failed") && r.all_failed) w.field("all_failed", true);
  w.endObject();
  return w.take();
}

std::string encodeResponse(const ControlResponse& r) {
  JsonWriter w;
  w.beginObject().field("v", kProtocolVersion).field("ok", r.ok).field("exit", r.exit_code);
  if (!r.error.empty()) w.field("error", r.error);
  if (!r.text.empty()) w.field("text", r.text);
  if (!r.data_json.empty()) w.key("data").raw(r.data_json);
  w.endObject();
  return w.take();
}

Result<ControlResponse> parseResponse(std::string_view line) {
  dom::parser parser;
  dom::element doc;
  if (auto err = parser.parse(line.data(), line.size()).get(doc); err) {
    return Error{
        std::string("the daemon's answer is not valid JSON: ") + simdjson::error_message(err),
        ErrorKind::kRuntime};
  }
  ControlResponse r;
  int64_t exit_code = 1;
  if (doc["ok"].get(r.ok) != simdjson::SUCCESS || doc["exit"].get(exit_code) != simdjson::SUCCESS) {
    return Error{"the daemon's answer lacks \"ok\" or \"exit\"", ErrorKind::kRuntime};
  }
  r.exit_code = static_cast<int>(exit_code);
  std::string_view s;
  if (doc["error"].get(s) == simdjson::SUCCESS) r.error = s;
  if (doc["text"].get(s) == simdjson::SUCCESS) r.text = s;
  dom::element data;
  if (doc["data"].get(data) == simdjson::SUCCESS) r.data_json = simdjson::minify(data);
  return r;
}

ControlResponse errorResponse(std::string message, int exit_code) {
  ControlResponse r;
  r.ok = false;
  r.exit_code = exit_code;
  r.error = std::move(message);
  return r;
}

}  // namespace jobwatch::app
