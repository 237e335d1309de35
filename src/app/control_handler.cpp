// SPDX-License-Identifier: Apache-2.0
#include "app/control_handler.h"

#include <algorithm>

#include "app/operator_json.h"
#include "app/operator_text.h"
#include "util/json_writer.h"

namespace jobwatch::app {
namespace {

// A report as the answer in the format asked for: the table ("text") or
// the data, never both (an answer waiting for a slow reader is held whole).
template <typename Report>
ControlResponse answer(const ControlRequest& req, const Report& report, int exit_code = 0) {
  ControlResponse r;
  r.ok = true;
  r.exit_code = exit_code;
  if (req.text) {
    r.text = toText(report);
  } else {
    r.data_json = toJson(report);
  }
  return r;
}

ControlResponse outcomes(const ControlRequest& req, const std::vector<JobOutcome>& list) {
  ControlResponse r;
  r.ok = true;
  const bool all = std::all_of(list.begin(), list.end(), [](const auto& o) { return o.done; });
  r.exit_code = all ? 0 : 1;
  if (req.text) {
    r.text = outcomesText(list);
  } else {
    r.data_json = outcomesJson(list);
  }
  return r;
}

ControlResponse retried(const ControlRequest& req, const std::vector<state::HookRun>& runs) {
  std::vector<JobOutcome> list;
  list.reserve(runs.size() + req.ids.size());
  for (const auto& run : runs) {
    list.push_back(
        {run.job_id + ":" + run.status, true,
         "hook " + run.hook + " queued again (attempt " + std::to_string(run.attempts + 1) + ")"});
  }
  for (const auto& event : req.ids) {
    const bool found = std::any_of(runs.begin(), runs.end(), [&](const state::HookRun& run) {
      return run.job_id + ":" + run.status == event;
    });
    if (!found) list.push_back({event, false, "no permanently failed hook run"});
  }
  ControlResponse r = outcomes(req, list);
  if (req.all_failed) r.exit_code = 0;  // nothing failed is not an error
  if (req.text && list.empty()) r.text = "no permanently failed hook runs\n";
  return r;
}

}  // namespace

ControlResponse failureResponse(const Error& error) {
  if (error.kind != ErrorKind::kRuntime) return errorResponse(error.message);
  return errorResponse("the daemon is running, but " + error.message);
}

std::string outcomesJson(const std::vector<JobOutcome>& list) {
  JsonWriter w;
  w.beginObject().key("results").beginArray();
  for (const auto& o : list) {
    w.beginObject().field("id", o.id).field("done", o.done).field("what", o.what).endObject();
  }
  w.endArray().endObject();
  return w.take();
}

std::string outcomesText(const std::vector<JobOutcome>& list) {
  std::string out;
  for (const auto& o : list) out += o.id + ": " + (o.done ? "" : "NOT DONE: ") + o.what + "\n";
  return out;
}

ControlResponse answerRequest(OperatorView& view, const ControlRequest& req) {
  switch (req.cmd) {
    case ControlCommand::kStatus: {
      const StatusReport report = view.status();
      return answer(req, report, report.degraded() ? 1 : 0);
    }
    case ControlCommand::kJobs: {
      if (!req.account.empty() && !view.knowsAccount(req.account)) {
        return errorResponse("unknown account \"" + req.account + "\" (not configured)");
      }
      auto report = view.jobs(JobsFilter{req.statuses, req.account});
      if (!report) return failureResponse(report.error());
      return answer(req, *report);
    }
    case ControlCommand::kShow: {
      auto detail = view.job(req.ids.front());
      if (!detail) return failureResponse(detail.error());
      if (!*detail) return errorResponse("no job " + req.ids.front() + " is known");
      return answer(req, **detail);
    }
    case ControlCommand::kHooks: {
      auto report = view.hooks(req.failed_only);
      if (!report) return failureResponse(report.error());
      return answer(req, *report);
    }
    case ControlCommand::kRetry: {
      auto runs = view.retry(req.all_failed ? std::vector<std::string>{} : req.ids);
      if (!runs) return failureResponse(runs.error());
      return retried(req, *runs);
    }
    case ControlCommand::kPoll:
    case ControlCommand::kForget: {
      auto list = req.cmd == ControlCommand::kPoll ? view.pollNow(req.ids) : view.forget(req.ids);
      if (!list) return failureResponse(list.error());
      return outcomes(req, *list);
    }
  }
  return errorResponse("unknown command");
}

std::string answerControlLine(OperatorView& view, std::string_view line) {
  auto request = parseRequest(line);
  if (!request) return encodeResponse(errorResponse(request.error().message));
  return encodeResponse(answerRequest(view, *request));
}

}  // namespace jobwatch::app
