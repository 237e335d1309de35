// SPDX-License-Identifier: Apache-2.0
#include "api/job_snapshot.h"

#include <simdjson.h>

#include <array>
#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "util/job_id.h"

namespace jobwatch::api {
namespace {

namespace od = simdjson::ondemand;

// A status word is short; anything longer is not a status we can act on and
// would end up in logs and metric labels.
constexpr size_t kMaxStatusBytes = 256;
// Every other known field (names, hashes, error texts).
constexpr size_t kMaxFieldBytes = size_t{64} * 1024;
// Nesting allowed inside fields we do not use. simdjson skips unread values
// without looking inside them; we walk them instead (see validateValue), and
// bound the walk so a hostile "[[[[..." costs nothing and cannot overflow
// the stack.
constexpr int kMaxNestingDepth = 128;
// How much of an undecodable body's leading markup tag an error message
// may show.
constexpr size_t kShownTagBytes = 16;

// The fields we read. Order matters only for kFieldNames below.
enum FieldIndex : size_t {
  kStatus,
  kId,
  kJobId,
  kType,
  kCreatedAt,
  kUpdatedAt,
  kPdfName,
  kPdfHash,
  kUserId,
  kErrorText,
  kFieldCount,
};

constexpr std::array<std::string_view, kFieldCount> kFieldNames = {
    "status",     "id",       "job_id",   "type",    "created_at",
    "updated_at", "pdf_name", "pdf_hash", "user_id", "error",
};

// What the body said about one known field. With duplicate keys the last
// occurrence wins, as in most JSON readers (and in the API's own Python).
struct Slot {
  enum Kind { kAbsent, kNull, kString, kWrongType, kTooLong } kind = kAbsent;
  std::string text;
  od::json_type type = od::json_type::null;
};

std::string_view typeName(od::json_type type) {
  switch (type) {
    case od::json_type::array:
      return "an array";
    case od::json_type::object:
      return "an object";
    case od::json_type::number:
      return "a number";
    case od::json_type::string:
      return "a string";
    case od::json_type::boolean:
      return "a boolean";
    case od::json_type::null:
      return "null";
  }
  return "an unknown type";
}

Error jsonError(simdjson::error_code code) {
  if (code == simdjson::EMPTY) return Error{"empty body"};
  return Error{std::string("invalid JSON: ") + simdjson::error_message(code)};
}

// Says what a non-JSON body looks like without quoting its text: an error
// page may repeat the request's headers, API key included, and this message
// goes to the log. Only a leading markup tag name ("<html>", "<!DOCTYPE") is
// shown, which tells an HTML error page from other garbage.
Error notJsonError(std::string_view body) {
  std::string message = "body is not JSON (" + std::to_string(body.size()) + " bytes";
  size_t tag = 0;
  if (!body.empty() && body[0] == '<') {
    tag = 1;
    auto tagChar = [](char c) {
      return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '!' || c == '?';
    };
    while (tag < body.size() && tag < kShownTagBytes && tagChar(body[tag])) ++tag;
    if (tag < body.size() && body[tag] == '>') ++tag;
  }
  if (tag > 1) message += ", starts with " + quoteForMessage(body.substr(0, tag));
  return Error{message + ")"};
}

Error fieldError(std::string_view name, std::string_view problem) {
  return Error{"\"" + std::string(name) + "\" " + std::string(problem)};
}

// -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?  — simdjson does not check
// numbers it is never asked to convert.
bool isJsonNumber(std::string_view s) {
  size_t i = 0;
  auto digit = [&](size_t at) { return at < s.size() && s[at] >= '0' && s[at] <= '9'; };
  auto digits = [&]() {
    size_t start = i;
    while (digit(i)) ++i;
    return i > start;
  };
  if (i < s.size() && s[i] == '-') ++i;
  if (!digit(i)) return false;
  if (s[i] == '0') {
    ++i;
  } else {
    digits();
  }
  if (i < s.size() && s[i] == '.') {
    ++i;
    if (!digits()) return false;
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (!digits()) return false;
  }
  return i == s.size();
}

std::string_view trimTrailingSpace(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\n' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Walks a value we do not use, so that a body is accepted only if it is
// JSON all the way through (hooks receive it verbatim and may parse it).
std::optional<Error> validateValue(od::value value, int depth) {
  od::json_type type;
  if (auto e = value.type().get(type)) return jsonError(e);
  switch (type) {
    case od::json_type::object: {
      if (depth >= kMaxNestingDepth) {
        return Error{"JSON nested deeper than " + std::to_string(kMaxNestingDepth) + " levels"};
      }
      od::object obj;
      if (auto e = value.get_object().get(obj)) return jsonError(e);
      for (auto field : obj) {
        std::string_view key;
        if (auto e = field.unescaped_key().get(key)) return jsonError(e);
        od::value inner;
        if (auto e = field.value().get(inner)) return jsonError(e);
        if (auto err = validateValue(inner, depth + 1)) return err;
      }
      return std::nullopt;
    }
    case od::json_type::array: {
      if (depth >= kMaxNestingDepth) {
        return Error{"JSON nested deeper than " + std::to_string(kMaxNestingDepth) + " levels"};
      }
      od::array arr;
      if (auto e = value.get_array().get(arr)) return jsonError(e);
      for (auto element : arr) {
        od::value inner;
        if (auto e = element.get(inner)) return jsonError(e);
        if (auto err = validateValue(inner, depth + 1)) return err;
      }
      return std::nullopt;
    }
    case od::json_type::string: {
      std::string_view ignored;
      if (auto e = value.get_string().get(ignored)) return jsonError(e);
      return std::nullopt;
    }
    case od::json_type::number:
      if (!isJsonNumber(trimTrailingSpace(value.raw_json_token()))) {
        return jsonError(simdjson::NUMBER_ERROR);
      }
      return std::nullopt;
    case od::json_type::boolean: {
      bool ignored;
      if (auto e = value.get_bool().get(ignored)) return jsonError(e);
      return std::nullopt;
    }
    case od::json_type::null: {
      bool is_null = false;
      if (auto e = value.is_null().get(is_null)) return jsonError(e);
      if (!is_null) return jsonError(simdjson::N_ATOM_ERROR);
      return std::nullopt;
    }
  }
  return jsonError(simdjson::TAPE_ERROR);
}

// Reads the value of a field we use into `slot`.
std::optional<Error> readSlot(od::value value, size_t max_bytes, Slot& slot) {
  od::json_type type;
  if (auto e = value.type().get(type)) return jsonError(e);
  slot = Slot{};
  switch (type) {
    case od::json_type::string: {
      std::string_view text;
      if (auto e = value.get_string().get(text)) return jsonError(e);
      if (text.size() > max_bytes) {
        slot.kind = Slot::kTooLong;
      } else {
        slot.kind = Slot::kString;
        slot.text.assign(text);  // the view dies at the next iterate()
      }
      return std::nullopt;
    }
    case od::json_type::null: {
      bool is_null = false;
      if (auto e = value.is_null().get(is_null)) return jsonError(e);
      if (!is_null) return jsonError(simdjson::N_ATOM_ERROR);
      slot.kind = Slot::kNull;
      return std::nullopt;
    }
    default:
      slot.kind = Slot::kWrongType;
      slot.type = type;
      return validateValue(value, 1);
  }
}

// A lenient optional field: only a string counts; null, absent or another
// type reads as "not given" (the API's optional fields are informational).
std::optional<std::string> takeOptional(Slot& slot) {
  if (slot.kind == Slot::kString) return std::move(slot.text);
  return std::nullopt;
}

}  // namespace

struct JobResponseParser::Impl {
  od::parser parser;
  // Padded copy of bodies whose capacity lacks SIMDJSON_PADDING spare bytes.
  std::string padded;
};

JobResponseParser::JobResponseParser() : impl_(std::make_unique<Impl>()) {}
JobResponseParser::~JobResponseParser() = default;

namespace {

// The snapshot the parsed fields describe, or why they describe none.
Result<JobSnapshot> snapshotFrom(std::array<Slot, kFieldCount>& slots) {
  JobSnapshot job;
  Slot& status = slots[kStatus];
  switch (status.kind) {
    case Slot::kAbsent:
      return fieldError("status", "is missing");
    case Slot::kNull:
      return fieldError("status", "is null");
    case Slot::kWrongType:
      return fieldError("status",
                        "is " + std::string(typeName(status.type)) + ", expected a string");
    case Slot::kTooLong:
      return fieldError("status", "is longer than " + std::to_string(kMaxStatusBytes) + " bytes");
    case Slot::kString:
      if (status.text.empty()) return fieldError("status", "is empty");
      job.status_raw = std::move(status.text);
      break;
  }

  for (size_t index = 0; index < kFieldCount; ++index) {
    const Slot& slot = slots[index];
    if (slot.kind == Slot::kTooLong) {
      return fieldError(kFieldNames[index],
                        "is longer than " + std::to_string(kMaxFieldBytes) + " bytes");
    }
    // The job's identity is not informational: a wrong type there means we
    // cannot tell which job the body describes.
    if ((index == kId || index == kJobId) && slot.kind == Slot::kWrongType) {
      return fieldError(kFieldNames[index],
                        "is " + std::string(typeName(slot.type)) + ", expected a string");
    }
  }
  job.id = takeOptional(slots[kId]);
  if (!job.id) job.id = takeOptional(slots[kJobId]);
  job.type = takeOptional(slots[kType]);
  job.created_at = takeOptional(slots[kCreatedAt]);
  job.updated_at = takeOptional(slots[kUpdatedAt]);
  job.pdf_name = takeOptional(slots[kPdfName]);
  job.pdf_hash = takeOptional(slots[kPdfHash]);
  job.user_id = takeOptional(slots[kUserId]);
  job.error = takeOptional(slots[kErrorText]);
  return job;
}

}  // namespace

Result<JobSnapshot> JobResponseParser::parse(const std::string& body) {
  const char* data = body.data();
  size_t capacity = body.capacity();
  if (capacity < body.size() + simdjson::SIMDJSON_PADDING) {
    // Reserve first so assign() does not allocate twice.
    impl_->padded.reserve(body.size() + simdjson::SIMDJSON_PADDING);
    impl_->padded.assign(body);
    data = impl_->padded.data();
    capacity = impl_->padded.capacity();
  }
  simdjson::padded_string_view view(data, body.size(), capacity);

  od::document doc;
  if (auto e = impl_->parser.iterate(view).get(doc)) return jsonError(e);
  od::object obj;
  if (auto e = doc.get_object().get(obj)) {
    od::json_type type;
    if (e == simdjson::INCORRECT_TYPE && !doc.type().get(type)) {
      return Error{"expected a JSON object, got " + std::string(typeName(type))};
    }
    if (e == simdjson::INCORRECT_TYPE) return notJsonError(body);
    return jsonError(e);
  }

  std::array<Slot, kFieldCount> slots;
  for (auto field : obj) {
    std::string_view key;
    if (auto e = field.unescaped_key().get(key)) return jsonError(e);
    od::value value;
    if (auto e = field.value().get(value)) return jsonError(e);
    size_t index = 0;
    while (index < kFieldCount && kFieldNames[index] != key) ++index;
    std::optional<Error> err;
    if (index == kFieldCount) {
      err = validateValue(value, 1);
    } else {
      err = readSlot(value, index == kStatus ? kMaxStatusBytes : kMaxFieldBytes, slots[index]);
    }
    if (err) return std::move(*err);
  }
  // The object must be the whole document. simdjson 3.0 has no at_end():
  // a location is reported only while tokens remain.
  if (!doc.current_location().error()) return Error{"trailing content after the JSON object"};

  return snapshotFrom(slots);
}

status::JobFacts JobSnapshot::facts() const {
  status::JobFacts f;
  f.status_raw = status_raw;
  f.type = type.value_or("");
  f.pdf_name = pdf_name.value_or("");
  f.pdf_hash = pdf_hash.value_or("");
  f.error = error.value_or("");
  f.created_at = created_at.value_or("");
  f.updated_at = updated_at.value_or("");
  return f;
}

}  // namespace jobwatch::api
