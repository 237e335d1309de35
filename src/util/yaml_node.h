// Small helpers for modules that parse operator-written YAML with yaml-cpp
// (config, watch lists): where a node is, and what it is, in words an
// operator reads in an error message. Header-only: util itself does not
// link yaml-cpp; its users do.
//
// Thread-safety: pure functions.
#pragma once

#include <yaml-cpp/yaml.h>

#include <string>

namespace jobwatch {

// 1-based line of a node, or `fallback` when yaml-cpp has no mark for it.
inline int yamlLine(const YAML::Node& node, int fallback) {
  const YAML::Mark mark = node.Mark();
  return mark.line >= 0 ? mark.line + 1 : fallback;
}

// "a map", "a list", "a single value" or "nothing".
inline std::string yamlKind(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map:
      return "a map";
    case YAML::NodeType::Sequence:
      return "a list";
    case YAML::NodeType::Scalar:
      return "a single value";
    case YAML::NodeType::Null:
    case YAML::NodeType::Undefined:
      break;
  }
  return "nothing";
}

}  // namespace jobwatch
