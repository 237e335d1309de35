// SPDX-License-Identifier: Apache-2.0
// Helpers shared by the state tests: a real temp directory, file bytes,
// raw SQLite access, sample jobs and runs, and a bounded wait for conditions.
#pragma once

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <thread>

#include "state/state_store.h"
#include "support/temp_dir.h"

namespace jobwatch::state::testing {

// A fresh directory under TMPDIR, removed with its contents.
using TempDir = testing_support::TempDir;

// A fixture with a state database in its own temporary directory.
class StoreFixture : public ::testing::Test {
 protected:
  std::filesystem::path dbPath() const { return dir_.path() / "state.db"; }
  std::unique_ptr<StateStore> open() {
    auto store = StateStore::open(dbPath());
    EXPECT_TRUE(store.ok()) << (store.ok() ? "" : store.error().message);
    return store.ok() ? std::move(store).value() : nullptr;
  }
  // Commits one batch, failing the test if it does not commit.
  static void apply(StateStore& store, WriteBatch batch) {
    std::vector<WriteBatch> batches;
    batches.push_back(std::move(batch));
    auto applied = store.apply(batches);
    ASSERT_TRUE(applied.ok()) << applied.error().message;
  }

  TempDir dir_;
};

// ---- raw SQLite access, to inspect and forge files behind the store's back

inline std::string rawScalar(const std::filesystem::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  std::string out;
  if (sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE, nullptr) == SQLITE_OK) {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db, sql.c_str(), -1, &stmt, nullptr) == SQLITE_OK &&
        sqlite3_step(stmt) == SQLITE_ROW) {
      const auto* text = sqlite3_column_text(stmt, 0);
      if (text != nullptr) out = reinterpret_cast<const char*>(text);
    } else {
      ADD_FAILURE() << "raw query failed: " << sqlite3_errmsg(db);
    }
    sqlite3_finalize(stmt);
  }
  sqlite3_close(db);
  return out;
}

inline void rawExec(const std::filesystem::path& path, const std::string& sql) {
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open_v2(path.c_str(), &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr),
            SQLITE_OK);
  char* err = nullptr;
  EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
  sqlite3_free(err);
  sqlite3_close(db);
}

inline std::string readBytes(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void writeBytes(const std::filesystem::path& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

// A fixed wall time with whole milliseconds (the store keeps milliseconds).
inline WallTime at(std::chrono::milliseconds since_base) {
  return WallTime(std::chrono::seconds(1'800'000'000)) + since_base;
}

inline StoredJob sampleJob(const std::string& id) {
  StoredJob job;
  job.id = id;
  job.source = JobSource::kWatchFile;
  job.labels = {{"customer", "acme"}};
  job.status = "processing";
  job.facts.status_raw = "PROCESSING";
  job.facts.type = "extraction";
  job.facts.pdf_name = "report.pdf";
  job.facts.pdf_hash = "sha256:abc";
  job.facts.created_at = "2024-01-15T10:30:00.000Z";
  job.facts.updated_at = "2024-01-15T10:31:00.000Z";
  job.last_body = R"({"id":")" + id + R"(","status":"PROCESSING"})";
  job.added_at = at(std::chrono::milliseconds(0));
  return job;
}

inline HookRun sampleRun(const std::string& job_id, const std::string& status,
                         const std::string& hook) {
  HookRun run;
  run.job_id = job_id;
  run.status = status;
  run.hook = hook;
  run.previous_status = "processing";
  run.facts.status_raw = "COMPLETED";
  run.facts.type = "extraction";
  run.facts.pdf_name = "report.pdf";
  run.facts.pdf_hash = "sha256:abc";
  run.facts.created_at = "2024-01-15T10:30:00.000Z";
  run.facts.updated_at = "2024-01-15T10:32:00.000Z";
  run.labels = {{"customer", "acme"}};
  run.body = R"({"id":")" + job_id + R"(","status":"COMPLETED"})";
  return run;
}

// Waits for `done` to hold, checking every millisecond, for at most `bound`.
template <typename Pred>
bool eventually(Pred done, std::chrono::milliseconds bound = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + bound;
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

}  // namespace jobwatch::state::testing
