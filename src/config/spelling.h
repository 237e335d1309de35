// SPDX-License-Identifier: Apache-2.0
// Did-you-mean for operator-written words: the distance between two words
// and the closest known word to a misspelt one, so "intreval" in a config
// is answered with "did you mean `interval`?".
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace jobwatch::config {

// Optimal string alignment distance: Levenshtein plus adjacent transposition,
// so "intreval" is one edit from "interval".
std::size_t editDistance(std::string_view a, std::string_view b);

// The closest known word (compared lowercased) within two edits, fewer for
// very short words, where two edits would make anything "close".
std::optional<std::string_view> closestWord(std::string_view word,
                                            const std::vector<std::string_view>& known);

// "a, b, c": known words listed in a message.
std::string joinWords(const std::vector<std::string_view>& words);

}  // namespace jobwatch::config
