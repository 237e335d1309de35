// SPDX-License-Identifier: Apache-2.0
// ResultDir / ResultFile against a real temporary directory: temporary
// names, mode, the size cap, commit by rename, cleanup of what a crash left.
#include "api/result_file.h"

#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>

#include "api/result_fetch.h"
#include "support/temp_dir.h"

namespace jobwatch::api {
namespace {

namespace fs = std::filesystem;
using testing_support::TempDir;

std::string readAll(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::vector<std::string> names(const fs::path& dir) {
  std::vector<std::string> out;
  for (const auto& entry : fs::directory_iterator(dir)) out.push_back(entry.path().filename());
  std::sort(out.begin(), out.end());
  return out;
}

// A new result file, or a test failure (nullptr).
std::unique_ptr<ResultFile> mustCreate(const ResultDir& dir, std::string_view id) {
  auto created = dir.create(id);
  if (!created.ok()) {
    ADD_FAILURE() << created.error().message;
    return nullptr;
  }
  return std::move(created).value();
}

TEST(ResultFile, StreamsToAHiddenTemporaryFileAndRenamesOnCommit) {
  TempDir tmp;
  ResultDir dir(tmp.path() / "results", 1024);
  ASSERT_TRUE(dir.prepare().ok());
  auto file = mustCreate(dir, "job-1");
  ASSERT_TRUE(file);
  ResultFile& f = *file;
  const std::string temp_name = f.tempPath().filename();
  EXPECT_EQ(temp_name.rfind(".job-1.", 0), 0u) << temp_name;
  EXPECT_TRUE(temp_name.ends_with(".tmp")) << temp_name;
  EXPECT_EQ(f.tempPath().parent_path(), dir.dir()) << "same directory: rename is atomic";

  ASSERT_TRUE(f.write("{\"a\":", 5));
  ASSERT_TRUE(f.write("1}", 2));
  EXPECT_EQ(names(dir.dir()), std::vector<std::string>{temp_name})
      << "nothing under the final name";
  struct stat st {};
  ASSERT_EQ(::stat(f.tempPath().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);

  ASSERT_TRUE(f.commit().ok());
  EXPECT_EQ(names(dir.dir()), std::vector<std::string>{"job-1.json"});
  EXPECT_EQ(readAll(dir.pathFor("job-1")), "{\"a\":1}");
  ASSERT_EQ(::stat(dir.pathFor("job-1").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0640u);
  file.reset();  // a committed file is kept
  EXPECT_EQ(names(dir.dir()), std::vector<std::string>{"job-1.json"});
}

TEST(ResultFile, OverTheCapIsRefusedAndLeavesNoFile) {
  TempDir tmp;
  ResultDir dir(tmp.path(), 10);
  auto file = mustCreate(dir, "job-big");
  ASSERT_TRUE(file);
  EXPECT_TRUE(file->write("{\"x\":\"", 6));
  EXPECT_TRUE(file->write("abcd", 4)) << "exactly max_size is fine";
  EXPECT_FALSE(file->write("e", 1));
  EXPECT_EQ(file->fault(), ResultWriteFault::kTooLarge);
  EXPECT_FALSE(file->write("f", 1)) << "nothing after the first refusal";
  EXPECT_FALSE(file->commit().ok());
  EXPECT_EQ(classifyCommitFailure(*file).kind, ResultFetchKind::kTooLarge);
  file.reset();
  EXPECT_TRUE(names(tmp.path()).empty()) << "no truncated file, no temporary file";
}

TEST(ResultFile, ABodyThatIsNotJsonIsNotCommitted) {
  TempDir tmp;
  ResultDir dir(tmp.path(), 1024);
  for (const std::string body : {"", "  <html>oops</html>"}) {
    auto file = mustCreate(dir, "job-x");
    ASSERT_TRUE(file);
    if (!body.empty()) {
      ASSERT_TRUE(file->write(body.data(), body.size()));
    }
    EXPECT_FALSE(file->commit().ok());
    EXPECT_EQ(file->fault(), ResultWriteFault::kNotJson);
    EXPECT_EQ(classifyCommitFailure(*file).kind, ResultFetchKind::kHttpError);
    file.reset();
    EXPECT_TRUE(names(tmp.path()).empty());
  }
}

TEST(ResultFile, AnAbandonedDownloadRemovesItsTemporaryFile) {
  TempDir tmp;
  ResultDir dir(tmp.path(), 1024);
  {
    auto file = mustCreate(dir, "job-1");
    ASSERT_TRUE(file);
    ASSERT_TRUE(file->write("{", 1));
  }
  EXPECT_TRUE(names(tmp.path()).empty());
}

TEST(ResultFile, CommitReplacesAnEarlierResultWhole) {
  TempDir tmp;
  ResultDir dir(tmp.path(), 1024);
  for (const std::string body : {"[1,2,3]", "[4]"}) {
    auto file = mustCreate(dir, "job-1");
    ASSERT_TRUE(file);
    ASSERT_TRUE(file->write(body.data(), body.size()));
    ASSERT_TRUE(file->commit().ok());
    EXPECT_EQ(readAll(dir.pathFor("job-1")), body);
  }
}

TEST(ResultDir, PrepareCreatesTheDirectoryAndSweepsWhatACrashLeft) {
  TempDir tmp;
  ResultDir dir(tmp.path() / "results", 1024);
  ASSERT_TRUE(dir.prepare().ok());
  struct stat st {};
  ASSERT_EQ(::stat(dir.dir().c_str(), &st), 0);
  EXPECT_TRUE(S_ISDIR(st.st_mode));
  std::ofstream(dir.dir() / ".job-1.Ab12Cd.tmp") << "{\"partial";
  std::ofstream(dir.dir() / "job-2.json") << "{}";
  std::ofstream(dir.dir() / "notes.tmp") << "not ours: no leading dot";
  ASSERT_TRUE(dir.prepare().ok());
  EXPECT_EQ(names(dir.dir()), (std::vector<std::string>{"job-2.json", "notes.tmp"}));
}

TEST(ResultDir, CreateMakesAMissingDirectory) {
  TempDir tmp;
  ResultDir dir(tmp.path() / "results", 1024);  // never prepared (a reload added the hook)
  auto file = mustCreate(dir, "job-1");
  ASSERT_TRUE(file);
  ASSERT_TRUE(file->write("{}", 2));
  EXPECT_TRUE(file->commit().ok());
  EXPECT_TRUE(fs::exists(dir.pathFor("job-1")));
}

TEST(ResultDir, RemoveDeletesAForgottenJobsResultAndToleratesNone) {
  TempDir tmp;
  ResultDir dir(tmp.path(), 1024);
  std::ofstream(dir.pathFor("job-1")) << "{}";
  EXPECT_TRUE(dir.remove("job-1").ok());
  EXPECT_FALSE(fs::exists(dir.pathFor("job-1")));
  EXPECT_TRUE(dir.remove("job-1").ok());
}

TEST(ResultDir, AnUnusableDirectoryIsARuntimeErrorNamingIt) {
  TempDir tmp;
  std::ofstream(tmp.path() / "file") << "x";
  ResultDir dir(tmp.path() / "file" / "results", 1024);
  auto prepared = dir.prepare();
  ASSERT_FALSE(prepared.ok());
  EXPECT_NE(prepared.error().message.find((tmp.path() / "file" / "results").string()),
            std::string::npos);
  EXPECT_FALSE(dir.create("job-1").ok());
}

TEST(ResultFetch, StatusCodesAreClassifiedForTheMetric) {
  TempDir tmp;
  ResultDir dir(tmp.path(), 1024);
  auto file = mustCreate(dir, "job-1");
  ASSERT_TRUE(file);
  auto kindOf = [&](long status, bool retry_after = false) {
    HttpResponse r;
    r.outcome = TransportOutcome::kCompleted;
    r.status = status;
    if (retry_after) r.retry_after = std::chrono::seconds(3);
    return classifyResultResponse(r, *file).kind;
  };
  EXPECT_EQ(kindOf(200), ResultFetchKind::kOk);
  EXPECT_EQ(kindOf(409), ResultFetchKind::kNotReady);
  EXPECT_EQ(kindOf(429), ResultFetchKind::kRateLimited);
  EXPECT_EQ(kindOf(503, true), ResultFetchKind::kRateLimited);
  EXPECT_EQ(kindOf(503), ResultFetchKind::kHttpError);
  EXPECT_EQ(kindOf(404), ResultFetchKind::kHttpError);
  EXPECT_EQ(kindOf(302), ResultFetchKind::kHttpError);
  HttpResponse big;
  big.outcome = TransportOutcome::kBodyTooLarge;
  EXPECT_EQ(classifyResultResponse(big, *file).kind, ResultFetchKind::kTooLarge);
  HttpResponse slow;
  slow.outcome = TransportOutcome::kTimeout;
  EXPECT_EQ(classifyResultResponse(slow, *file).kind, ResultFetchKind::kTimeout);
  EXPECT_EQ(resultUrl("http://h:1/", "job-1"), "http://h:1/jobs/job-1/result");
}

}  // namespace
}  // namespace jobwatch::api
