#pragma once

#include <atomic>
#include <cstdint>

namespace relay::backplane {

// What a call that publishes through the backplane waits for before it may
// end: its own read side, and every publish not answered yet. Answers come on
// the backplane's threads at any moment, concurrently with the reads and with
// each other, and gRPC may delete the call as soon as it finishes. So, like
// the last owner of a shared_ptr, exactly one party is told to finish: the one
// that settles last. Every other party must not touch the call again once it
// has settled, since the call may be gone by the time the settle returns.
class PendingAnswers {
 public:
  // A publish is about to be handed to the backplane. Only the read side
  // calls it, before reads_done(): its own share keeps the count above zero.
  void expect() { outstanding_.fetch_add(1, std::memory_order_relaxed); }
  // An answer was counted. True for the party that must finish the call.
  [[nodiscard]] bool answered() { return settle(); }
  // The read side publishes nothing more. True when no answer is outstanding,
  // so that the read side finishes the call itself.
  [[nodiscard]] bool reads_done() { return settle(); }

 private:
  // acq_rel: the party that finishes sees everything every other party did
  // before settling (the counts in the summary).
  bool settle() { return outstanding_.fetch_sub(1, std::memory_order_acq_rel) == 1; }

  // The read side's share, plus one per publish not answered yet.
  std::atomic<std::uint64_t> outstanding_{1};
};

}  // namespace relay::backplane
