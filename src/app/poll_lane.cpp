// SPDX-License-Identifier: Apache-2.0
#include "app/poll_lane.h"

#include "app/metrics_feed.h"
#include "app/operator_feed.h"
#include "app/transition_log.h"
#include "app/transition_recorder.h"

namespace jobwatch::app {

PollLane::PollLane(const LaneSettings& settings, int index,
                   std::shared_ptr<scheduler::AccountBudget> budget, MetricsFeed& metrics,
                   LaneContext context, std::uint64_t seed)
    : account_(settings.account), index_(index), context_(context) {
  transport_ = std::make_unique<api::CurlMultiTransport>(settings.transport);
  transition_log_ = std::make_unique<TransitionLog>(context.log, account_);
  recorder_ = std::make_unique<TransitionRecorder>(context.writer, settings.hooks, account_);
  feed_ = std::make_unique<OperatorFeed>(context.clock, settings.mapper.knownStatuses());
  fanout_ = std::make_unique<scheduler::PollEventsFanout>(std::vector<scheduler::PollEvents*>{
      transition_log_.get(), recorder_.get(), &metrics, feed_.get()});
  engine_ = std::make_unique<scheduler::PollEngine>(settings.schedule, settings.mapper, *transport_,
                                                    context.clock, *fanout_, context.log, seed);
  engine_->shareBudget(std::move(budget));
  state::StateWriter* writer = &context.writer;
  engine_->setAdmission([writer] { return writer->hasRoom(); });
  engine_->setResults(&context.results, settings.result_give_up_after);
  scheduler::PollEngine* engine = engine_.get();
  recorder_->setResultWanted(
      [engine](const state::ResultRecord& record) { engine->fetchResult(record); });
  roster_ = std::make_unique<scheduler::Roster>(*engine_, context.writer, settings.shard, account_);
}

PollLane::~PollLane() { stop(); }

void PollLane::start(scheduler::PollLoopOptions options) {
  loop_ = std::make_unique<scheduler::PollLoop>(*engine_, *transport_, context_.clock, context_.log,
                                                std::move(options));
  loop_->start();
  started_ = loop_.get();
}

void PollLane::stop() {
  if (loop_) loop_->stop();
}

bool PollLane::post(std::function<void()> fn) {
  scheduler::PollLoop* loop = started_.load();
  return loop != nullptr && loop->post(std::move(fn));
}

bool PollLane::failed() const {
  const scheduler::PollLoop* loop = started_.load();
  return loop != nullptr && loop->failed();
}

void PollLane::reconfigure(const LaneSettings& settings, const api::ResultDir& results) {
  engine_->setResults(&results, settings.result_give_up_after);
  engine_->updateSettings(settings.schedule);
  feed_->setKnownStatuses(settings.mapper.knownStatuses());
  engine_->setStatusMapper(settings.mapper);
  transport_->reconfigure(settings.transport);
  recorder_->setHooks(settings.hooks);
}

}  // namespace jobwatch::app
