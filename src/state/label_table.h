// SPDX-License-Identifier: Apache-2.0
// Labels as rows (job_labels, run_labels; schema version 2): each key and
// value is stored as given, any bytes, so there is no codec to get wrong.
// Readers join these tables; this writes them. Private to src/state.
//
// Thread-safety: none; the store serialises all use of its connection.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "state/sqlite_db.h"
#include "status/job_facts.h"
#include "util/result.h"

namespace jobwatch::state {

class LabelTable {
 public:
  [[nodiscard]] Status prepare(sqlite::Connection& db);

  // Inside a transaction.
  [[nodiscard]] Status replaceForJob(const std::string& job_id, const status::Labels& labels);
  [[nodiscard]] Status deleteForJob(const std::string& job_id);
  [[nodiscard]] Status insertForRun(std::int64_t run_id, const status::Labels& labels);
  // The labels of a job's finished runs (state succeeded or failed).
  [[nodiscard]] Status deleteForFinishedRuns(const std::string& job_id);

  // Adds the (key, value) at columns `col`, `col + 1` of a LEFT JOIN row
  // to `labels`; a row without labels (NULL key) adds nothing.
  static void readJoined(const sqlite::Query& q, int col, status::Labels& labels);

  // Reads a query that LEFT JOINs each item with its labels, ordered by
  // item (one row per label): one Item per run of rows for which
  // `same(last item, row)` holds, made by `read(row)`, with its `labels`
  // gathered from columns `label_col`, `label_col + 1`.
  template <typename Item, typename Same, typename Read>
  static Result<std::vector<Item>> readGrouped(sqlite::Query& q, int label_col, Same same,
                                               Read read) {
    std::vector<Item> items;
    for (;;) {
      auto row = q.step();
      if (!row) return row.error();
      if (!*row) break;
      if (items.empty() || !same(items.back(), q)) {
        auto item = read(q);
        if (!item) return item.error();
        items.push_back(std::move(item).value());
      }
      readJoined(q, label_col, items.back().labels);
    }
    return items;
  }

 private:
  sqlite::Connection* db_ = nullptr;
  sqlite::Statement delete_job_;
  sqlite::Statement insert_job_;
  sqlite::Statement insert_run_;
  sqlite::Statement delete_finished_runs_;
};

}  // namespace jobwatch::state
