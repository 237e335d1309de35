// SPDX-License-Identifier: Apache-2.0
// Small helpers for modules that parse operator-written YAML with yaml-cpp
// (config, watch lists): loading the one document a file holds, where a node
// is, and what it is, in words an operator reads in an error message.
// Header-only: util itself does not link yaml-cpp; its users do.
//
// Thread-safety: pure functions.
#pragma once

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <sstream>
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

// The one YAML document a config or watch-list file must hold.
struct YamlDocument {
  bool present = false;          // false: the text holds no document at all
  YAML::Node root;               // the first document
  int second_document_line = 0;  // 1-based line where a second one starts; 0: none
};

// Loads the first YAML document of `text` and tells whether another
// follows. Throws YAML::Exception (with a mark) on invalid YAML.
//
// Not YAML::LoadAll: in yaml-cpp 0.7 (Debian 12) it never returns on some
// malformed input - the parser keeps reporting an empty document without
// consuming anything, and LoadAll allocates a node for each, until memory
// runs out (jbeder/yaml-cpp#1319, fixed after 0.8; found by
// tests/fuzz/watchlist_fuzzer.cpp, regression in tests/fuzz/regressions/).
// A drop file is untrusted: it must not hang the daemon. Here the parser
// is asked for at most two documents, and the second builds nothing.
inline YamlDocument loadSingleYamlDocument(const std::string& text) {
  // Records where the first event of a document is; builds no nodes.
  class FirstMark : public YAML::EventHandler {
   public:
    void OnDocumentStart(const YAML::Mark&) override {}
    void OnDocumentEnd() override {}
    void OnNull(const YAML::Mark& mark, YAML::anchor_t) override { note(mark); }
    void OnAlias(const YAML::Mark& mark, YAML::anchor_t) override { note(mark); }
    void OnScalar(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                  const std::string&) override {
      note(mark);
    }
    void OnSequenceStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                         YAML::EmitterStyle::value) override {
      note(mark);
    }
    void OnSequenceEnd() override {}
    void OnMapStart(const YAML::Mark& mark, const std::string&, YAML::anchor_t,
                    YAML::EmitterStyle::value) override {
      note(mark);
    }
    void OnMapEnd() override {}
    int line = 0;

   private:
    void note(const YAML::Mark& mark) {
      if (line == 0) line = mark.line >= 0 ? mark.line + 1 : 1;
    }
  };

  YamlDocument doc;
  std::istringstream in(text);
  YAML::Parser parser(in);
  FirstMark first;
  if (!parser.HandleNextDocument(first)) return doc;
  doc.present = true;
  FirstMark second;
  if (parser.HandleNextDocument(second)) doc.second_document_line = second.line;
  doc.root = YAML::Load(text);  // the first document again, as nodes with marks
  return doc;
}

}  // namespace jobwatch
